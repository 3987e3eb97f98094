import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

// A real control plane for one test file (scripts/cluster.sh up --no-node): etcd,
// kube-apiserver, kube-controller-manager and kube-scheduler on 127.0.0.1, in a private state
// directory and on ports of its own, so that a cluster someone started with cluster.sh, or
// another run, is never touched. The bosun node is a TestAgent joined with a node credential
// from `cluster.sh node-credential`. down() stops every process and removes the state; an
// interrupted run's cluster is found by its directory and stopped by the next one.

const SCRIPT = resolve('scripts/cluster.sh');
export const CLUSTER_DIR_PREFIX = 'bosun-cluster-';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number, input?: string): Promise<Run> {
  return new Promise((res) => {
    const child = execFile(cmd, args, { env, timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      res({ code, stdout: String(stdout), stderr: String(stderr) + (err && code === 1 && !stderr ? err.message : '') });
    });
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });
}

/** A base port whose 10 successors are free on 127.0.0.1. */
async function freeBase(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const base = 20000 + Math.floor(Math.random() * 2000) * 10;
    let ok = true;
    for (let p = base; p < base + 10 && ok; p++) ok = await portFree(p);
    if (ok) return base;
  }
  throw new Error('no 10 free ports in a row for the test cluster');
}

/** Whether a process a cluster directory's pid files name still runs that cluster (cluster.sh's pid_of). */
function clusterAlive(dir: string): boolean {
  let pids: string[] = [];
  try {
    pids = readdirSync(join(dir, 'run')).filter((f) => f.endsWith('.pid'));
  } catch {
    return false;
  }
  return pids.some((f) => {
    try {
      const pid = readFileSync(join(dir, 'run', f), 'utf8').trim();
      return /^\d+$/.test(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir);
    } catch {
      return false;
    }
  });
}

