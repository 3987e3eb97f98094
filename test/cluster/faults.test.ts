import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAgent, containersOf, removeTestContainers } from '../support/agent.js';
import { joinCluster, leaveCluster, TestCluster, until } from '../support/cluster.js';

// Issue 16 item 8: faults against the real control plane. kube-apiserver stopped for 2
// minutes (three Lease durations) while etcd compacts its history, then started again: no
// pod restarts, the node's watches get 410 Gone and list again, the Lease and pod status
// converge, and objects made after the outage reach the node. A Lease renewal that fails
// alone (the Lease written or deleted behind the node's back): the node recovers and stays
// Ready. etcd killed under the API server's watches and started again: nothing lost. Then
// bosun killed with -9 and started again: its pods are adopted, not restarted. Proxy off
// (KUBE-* chains are per host).

const IMAGE = 'localhost/bosun/busybox:1';
const OUTAGE_MS = 120_000;
const cluster = new TestCluster();
const agent = new TestAgent();
const node = agent.nodeName;
let flags: string[] = [];

interface PodObj { metadata: { name: string; uid: string }; status: { phase?: string; conditions?: { type: string; status: string }[]; containerStatuses?: { restartCount: number; containerID?: string }[] } }
const ready = (p: PodObj) => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
const agentLog = () => agent.log().split('\n').slice(-30).join('\n');

const pod = (name: string) => JSON.stringify({
  apiVersion: 'v1', kind: 'Pod', metadata: { name },
  spec: { nodeName: node, terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: IMAGE, command: ['sleep', '3600'] }] },
});

async function getPod(name: string): Promise<PodObj> {
  return cluster.json<PodObj>(['get', 'pod', name]);
}

async function dockerIds(name: string): Promise<string[]> {
  return (await containersOf(node)).filter((c) => c.Labels['io.kubernetes.pod.name'] === name).map((c) => c.Id).sort();
}

