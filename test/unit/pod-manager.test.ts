// The pod manager and its executor against the fake runtime (test/support/fake-runtime.ts):
// the worker states, what survives an agent restart and a host reboot (issue 13 items 1, 2),
// and the repair of what a killed agent left half-done (item 8). Fast: no engine, no sleeps
// beyond the manager's own 20 ms event coalescing.

import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../base/index.js';
import { ImageManager } from '../../agent/pull/index.js';
import { silentLogger } from '../../agent/log.js';
import { ObjectStore } from '../../agent/objects/store.js';
import { PodManager } from '../../agent/pods/manager.js';
import { computeTerminationActions } from '../../agent/pods/planner.js';
import type { NodeEnv } from '../../agent/pods/prepare.js';
import { restartCountFromLogNames } from '../../agent/pods/prepare.js';
import { executePodActions, syncPod } from '../../agent/pods/sync.js';
import { Backoff } from '../../agent/vocab/index.js';
import type { Container, Pod, PodSpec } from '../../manifests/index.js';
import { FakeRuntime } from '../support/fake-runtime.js';
import { BUSYBOX as IMG } from '../support/common.js';

const NODE = 'fake-node';

let root: string;
let rt: FakeRuntime;
const managers: PodManager[] = [];

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'bosun-pm-'));
  rt = new FakeRuntime();
});

afterEach(async () => {
  for (const m of managers.splice(0)) await m.stop();
  rmSync(root, { recursive: true, force: true });
});

function env(): NodeEnv {
  return {
    rootDir: join(root, 'root'),
    podLogsDir: join(root, 'logs'),
    objects: new ObjectStore(),
    hostIP: '127.0.0.1',
    node: { cpuMilli: 2000, memoryBytes: 4 << 30, ephemeralBytes: 10 << 30 },
    dns: { clusterDNS: [], clusterDomain: 'cluster.local', host: { servers: [], searches: [], options: [] } },
    serviceEnv: () => ({}),
    prepared: new Map(),
  };
}

const ctr = (name: string, extra: Partial<Container> = {}): Container => ({ name, image: IMG, imagePullPolicy: 'IfNotPresent', ...extra });

function pod(name: string, spec: Partial<PodSpec> & { containers: Container[] }, uid = `uid-${name}`): Pod {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: 'default', uid, annotations: { 'kubernetes.io/config.source': 'file' } },
    spec: { restartPolicy: 'Always', terminationGracePeriodSeconds: 1, nodeName: NODE, ...spec },
  };
}

const events = { emit: () => undefined };

async function agent(clock = new FakeClock(Date.now())): Promise<PodManager> {
  const m = new PodManager({ runtime: rt, runtimeName: 'fake', log: silentLogger, clock, events, env: env(), hostIP: '127.0.0.1', nodeName: NODE, syncPeriodMs: 50, relistPeriodMs: 50 });
  managers.push(m);
  await m.start();
  return m;
}

async function restart(m: PodManager): Promise<PodManager> {
  managers.splice(managers.indexOf(m), 1);
  await m.stop();
  return agent();
}

/** Until the manager has nothing to do and the runtime no longer changes. */
async function settle(m: PodManager): Promise<void> {
  let last = -1;
  for (let quiet = 0; quiet < 4;) {
    await m.idle();
    await new Promise((r) => setTimeout(r, 60));
    if (rt.calls.length === last) quiet++;
    else quiet = 0;
    last = rt.calls.length;
  }
}

const statusOf = (m: PodManager, name: string) => m.list().find((v) => v.pod.metadata.name === name)!.status;
const restarts = (m: PodManager, name: string, c: string) => statusOf(m, name).containerStatuses?.find((s) => s.name === c)?.restartCount;

