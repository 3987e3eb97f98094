// The iptables proxy against the real kernel, with real traffic: three busybox httpd
// "pods" and a client container on the local pod bridge, Services in 10.96.77.0/24
// (inside the Service CIDR, which is routed to the bridge, so nothing leaves the host).
// Traffic goes only to cluster IPs, this host's own address and our containers.

import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeObject } from '../../manifests/index.js';
import {
  type PodInfo, Proxier, buildProxyState, cleanup, enableHairpin, ensureServiceCidrRoute, hostRoutes,
} from '../../netproxy/index.js';
import {
  type Backend, POD_CIDR, countAnswers, dockerExec, ensurePodNetwork, execFileP, hostAddress, httpGet, iptablesSave, newRunId,
  removeNetproxyContainers, saveSendRedirects, startBackend, until, vethIfindex,
} from '../support/netproxy-env.js';

const runId = newRunId();
const SYNC_PERIOD_MS = 2_000;
const NODE = 'np-node';
const IP = { web: '10.96.77.10', sticky: '10.96.77.11', empty: '10.96.77.12', self: '10.96.77.13', udp: '10.96.77.14' };

let backends: Backend[] = [];
let client: Backend;
let proxier: Proxier | undefined;
let nodePort = 0;
let syncsBefore = 0;

const service = (name: string, spec: Record<string, unknown>): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec });
const slice = (service: string, ips: string[], port: number, protocol = 'TCP'): KubeObject => ({
  apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
  metadata: { name: `${service}-manual`, namespace: 'default', labels: { 'kubernetes.io/service-name': service } },
  endpoints: ips.map((ip) => ({ addresses: [ip], nodeName: NODE })),
  ports: [{ name: '', port, protocol }],
});

function objects(): KubeObject[] {
  return [
    service('web', { type: 'NodePort', clusterIP: IP.web, selector: { app: 'web' }, ports: [{ port: 80, targetPort: 'http' }] }),
    service('sticky', { clusterIP: IP.sticky, selector: { app: 'web' }, sessionAffinity: 'ClientIP', ports: [{ port: 80, targetPort: 8080 }] }),
    service('empty', { clusterIP: IP.empty, selector: { app: 'nothing' }, ports: [{ port: 80 }] }),
    service('self', { clusterIP: IP.self, ports: [{ port: 80 }] }),
    slice('self', [backends[0]!.ip], 8080),
    service('udp', { clusterIP: IP.udp, ports: [{ port: 5353, protocol: 'UDP' }] }),
    slice('udp', [backends[0]!.ip], 5353, 'UDP'),
  ];
}

function pods(unready: string[] = []): PodInfo[] {
  return backends.map((b) => ({
    namespace: 'default', name: b.name, labels: { app: 'web' }, podIP: b.ip, ready: !unready.includes(b.name), terminating: false,
    containerPorts: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }], nodeName: NODE,
  }));
}

function applyState(objs: KubeObject[], unready: string[] = []): void {
  const built = buildProxyState(objs, { pods: pods(unready), serviceCIDR: '10.96.0.0/12' });
  expect(built.errors).toEqual([]);
  nodePort = built.state.services.find((s) => s.name === 'web')!.ports[0]!.nodePort!;
  proxier!.update(built.state);
}

async function synced(after: number): Promise<void> {
  await until('a sync', async () => proxier!.metrics().syncs > after, 10_000, 20);
}

let restoreRedirects: (() => Promise<void>) | undefined;

async function tearDown(): Promise<void> {
  await proxier?.stop();
  proxier = undefined;
  const problems = await cleanup({ route: { serviceCIDR: '10.96.0.0/12', bridge: 'bosun0' } });
  await removeNetproxyContainers();
  await restoreRedirects?.();
  expect(problems).toEqual([]);
}