/** etcd's v3 JSON gateway (no etcdctl is built): the current revision, then a compaction to it. */
async function compactEtcd(): Promise<number> {
  const base = `http://127.0.0.1:${cluster.etcdPort}/v3/kv`;
  const r = await fetch(`${base}/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('/').toString('base64'), count_only: true }) });
  const rev = Number(((await r.json()) as { header: { revision: string } }).header.revision);
  const c = await fetch(`${base}/compaction`, { method: 'POST', body: JSON.stringify({ revision: String(rev), physical: true }) });
  if (!c.ok) throw new Error(`etcd compaction to ${rev}: ${c.status} ${await c.text()}`);
  return rev;
}

beforeAll(async () => {
  await cluster.up();
  flags = await cluster.nodeFlags(node);
  await joinCluster(cluster, agent);
}, 60 * 60_000);

afterAll(async () => {
  try {
    await leaveCluster(cluster, agent, 'pod', removeTestContainers);
  } finally {
    await cluster.down();
  }
}, 300_000);

describe('8. faults', () => {
  it('rides out a kube-apiserver outage with etcd compacted meanwhile: no restarts, 410 then a re-list, Lease and status converge', async () => {
    await cluster.k(['apply', '-f', '-'], { input: pod('steady') });
    let last: PodObj | undefined;
    await until(async () => ready((last = await getPod('steady'))), 'steady Ready', 120_000, () => `${JSON.stringify(last?.status)}\n${agentLog()}`);
    const before = await dockerIds(`steady`);
    expect(before.length).toBe(2); // sandbox + container
    const lease0 = (await cluster.json<{ spec: { renewTime: string } }>(['get', 'lease', '-n', 'kube-node-lease', node])).spec.renewTime;

    await cluster.stop('kube-apiserver');
    const compactedAt = await compactEtcd();
    const t0 = Date.now();
    await until(async () => Date.now() - t0 > OUTAGE_MS, 'the outage', OUTAGE_MS + 10_000);
    // The agent did not stop its pods while the API server was away.
    expect(await dockerIds('steady')).toEqual(before);
    expect(agent.log()).toMatch(/list\/watch failed|ECONNREFUSED/);

    await cluster.restart();
    await cluster.k(['wait', '--for=condition=Ready', `node/${node}`, '--timeout=120s'], { timeoutMs: 130_000 });
    await until(async () => (await cluster.json<{ spec: { renewTime: string } }>(['get', 'lease', '-n', 'kube-node-lease', node])).spec.renewTime !== lease0, 'the Lease renewed after the outage', 60_000, agentLog);
    const after = await getPod('steady');
    expect(ready(after)).toBe(true);
    expect(after.status.containerStatuses?.[0]?.restartCount).toBe(0);
    expect(await dockerIds('steady')).toEqual(before);
    // Watches resumed from before the compaction were refused and listed again.
    await until(async () => /410 Gone\): listing again/.test(agent.log()), `a 410 and a re-list after compaction at revision ${compactedAt}`, 60_000, agentLog);

    // Nothing lost: a pod made after the outage reaches the node through the new watch.
    await cluster.k(['apply', '-f', '-'], { input: pod('after') });
    await until(async () => ready((last = await getPod('after'))), 'after Ready', 120_000, () => `${JSON.stringify(last?.status)}\n${agentLog()}`);
  }, 600_000);

  it('recovers from a Lease renewal that fails alone (written, then deleted behind its back) and stays Ready', async () => {
    interface LeaseObj { metadata: { resourceVersion: string }; spec: { holderIdentity: string; renewTime: string } }
    const lease = () => cluster.json<LeaseObj>(['get', 'lease', '-n', 'kube-node-lease', node]);
    const readySince = async () => (await cluster.json<{ status: { conditions: { type: string; status: string; lastTransitionTime: string }[] } }>(['get', 'node', node])).status.conditions.filter((c) => c.type === 'Ready').map((c) => ({ status: c.status, lastTransitionTime: c.lastTransitionTime }))[0];
    // The node lifecycle controller may still hold Ready=Unknown from the outage above until the
    // node's next status sync overwrites it: start from a settled True.
    let before = { status: '', lastTransitionTime: '' };
    await until(async () => {
      const r = await readySince();
      if (r) before = r;
      return r?.status === 'True';
    }, 'the node Ready', 120_000, agentLog);
    // Another writer: the node's cached resourceVersion is stale, so its next renewal is a 409.
    await cluster.k(['patch', 'lease', '-n', 'kube-node-lease', node, '--type', 'merge', '-p', JSON.stringify({ spec: { holderIdentity: 'intruder', renewTime: '2020-01-01T00:00:00.000000Z' } })]);
    let l: LeaseObj | undefined;
    await until(async () => (l = await lease()).spec.holderIdentity === node && Date.parse(l.spec.renewTime) > Date.parse('2021-01-01T00:00:00Z'), 'the node to take its Lease back', 60_000, () => `${JSON.stringify(l)}\n${agentLog()}`);
    // Gone: its next renewal is a 404, and it makes the Lease again.
    await cluster.k(['delete', 'lease', '-n', 'kube-node-lease', node]);
    await until(async () => (await cluster.kubectl(['get', 'lease', '-n', 'kube-node-lease', node])).code === 0, 'the Lease made again', 60_000, agentLog);
    expect((await lease()).spec.holderIdentity).toBe(node);
    // Ready throughout: the condition never changed.
    expect(await readySince()).toEqual(before);
  }, 200_000);

  it('loses nothing when etcd is killed under the watches and started again', async () => {
    const before = await dockerIds('steady');
    await cluster.k(['apply', '-f', '-'], { input: pod('doomed') });
    let last: PodObj | undefined;
    await until(async () => ready((last = await getPod('doomed'))), 'doomed Ready', 120_000, () => `${JSON.stringify(last?.status)}\n${agentLog()}`);
    const lease0 = (await cluster.json<{ spec: { renewTime: string } }>(['get', 'lease', '-n', 'kube-node-lease', node])).spec.renewTime;

    await cluster.stop('etcd');
    // Long enough for the API server to notice and the node's requests to fail meanwhile.
    await new Promise((r) => setTimeout(r, 20_000));
    await cluster.restart();

    // A delete and a create after the restart both reach the node through its watch. The API
    // server answers 5xx until it has its etcd connection back: a user would retry too.
    const kubectlOk = async (args: string[], input?: string) => (await cluster.kubectl(args, { input, timeoutMs: 30_000 })).code === 0;
    await until(() => kubectlOk(['delete', 'pod', 'doomed', '--wait=false', '--ignore-not-found']), 'the delete accepted', 120_000, () => cluster.log('kube-apiserver'));
    await until(() => kubectlOk(['apply', '-f', '-'], pod('reborn')), 'the create accepted', 120_000, () => cluster.log('kube-apiserver'));
    await until(async () => ready((last = await getPod('reborn'))), 'reborn Ready', 180_000, () => `${JSON.stringify(last?.status)}\n${agentLog()}`);
    await until(async () => (await dockerIds('doomed')).length === 0 && (await cluster.kubectl(['get', 'pod', 'doomed'])).code !== 0, 'doomed stopped and gone', 120_000, agentLog);
    await until(async () => (await cluster.json<{ spec: { renewTime: string } }>(['get', 'lease', '-n', 'kube-node-lease', node])).spec.renewTime !== lease0, 'the Lease renewed after the etcd restart', 60_000, agentLog);
    await cluster.k(['wait', '--for=condition=Ready', `node/${node}`, '--timeout=60s'], { timeoutMs: 70_000 });
    const steady = await getPod('steady');
    expect(ready(steady)).toBe(true);
    expect(steady.status.containerStatuses?.[0]?.restartCount).toBe(0);
    expect(await dockerIds('steady')).toEqual(before);
  }, 600_000);

  it('adopts its pods after kill -9 and a restart: same containers, no restarts, status still Ready', async () => {
    const ids = { steady: await dockerIds('steady'), after: await dockerIds('after') };
    await agent.kill9();
    await agent.start(flags);
    // Status is written again by the new process (its first sync), with the same containers.
    await until(async () => (await getPod('after')).status.conditions !== undefined && ready(await getPod('after')), 'after still Ready', 60_000, agentLog);
    await new Promise((r) => setTimeout(r, 5_000));
    for (const name of ['steady', 'after'] as const) {
      const p = await getPod(name);
      expect(ready(p)).toBe(true);
      expect(p.status.containerStatuses?.[0]?.restartCount).toBe(0);
      expect(await dockerIds(name)).toEqual(ids[name]);
    }
  });
});