describe('PodManager on the fake runtime', () => {
  it('a second API delete with a shorter grace cuts the termination under way (kubelet\'s calculateEffectiveGracePeriod)', async () => {
    const base = pod('api', { terminationGracePeriodSeconds: 60, containers: [ctr('app', { lifecycle: { preStop: { sleep: { seconds: 30 } } } })] });
    const api = (grace: number): Pod => ({
      ...base,
      metadata: { ...base.metadata, annotations: { 'kubernetes.io/config.source': 'api' }, deletionTimestamp: new Date().toISOString(), deletionGracePeriodSeconds: grace },
    });
    const m = await agent();
    m.setDesired([{ ...base, metadata: { ...base.metadata, annotations: { 'kubernetes.io/config.source': 'api' } } }], true);
    await settle(m);
    expect(rt.count('startContainer', 'app')).toBe(1);
    m.setDesired([api(60)], true);
    // The preStop sleep (30 s) runs inside the 60 s grace: the worker is busy stopping the pod.
    const t0 = Date.now();
    for (let i = 0; i < 100 && m.state(base.metadata.uid) !== 'terminating'; i++) await new Promise((r) => setTimeout(r, 20));
    expect(m.state(base.metadata.uid)).toBe('terminating');
    await new Promise((r) => setTimeout(r, 200));
    expect(rt.count('stopContainer', 'app')).toBe(0);
    m.setDesired([api(1)], true);
    for (let i = 0; i < 250 && rt.count('stopContainer', 'app') === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(rt.count('stopContainer', 'app')).toBe(1);
    // Cut at 1 s after the second delete, not after the 30 s hook.
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('runs init containers, then the app; a finished OnFailure pod is Succeeded and persisted', async () => {
    rt.exitOnStart.set('init', 0).set('job', 0);
    const p = pod('job', { restartPolicy: 'OnFailure', initContainers: [ctr('init')], containers: [ctr('job')] });
    const m = await agent();
    m.setDesired([p], true);
    await settle(m);
    expect(statusOf(m, 'job').phase).toBe('Succeeded');
    expect(m.state(p.metadata.uid)).toBe('terminated');
    expect(rt.count('startContainer', 'init')).toBe(1);
    expect(rt.count('startContainer', 'job')).toBe(1);
    const file = join(root, 'root', 'pod-records', `${p.metadata.uid}.json`);
    expect(JSON.parse(readFileSync(file, 'utf8')).final.phase).toBe('Succeeded');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(root, 'root', 'pod-records')).mode & 0o777).toBe(0o700);
  });

  it('after an agent restart a finished pod stays finished, even with its containers gone', async () => {
    rt.exitOnStart.set('init', 0).set('job', 0);
    const p = pod('job', { restartPolicy: 'OnFailure', initContainers: [ctr('init')], containers: [ctr('job')] });
    let m = await agent();
    m.setDesired([p], true);
    await settle(m);
    m = await restart(m);
    m.setDesired([p], true);
    await settle(m);
    expect(statusOf(m, 'job').phase).toBe('Succeeded');
    // The engine lost them (a reset engine, a hand-made `docker rm`): still nothing runs again.
    for (const id of [...rt.containers.keys()]) await rt.removeContainer(id);
    m = await restart(m);
    m.setDesired([p], true);
    await settle(m);
    expect(statusOf(m, 'job').phase).toBe('Succeeded');
    expect(rt.count('startContainer', 'init')).toBe(1);
    expect(rt.count('startContainer', 'job')).toBe(1);
  });

  it('after a host reboot: restart counts go on, finished pods stay finished, a running pod reruns its init containers', async () => {
    rt.exitOnStart.set('init', 0).set('job', 0).set('setup', 0);
    const job = pod('job', { restartPolicy: 'OnFailure', initContainers: [ctr('init')], containers: [ctr('job')] });
    const web = pod('web', { initContainers: [ctr('setup')], containers: [ctr('app')] });
    let m = await agent();
    m.setDesired([job, web], true);
    await settle(m);
    // Two crashes of the app container: restartCount 2 (the back-off clock is the test's).
    for (let i = 0; i < 2; i++) {
      const running = [...rt.containers.values()].find((c) => c.metadata.name === 'app' && c.state === 'running')!;
      rt.exit(running.id, 1);
      await settle(m);
      (m as unknown as { deps: { backoff: Backoff } }).deps.backoff.reset(`web_default_uid-web_app_`);
      m.objectsChanged();
      await waitFor(() => [...rt.containers.values()].some((c) => c.metadata.name === 'app' && c.state === 'running' && c.metadata.attempt === i + 1), m);
    }
    expect(restarts(m, 'web', 'app')).toBe(2);
    await m.stop();
    managers.splice(managers.indexOf(m), 1);
    rt.stopEverything();
    m = await agent();
    m.setDesired([job, web], true);
    await settle(m);
    await waitFor(() => statusOf(m, 'web').phase === 'Running' && statusOf(m, 'web').containerStatuses?.[0]?.state.running !== undefined, m);
    expect(restarts(m, 'web', 'app')).toBe(3);
    expect(statusOf(m, 'web').containerStatuses?.[0]?.lastState.terminated?.exitCode).toBe(255);
    expect(rt.count('startContainer', 'setup')).toBe(2);
    expect(statusOf(m, 'job').phase).toBe('Succeeded');
    expect(rt.count('startContainer', 'init')).toBe(1);
    expect(rt.count('startContainer', 'job')).toBe(1);
    // The old sandbox of web stays while it holds the run --previous reads.
    const webSandboxes = [...rt.sandboxes.values()].filter((s) => s.metadata.uid === 'uid-web');
    expect(webSandboxes.length).toBe(2);
  });

  it('repairs what a killed agent left: a created container, an etc-hosts directory', async () => {
    const p = pod('web', { containers: [ctr('a'), ctr('b')] });
    // A sandbox made, its hosts file never written, one container created and never started.
    const sandboxId = await rt.runPodSandbox({ metadata: { name: 'web', namespace: 'default', uid: 'uid-web', attempt: 0 }, hostname: 'web', labels: { 'io.kubernetes.pod.name': 'web', 'io.kubernetes.pod.namespace': 'default', 'io.kubernetes.pod.uid': 'uid-web', 'bosun.io/node-name': NODE, 'bosun.io/host-network': 'false' }, annotations: {}, portMappings: [], hostNetwork: false, hostPID: false, hostIPC: false, sharePid: false });
    await rt.createContainer(sandboxId, { metadata: { name: 'a', attempt: 0 }, image: IMG, envs: [], mounts: [], labels: { 'io.kubernetes.pod.uid': 'uid-web', 'io.kubernetes.pod.name': 'web', 'io.kubernetes.pod.namespace': 'default', 'io.kubernetes.container.name': 'a', 'bosun.io/node-name': NODE }, annotations: {} }, { metadata: { name: 'web', namespace: 'default', uid: 'uid-web', attempt: 0 }, hostname: 'web', labels: {}, annotations: {}, portMappings: [], hostNetwork: false, hostPID: false, hostIPC: false, sharePid: false });
    // ... and an engine that made a directory where the hosts file belongs.
    mkdirSync(join(root, 'root', 'pods', 'uid-web', 'etc-hosts'), { recursive: true });
    const m = await agent();
    expect([...rt.containers.values()].filter((c) => c.state === 'created')).toEqual([]);
    m.setDesired([p], true);
    await settle(m);
    expect(lstatSync(join(root, 'root', 'pods', 'uid-web', 'etc-hosts')).isFile()).toBe(true);
    expect(rt.count('runPodSandbox')).toBe(1);
    expect([...rt.containers.values()].map((c) => [c.metadata.name, c.state]).sort()).toEqual([['a', 'running'], ['b', 'running']]);
    expect(statusOf(m, 'web').phase).toBe('Running');
  });

  it('adopts what runs after a restart: nothing is started or stopped again', async () => {
    const p = pod('web', { initContainers: [ctr('setup')], containers: [ctr('a')] });
    rt.exitOnStart.set('setup', 0);
    let m = await agent();
    m.setDesired([p], true);
    await settle(m);
    const before = rt.calls.length;
    m = await restart(m);
    m.setDesired([p], true);
    await settle(m);
    expect(rt.calls.slice(before)).toEqual([]);
    expect(statusOf(m, 'web').phase).toBe('Running');
  });

  it('terminates a pod no source lists any more: stopped, removed, directory and record gone', async () => {
    const p = pod('web', { containers: [ctr('a')] });
    const m = await agent();
    m.setDesired([p], true);
    await settle(m);
    expect(readdirSync(join(root, 'root', 'pod-records'))).toEqual(['uid-web.json']);
    m.setDesired([], true);
    await settle(m);
    expect(rt.containers.size + rt.sandboxes.size).toBe(0);
    expect(m.state(p.metadata.uid)).toBeUndefined();
    expect(readdirSync(join(root, 'root', 'pods'))).toEqual([]);
    expect(readdirSync(join(root, 'root', 'pod-records'))).toEqual([]);
    // App containers stop before the sandbox.
    const ops = rt.calls.filter((c) => c.op === 'stopContainer' || c.op === 'stopPodSandbox').map((c) => c.op);
    expect(ops).toEqual(['stopContainer', 'stopPodSandbox']);
  });

  it('relists only this node\'s objects, and tells a status to its listeners once per change, not once per sync', async () => {
    // Another agent's pod on the same engine: the relist must not even ask for it.
    const sb = await rt.runPodSandbox({ metadata: { name: 'theirs', namespace: 'default', uid: 'uid-theirs', attempt: 0 }, labels: { 'bosun.io/node-name': 'other-node' }, annotations: {} } as never);
    const m = await agent();
    const told: string[] = [];
    m.onStatus((v) => told.push(`${v.pod.metadata.name}:${v.status.phase}:${v.status.containerStatuses?.[0]?.state?.running ? 'running' : '-'}`));
    const p = pod('one', { restartPolicy: 'Never', containers: [ctr('app')] });
    m.setDesired([p], true);
    await settle(m);
    const filters = rt.listFilters.filter((f) => f !== undefined);
    expect(filters.length).toBeGreaterThan(0);
    expect(new Set(filters.map((f) => JSON.stringify(f)))).toEqual(new Set([JSON.stringify({ labels: { 'bosun.io/node-name': NODE } })]));
    expect(rt.count('removePodSandbox')).toBe(0);
    expect(rt.sandboxes.has(sb)).toBe(true);
    // Many 50 ms sync ticks later, nothing more was told about an unchanged status.
    const before = told.length;
    await new Promise((r) => setTimeout(r, 400));
    expect(told.length).toBe(before);
    expect(told.at(-1)).toBe('one:Running:running');
    // A change is told.
    const app = [...rt.containers.values()].find((c) => c.metadata.name === 'app' && c.state === 'running')!;
    rt.exit(app.id, 1);
    for (let i = 0; i < 100 && !told.slice(before).some((t) => t.endsWith(':-')); i++) await new Promise((r) => setTimeout(r, 20));
    expect(told.slice(before)).toContain('one:Failed:-');
  });

  it('syncs a pod left with nothing to do again only when its resync is due (pod_workers\' workQueue); one waiting or with a deadline at every tick', async () => {
    const clock = new FakeClock(Date.now());
    const m = await agent(clock);
    let syncs = 0;
    m.onSync = () => syncs++;
    m.setDesired([pod('web', { containers: [ctr('a')] })], true);
    await settle(m);
    expect(statusOf(m, 'web').phase).toBe('Running');
    // Many 50 ms ticks, and the (fake) clock stands still: the resync (50 to 75 ms) never comes.
    syncs = 0;
    await new Promise((r) => setTimeout(r, 400));
    expect(syncs).toBe(0);
    clock.advance(80);
    for (let i = 0; i < 50 && syncs === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(syncs).toBe(1);
    // An event still syncs it at once: its container exits.
    syncs = 0;
    const a = [...rt.containers.values()].find((c) => c.metadata.name === 'a' && c.state === 'running')!;
    rt.exit(a.id, 1);
    for (let i = 0; i < 100 && restarts(m, 'web', 'a') !== 1; i++) await new Promise((r) => setTimeout(r, 20));
    expect(restarts(m, 'web', 'a')).toBe(1);
    // A container waiting for something only a retry notices (here a ConfigMap that does not
    // exist): synced at every tick, as is a pod with an active deadline.
    const waits = pod('waits', { containers: [ctr('w', { env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'missing', key: 'k' } } }] })] });
    const deadline = pod('deadline', { activeDeadlineSeconds: 1_000_000_000, containers: [ctr('d')] });
    for (const [p, reason] of [[waits, 'CreateContainerConfigError'], [deadline, undefined]] as const) {
      m.setDesired([pod('web', { containers: [ctr('a')] }), p], true);
      await settle(m);
      expect(statusOf(m, p.metadata.name).phase).toBe(reason ? 'Pending' : 'Running');
      expect(statusOf(m, p.metadata.name).containerStatuses?.[0]?.state.waiting?.reason).toBe(reason);
      syncs = 0;
      await new Promise((r) => setTimeout(r, 400));
      expect(syncs, p.metadata.name).toBeGreaterThanOrEqual(3);
    }
  });

  it('starts the containers of a pod one step after another while engine events never stop and a relist takes longer than they are apart', async () => {
    // A loaded engine (lists take 30 ms here, seconds on the shared host) and another
    // agent's containers on the same host whose events keep asking for relists: each step
    // of a pod (one sidecar after the other) must wait for one relist after its action, not
    // for the relists to stop, which they never do here.
    rt.listDelayMs = 30;
    const noise = setInterval(() => rt.foreignEvent(), 5);
    try {
      const p = pod('steps', { initContainers: [1, 2, 3].map((i) => ctr(`sidecar-${i}`, { restartPolicy: 'Always' })), containers: [ctr('app')] });
      const m = await agent();
      m.setDesired([p], true);
      const deadline = Date.now() + 20_000;
      while (rt.count('startContainer', 'app') === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(rt.calls.filter((c) => c.op === 'startContainer').map((c) => c.name)).toEqual(['sidecar-1', 'sidecar-2', 'sidecar-3', 'app']);
    } finally {
      clearInterval(noise);
    }
  });

  it('after the engine lost every container, the restart count goes on from the log files (calcRestartCountByLogDir)', async () => {
    const p = pod('lost', { containers: [ctr('app')] });
    let m = await agent();
    m.setDesired([p], true);
    await settle(m);
    expect(restarts(m, 'lost', 'app')).toBe(0);
    // What the log copier left of three runs (one rotated), and a file that is not a run's.
    const dir = join(root, 'logs', `default_lost_${p.metadata.uid}`, 'app');
    mkdirSync(dir, { recursive: true });
    for (const f of ['0.log', '1.log', '2.log.20260101-000000', 'notes.txt']) writeFileSync(join(dir, f), '');
    await m.stop();
    managers.splice(managers.indexOf(m), 1);
    // A host reboot with an engine that keeps no state: nothing of the pod is left in it.
    for (const id of [...rt.sandboxes.keys()]) await rt.removePodSandbox(id);
    m = await agent();
    m.setDesired([p], true);
    await settle(m);
    expect(restarts(m, 'lost', 'app')).toBe(3);
    expect([...rt.containers.values()].map((c) => c.config.logPath)).toEqual(['app/3.log']);
  });

  it('reads a restart count from log file names as kubelet does', () => {
    expect(restartCountFromLogNames([])).toBe(0);
    expect(restartCountFromLogNames(['0.log'])).toBe(1);
    expect(restartCountFromLogNames(['0.log', '4.log.20260101-000000.gz', '2.log', 'x4.log', '7.txt', '9.logs'])).toBe(5);
  });

  it('an evicted pod stays Failed across a restart; a static one comes back when readmitted', async () => {
    const p = pod('web', { containers: [ctr('a')] });
    let m = await agent();
    m.setDesired([p], true);
    await settle(m);
    await m.evict(p.metadata.uid, { message: 'The node was low on resource: memory.', graceSeconds: 0, tag: 'MemoryPressure' });
    await settle(m);
    expect(statusOf(m, 'web')).toMatchObject({ phase: 'Failed', reason: 'Evicted' });
    m = await restart(m);
    m.setDesired([p], true);
    await settle(m);
    expect(statusOf(m, 'web')).toMatchObject({ phase: 'Failed', reason: 'Evicted' });
    expect(rt.count('startContainer', 'a')).toBe(1);
    expect(m.evictedPods()).toEqual([{ uid: p.metadata.uid, tag: 'MemoryPressure' }]);
    expect(m.readmitEvicted(() => true)).toEqual([p.metadata.uid]);
    await settle(m);
    expect(statusOf(m, 'web').phase).toBe('Running');
    expect(rt.count('startContainer', 'a')).toBe(2);
    expect([...rt.containers.values()].filter((c) => c.metadata.name === 'a').length).toBe(1);
  });
});

