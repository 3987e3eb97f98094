import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, unlinkSync, closeSync, readdirSync, lstatSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Docker from 'dockerode';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Pod, PodList } from '../../manifests/index.js';
import { removeTestCgroups } from './cgroups.js';

// Runs the built `bosun` CLI as a child process against the real Docker engine, with its
// own manifest directory, root dir, port and node name (the agent only ever touches
// containers labelled with its node name, so it cannot harm anything else on the engine).

const execFileP = promisify(execFile);
export const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const CLI = resolve('dist/agent/cli.js');
export const TEST_NODE_PREFIX = 'bosun-test-';

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? res(a.port) : rej(new Error('no port'))));
    });
  });
}

/**
 * Removes the containers of one test agent, or (without a node name) what interrupted runs
 * left: test agents' containers older than 10 minutes, so that a run going on beside this
 * one on the same engine keeps its own.
 */
export async function removeTestContainers(nodeName?: string): Promise<void> {
  const all = await docker.listContainers({ all: true, filters: { label: ['bosun.io/node-name'] } });
  const old = Date.now() / 1000 - 600;
  await Promise.all(all
    .filter((c) => (nodeName ? c.Labels['bosun.io/node-name'] === nodeName : c.Labels['bosun.io/node-name']?.startsWith(TEST_NODE_PREFIX) && c.Created < old))
    .map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  if (!nodeName) {
    removeOldTestLogs();
    await removeTestCgroups();
  }
}

/**
 * Pod log directories and /var/log/containers symlinks that test agents of earlier runs left
 * in the real locations (test agents now keep theirs in their own directory).
 */
function removeOldTestLogs(): void {
  const old = Date.now() - 600_000;
  for (const dir of ['/var/log/pods', '/var/log/containers']) {
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const n of names) {
      if (!n.includes(`-${TEST_NODE_PREFIX}`)) continue;
      const p = join(dir, n);
      try {
        if (lstatSync(p).mtimeMs < old) rmSync(p, { recursive: true, force: true });
      } catch {
        // gone meanwhile
      }
    }
  }
}

export async function containersOf(nodeName: string, podName?: string): Promise<Docker.ContainerInfo[]> {
  const filters = ['bosun.io/node-name=' + nodeName, ...(podName ? ['io.kubernetes.pod.name=' + podName] : [])];
  return docker.listContainers({ all: true, filters: { label: filters } });
}

/** Whether the --config file among `extra` sets `key` at its top level. */
function configSets(extra: string[], key: string): boolean {
  const i = extra.indexOf('--config');
  return i >= 0 && new RegExp(`^${key}:`, 'm').test(readFileSync(extra[i + 1]!, 'utf8'));
}

export class TestAgent {
  /**
   * A prefix other than TEST_NODE_PREFIX keeps the agent's containers out of the clean-up of
   * other runs' leftovers (removeTestContainers without a node name), for runs longer than
   * its 10 minutes; such a run removes its own containers.
   */
  constructor(prefix = TEST_NODE_PREFIX) {
    this.nodeName = prefix + Math.random().toString(36).slice(2, 8);
  }

  readonly nodeName: string;
  readonly dir = mkdtempSync(join(tmpdir(), 'bosun-e2e-'));
  readonly manifests = join(this.dir, 'manifests');
  readonly logFile = join(this.dir, 'agent.log');
  /** Its own cgroup root: kubepods and the pod cgroups go under /<node name>, removed by destroy(). */
  get cgroupRoot(): string {
    return '/' + this.nodeName;
  }
  port = 0;
  private proc?: ChildProcess;

