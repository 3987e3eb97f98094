// Upgrading bosun in place restarts no pod (issue 20 item 3). Two older versions, the fixed
// baseline (test/support/upgrade-baseline.json: a commit, with the history of why it moved)
// and HEAD~1, are exported from git and installed with scripts/install.sh --root into private
// directories; this checkout ("HEAD") is installed the same way. Each old version runs pods of
// every kind on Docker and on containerd; its agent is stopped (pods keep running, as under
// systemd's KillMode=process) and the new binary is started on the same root dir, manifests
// and node name. Then: the same container and sandbox IDs, nothing new created, restartCount 0.
//
// The old trees are installed by their own install.sh when it knows --root, else by this
// checkout's (the versions before --root existed): what is under test is the agent they
// build, not their installer.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../cri/index.js';
import type { Pod, PodList } from '../../manifests/index.js';
import { freePort, TEST_NODE_PREFIX } from '../support/agent.js';
import { removeTestCgroups } from '../support/cgroups.js';
import { containerdAvailable, CONTAINERD_ENDPOINT, createTestRuntime, type RuntimeKind } from '../support/runtime-test-env.js';

const run = promisify(execFile);
const BASELINE = JSON.parse(readFileSync(resolve('test/support/upgrade-baseline.json'), 'utf8')) as { tag: string; commit: string };
const BB = 'localhost/bosun/busybox:1';
const NODE_LABEL = 'bosun.io/node-name';
const work = mkdtempSync(join(tmpdir(), 'bosun-upgrade-'));
const rand = Math.random().toString(36).slice(2, 6);

async function git(...args: string[]): Promise<string> {
  return (await run('git', args, { maxBuffer: 64 << 20 })).stdout.trim();
}

/** The commit, or an error that says what the clone lacks (CI must not skip this). */
async function commitOf(rev: string, what: string): Promise<string> {
  try {
    return await git('rev-parse', '--verify', '--quiet', `${rev}^{commit}`);
  } catch {
    const shallow = await git('rev-parse', '--is-shallow-repository').catch(() => '?');
    throw new Error(`upgrade test: ${what} (${rev}) is not in this clone${shallow === 'true' ? ': it is shallow, fetch the full history (git fetch --unshallow)' : ''}`);
  }
}

/** Exports `commit` and installs it under its own root; returns the root. */
async function installVersion(name: string, commit: string | undefined): Promise<string> {
  const root = join(work, `root-${name}`);
  let src = resolve('.');
  if (commit) {
    src = join(work, `src-${name}`);
    mkdirSync(src);
    await run('sh', ['-c', 'git archive "$1" | tar -x -C "$2"', 'sh', commit, src], { maxBuffer: 1 << 20 });
    if (!readFileSync(join(src, 'scripts/install.sh'), 'utf8').includes('--root')) copyFileSync(resolve('scripts/install.sh'), join(src, 'scripts/install.sh'));
  }
  try {
    await run('bash', [join(src, 'scripts/install.sh'), '--root', root], { timeout: 900_000, maxBuffer: 16 << 20 });
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string; killed?: boolean; signal?: string };
    const why = x.killed ? `killed (${x.signal ?? 'timeout'}) after the 900 s limit` : 'failed';
    throw new Error(`install.sh of ${name} ${why}:\n${x.stdout ?? ''}${x.stderr ?? ''}`);
  }
  return root;
}

// ---------------------------------------------------------------- the pods

// Probes run every 1-2 s, but with long timeouts and thresholds: on a loaded machine an exec
// probe can take seconds, and a liveness kill there would be the engine's slowness, not the
// upgrade's doing.

const every = (node: string, root: string) => `apiVersion: v1
kind: ConfigMap
metadata: {name: every-conf}
data: {greeting: hello}
---
apiVersion: v1
kind: Pod
metadata: {name: every}
spec:
  terminationGracePeriodSeconds: 2
  initContainers:
  - {name: init, image: ${BB}, imagePullPolicy: Never, command: [sh, -c, 'echo done > /work/init'], volumeMounts: [{name: scratch, mountPath: /work}]}
  - name: side
    image: ${BB}
    imagePullPolicy: Never
    restartPolicy: Always
    command: [sh, -c, 'touch /work/side; exec sleep 1000000']
    volumeMounts: [{name: scratch, mountPath: /work}]
    startupProbe: {exec: {command: [test, -f, /work/side]}, periodSeconds: 1, timeoutSeconds: 30, failureThreshold: 300}
  containers:
  - name: app
    image: ${BB}
    imagePullPolicy: Never
    command: [sh, -c, 'mkdir -p /www && cp /conf/greeting /www/index.html && exec httpd -f -p 8080 -h /www']
    resources: {limits: {cpu: 200m, memory: 64Mi}, requests: {cpu: 100m, memory: 32Mi}}
    livenessProbe: {exec: {command: [test, -f, /work/init]}, periodSeconds: 2, timeoutSeconds: 30, failureThreshold: 30}
    readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 2, timeoutSeconds: 30}
    volumeMounts:
    - {name: scratch, mountPath: /work}
    - {name: conf, mountPath: /conf}
    - {name: host, mountPath: /host}
  volumes:
  - {name: scratch, emptyDir: {}}
  - {name: conf, configMap: {name: every-conf}}
  - {name: host, hostPath: {path: ${root}/hostdata-${node}, type: DirectoryOrCreate}}
`;

