import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { containersOf, manifest, removeTestContainers, TestAgent } from '../support/agent.js';
import { TestApiServer, type Obj } from '../support/apiserver/index.js';
import { buildTestImage, imageNamesOf, removeImageNames, TestRegistry } from '../support/registry.js';
import { BUSYBOX as BB } from '../support/common.js';

// The agent joined to an API server (the test one), driven with the real kubectl: pods bound
// to the node run and report status; kubectl delete terminates with the grace period; Node,
// Lease, mirror pods; an API server outage with compacted history; an agent restart while
// the API server is down. Needs root, a running Docker engine and kubectl.

const server = new TestApiServer();
const agent = new TestAgent();
const kubeconfig = join(agent.dir, 'kubeconfig');
const admin = join(agent.dir, 'admin.kubeconfig');
const node = agent.nodeName;
let flags: string[] = [];
/** Image names pulled from test registries, removed once the agent's containers are gone. */
const pulled: string[] = [];

function kubectl(...args: string[]): Promise<string> {
  return new Promise((res, rej) => execFile('kubectl', ['--kubeconfig', admin, ...args], { timeout: 60_000 }, (err, out, errOut) => (err ? rej(new Error(`kubectl ${args.join(' ')}: ${err.message}\n${errOut}`)) : res(out))));
}

const podYaml = (name: string, grace = 2, extra = '') => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: default
  labels: { app: ${name} }
spec:
  nodeName: ${node}
  terminationGracePeriodSeconds: ${grace}
  containers:
  - name: c
    image: ${BB}
    command: ["sleep", "3600"]