describe('executor on the fake runtime', () => {
  it('creates the sandbox, writes the hosts file, starts the containers in plan order', async () => {
    const p = pod('web', { initContainers: [ctr('i')], containers: [ctr('a')] });
    const deps = { runtime: rt, backoff: new Backoff(new FakeClock()), images: new ImageManager({ runtime: rt, clock: new FakeClock(), log: silentLogger, serializeImagePulls: true, secret: () => undefined }), log: silentLogger, events, env: env(), now: () => Date.now() };
    const r = await syncPod(deps, p, { sandboxes: [], containers: [] });
    expect(r.actions.createSandbox).toBe(true);
    expect(rt.calls.map((c) => `${c.op}:${c.name}`)).toEqual(['runPodSandbox:web', 'createContainer:i', 'startContainer:i']);
    expect(readFileSync(join(root, 'root', 'pods', 'uid-web', 'etc-hosts'), 'utf8')).toContain('10.245.0.2\tweb');
  });

  it('a volume source not found is a mount wait (ContainerCreating/PodInitializing, FailedMount), an env reference a CreateContainerConfigError', async () => {
    const emitted: string[] = [];
    const objects = new ObjectStore();
    const deps = {
      runtime: rt, backoff: new Backoff(new FakeClock()), images: new ImageManager({ runtime: rt, clock: new FakeClock(), log: silentLogger, serializeImagePulls: true, secret: () => undefined }),
      log: silentLogger, events: { emit: (_ref: unknown, type: string, reason: string, message: string) => void emitted.push(`${type} ${reason} ${message}`) }, env: { ...env(), objects }, now: () => Date.now(),
    };
    // A configMap volume (no tmpfs: this test mounts nothing); projected ones follow.
    const rootCA = { name: 'root-ca', configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } };
    const withInit = pod('init', { volumes: [rootCA], initContainers: [ctr('i')], containers: [ctr('a')] });
    let r = await syncPod(deps, withInit, { sandboxes: [], containers: [] });
    expect(rt.calls).toEqual([]);
    expect([...r.waiting]).toEqual([['i', { reason: 'PodInitializing', message: '' }], ['a', { reason: 'PodInitializing', message: '' }]]);
    expect(emitted).toEqual(['Warning FailedMount MountVolume.SetUp failed for volume "root-ca" : configmap "kube-root-ca.crt" not found']);
    // Every source of a projected volume is read before it fails (an optional one that is
    // missing is none); a key the object lacks is a mount failure too.
    objects.replace([{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'default' }, data: {} }]);
    const two = pod('two', {
      volumes: [{ name: 'p', projected: { sources: [{ secret: { name: 's', items: [{ key: 'k', path: 'k' }] } }, { configMap: { name: 'later', optional: true } }, { configMap: { name: 'gone' } }] } }],
      containers: [ctr('a', { volumeMounts: [{ name: 'p', mountPath: '/p' }] })],
    });
    r = await syncPod(deps, two, { sandboxes: [], containers: [] });
    expect([...r.waiting]).toEqual([['a', { reason: 'ContainerCreating', message: 'MountVolume.SetUp failed for volume "p" : [references non-existent secret key: k, configmap "gone" not found]' }]]);
    expect(emitted.at(-1)).toBe('Warning FailedMount MountVolume.SetUp failed for volume "p" : [references non-existent secret key: k, configmap "gone" not found]');
    // The retry finds the object once it is there and the pod starts.
    objects.replace([{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'kube-root-ca.crt', namespace: 'default' }, data: { 'ca.crt': 'PEM' } }]);
    r = await syncPod(deps, withInit, { sandboxes: [], containers: [] });
    expect(rt.calls.map((c) => `${c.op}:${c.name}`)).toEqual(['runPodSandbox:init', 'createContainer:i', 'startContainer:i']);
    expect(readFileSync(join(root, 'root', 'pods', 'uid-init', 'volumes', 'kubernetes.io~configmap', 'root-ca', 'ca.crt'), 'utf8')).toBe('PEM');
    // What env references stays a configuration error of the container, as kubelet's makeEnvironmentVariables.
    rt.calls.length = 0;
    const envRef = pod('env', { containers: [ctr('a', { envFrom: [{ configMapRef: { name: 'absent' } }] })] });
    r = await syncPod(deps, envRef, { sandboxes: [], containers: [] });
    expect(r.waiting.get('a')?.reason).toBe('CreateContainerConfigError');
  });

  it('carries out a termination plan: stops, then removes containers and sandboxes', async () => {
    const p = pod('web', { containers: [ctr('a')] });
    const deps = { runtime: rt, backoff: new Backoff(new FakeClock()), images: new ImageManager({ runtime: rt, clock: new FakeClock(), log: silentLogger, serializeImagePulls: true, secret: () => undefined }), log: silentLogger, events, env: env(), now: () => Date.now() };
    await syncPod(deps, p, { sandboxes: [], containers: [] });
    const observed = { sandboxes: await rt.listPodSandboxes(), containers: await rt.listContainers() };
    rt.calls.length = 0;
    await executePodActions(deps, undefined, observed, computeTerminationActions(observed, { graceSeconds: 0, remove: true }));
    expect(rt.calls.map((c) => c.op)).toEqual(['stopContainer', 'stopPodSandbox', 'removeContainer', 'removePodSandbox']);
  });
});

async function waitFor(cond: () => boolean, m: PodManager, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met');
    await m.idle();
    await new Promise((r) => setTimeout(r, 30));
  }
}
