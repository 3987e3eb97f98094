// The nftables proxy mode against the real kernel, with real traffic: busybox httpd
// "pods" on the Docker pod bridge, a client container, Services in 10.96.78.0/24 (inside
// the Service CIDR, which is routed to the bridge, so nothing leaves the host). The table
// is a test table of its own, deleted before and after, also when a test fails.

import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeObject } from '../../manifests/index.js';
import {
  type PodInfo, NftablesDataplane, Proxier, buildProxyState, enableHairpin, ensureServiceCidrRoute, hostRoutes, removeServiceCidrRoute,
} from '../../netproxy/index.js';
import {
  type Backend, POD_CIDR, countAnswers, dockerExec, ensurePodNetwork, execFileP, hostAddress, httpGet, newRunId,
  removeNetproxyContainers, saveSendRedirects, startBackend, until, vethIfindex,
} from '../support/netproxy-env.js';

const runId = newRunId();
const TABLE = 'bosun-np-test';
const SYNC_PERIOD_MS = 2_000;
const NODE = 'np-node';
const IP = { web: '10.96.78.10', sticky: '10.96.78.11', empty: '10.96.78.12', self: '10.96.78.13', udp: '10.96.78.14', local: '10.96.78.15' };

let backends: Backend[] = [];
let client: Backend;
let proxier: Proxier | undefined;
let dataplane: NftablesDataplane;
let nodePort = 0;
let routeWasThere = false;

const service = (name: string, spec: Record<string, unknown>): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec });
const slice = (service: string, ips: string[], port: number, protocol = 'TCP', nodeName = NODE): KubeObject => ({
  apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
  metadata: { name: `${service}-manual`, namespace: 'default', labels: { 'kubernetes.io/service-name': service } },
  endpoints: ips.map((ip) => ({ addresses: [ip], nodeName })),
  ports: [{ name: '', port, protocol }],
});

function objects(): KubeObject[] {
  return [
    service('web', { type: 'NodePort', clusterIP: IP.web, selector: { app: 'web' }, ports: [{ port: 80, targetPort: 'http' }] }),
    service('sticky', { clusterIP: IP.sticky, selector: { app: 'web' }, sessionAffinity: 'ClientIP', ports: [{ port: 80, targetPort: 8080 }] }),
    service('empty', { type: 'NodePort', clusterIP: IP.empty, selector: { app: 'nothing' }, ports: [{ port: 80 }] }),
    service('self', { clusterIP: IP.self, ports: [{ port: 80 }] }),
    slice('self', [backends[0]!.ip], 8080),
    service('udp', { clusterIP: IP.udp, ports: [{ port: 5353, protocol: 'UDP' }] }),
    slice('udp', [backends[0]!.ip], 5353, 'UDP'),
    // Local external policy, its only endpoint on another node: outside traffic to the
    // NodePort is dropped, the node's own traffic still reaches the endpoint.
    service('local', { type: 'NodePort', clusterIP: IP.local, externalTrafficPolicy: 'Local', ports: [{ port: 80, targetPort: 8080 }] }),
    slice('local', [backends[1]!.ip], 8080, 'TCP', 'other-node'),
  ];
}

function pods(unready: string[] = []): PodInfo[] {
  return backends.map((b) => ({
    namespace: 'default', name: b.name, labels: { app: 'web' }, podIP: b.ip, ready: !unready.includes(b.name), terminating: false,
    containerPorts: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }], nodeName: NODE,
  }));
}

let nodePorts: Record<string, number> = {};
function applyState(objs: KubeObject[], unready: string[] = []): void {
  const built = buildProxyState(objs, { pods: pods(unready), serviceCIDR: '10.96.0.0/12', previousNodePorts: nodePorts });
  expect(built.errors).toEqual([]);
  nodePorts = built.nodePorts;
  lastState = built.state;
  nodePort = built.state.services.find((s) => s.name === 'web')!.ports[0]!.nodePort!;
  proxier!.update(built.state);
}

const nodePortOf = (name: string) => proxierState().find((s) => s.name === name)!.ports[0]!.nodePort!;
let lastState: ReturnType<typeof buildProxyState>['state'] | undefined;
const proxierState = () => lastState!.services;

async function synced(after: number): Promise<void> {
  await until('a sync', async () => proxier!.metrics().syncs > after, 10_000, 20);
}

const nftList = async () => (await execFileP('nft', ['list', 'table', 'ip', TABLE], { maxBuffer: 64 << 20 })).stdout;

let restoreRedirects: (() => Promise<void>) | undefined;

async function tearDown(): Promise<void> {
  await proxier?.stop();
  proxier = undefined;
  await execFileP('nft', ['delete', 'table', 'ip', TABLE]).catch(() => undefined);
  if (!routeWasThere) await removeServiceCidrRoute({ serviceCIDR: '10.96.0.0/12', bridge: 'bosun0' }).catch(() => undefined);
  await removeNetproxyContainers(runId);
  await restoreRedirects?.();
}

beforeAll(async () => {
  await execFileP('nft', ['delete', 'table', 'ip', TABLE]).catch(() => undefined);
  await removeNetproxyContainers();
  await ensurePodNetwork();
  routeWasThere = (await hostRoutes()).some((r) => r.dst === '10.96.0.0/12' && r.dev === 'bosun0');
  restoreRedirects = await saveSendRedirects();
  backends = await Promise.all(['b1', 'b2', 'b3'].map((n) => startBackend(runId, n)));
  client = await startBackend(runId, 'client', 'exec sleep 3600');
  for (const b of backends) await until(`httpd in ${b.name}`, () => httpGet(b.ip, 8080, 500));
  await enableHairpin({ bridge: 'bosun0', ifindexes: await Promise.all(backends.map((b) => vethIfindex(b.id))) });
  await ensureServiceCidrRoute({ serviceCIDR: '10.96.0.0/12', podCIDR: POD_CIDR, bridge: 'bosun0' });
  dataplane = new NftablesDataplane({ table: TABLE, clusterCIDR: POD_CIDR });
  proxier = new Proxier({ dataplane, nodeName: NODE, syncPeriodMs: SYNC_PERIOD_MS, minSyncPeriodMs: 200 });
  proxier.start();
  applyState(objects());
  await synced(0);
}, 120_000);