${extra}`;

async function apply(yaml: string): Promise<void> {
  const f = join(agent.dir, `pod-${Math.random().toString(36).slice(2)}.yaml`);
  (await import('node:fs')).writeFileSync(f, yaml);
  await kubectl('create', '-f', f);
}

async function apiPod(name: string): Promise<Obj | undefined> {
  return server.get('pods', 'default', name);
}

const phase = (o?: Obj) => (o?.status as { phase?: string } | undefined)?.phase;

beforeAll(async () => {
  await removeTestContainers();
  await server.start();
  server.writeKubeconfig(kubeconfig);
  server.writeKubeconfig(admin);
  server.knobs.splitWatchBytes = 7; // every watch of the agent reads events cut at odd places
  flags = ['--kubeconfig', kubeconfig, '--node-labels', 'bosun.io/test=yes,tier=edge', '--register-with-taints', 'dedicated=bosun:NoSchedule'];
  await agent.start(flags);
});

afterAll(async () => {
  await agent.destroy();
  await server.stop();
  await removeImageNames(pulled);
});

describe('joined to an API server', () => {
  it('registers the Node and keeps its Lease (kubectl get node / lease)', async () => {
    await agent.until(async () => !!server.get('leases', 'kube-node-lease', node), 'lease', 30_000);
    const n = parseYaml(await kubectl('get', 'node', node, '-o', 'yaml')) as Obj & { spec: { taints: unknown[] }; status: { conditions: { type: string; status: string }[]; nodeInfo: Record<string, string>; capacity: Record<string, string>; allocatable: Record<string, string>; addresses: { type: string }[] } };
    expect(n.metadata.labels).toMatchObject({ 'kubernetes.io/hostname': node, 'kubernetes.io/os': 'linux', 'bosun.io/test': 'yes', tier: 'edge' });
    expect(n.spec.taints).toContainEqual({ key: 'dedicated', value: 'bosun', effect: 'NoSchedule' });
    expect(n.status.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(n.status.conditions.map((c) => c.type).sort()).toEqual(['DiskPressure', 'MemoryPressure', 'PIDPressure', 'Ready']);
    expect(n.status.nodeInfo.containerRuntimeVersion).toMatch(/^docker:\/\/20\.10/);
    expect(n.status.nodeInfo.kubeletVersion).toBe('v1.36.3-bosun');
    expect(n.status.capacity.pods).toBe('110');
    expect(Object.keys(n.status.allocatable).sort()).toEqual(['cpu', 'ephemeral-storage', 'memory', 'pods']);
    expect(n.status.addresses.map((a) => a.type)).toEqual(['InternalIP', 'Hostname']);
    expect(await kubectl('get', 'node', node)).toMatch(new RegExp(`${node}\\s+Ready`));
    const leases = await kubectl('get', 'lease', '-n', 'kube-node-lease', '-o', 'yaml');
    const l = (parseYaml(leases) as { items: Obj[] }).items.find((x) => x.metadata.name === node)!;
    expect(l.spec).toMatchObject({ holderIdentity: node, leaseDurationSeconds: 40 });
  });

  it('runs a pod created with kubectl and reports phase, IP and conditions', async () => {
    await apply(podYaml('web'));
    await agent.until(async () => phase(await apiPod('web')) === 'Running', 'web Running in the API', 60_000, () => JSON.stringify(server.get('pods', 'default', 'web')?.status));
    const p = parseYaml(await kubectl('get', 'pod', 'web', '-o', 'yaml')) as Obj & { status: { phase: string; podIP: string; hostIP: string; conditions: { type: string; status: string }[]; containerStatuses: { ready: boolean; restartCount: number }[] } };
    expect(p.status.phase).toBe('Running');
    expect(p.status.podIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(p.status.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(p.status.containerStatuses[0]).toMatchObject({ ready: true, restartCount: 0 });
    expect(await kubectl('get', 'pods', '-o', 'wide')).toMatch(/web\s+1\/1\s+Running/);
    // Status went through pods/status with a strategic merge patch, and only when it changed.
    const patches = server.store.writes.filter((w) => w.resource === 'pods' && w.name === 'web' && w.sub === 'status');
    expect(patches.length).toBeGreaterThan(0);
    expect(patches.every((w) => w.contentType === 'application/strategic-merge-patch+json')).toBe(true);
    const before = patches.length;
    await new Promise((r) => setTimeout(r, 3000));
    expect(server.store.writes.filter((w) => w.resource === 'pods' && w.name === 'web' && w.sub === 'status').length).toBe(before);
    // The agent sees it as an API pod: name and UID as given.
    const local = (await agent.pods()).find((x) => x.metadata.name === 'web')!;
    expect(local.metadata.uid).toBe(p.metadata.uid);
    expect(local.metadata.annotations?.['kubernetes.io/config.source']).toBe('api');
    // Events reach the API server.
    await agent.until(async () => server.list('events').some((e) => (e as { involvedObject?: { name?: string } }).involvedObject?.name === 'web'), 'events posted', 15_000);
  });

  it('kubectl delete pod terminates it within its grace period, then the agent deletes it with grace 0', async () => {
    // sleep as PID 1 ignores SIGTERM: the stop takes the whole grace period.
    await apply(podYaml('doomed', 3));
    await agent.until(async () => phase(await apiPod('doomed')) === 'Running', 'doomed Running', 60_000);
    const t0 = Date.now();
    await kubectl('delete', 'pod', 'doomed', '--timeout=60s');
    const took = Date.now() - t0;
    expect(took).toBeGreaterThan(2500);
    expect(took).toBeLessThan(30_000);
    expect(server.get('pods', 'default', 'doomed')).toBeUndefined();
    expect(server.store.writes.some((w) => w.resource === 'pods' && w.name === 'doomed' && w.verb === 'delete:0')).toBe(true);
    await agent.until(async () => (await containersOf(node, 'doomed')).every((c) => c.State !== 'running'), 'doomed stopped', 30_000);
  });

  it('keeps a mirror pod for a static pod: recreated when deleted, overwritten when edited', async () => {
    agent.write('static.yaml', manifest('stat', `  terminationGracePeriodSeconds: 0\n  containers:\n  - name: c\n    image: ${BB}\n    command: ["sleep", "3600"]\n`));
    const name = `stat-${node}`;
    await agent.until(async () => phase(await apiPod(name)) === 'Running', 'mirror pod Running', 60_000, () => JSON.stringify(server.get('pods', 'default', name) ?? null));
    const m = (await apiPod(name))!;
    const hash = m.metadata.annotations?.['kubernetes.io/config.mirror'];
    expect(hash).toBeTruthy();
    expect(m.metadata.annotations?.['kubernetes.io/config.hash']).toBe(hash);
    await kubectl('delete', 'pod', name, '--wait=false');
    await agent.until(async () => { const x = await apiPod(name); return !!x && x.metadata.uid !== m.metadata.uid && !x.metadata.deletionTimestamp; }, 'mirror recreated', 30_000);
    const again = (await apiPod(name))!;
    await kubectl('annotate', 'pod', name, '--overwrite', 'kubernetes.io/config.mirror=edited');
    await agent.until(async () => { const x = await apiPod(name); return !!x && x.metadata.uid !== again.metadata.uid && x.metadata.annotations?.['kubernetes.io/config.mirror'] === hash; }, 'mirror overwritten', 30_000);
    // The static pod itself never stopped.
    const cs = await containersOf(node, name);
    expect(cs.filter((c) => c.State === 'running' && c.Labels['io.kubernetes.container.name'] === 'c')).toHaveLength(1);
  });

  it('gives pods the ConfigMaps and Secrets of the API server', async () => {
    await kubectl('create', 'configmap', 'settings', '--from-literal=greeting=hello-from-api');
    await kubectl('create', 'secret', 'generic', 'creds', '--from-literal=password=s3cret');
    await apply(podYaml('withenv', 0, `    env:
    - name: GREETING
      valueFrom: { configMapKeyRef: { name: settings, key: greeting } }
    - name: PASSWORD
      valueFrom: { secretKeyRef: { name: creds, key: password } }
