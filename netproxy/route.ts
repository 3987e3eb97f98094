// Safety net for the Service CIDR: a cluster IP that has no rules (yet, or any more)
// must not follow the default route off the machine. Routing the whole Service CIDR to
// the local pod bridge keeps such packets here, where nothing answers them.

import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand, mustRun, type Runner } from './exec.js';
import { cidrsOverlap, parseCidr } from './ip.js';

export const DEFAULT_SERVICE_CIDR = '10.96.0.0/12';
export const DEFAULT_POD_CIDR = '10.244.0.0/16';
export const DEFAULT_BRIDGE = 'bosun0';

export interface RouteOptions {
  serviceCIDR?: string;
  podCIDR?: string;
  /** The pod bridge the Service CIDR is routed to. */
  bridge?: string;
  /**
   * Create the bridge when it is missing. For a CNI bridge network (containerd), which
   * makes its bridge only with the first pod and reuses one that exists; never for
   * Docker's, which Docker makes with its network.
   */
  createBridge?: boolean;
  runner?: Runner;
  /** Root of /proc/sys (tests point it at a fake tree). */
  sysctlRoot?: string;
}

/** One entry of `ip -j route`. */
export interface HostRoute {
  dst: string;
  dev?: string;
  gateway?: string;
  protocol?: string;
}

export class ServiceCidrError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServiceCidrError';
  }
}

const describe = (r: HostRoute) => [r.dst, r.gateway && `via ${r.gateway}`, r.dev && `dev ${r.dev}`].filter(Boolean).join(' ');

/**
 * Throws ServiceCidrError when the Service CIDR is malformed or overlaps the pod CIDR or
 * a host route other than the default route and our own route to the bridge.
 */
export function checkServiceCidr(serviceCIDR: string, podCIDR: string, routes: HostRoute[], bridge = DEFAULT_BRIDGE): void {
  const svc = parseCidr(serviceCIDR);
  if (!svc) throw new ServiceCidrError(`service CIDR ${JSON.stringify(serviceCIDR)} is not an IPv4 CIDR with zero host bits (e.g. 10.96.0.0/12)`);
  const pod = parseCidr(podCIDR);
  if (!pod) throw new ServiceCidrError(`pod CIDR ${JSON.stringify(podCIDR)} is not an IPv4 CIDR with zero host bits (e.g. 10.244.0.0/16)`);
  if (cidrsOverlap(svc, pod)) throw new ServiceCidrError(`service CIDR ${svc.text} overlaps the pod CIDR ${pod.text}: choose ranges that do not overlap`);
  for (const r of routes) {
    if (r.dst === 'default') continue;
    const dst = parseCidr(r.dst);
    if (!dst || dst.bits === 0) continue;
    if (dst.text === svc.text && r.dev === bridge) continue;
    if (cidrsOverlap(svc, dst)) {
      throw new ServiceCidrError(`service CIDR ${svc.text} overlaps the host route ${describe(r)}: cluster IPs would hide real hosts; choose another --service-cluster-ip-range`);
    }
  }
}

export async function hostRoutes(run: Runner = runCommand): Promise<HostRoute[]> {
  const out = await mustRun(run, 'ip', ['-j', '-4', 'route', 'show']);
  const parsed: unknown = JSON.parse(out || '[]');
  return Array.isArray(parsed) ? (parsed as HostRoute[]) : [];
}

/** Checks the ranges against the host, then routes the Service CIDR to the pod bridge. */
export async function ensureServiceCidrRoute(opts: RouteOptions = {}): Promise<void> {
  const run = opts.runner ?? runCommand;
  const cidr = opts.serviceCIDR ?? DEFAULT_SERVICE_CIDR;
  const bridge = opts.bridge ?? DEFAULT_BRIDGE;
  let link = await run('ip', ['-j', 'link', 'show', 'dev', bridge]);
  if (link.exitCode !== 0 && opts.createBridge) {
    await mustRun(run, 'ip', ['link', 'add', 'name', bridge, 'type', 'bridge']);
    await mustRun(run, 'ip', ['link', 'set', 'dev', bridge, 'up']);
    link = await run('ip', ['-j', 'link', 'show', 'dev', bridge]);
  }
  if (link.exitCode !== 0) {
    throw new ServiceCidrError(
      `pod bridge ${bridge} not found: create the pod network first (docker network create --subnet ${opts.podCIDR ?? DEFAULT_POD_CIDR} -o com.docker.network.bridge.name=${bridge} bosun)`,
    );
  }
  checkServiceCidr(cidr, opts.podCIDR ?? DEFAULT_POD_CIDR, await hostRoutes(run), bridge);
  // A pod's packet to a cluster IP without rules now leaves the way it came in, so the
  // kernel would answer with an ICMP redirect ("the VIP is on your link"): the pod then
  // ARPs for the VIP and hangs instead of getting the REJECT. The kernel sends redirects
  // if `all` or the interface allows them, so both are turned off.
  const sys = opts.sysctlRoot ?? '/proc/sys';
  for (const conf of ['all', bridge]) await writeFile(join(sys, 'net/ipv4/conf', conf, 'send_redirects'), '0');
  await mustRun(run, 'ip', ['route', 'replace', parseCidr(cidr)!.text, 'dev', bridge]);
}

export interface HairpinOptions {
  bridge?: string;
  /** Host-side interface indexes of the pods' veths; all bridge ports when absent. */
  ifindexes?: number[];
  /** Root of /sys (tests point it at a fake tree). */
  sysRoot?: string;
}

/**
 * Lets the bridge send a frame back out of the port it came in on, which a pod reaching
 * itself through a cluster IP needs (the DNATed packet is bridged straight back to it).
 * kubelet does the same (--hairpin-mode=hairpin-veth). Returns the ports changed.
 */
export async function enableHairpin(opts: HairpinOptions = {}): Promise<string[]> {
  const sys = opts.sysRoot ?? '/sys';
  const brif = join(sys, 'class/net', opts.bridge ?? DEFAULT_BRIDGE, 'brif');
  const wanted = opts.ifindexes ? new Set(opts.ifindexes) : undefined;
  const changed: string[] = [];
  for (const port of await readdir(brif)) {
    if (wanted) {
      const idx = Number((await readFile(join(sys, 'class/net', port, 'ifindex'), 'utf8').catch(() => '')).trim());
      if (!wanted.has(idx)) continue;
    }
    const file = join(brif, port, 'hairpin_mode');
    if ((await readFile(file, 'utf8')).trim() === '1') continue;
    await writeFile(file, '1');
    changed.push(port);
  }
  return changed;
}

export async function removeServiceCidrRoute(opts: RouteOptions = {}): Promise<void> {
  const run = opts.runner ?? runCommand;
  const cidr = parseCidr(opts.serviceCIDR ?? DEFAULT_SERVICE_CIDR);
  if (!cidr) return;
  const r = await run('ip', ['route', 'del', cidr.text, 'dev', opts.bridge ?? DEFAULT_BRIDGE]);
  // "No such process" / "Cannot find device": already gone.
  if (r.exitCode !== 0 && !/No such process|Cannot find device/.test(r.stderr)) {
    throw new Error(`ip route del ${cidr.text} failed: ${r.stderr.trim()}`);
  }
}