/** Stops clusters that interrupted runs left (their state directory is still there). */
export function removeStaleClusters(): void {
  const old = Date.now() - 10 * 60_000;
  for (const n of readdirSync(tmpdir())) {
    if (!n.startsWith(CLUSTER_DIR_PREFIX)) continue;
    const dir = join(tmpdir(), n);
    try {
      if (statSync(dir).mtimeMs > old) continue; // maybe a run going on beside this one
    } catch {
      continue;
    }
    // A long run beside this one (the conformance suite) keeps its processes: not stale.
    if (clusterAlive(dir)) continue;
    spawnSync('bash', [SCRIPT, 'down'], { env: { ...process.env, BOSUN_CLUSTER_DIR: dir, BOSUN_CLUSTER_NODE: 'stale' }, stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  }
}

export class TestCluster {
  readonly dir = mkdtempSync(join(tmpdir(), CLUSTER_DIR_PREFIX));
  base = 0;
  k8sBin = '';
  readonly pki = join(this.dir, 'pki');
  readonly kubeconfig = join(this.pki, 'admin.kubeconfig');
  /** kube-proxy's credential (CN system:kube-proxy, bound to system:node-proxier by the bootstrap policy). */
  readonly proxyKubeconfig = join(this.pki, 'kube-proxy.kubeconfig');

  /** serviceCIDR: the API server's --service-cluster-ip-range (cluster.sh's default 10.96.0.0/12 otherwise). */
  constructor(readonly opts: { serviceCIDR?: string } = {}) {}

  private env(): NodeJS.ProcessEnv {
    return {
      ...process.env, BOSUN_CLUSTER_DIR: this.dir, BOSUN_CLUSTER_PORT_BASE: String(this.base), BOSUN_CLUSTER_NODE: 'none',
      ...(this.opts.serviceCIDR ? { BOSUN_SERVICE_CIDR: this.opts.serviceCIDR } : {}),
    };
  }

  get apiPort(): number {
    return this.base + 3;
  }

  /** The port the test's bosun node serves its kubelet API on (what the API server dials). */
  get nodePort(): number {
    return this.base + 8;
  }

  /** Builds what is missing (a cold build takes long: setup-host.sh does it first) and starts the control plane. */
  async up(): Promise<void> {
    removeStaleClusters();
    this.base = await freeBase();
    const r = await run('bash', [SCRIPT, 'up', '--no-node'], this.env(), 60 * 60_000);
    if (r.code !== 0) throw new Error(`cluster.sh up failed (${r.code}):\n${r.stderr.slice(-4000)}`);
    const last = r.stdout.trim().split('\n').pop() ?? '';
    if (last !== `KUBECONFIG=${this.kubeconfig}`) throw new Error(`cluster.sh up: unexpected last line ${JSON.stringify(last)}`);
    const e = await run('bash', [SCRIPT, 'env'], this.env(), 60_000);
    this.k8sBin = /^K8S_BIN=(.*)$/m.exec(e.stdout)?.[1] ?? '';
    if (!this.k8sBin) throw new Error(`cluster.sh env: no K8S_BIN in ${e.stdout}`);
  }

  /**
   * The node's client credential and serving pair, and the flags that join a TestAgent with
   * them. nodeIP: an address of this machine (a bridge's) the node reports as its InternalIP
   * and serves its kubelet port on (the API server dials it); default 127.0.0.1.
   */
  async nodeFlags(nodeName: string, nodeIP?: string): Promise<string[]> {
    const r = await run('bash', [SCRIPT, 'node-credential', nodeName, ...(nodeIP ? [nodeIP] : [])], this.env(), 120_000);
    if (r.code !== 0) throw new Error(`cluster.sh node-credential failed: ${r.stderr}`);
    return [
      '--kubeconfig', join(this.pki, `node-${nodeName}.kubeconfig`),
      '--node-ip', nodeIP ?? '127.0.0.1',
      ...(nodeIP ? ['--address', nodeIP] : []),
      '--port', String(this.nodePort),
      '--tls-cert-file', join(this.pki, `node-${nodeName}-serving.crt`),
      '--tls-private-key-file', join(this.pki, `node-${nodeName}-serving.key`),
      '--client-ca-file', join(this.pki, 'ca.crt'),
      // Callers are the API server (its client certificate) and token holders: the API server decides.
      '--authentication-token-webhook=true', '--authorization-mode', 'Webhook',
    ];
  }

  /** The real kubectl of the same release, as the cluster's admin (or another kubeconfig). */
  kubectl(args: string[], o: { input?: string; timeoutMs?: number; kubeconfig?: string } = {}): Promise<Run> {
    return run(join(this.k8sBin, 'kubectl'), ['--kubeconfig', o.kubeconfig ?? this.kubeconfig, ...args], process.env, o.timeoutMs ?? 60_000, o.input);
  }

  /** kubectl that must succeed; its stdout. */
  async k(args: string[], o: { input?: string; timeoutMs?: number; kubeconfig?: string } = {}): Promise<string> {
    const r = await this.kubectl(args, o);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  async json<T = Record<string, unknown>>(args: string[]): Promise<T> {
    return JSON.parse(await this.k([...args, '-o', 'json'])) as T;
  }

  log(component: string): string {
    const r = spawnSync('tail', ['-n', '40', join(this.dir, 'logs', `${component}.log`)], { encoding: 'utf8' });
    return r.stdout ?? '';
  }

  /** etcd's client port (its v3 JSON gateway answers there too). */
  get etcdPort(): number {
    return this.base + 4;
  }

  /** Kills one component (kube-apiserver, etcd, ...) with SIGKILL, as a crash; `restart()` brings it back. */
  async stop(component: string): Promise<void> {
    let pid = 0;
    try {
      pid = Number(readFileSync(join(this.dir, 'run', `${component}.pid`), 'utf8').trim());
    } catch {
      return;
    }
    // An empty or stray pid file must not become kill(0): that is this test run's own group.
    if (!Number.isInteger(pid) || pid <= 1) throw new Error(`${component}: no pid in its pid file`);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      return;
    }
    await until(async () => { try { process.kill(pid, 0); return false; } catch { return true; } }, `${component} (pid ${pid}) to exit`, 60_000);
  }

  /** Starts what is not running (cluster.sh up is idempotent), on the same ports and state. */
  async restart(): Promise<void> {
    const r = await run('bash', [SCRIPT, 'up', '--no-node'], this.env(), 10 * 60_000);
    if (r.code !== 0) throw new Error(`cluster.sh up (restart) failed (${r.code}):\n${r.stderr.slice(-4000)}`);
  }

  async down(): Promise<void> {
    if (this.base) await run('bash', [SCRIPT, 'down'], this.env(), 120_000);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function until(cond: () => Promise<boolean>, what: string, timeoutMs = 60_000, detail?: () => string | Promise<string>): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond().catch(() => false)) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${detail ? `; ${await detail()}` : ''}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** What joinCluster and leaveCluster need of a TestAgent (test/support/agent.ts). */
interface NodeAgent { nodeName: string; dir: string; start(flags: string[]): Promise<void>; log(): string; kill9(): Promise<void>; destroy(): Promise<void> }

/** Starts the agent as a node of the cluster and waits until its Node is Ready. */
export async function joinCluster(cluster: TestCluster, agent: NodeAgent, extraFlags: string[] = [], nodeIP?: string): Promise<void> {
  await agent.start([...(await cluster.nodeFlags(agent.nodeName, nodeIP)), ...extraFlags]);
  await until(async () => (await cluster.kubectl(['get', 'node', agent.nodeName])).code === 0, 'the Node', 120_000, () => agent.log().split('\n').slice(-40).join('\n'));
  await cluster.k(['wait', '--for=condition=Ready', `node/${agent.nodeName}`, '--timeout=120s'], { timeoutMs: 130_000 });
}

/**
 * Deletes the test's objects while the API server is there to see them go, then kills the
 * agent and removes its containers (removeContainers, from test/support/agent.ts) and the
 * tmpfs mounts of its token, Secret and downward-API volumes under its root dir.
 */
export async function leaveCluster(cluster: TestCluster, agent: NodeAgent, kinds: string, removeContainers: (node: string) => Promise<unknown>): Promise<void> {
  await cluster.kubectl(['delete', kinds, '--all', '-n', 'default', '--wait=false']).catch(() => undefined);
  await agent.kill9();
  await removeContainers(agent.nodeName);
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m): m is string => !!m?.startsWith(`${agent.dir}/`)).sort().reverse();
  for (const m of mounts) await promisify(execFile)('umount', ['-l', m]).catch(() => undefined);
  await agent.destroy();
}