beforeAll(async () => {
  // An interrupted earlier run may have left rules, the route and containers behind.
  await tearDown();
  await ensurePodNetwork();
  restoreRedirects = await saveSendRedirects();
  backends = await Promise.all(['b1', 'b2', 'b3'].map((n) => startBackend(runId, n)));
  client = await startBackend(runId, 'client', 'exec sleep 3600');
  for (const b of backends) await until(`httpd in ${b.name}`, () => httpGet(b.ip, 8080, 500));
  // What kubelet's --hairpin-mode=hairpin-veth does for pods; only for our containers.
  await enableHairpin({ bridge: 'bosun0', ifindexes: await Promise.all(backends.map((b) => vethIfindex(b.id))) });
  await ensureServiceCidrRoute({ serviceCIDR: '10.96.0.0/12', podCIDR: POD_CIDR, bridge: 'bosun0' });
  proxier = new Proxier({ nodeName: NODE, syncPeriodMs: SYNC_PERIOD_MS, minSyncPeriodMs: 200, iptables: { clusterCIDR: POD_CIDR } });
  proxier.start();
  applyState(objects());
  await synced(0);
});

afterAll(tearDown);

describe('iptables proxy on the real kernel', () => {
  it('puts what it planned into the kernel, under kube-proxy names', async () => {
    const rs = proxier!.lastRuleset()!;
    const nat = await iptablesSave('nat');
    for (const chain of rs.serviceChains) expect(nat).toContain(`:${chain} - `);
    // Same number of rules per chain as planned (the kernel normalizes the text itself).
    expect(rs.full).toBe(true);
    const count = (text: string, chain: string) => text.split('\n').filter((l) => l.startsWith(`-A ${chain} `)).length;
    for (const chain of ['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ', ...rs.serviceChains]) {
      expect(count(nat, chain), chain).toBe(count(rs.text.slice(rs.text.indexOf('*nat')), chain));
    }
    expect(nat).toMatch(/-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES/);
    expect(nat).toMatch(/-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING/);
    expect(nat).toMatch(/-j MASQUERADE --random-fully/);
    const filter = await iptablesSave('filter');
    expect(filter).toContain('-A KUBE-SERVICES -d 10.96.77.12/32 -p tcp -m comment --comment "default/empty has no endpoints" -m tcp --dport 80 -j REJECT');
    expect(filter).toContain(':KUBE-PROXY-CANARY - ');
    expect((await hostRoutes()).some((r) => r.dst === '10.96.0.0/12' && r.dev === 'bosun0')).toBe(true);
  });

  it('spreads 100 requests from the host over all three pods', async () => {
    const seen = await countAnswers(IP.web, 80, 100);
    expect([...seen.keys()].sort()).toEqual(['b1', 'b2', 'b3']);
  });

  it('spreads 100 requests from inside a pod over all three pods', async () => {
    const out = await dockerExec(client.id, ['sh', '-c', `for i in $(seq 100); do timeout 5 wget -q -O - http://${IP.web}/; done`]);
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(100);
    expect([...new Set(lines)].sort()).toEqual(['b1', 'b2', 'b3']);
  });

  it('answers the NodePort on the node address', async () => {
    const addr = hostAddress();
    expect(nodePort).toBeGreaterThanOrEqual(30000);
    const seen = await countAnswers(addr, nodePort, 30);
    expect([...seen.keys()].every((k) => ['b1', 'b2', 'b3'].includes(k))).toBe(true);
    expect(seen.size).toBeGreaterThan(1);
  });

  it('ClientIP affinity sticks to one pod', async () => {
    const seen = await countAnswers(IP.sticky, 80, 30);
    expect(seen.size).toBe(1);
    const out = await dockerExec(client.id, ['sh', '-c', `for i in $(seq 20); do timeout 5 wget -q -O - http://${IP.sticky}/; done`]);
    expect(new Set(out.trim().split('\n')).size).toBe(1);
  });

  it('refuses a Service without endpoints at once', async () => {
    const t0 = Date.now();
    await expect(httpGet(IP.empty, 80, 5_000)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(Date.now() - t0).toBeLessThan(1_000);
    const out = await dockerExec(client.id, ['sh', '-c', `timeout 5 wget -q -O - http://${IP.empty}/ 2>&1; echo rc=$?`]);
    expect(out).toMatch(/refused/i);
  });

  it('lets a pod reach itself through its own Service (hairpin)', async () => {
    const out = await dockerExec(backends[0]!.id, ['timeout', '5', 'wget', '-q', '-O', '-', `http://${IP.self}/`]);
    expect(out.trim()).toBe('b1');
  });

  it('takes a pod that turns unready out of the rotation within one sync', async () => {
    syncsBefore = proxier!.metrics().syncs;
    const t0 = Date.now();
    applyState(objects(), ['b3']);
    await synced(syncsBefore);
    // A periodic sync that began before the change may be the one counted: wait for the
    // rules themselves.
    for (let i = 0; i < 100 && (await iptablesSave('nat')).includes(`--to-destination ${backends[2]!.ip}:8080`); i++) await new Promise((r) => setTimeout(r, 100));
    const programmedMs = Date.now() - t0;
    const seen = await countAnswers(IP.web, 80, 60);
    expect([...seen.keys()].sort()).toEqual(['b1', 'b2']);
    // minSyncPeriod (200 ms) plus one partial sync, with slack for a loaded shared host.
    expect(programmedMs).toBeLessThan(10_000);
    expect(proxier!.metrics().lastNetworkProgrammingLatencyMs).toBeLessThan(10_000);
    // b3's endpoint chains are gone from the kernel, not just unreferenced.
    const nat = await iptablesSave('nat');
    expect(nat).not.toContain(`--to-destination ${backends[2]!.ip}:8080`);
    applyState(objects());
    await synced(proxier!.metrics().syncs);
    expect([...(await countAnswers(IP.web, 80, 60)).keys()].sort()).toEqual(['b1', 'b2', 'b3']);
  });

  it('deletes the UDP conntrack entries of a removed endpoint', async () => {
    const sock = createSocket('udp4');
    await new Promise<void>((r, j) => sock.send('ping', 5353, IP.udp, (e) => (e ? j(e) : r())));
    sock.close();
    const listFlows = async () => (await execFileP('conntrack', ['-L', '-p', 'udp', '--orig-dst', IP.udp], { maxBuffer: 16 << 20 }).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }))).stdout;
    expect(await listFlows()).toContain(`src=${backends[0]!.ip}`);
    const objs = objects().map((o) => (o.metadata?.name === 'udp-manual' ? { ...o, endpoints: [{ addresses: [backends[1]!.ip], nodeName: NODE }] } : o));
    const before = proxier!.metrics();
    applyState(objs);
    await synced(before.syncs);
    expect(proxier!.metrics().conntrackDeletions).toBeGreaterThan(before.conntrackDeletions);
    expect(await listFlows()).not.toContain(`src=${backends[0]!.ip}`);
  });

  it('restores the rules within one resync period after `iptables -t nat -F KUBE-SERVICES`', async () => {
    await execFileP('iptables', ['-w', '5', '-t', 'nat', '-F', 'KUBE-SERVICES']);
    const flushedAt = Date.now();
    await until('the cluster IP to answer again', () => httpGet(IP.web, 80, 300), SYNC_PERIOD_MS + 3_000, 100);
    expect(Date.now() - flushedAt).toBeLessThan(SYNC_PERIOD_MS + 2_000);
    expect(proxier!.metrics().outsideFlushes).toBeGreaterThanOrEqual(1);
  });

  it('`cleanup` leaves no KUBE rule, chain or route behind', async () => {
    await proxier!.stop();
    proxier = undefined;
    expect(await cleanup()).toEqual([]);
    expect((await iptablesSave()).split('\n').filter((l) => l.includes('KUBE'))).toEqual([]);
    expect((await hostRoutes()).some((r) => r.dst === '10.96.0.0/12')).toBe(false);
    // No traffic to cluster IPs from here on: without the route it would leave the host.
  });
});
