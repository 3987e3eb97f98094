import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, ApiRequestError, loadKubeconfig, Reflector, type KObj } from '../../agent/apiserver/index.js';
import { NodeHeartbeat } from '../../agent/apiserver/node.js';
import { EventPoster } from '../../agent/apiserver/events.js';
import { ApiServerSource } from '../../agent/apiserver/index.js';
import type { CoreEvent } from '../../agent/events.js';
import type { KubeObject, Pod } from '../../manifests/index.js';
import { silentLogger } from '../../agent/log.js';
import { TestApiServer } from '../support/apiserver/index.js';
import { must } from '../support/common.js';

// The agent's API client and reflector against the test API server: the wire protocol's
// awkward cases, without a container engine.

const server = new TestApiServer();
const dir = mkdtempSync(join(tmpdir(), 'bosun-apiproto-'));
let client: ApiClient;
const reflectors: Reflector[] = [];

beforeAll(async () => {
  await server.start();
  server.writeKubeconfig(join(dir, 'kubeconfig'));
  client = new ApiClient(loadKubeconfig(join(dir, 'kubeconfig')));
});

afterEach(async () => {
  await Promise.all(reflectors.splice(0).map((r) => r.stop()));
  server.knobs.splitWatchBytes = 0;
  server.knobs.expiredAsHttp410 = false;
});

afterAll(async () => {
  client.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

const pod = (name: string, node: string, labels: Record<string, string> = {}) => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', labels }, spec: { nodeName: node, containers: [{ name: 'c', image: 'x' }] },
});