const hostnet = () => `apiVersion: v1
kind: Pod
metadata: {name: hostnet}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: ${BB}
    imagePullPolicy: Never
    command: [sh, -c, 'exec sleep 1000000']
    resources: {limits: {cpu: 100m, memory: 32Mi}}
    readinessProbe: {exec: {command: ['true']}, periodSeconds: 2, timeoutSeconds: 30}
    livenessProbe: {exec: {command: ['true']}, periodSeconds: 2, timeoutSeconds: 30, failureThreshold: 30}
`;

// ---------------------------------------------------------------- one agent's node

class Node {
  readonly node: string;
  readonly manifests: string;
  readonly rootDir: string;
  logFile = '';
  private starts = 0;
  readonly config: string;
  port = 0;
  proc?: ChildProcess;
  rt!: Runtime;

  constructor(readonly version: string, readonly root: string, readonly kind: RuntimeKind) {
    this.node = `${TEST_NODE_PREFIX}upg-${rand}-${version.replace(/[^a-z0-9]/g, '')}-${kind === 'docker' ? 'd' : 'c'}`;
    this.manifests = join(root, 'etc/kubernetes', `manifests-${kind}`);
    this.rootDir = join(root, 'var/lib', `bosun-${kind}`);
    this.config = join(root, 'etc/bosun', `config-${kind}.yaml`);
  }

  async start(root: string): Promise<void> {
    if (!this.port) this.port = await freePort();
    if (!this.rt) this.rt = await createTestRuntime(this.kind);
    mkdirSync(this.manifests, { recursive: true });
    // The installed config (commented defaults) with this node's log dirs kept in the root.
    if (!existsSync(this.config)) {
      writeFileSync(this.config, `${readFileSync(join(this.root, 'etc/bosun/config.yaml'), 'utf8')}\npodLogsDir: ${join(this.root, 'var/log/pods', this.kind)}\ncontainerLogsDir: ${join(this.root, 'var/log/containers', this.kind)}\n`);
    }
    // One log per start: the new agent's log is checked on its own.
    this.logFile = join(work, `${this.node}-${++this.starts}.log`);
    const out = openSync(this.logFile, 'a');
    this.proc = spawn(join(root, 'usr/local/bin/bosun'), ['run', '--config', this.config,
      '--pod-manifest-path', this.manifests, '--root-dir', this.rootDir, '--node-name', this.node,
      '--read-only-port', String(this.port), '--file-check-frequency', '2s', '--proxy-mode', 'none',
      '--port', '0', '--healthz-port', '0', '--cgroup-root', `/${this.node}`,
      ...(this.kind === 'containerd' ? ['--container-runtime-endpoint', CONTAINERD_ENDPOINT] : [])], { stdio: ['ignore', out, out] });
    closeSync(out);
    await this.until(async () => (await fetch(`http://127.0.0.1:${this.port}/healthz`)).ok, 'healthz', 60_000);
  }

  /** SIGTERM, as systemctl stop sends it: the agent goes, its pods stay. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    await exited;
  }

  async pods(): Promise<Pod[]> {
    return ((await (await fetch(`http://127.0.0.1:${this.port}/pods`)).json()) as PodList).items;
  }

  /** Both pods Running, every container ready, the init container done, no restart. */
  async allReady(): Promise<boolean> {
    const pods = await this.pods();
    const want = ['every', 'hostnet'].map((n) => `${n}-${this.node}`);
    return want.every((name) => {
      const p = pods.find((x) => x.metadata.name === name);
      const s = p?.status;
      if (s?.phase !== 'Running') return false;
      const inits = s.initContainerStatuses ?? [];
      return (s.containerStatuses ?? []).every((c) => c.ready && c.restartCount === 0)
        && inits.every((c) => c.restartCount === 0 && (c.name === 'init' ? c.state?.terminated?.exitCode === 0 : c.started === true));
    });
  }