`));
    await agent.until(async () => phase(await apiPod('withenv')) === 'Running', 'withenv Running', 60_000, () => JSON.stringify(server.get('pods', 'default', 'withenv')?.status ?? null));
    const c = (await containersOf(node, 'withenv')).find((x) => x.State === 'running' && x.Labels['io.kubernetes.container.name'] === 'c')!;
    const env = (await (await import('../support/agent.js')).docker.getContainer(c.Id).inspect()).Config.Env;
    expect(env).toEqual(expect.arrayContaining(['GREETING=hello-from-api', 'PASSWORD=s3cret']));
    await kubectl('delete', 'pod', 'withenv', '--timeout=60s');
  });

  it('pulls with an imagePullSecret of the API server (kubectl create secret docker-registry), password shown nowhere', async () => {
    const id = Math.random().toString(36).slice(2, 8);
    const password = `bosun-marker-${id}-api`;
    const reg = new TestRegistry(`api-${id}`, { username: 'puller', password });
    const local = `localhost/bosun/pulltest-api:${id}`;
    try {
      await buildTestImage(local);
      await reg.start();
      await reg.push(local, 'test/api:1');
      await kubectl('create', 'secret', 'docker-registry', `regcred-${id}`, `--docker-server=${reg.addr}`, '--docker-username=puller', `--docker-password=${password}`);
      await apply(podYaml('pullsecret', 0).replace('image: ' + BB, `image: ${reg.addr}/test/api:1`).replace('  containers:', `  imagePullSecrets:\n  - name: regcred-${id}\n  containers:`));
      await agent.until(async () => phase(await apiPod('pullsecret')) === 'Running', 'pullsecret Running', 90_000, () => JSON.stringify(server.get('pods', 'default', 'pullsecret')?.status ?? null));
      expect(agent.log()).not.toContain(password);
      expect(JSON.stringify(server.get('pods', 'default', 'pullsecret'))).not.toContain(password);
      await kubectl('delete', 'pod', 'pullsecret', '--timeout=60s');
      // The API object goes before the agent has stopped the pod: the next test counts what runs.
      await agent.until(async () => (await containersOf(node, 'pullsecret')).every((c) => c.State !== 'running'), 'pullsecret stopped', 60_000);
    } finally {
      // The pod's dead container still holds the image: removed in afterAll, after the agent's containers.
      pulled.push(local, ...(reg.addr ? await imageNamesOf(reg.addr) : []));
      await reg.stop();
    }
  });

  it('rides out an API server outage with a compacted history: no pod restarted, state converged, no update lost', async () => {
    const running = async () => (await containersOf(node)).filter((c) => c.State === 'running').map((c) => c.Id).sort();
    // A pod that finishes during the outage: its final status must reach the API afterwards.
    await apply(podYaml('short', 0).replace('["sleep", "3600"]', '["sleep", "12"]').replace('  terminationGracePeriodSeconds: 0', '  terminationGracePeriodSeconds: 0\n  restartPolicy: Never'));
    await agent.until(async () => phase(await apiPod('short')) === 'Running', 'short Running', 60_000);
    const before = await running();
    const shortIds = (await containersOf(node, 'short')).map((c) => c.Id);
    const terminations = () => agent.log().split('\n').filter((l) => l.includes('terminating pod that is no longer desired')).length;
    const terminated = terminations();
    await server.stop();
    // While it is away: one pod is deleted for good, one is added, and history is compacted.
    await new Promise((r) => setTimeout(r, 8000));
    server.create('pods', parseYaml(podYaml('during')) as Obj);
    server.delete('pods', 'default', 'web', 0);
    server.compact();
    await new Promise((r) => setTimeout(r, 14_000));
    // The pods kept running the whole time (short ended by itself).
    expect(await running()).toEqual(before.filter((id) => !shortIds.includes(id)));
    expect(terminations()).toBe(terminated);
    await server.start();
    await agent.until(async () => phase(await apiPod('during')) === 'Running', 'the pod added during the outage Running', 90_000, () => JSON.stringify(server.get('pods', 'default', 'during')?.status ?? null));
    await agent.until(async () => (await containersOf(node, 'web')).every((c) => c.State !== 'running'), 'web (deleted during the outage) stopped', 60_000);
    await agent.until(async () => phase(await apiPod('short')) === 'Succeeded', 'short Succeeded in the API (an update made during the outage)', 60_000, () => JSON.stringify(server.get('pods', 'default', 'short')?.status ?? null));
    // The static pod's containers were never restarted.
    const stat = (await containersOf(node, `stat-${node}`)).filter((c) => c.State === 'running').map((c) => c.Id);
    expect(before).toEqual(expect.arrayContaining(stat));
    // The lease is renewed again.
    const renew = () => Date.parse(String((server.get('leases', 'kube-node-lease', node)!.spec as { renewTime: string }).renewTime));
    const r0 = renew();
    await agent.until(async () => renew() > r0, 'lease renewed after the outage', 30_000);
  });

  it('keeps the API pods running when the agent restarts while the API server is down (checkpoint)', async () => {
    expect(existsSync(join(agent.dir, 'root', 'checkpoints', 'api-pods.json'))).toBe(true);
    const ids = async () => (await containersOf(node, 'during')).filter((c) => c.State === 'running').map((c) => c.Id).sort();
    const before = await ids();
    expect(before.length).toBeGreaterThan(0);
    await server.stop();
    await agent.stop();
    await agent.start(flags);
    await agent.until(async () => (await agent.pods()).some((p) => p.metadata.name === 'during'), 'the checkpoint pod desired', 30_000);
    await agent.until(async () => agent.log().includes('running the pods of the checkpoint'), 'checkpoint used', 10_000);
    await new Promise((r) => setTimeout(r, 5000));
    expect(await ids()).toEqual(before);
    // Catches up once it is back: the watch resumes, and kubectl delete works as before.
    const lists = server.requests.length;
    await server.start();
    await agent.until(async () => server.requests.slice(lists).some((q) => q.path === '/api/v1/pods' && !q.query.includes('watch=')), 'pods listed again', 30_000);
    expect(await ids()).toEqual(before);
    await kubectl('delete', 'pod', 'during', '--timeout=60s');
    expect(server.get('pods', 'default', 'during')).toBeUndefined();
  });
});