function reflect(node: string, min = 100): { r: Reflector; names: () => string[] } {
  let items: ReadonlyMap<string, KObj> = new Map();
  const r = new Reflector({ client, path: '/api/v1/pods', kind: 'Pod', apiVersion: 'v1', fieldSelector: `spec.nodeName=${node}`, log: silentLogger, onChange: (m) => (items = new Map(m)), minBackoffMs: min, maxBackoffMs: 500 });
  reflectors.push(r);
  r.start();
  return { r, names: () => [...items.values()].map((o) => o.metadata.name).sort() };
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('list and watch', () => {
  it('lists with the field selector, then follows changes through a watch split at arbitrary bytes (UTF-8 included)', async () => {
    server.create('pods', pod('a1', 'na'));
    server.create('pods', pod('other', 'elsewhere'));
    server.knobs.splitWatchBytes = 3;
    const { r, names } = reflect('na');
    await until(() => names().join() === 'a1', 'listed');
    expect(r.stats.lists).toBe(1);
    for (let i = 0; i < 5; i++) server.create('pods', pod(`a-${i}`, 'na', { note: `héllo-✓-${i}`.replace(/[^a-z0-9-]/g, 'x'), ['x.io/ünïcode']: 'v' }));
    const p = server.get('pods', 'default', 'a1')!;
    (p.metadata.annotations ??= {}).text = 'äöü 日本語 🚀'.repeat(20);
    server.update('pods', p);
    await until(() => names().length === 6, 'six pods');
    server.delete('pods', 'default', 'a-0', 0);
    await until(() => !names().includes('a-0'), 'a-0 gone');
    expect(r.stats.errors).toBe(0);
    expect(r.stats.lists).toBe(1);
  });

  it('moves its resourceVersion on with BOOKMARKs', async () => {
    const { r } = reflect('nb');
    await until(() => r.listed, 'listed');
    const before = Number(r.resourceVersion);
    server.create('pods', pod('unrelated', 'other-node'));
    await until(() => r.stats.bookmarks > 0 && Number(r.resourceVersion) > before, 'a bookmark past the unrelated write', 5000);
    expect(server.requests.some((q) => q.query.includes('allowWatchBookmarks=true'))).toBe(true);
  });

  it('lists again after an ERROR 410 inside the stream', async () => {
    const { r, names } = reflect('nc');
    server.create('pods', pod('c1', 'nc'));
    await until(() => names().includes('c1'), 'c1');
    server.expireWatches('pods');
    server.create('pods', pod('c2', 'nc'));
    await until(() => r.stats.gone === 1 && r.stats.lists === 2 && names().join() === 'c1,c2', 'relisted');
  });

  for (const http of [false, true]) {
    it(`lists again when a re-watch finds its resourceVersion compacted away (${http ? 'HTTP 410' : 'ERROR event'})`, async () => {
      server.knobs.expiredAsHttp410 = http;
      const { r, names } = reflect(`nd${http}`, 300);
      server.create('pods', pod(`d1-${http}`, `nd${http}`));
      await until(() => names().length === 1, 'd1');
      // An outage: the watch breaks; meanwhile things change and the history is compacted.
      await server.stop();
      server.create('pods', pod(`d2-${http}`, `nd${http}`));
      server.delete('pods', 'default', `d1-${http}`, 0);
      server.compact();
      await new Promise((res) => setTimeout(res, 500));
      await server.start();
      await until(() => names().join() === `d2-${http}`, 'converged after the outage');
      expect(r.stats.gone).toBeGreaterThanOrEqual(1);
    });
  }

  it('refuses a wrong token', async () => {
    const bad = new ApiClient({ ...loadKubeconfig(join(dir, 'kubeconfig')), token: 'nope' });
    await expect(bad.request('GET', '/api/v1/pods')).rejects.toMatchObject({ code: 401 });
    bad.close();
  });
});

describe('status patches', () => {
  it('accepts strategic merge, merge, JSON and apply patches on pods/status, and PUT', async () => {
    const p = server.create('pods', pod('st', 'ns1'));
    const path = '/api/v1/namespaces/default/pods/st/status';
    await client.request('PATCH', path, { metadata: { uid: p.metadata.uid }, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }, { type: 'Initialized', status: 'True' }] } }, 'application/strategic-merge-patch+json');
    await client.request('PATCH', path, { status: { conditions: [{ type: 'Ready', status: 'True' }] } }, 'application/strategic-merge-patch+json');
    let cur = server.get('pods', 'default', 'st')!;
    expect((cur.status as { conditions: unknown[] }).conditions).toEqual([{ type: 'Ready', status: 'True' }, { type: 'Initialized', status: 'True' }]);
    await client.request('PATCH', path, { status: { podIP: '10.1.2.3' } }, 'application/merge-patch+json');
    await client.request('PATCH', path, [{ op: 'replace', path: '/status/phase', value: 'Succeeded' }], 'application/json-patch+json');
    await client.request('PATCH', path, 'status:\n  reason: Applied\n', 'application/apply-patch+yaml');
    cur = server.get('pods', 'default', 'st')!;
    expect(cur.status).toMatchObject({ phase: 'Succeeded', podIP: '10.1.2.3', reason: 'Applied' });
    // The status subresource never touches the spec.
    await client.request('PATCH', path, { spec: { nodeName: 'changed' }, status: { phase: 'Failed' } }, 'application/merge-patch+json');
    expect((server.get('pods', 'default', 'st')!.spec as { nodeName: string }).nodeName).toBe('ns1');
    // A stale resourceVersion or another UID: 409 Conflict.
    await expect(client.request('PUT', path, { ...cur, metadata: { ...cur.metadata, resourceVersion: '1' } })).rejects.toMatchObject({ code: 409 });
    await expect(client.request('PATCH', path, { metadata: { uid: 'other' }, status: {} }, 'application/strategic-merge-patch+json')).rejects.toBeInstanceOf(ApiRequestError);
    const fresh = server.get('pods', 'default', 'st')!;
    await client.request('PUT', path, { ...fresh, status: { phase: 'Running' } });
    expect(server.get('pods', 'default', 'st')!.status).toEqual({ phase: 'Running' });
    await expect(client.request('PATCH', path, {}, 'text/plain')).rejects.toMatchObject({ code: 415 });
  });
});