  /** Every sandbox and container of this node on the engine: id -> "kind name state". */
  async snapshot(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const s of await this.rt.listPodSandboxes()) if (s.labels[NODE_LABEL] === this.node) out.set(s.id, `sandbox ${s.metadata.name} ${s.state}`);
    for (const c of await this.rt.listContainers()) if (c.labels[NODE_LABEL] === this.node) out.set(c.id, `container ${c.labels['io.kubernetes.pod.name']}/${c.metadata.name} ${c.state}`);
    return out;
  }

  async until(cond: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (await cond().catch(() => false)) return;
      if (Date.now() > end) throw new Error(`${this.node}: timed out waiting for ${what}\n--- agent log tail ---\n${this.log().split('\n').slice(-30).join('\n')}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  async destroy(): Promise<void> {
    await this.stop('SIGKILL');
    if (!this.rt) return;
    for (const c of await this.rt.listContainers().catch(() => [])) if (c.labels[NODE_LABEL] === this.node) await this.rt.removeContainer(c.id).catch(() => undefined);
    for (const s of await this.rt.listPodSandboxes().catch(() => [])) {
      if (s.labels[NODE_LABEL] !== this.node) continue;
      await this.rt.stopPodSandbox(s.id).catch(() => undefined);
      await this.rt.removePodSandbox(s.id).catch(() => undefined);
    }
    await this.rt.close();
    await removeTestCgroups(this.node);
  }
}

// ---------------------------------------------------------------- the test

const nodes: Node[] = [];
let headRoot = '';
const before = new Map<Node, Map<string, string>>();

beforeAll(async () => {
  // containerd is set up by setup-host.sh; in CI a missing one throws instead of skipping.
  if (!(await containerdAvailable())) throw new Error(`upgrade test: bosun's containerd (${CONTAINERD_ENDPOINT}) does not answer: run scripts/setup-host.sh --containerd`);
  const baseline = await commitOf(BASELINE.commit, 'the upgrade baseline');
  const tagged = await git('rev-parse', '--verify', '--quiet', `refs/tags/${BASELINE.tag}^{commit}`).catch(() => '');
  if (tagged && tagged !== baseline) throw new Error(`upgrade test: tag ${BASELINE.tag} (${tagged}) and test/support/upgrade-baseline.json (${baseline}) disagree: move both`);
  const previous = await commitOf('HEAD~1', 'the previous commit');
  const versions: [string, string | undefined][] = [['baseline', baseline], ['previous', previous], ['head', undefined]];
  const roots = await Promise.all(versions.map(([name, commit]) => installVersion(name, commit)));
  headRoot = roots[2]!;
  for (const [i, name] of ['baseline', 'previous'].entries()) {
    for (const kind of ['docker', 'containerd'] as const) nodes.push(new Node(name, roots[i]!, kind));
  }
  await Promise.all(nodes.map(async (n) => {
    await n.start(n.root);
    writeFileSync(join(n.manifests, 'every.yaml'), every(n.node, n.root));
    writeFileSync(join(n.manifests, 'hostnet.yaml'), hostnet());
  }));
  await Promise.all(nodes.map((n) => n.until(() => n.allReady(), `pods ready under ${n.version}`, 240_000)));
  for (const n of nodes) before.set(n, await n.snapshot());
}, 1_500_000);

afterAll(async () => {
  for (const n of nodes) await n.destroy().catch(() => undefined);
  // configMap and emptyDir volumes may be mounts: never rm -r through a mount.
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(work + '/'));
  for (const m of mounts.sort().reverse()) await run('umount', ['-l', m]).catch(() => undefined);
  if (!process.env.BOSUN_KEEP_TEST_DIR) rmSync(work, { recursive: true, force: true });
}, 300_000);

describe('upgrade in place to this checkout restarts nothing', () => {
  it('the old agents stop and their pods keep running', async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    for (const n of nodes) expect(await n.snapshot(), `${n.version} on ${n.kind}`).toEqual(before.get(n));
  }, 300_000);

  it('the new binary on the same root dir adopts every pod: same IDs, nothing created, 0 restarts, on Docker and containerd', async () => {
    await Promise.all(nodes.map((n) => n.start(headRoot)));
    // Ready as seen by the new agent: its probes ran and its pod workers synced every pod.
    // Then a window of several probe periods and syncs in which nothing may change.
    await Promise.all(nodes.map((n) => n.until(() => n.allReady(), `pods ready after the upgrade from ${n.version}`, 180_000)));
    const settleUntil = Date.now() + 20_000;
    while (Date.now() < settleUntil) {
      for (const n of nodes) expect(await n.snapshot(), `${n.version} on ${n.kind}`).toEqual(before.get(n));
      await new Promise((r) => setTimeout(r, 2_000));
    }
    for (const n of nodes) {
      expect(await n.snapshot(), `${n.version} on ${n.kind}`).toEqual(before.get(n));
      expect(await n.allReady(), `${n.version} on ${n.kind}: ready, restartCount 0`).toBe(true);
      expect(n.log(), `${n.version} on ${n.kind}: the new agent's log`).not.toMatch(/definition changed|SpecChanged/);
    }
  }, 900_000);
});
