// Real-kernel helpers for netproxy's integration tests and benchmark. Containers carry
// bosun.io/test-run=netproxy-<id> so that an interrupted run's leftovers can be found;
// only our own labelled containers are ever touched (other engineers share the engine).
// Traffic goes only to 127.0.0.0/8, this host's own addresses, and our containers.

import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { networkInterfaces } from 'node:os';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { BUSYBOX, DOCKER_SOCKET, TEST_RUN_LABEL, randomId } from './docker-test-env.js';
import { sleep } from './common.js';

export const execFileP = promisify(execFile);
export const docker = new Docker({ socketPath: DOCKER_SOCKET });
export const RUN_PREFIX = 'netproxy-';
export const NETWORK = 'bosun';
export const BRIDGE = 'bosun0';
export const POD_CIDR = '10.244.0.0/16';

export const newRunId = () => `${RUN_PREFIX}${randomId()}`;
export { sleep };

export async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 10_000, stepMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(stepMs);
  }
}

/** Removes every netproxy test container (any run: netproxy tests never run twice at once). */
export async function removeNetproxyContainers(runId?: string): Promise<void> {
  const list = await docker.listContainers({ all: true, filters: { label: [TEST_RUN_LABEL] } });
  const ours = list.filter((c) => (runId ? c.Labels[TEST_RUN_LABEL] === runId : c.Labels[TEST_RUN_LABEL]?.startsWith(RUN_PREFIX)));
  await Promise.all(ours.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
}

/** The pod network; shared with the rest of bosun, so created if missing and never removed. */
export async function ensurePodNetwork(): Promise<void> {
  const nets = await docker.listNetworks({ filters: { name: [NETWORK] } });
  if (nets.some((n) => n.Name === NETWORK)) return;
  await docker.createNetwork({
    Name: NETWORK, Driver: 'bridge',
    IPAM: { Config: [{ Subnet: POD_CIDR }] },
    Options: { 'com.docker.network.bridge.name': BRIDGE },
  }).catch((err: unknown) => {
    if (!String(err).includes('already exists')) throw err;
  });
}

export interface Backend {
  id: string;
  name: string;
  ip: string;
}

/** A busybox httpd on :8080 that answers with its own name. */
export async function startBackend(runId: string, name: string, cmd?: string): Promise<Backend> {
  const c = await docker.createContainer({
    Image: BUSYBOX,
    name: `${runId}-${name}`,
    Hostname: name,
    Labels: { [TEST_RUN_LABEL]: runId },
    Cmd: ['sh', '-c', cmd ?? 'echo $HOSTNAME > /www/index.html; exec httpd -f -p 8080 -h /www'],
    HostConfig: { NetworkMode: NETWORK },
  });
  await c.start();
  const info = await c.inspect();
  const ip = info.NetworkSettings.Networks[NETWORK]?.IPAddress;
  if (!ip) throw new Error(`container ${name} has no address on ${NETWORK}`);
  return { id: c.id, name, ip };
}

export async function dockerExec(id: string, cmd: string[]): Promise<string> {
  const { stdout } = await execFileP('docker', ['exec', id, ...cmd], { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

/** One HTTP GET on a fresh connection; rejects with the socket error code (ECONNREFUSED...). */
export function httpGet(host: string, port: number, timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: '/', agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body.trim()));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end();
  });
}

export async function countAnswers(host: string, port: number, n: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const body = await httpGet(host, port);
    seen.set(body, (seen.get(body) ?? 0) + 1);
  }
  return seen;
}

/** An address of this host that is not loopback and not a container bridge (else the bridge's own). */
export function hostAddress(): string {
  const all = Object.entries(networkInterfaces()).flatMap(([name, addrs]) => (addrs ?? []).map((a) => ({ name, ...a })));
  const v4 = all.filter((a) => a.family === 'IPv4' && !a.internal);
  const physical = v4.find((a) => !/^(docker|br-|veth|bosun)/.test(a.name));
  return (physical ?? v4.find((a) => a.name === BRIDGE))!.address;
}

export async function iptablesSave(table?: 'nat' | 'filter'): Promise<string> {
  const { stdout } = await execFileP('iptables-save', table ? ['-t', table] : [], { maxBuffer: 1024 * 1024 * 1024 });
  return stdout;
}

/** The host-side interface index of a container's eth0 (its veth on the bridge). */
export async function vethIfindex(containerId: string): Promise<number> {
  return Number((await dockerExec(containerId, ['cat', '/sys/class/net/eth0/iflink'])).trim());
}

const REDIRECTS = [`/proc/sys/net/ipv4/conf/all/send_redirects`, `/proc/sys/net/ipv4/conf/${BRIDGE}/send_redirects`];

/** ensureServiceCidrRoute turns ICMP redirects off; tests put the host's values back. */
export async function saveSendRedirects(): Promise<() => Promise<void>> {
  const saved = await Promise.all(REDIRECTS.map((f) => readFile(f, 'utf8')));
  return async () => {
    for (const [i, f] of REDIRECTS.entries()) await writeFile(f, saved[i]!.trim());
  };
}