describe('Node and Lease', () => {
  it('registers the Node with labels, taints and conditions, and keeps a Lease', async () => {
    const hb = new NodeHeartbeat({
      client, log: silentLogger,
      info: { nodeName: 'hb-node', address: '127.0.0.1', podCIDR: '10.244.0.0/16', rootDir: dir, port: 10250, maxPods: 110, startedAt: Date.now(), runtimeVersion: async () => 'docker://20.10.24', ready: () => true, cordoned: () => false },
      labels: { 'tier': 'edge' }, taints: [{ key: 'dedicated', value: 'x', effect: 'NoSchedule' }], leasePeriodMs: 200, statusPeriodMs: 200, statusForceMs: 60_000,
    });
    hb.start();
    try {
      await until(() => hb.stats.leaseRenewals >= 3, 'lease renewed');
      const n = server.get('nodes', undefined, 'hb-node')!;
      expect(n.metadata.labels).toMatchObject({ 'kubernetes.io/hostname': 'hb-node', 'kubernetes.io/os': 'linux', tier: 'edge' });
      expect((n.spec as { taints: unknown[] }).taints).toEqual([{ key: 'dedicated', value: 'x', effect: 'NoSchedule' }]);
      const st = n.status as { conditions: { type: string; status: string }[]; nodeInfo: Record<string, string>; addresses: { type: string }[]; capacity: Record<string, string> };
      expect(st.conditions.map((c) => c.type).sort()).toEqual(['DiskPressure', 'MemoryPressure', 'PIDPressure', 'Ready']);
      expect(st.conditions.find((c) => c.type === 'Ready')!.status).toBe('True');
      expect(st.nodeInfo).toMatchObject({ containerRuntimeVersion: 'docker://20.10.24', kubeletVersion: 'v1.36.3-bosun' });
      expect(st.addresses.map((a) => a.type)).toEqual(['InternalIP', 'Hostname']);
      expect(Object.keys(st.capacity).sort()).toEqual(['cpu', 'ephemeral-storage', 'memory', 'pods']);
      const l = server.get('leases', 'kube-node-lease', 'hb-node')!;
      expect(l.spec).toMatchObject({ holderIdentity: 'hb-node', leaseDurationSeconds: 40, acquireTime: expect.any(String), renewTime: expect.any(String) });
      expect((l.metadata as { ownerReferences?: { kind: string }[] }).ownerReferences?.[0]?.kind).toBe('Node');
      // Unchanged status is not written again (the heartbeat is the Lease).
      const patches = hb.stats.statusPatches;
      await new Promise((r) => setTimeout(r, 700));
      expect(hb.stats.statusPatches).toBe(patches);
      // The node lifecycle controller writes Ready=Unknown when it missed the Lease: the node
      // writes its own Ready again at its next sync, with a new transition time.
      const t0 = new Date(Date.now() - 60_000).toISOString().replace(/\.\d+Z$/, 'Z');
      await client.request('PATCH', '/api/v1/nodes/hb-node/status', { status: { conditions: [{ type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown', lastHeartbeatTime: t0, lastTransitionTime: t0 }] } }, 'application/strategic-merge-patch+json');
      const readyOf = () => (server.get('nodes', undefined, 'hb-node')!.status as { conditions: { type: string; status: string; lastTransitionTime: string }[] }).conditions.find((c) => c.type === 'Ready')!;
      expect(readyOf().status).toBe('Unknown');
      await until(() => readyOf().status === 'True', 'Ready written again');
      expect(readyOf().lastTransitionTime).not.toBe(t0);
    } finally {
      hb.stop();
    }
  });
});

describe('objects and events', () => {
  it('hands on the ConfigMaps and Secrets its pods reference (and no other), Services and EndpointSlices with their kinds, and the node\'s pods as api pods', async () => {
    let last: { pods: Pod[]; objects: KubeObject[] } | undefined;
    const src = new ApiServerSource({
      kubeconfig: join(dir, 'kubeconfig'), nodeName: 'objnode', rootDir: join(dir, 'root'), log: silentLogger, labels: {}, taints: [],
      nodeInfo: { nodeName: 'objnode', address: '127.0.0.1', podCIDR: '10.244.0.0/16', rootDir: dir, port: 0, maxPods: 110, startedAt: Date.now(), runtimeVersion: async () => 'docker://20.10.24', ready: () => true, cordoned: () => false },
      onUpdate: (s) => (last = s), stopped: () => true, onTokens: () => undefined, endpointSlices: true,
    });
    server.create('configmaps', { metadata: { name: 'cm1', namespace: 'default' }, data: { a: 'b' } });
    server.create('configmaps', { metadata: { name: 'unused', namespace: 'default' }, data: { a: 'b' } });
    server.create('services', { metadata: { name: 'svc1', namespace: 'default' }, spec: { clusterIP: '10.96.0.50', ports: [{ port: 80, protocol: 'TCP' }] } });
    const p0 = pod('objpod', 'objnode');
    server.create('pods', { ...p0, spec: { ...p0.spec, volumes: [{ name: 'v', configMap: { name: 'cm1' } }, { name: 's', secret: { secretName: 's1' } }] } });
    await src.start();
    try {
      await until(() => !!last && last.pods.length === 1 && last.objects.some((o) => o.kind === 'Service'), 'first set');
      server.create('secrets', { metadata: { name: 's1', namespace: 'default' }, data: { p: Buffer.from('x').toString('base64') } });
      server.create('endpointslices', { metadata: { name: 'svc1-abc', namespace: 'default', labels: { 'kubernetes.io/service-name': 'svc1' } }, addressType: 'IPv4', endpoints: [{ addresses: ['10.244.0.9'] }] });
      await until(() => ['ConfigMap', 'Secret', 'Service', 'EndpointSlice'].every((k) => last!.objects.some((o) => o.kind === k)), 'all kinds');
      expect(last!.objects.filter((o) => o.kind === 'ConfigMap').map((o) => o.metadata?.name)).toEqual(['cm1']);
      expect(src.refs.size).toBe(2);
      const p = must(last?.pods[0], 'a pod from the API server');
      expect(p.metadata.name).toBe('objpod');
      expect(p.metadata.uid).toBe(server.get('pods', 'default', 'objpod')!.metadata.uid);
      expect(p.metadata.annotations?.['kubernetes.io/config.source']).toBe('api');
      expect(p.status).toBeUndefined();
    } finally {
      await src.stop();
    }
  });

  it('posts events at the configured rate, and a repeated event as a count patch', async () => {
    const poster = new EventPoster(client, silentLogger, 4, 2);
    poster.start();
    try {
      const ev = (i: number, count = 1): CoreEvent => ({
        apiVersion: 'v1', kind: 'Event', metadata: { name: `p.${i}`, namespace: 'default', uid: `u${i}`, creationTimestamp: '2024-01-01T00:00:00Z' },
        involvedObject: { apiVersion: 'v1', kind: 'Pod', name: 'p', namespace: 'default', uid: 'pu' }, reason: 'Started', message: `m${i}`,
        source: { component: 'kubelet', host: 'n' }, firstTimestamp: '2024-01-01T00:00:00Z', lastTimestamp: '2024-01-01T00:00:00Z', count, type: 'Normal', reportingComponent: 'kubelet', reportingInstance: 'n',
      });
      const t0 = Date.now();
      for (let i = 0; i < 10; i++) poster.add(ev(i));
      await until(() => poster.stats.posted === 10, 'all posted', 10_000);
      // Burst 2, then 4 per second: 8 more take about 2 s.
      expect(Date.now() - t0).toBeGreaterThan(1500);
      poster.add(ev(3, 5));
      await until(() => poster.stats.patched === 1, 'patched');
      expect((server.get('events', 'default', 'p.3') as { count?: number }).count).toBe(5);
    } finally {
      poster.stop();
    }
  });
});