afterAll(tearDown, 120_000);

describe('nftables proxy on the real kernel', () => {
  it('programs one table of sets and maps, with few chains', async () => {
    const text = await nftList();
    expect(text).toContain(`${IP.web} . tcp . 80 : goto svc-cluster`);
    expect(text).toContain('goto reject-chain');
    const chains = [...text.matchAll(/^\s*chain (\S+) \{/gm)].map((m) => m[1]);
    // Fixed chains plus per endpoint count / index: does not grow with the Services.
    expect(chains.length).toBeLessThan(40);
    expect(proxier!.metrics()).toMatchObject({ fullSyncs: 1, failedSyncs: 0 });
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

  it('answers the NodePort on the node address, from the host and from a pod', async () => {
    const addr = hostAddress();
    expect(nodePort).toBeGreaterThanOrEqual(30000);
    const seen = await countAnswers(addr, nodePort, 30);
    expect([...seen.keys()].every((k) => ['b1', 'b2', 'b3'].includes(k))).toBe(true);
    expect(seen.size).toBeGreaterThan(1);
    const out = await dockerExec(client.id, ['sh', '-c', `for i in $(seq 10); do timeout 5 wget -q -O - http://${addr}:${nodePort}/; done`]);
    expect(out.trim().split('\n').every((k) => ['b1', 'b2', 'b3'].includes(k))).toBe(true);
  });

  it('ClientIP affinity sticks to one pod', async () => {
    const seen = await countAnswers(IP.sticky, 80, 30);
    expect(seen.size).toBe(1);
    const out = await dockerExec(client.id, ['sh', '-c', `for i in $(seq 20); do timeout 5 wget -q -O - http://${IP.sticky}/; done`]);
    expect(new Set(out.trim().split('\n')).size).toBe(1);
  });

  it('refuses a Service without endpoints at once, on its cluster IP and its NodePort', async () => {
    const t0 = Date.now();
    await expect(httpGet(IP.empty, 80, 5_000)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await expect(httpGet(hostAddress(), nodePortOf('empty'), 5_000)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(Date.now() - t0).toBeLessThan(2_000);
    const out = await dockerExec(client.id, ['sh', '-c', `timeout 5 wget -q -O - http://${IP.empty}/ 2>&1; echo rc=$?`]);
    expect(out).toMatch(/refused/i);
  });

  it('refuses an unknown port of a cluster IP', async () => {
    await expect(httpGet(IP.web, 81, 5_000)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('lets a pod reach itself through its own Service (hairpin)', async () => {
    const out = await dockerExec(backends[0]!.id, ['timeout', '5', 'wget', '-q', '-O', '-', `http://${IP.self}/`]);
    expect(out.trim()).toBe('b1');
  });

  it('Local external policy: the node itself still reaches the remote endpoint through the NodePort', async () => {
    expect(await httpGet(hostAddress(), nodePortOf('local'))).toBe('b2');
  });

  it('takes a pod that turns unready out of the rotation with a partial sync of element changes only', async () => {
    const before = proxier!.metrics();
    applyState(objects(), ['b3']);
    await until('b3 gone from the maps', async () => !(await nftList()).includes(`${backends[2]!.ip} . 8080`), 10_000, 50);
    expect([...(await countAnswers(IP.web, 80, 60)).keys()].sort()).toEqual(['b1', 'b2']);
    const after = proxier!.metrics();
    expect(after.fullSyncs).toBe(before.fullSyncs);
    expect(after.partialSyncs).toBeGreaterThan(before.partialSyncs);
    // Partial syncs only (their element-level content is covered by the unit tests).
    expect(dataplane.applied!.full).toBe(false);
    applyState(objects());
    await until('b3 back', async () => (await nftList()).includes(`${backends[2]!.ip} . 8080`), 10_000, 50);
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
    await until('conntrack clean-up', async () => proxier!.metrics().conntrackDeletions > before.conntrackDeletions, 5_000, 50);
    expect(await listFlows()).not.toContain(`src=${backends[0]!.ip}`);
    applyState(objects());
  });

  it('restores the table within one syncPeriod after `nft flush table` (a full sync)', async () => {
    const fullBefore = proxier!.metrics().fullSyncs;
    await execFileP('nft', ['flush', 'table', 'ip', TABLE]);
    const flushedAt = Date.now();
    await until('the cluster IP to answer again', () => httpGet(IP.web, 80, 300), SYNC_PERIOD_MS + 3_000, 100);
    expect(Date.now() - flushedAt).toBeLessThan(SYNC_PERIOD_MS + 2_000);
    expect(proxier!.metrics().outsideFlushes).toBeGreaterThanOrEqual(1);
    // The rules answer as soon as the kernel has them; the sync is counted after its
    // conntrack clean-up (a process of its own, slow on a loaded machine).
    await until('the full sync to be counted', async () => proxier!.metrics().fullSyncs > fullBefore, 30_000, 50);
    expect(proxier!.metrics().fullSyncs).toBe(fullBefore + 1);
  });

  it('leaves the table and nothing else behind when deleted', async () => {
    await proxier!.stop();
    proxier = undefined;
    await execFileP('nft', ['delete', 'table', 'ip', TABLE]);
    await expect(nftList()).rejects.toThrow();
  });
});