  async start(extra: string[] = [], healthzTimeoutMs = 90_000): Promise<void> {
    if (!this.port) this.port = await freePort();
    const out = openSync(this.logFile, 'a');
    // Container logs stay in the test's directory unless the test brings its own config.
    const config = join(this.dir, 'logs-config.yaml');
    if (!extra.includes('--config')) writeFileSync(config, `podLogsDir: ${join(this.dir, 'pod-logs')}\ncontainerLogsDir: ${join(this.dir, 'container-logs')}\n`);
    this.proc = spawn(process.execPath, [CLI, 'run',
      '--pod-manifest-path', this.manifests,
      '--root-dir', join(this.dir, 'root'),
      '--node-name', this.nodeName,
      '--read-only-port', String(this.port),
      // A config file of the test's that sets fileCheckFrequency keeps it (flags win over the file).
      ...(configSets(extra, 'fileCheckFrequency') ? [] : ['--file-check-frequency', '2s']),
      // KUBE-* chains are one per host: only the tests about Services program them.
      ...(extra.includes('--proxy-mode') ? [] : ['--proxy-mode', 'none']),
      // The kubelet port (10250) and healthz port (10248) are one per host: off unless asked for.
      ...(extra.includes('--port') ? [] : ['--port', '0']),
      ...(extra.includes('--healthz-port') ? [] : ['--healthz-port', '0']),
      ...(extra.includes('--config') ? [] : ['--config', config]),
      ...(extra.includes('--cgroup-root') ? [] : ['--cgroup-root', this.cgroupRoot]),
      ...extra], { stdio: ['ignore', out, out] });
    closeSync(out);
    await this.until(async () => (await fetch(`http://127.0.0.1:${this.port}/healthz`).then((r) => r.ok).catch(() => false)), 'agent healthz', healthzTimeoutMs);
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** SIGKILL: no chance to clean anything up, as after a crash. */
  async kill9(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await exited;
  }

  /** Stops the agent and removes every container it made and its files. */
  async destroy(): Promise<void> {
    await this.kill9();
    await removeTestContainers(this.nodeName);
    await removeTestCgroups(this.cgroupRoot.slice(1));
    // A pod still running when the agent was killed keeps its tmpfs volumes mounted (the
    // agent unmounts them only when a pod goes): unmounted here, deepest first.
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '')
      .filter((m) => m.startsWith(`${this.dir}/`)).sort((a, b) => b.length - a.length);
    for (const m of mounts) await promisify(execFile)('umount', [m]).catch(() => undefined);
    if (!process.env.BOSUN_KEEP_TEST_DIR) rmSync(this.dir, { recursive: true, force: true });
  }

  write(file: string, text: string): void {
    writeFileSync(join(this.manifests, file), text);
  }

  remove(file: string): void {
    unlinkSync(join(this.manifests, file));
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** Runs a command in a running container of one of this agent's pods (by manifest name). */
  async execIn(pod: string, ctr: string, cmd: string[]): Promise<string> {
    const c = (await containersOf(this.nodeName, `${pod}-${this.nodeName}`)).find((x) => x.Labels['io.kubernetes.container.name'] === ctr && x.State === 'running');
    if (!c) throw new Error(`no running container ${ctr} in ${pod}`);
    return (await execFileP('docker', ['exec', c.Id, ...cmd])).stdout;
  }

  /** The same, for a pod known by its UID (an API pod's name is not derived from the manifest). */
  async execInPod(uid: string, ctr: string, cmd: string[]): Promise<string> {
    const all = await docker.listContainers({ filters: { label: [`bosun.io/node-name=${this.nodeName}`, `io.kubernetes.pod.uid=${uid}`, `io.kubernetes.container.name=${ctr}`] } });
    const c = all.find((x) => x.State === 'running');
    if (!c) throw new Error(`no running container ${ctr} in pod ${uid}`);
    return (await execFileP('docker', ['exec', c.Id, ...cmd])).stdout;
  }

  async pods(): Promise<Pod[]> {
    const res = await fetch(`http://127.0.0.1:${this.port}/pods`);
    return ((await res.json()) as PodList).items;
  }

  async pod(name: string): Promise<Pod | undefined> {
    return (await this.pods()).find((p) => p.metadata.name === `${name}-${this.nodeName}`);
  }

  async waitPod(name: string, pred: (p: Pod) => boolean, what: string, timeoutMs = 60_000): Promise<Pod> {
    let last: Pod | undefined;
    await this.until(async () => {
      last = await this.pod(name);
      return !!last && pred(last);
    }, `${name}: ${what}`, timeoutMs, () => JSON.stringify(last?.status ?? null));
    return last!;
  }

  async until(cond: () => Promise<boolean>, what: string, timeoutMs = 60_000, detail?: () => string): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (await cond().catch(() => false)) return;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}${detail ? `; last seen ${detail()}` : ''}\n--- agent log tail ---\n${this.log().split('\n').slice(-30).join('\n')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

export function manifest(name: string, spec: string, extra = ''): string {
  return `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n${extra}spec:\n${spec}`;
}
