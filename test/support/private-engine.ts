// A container engine of the test's own, for tests that must stop and start the engine
// under an agent (engine restarts, host "reboots"): the shared dockerd
// (/var/run/docker.sock) and bosun's shared containerd (/run/bosun-containerd) serve other
// tests at the same time and are never stopped. Each private engine has its own socket,
// data root, exec root / state dir, pidfile, pod bridge and pod CIDR; dockerd runs with
// --iptables=false and no default bridge, so it touches neither the host's packet filter
// nor docker0. The test images are copied in from the shared Docker engine (docker save).
// destroy() removes everything, even after a failed test; sweepPrivateEngines() removes
// what an interrupted run left (its daemon gone, or older than an hour).

import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createContainerdRuntime, createDockerRuntime, type Runtime } from '../../cri/index.js';
import { sleep } from './common.js';

const run = promisify(execFile);

/** Every private engine lives under these, named bte-<id> (short: unix socket paths are limited to 107 bytes). */
const RUN_BASE = '/run';
const DATA_BASE = '/var/lib';
const PREFIX = 'bte-';
export const TEST_IMAGES = ['localhost/bosun/pause:3.10', 'localhost/bosun/busybox:1'] as const;

export type EngineKind = 'docker' | 'containerd';

export interface PrivateEngine {
  kind: EngineKind;
  id: string;
  /** unix:///run/bte-<id>/docker.sock (any socket named docker.sock is Docker to bosun) or .../containerd.sock. */
  endpoint: string;
  socketPath: string;
  podCIDR: string;
  bridge: string;
  /** Where the engine keeps its layers (its overlay mounts are under it). */
  dataRoot: string;
  runDir: string;
  logFile: string;
  /** The flags an agent needs to run against this engine. */
  agentFlags(): string[];
  /** Starts the daemon (again) and resolves once it answers. */
  start(): Promise<void>;
  /** SIGTERM, as systemd stops a service, and waits until the daemon has exited. */
  stop(): Promise<void>;
  running(): boolean;
  /** A bosun runtime on this engine, for a test to look at what runs (close it yourself). */
  runtime(): Promise<Runtime>;
  /** Overlay mounts under this engine's directories, as /proc/self/mountinfo lists them. */
  overlayMounts(): string[];
  /** Stops the daemon, removes every container, mount, process, link and directory of it. */
  destroy(): Promise<void>;
}

/** Overlay mounts in this mount namespace (the whole host: the engines run in it too). */
export function overlayMounts(under?: string[]): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (left === undefined || !right || !right.startsWith('overlay ')) continue;
    const mountPoint = unescapeMount(left.split(' ')[4] ?? '');
    if (!under || under.some((d) => mountPoint === d || mountPoint.startsWith(d + '/'))) out.push(mountPoint);
  }
  return out;
}

/** Every mount point under `dirs` (any type), deepest first. */
function mountsUnder(dirs: string[]): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = unescapeMount(line.split(' ')[4] ?? '');
    if (mp && dirs.some((d) => mp === d || mp.startsWith(d + '/'))) out.push(mp);
  }
  return out.sort((a, b) => b.length - a.length);
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function readPid(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Processes whose command line mentions `needle` (containerd shims of a private containerd). */
function pidsWith(needle: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(needle)) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

async function waitExit(pid: number | undefined, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (alive(pid)) {
    if (Date.now() > end) return false;
    await sleep(100);
  }
  return true;
}

/** A /24 of `first` (10.246 for Docker, 10.247 for containerd) that no route of the host uses yet. */
async function freeSubnet(first: string): Promise<string> {
  const { stdout } = await run('ip', ['-4', 'route', 'show']);
  for (let i = 0; i < 50; i++) {
    const n = Math.floor(Math.random() * 250) + 1;
    const cidr = `${first}.${n}.0/24`;
    if (!stdout.includes(`${first}.${n}.`)) return cidr;
  }
  throw new Error(`no free /24 in ${first}.0.0/16`);
}

/** A command and its arguments. */
type Argv = [string, ...string[]];

/** Copies the test images from the shared Docker engine: docker save | <load>. */
async function copyImages(load: Argv): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const save = spawn('docker', ['save', ...TEST_IMAGES], { stdio: ['ignore', 'pipe', 'pipe'] });
    const sink = spawn(load[0], load.slice(1), { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    save.stderr.on('data', (d: Buffer) => (err += d.toString()));
    sink.stderr.on('data', (d: Buffer) => (err += d.toString()));
    save.stdout.pipe(sink.stdin);
    let pending = 2;
    const done = (what: string) => (code: number | null) => {
      if (code !== 0) reject(new Error(`${what} exited ${code}: ${err.trim()}`));
      else if (--pending === 0) resolve();
    };
    save.on('exit', done('docker save'));
    sink.on('exit', done(load.join(' ')));
  });
}

abstract class Base implements PrivateEngine {
  abstract kind: EngineKind;
  readonly id = Math.random().toString(36).slice(2, 8);
  readonly runDir = join(RUN_BASE, PREFIX + this.id);
  readonly dataRoot = join(DATA_BASE, PREFIX + this.id);
  readonly logFile = join(this.runDir, 'engine.log');
  readonly pidFile = join(this.runDir, 'engine.pid');
  abstract socketPath: string;
  abstract bridge: string;
  podCIDR = '';
  protected proc?: ChildProcess;

  get endpoint(): string {
    return `unix://${this.socketPath}`;
  }

  abstract agentFlags(): string[];
  protected abstract argv(): Argv;
  protected abstract ping(): Promise<boolean>;
  abstract runtime(): Promise<Runtime>;
  abstract loadImages(): Promise<void>;
  /** Removes what the engine runs, through the engine, before it is stopped for good. */
  protected abstract removeAll(): Promise<void>;
  /** Daemon-specific leftovers after it stopped (shims, links). */
  protected abstract afterStop(): Promise<void>;

  async prepare(): Promise<void> {
    mkdirSync(this.runDir, { recursive: true });
    mkdirSync(this.dataRoot, { recursive: true });
    // Marks the directory as a private engine's, for the sweep of an interrupted run.
    writeFileSync(join(this.runDir, 'kind'), this.kind);
  }

  running(): boolean {
    return alive(this.proc?.pid ?? readPid(this.pidFile));
  }

  async start(): Promise<void> {
    if (this.running()) return;
    const out = openSync(this.logFile, 'a');
    const [cmd, ...args] = this.argv();
    this.proc = spawn(cmd, args, { stdio: ['ignore', out, out], detached: true });
    closeSync(out);
    this.proc.unref();
    writeFileSync(this.pidFile, String(this.proc.pid));
    const end = Date.now() + 60_000;
    while (!(await this.ping())) {
      if (!this.running()) throw new Error(`${this.kind} at ${this.socketPath} exited at start:\n${this.logTail()}`);
      if (Date.now() > end) throw new Error(`${this.kind} at ${this.socketPath} did not answer within 60 s:\n${this.logTail()}`);
      await sleep(200);
    }
  }

  async stop(): Promise<void> {
    const pid = this.proc?.pid ?? readPid(this.pidFile);
    if (!alive(pid)) return;
    process.kill(pid!, 'SIGTERM');
    if (!(await waitExit(pid, 60_000))) {
      process.kill(pid!, 'SIGKILL');
      await waitExit(pid, 10_000);
    }
  }

  logTail(): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-30).join('\n');
    } catch {
      return '';
    }
  }

  overlayMounts(): string[] {
    return overlayMounts([this.dataRoot, this.runDir]);
  }

  async destroy(): Promise<void> {
    try {
      if (!this.running()) await this.start().catch(() => undefined);
      if (this.running()) await this.removeAll().catch(() => undefined);
    } finally {
      await this.stop().catch(() => undefined);
      await this.afterStop().catch(() => undefined);
      await removeDirs(this.runDir, this.dataRoot);
    }
  }
}

/** Unmounts whatever is left under the engine's directories (deepest first), then removes them. */
async function removeDirs(...dirs: string[]): Promise<void> {
  for (const mp of mountsUnder(dirs)) await run('umount', ['-l', mp]).catch(() => undefined);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

class PrivateDocker extends Base {
  kind = 'docker' as const;
  readonly socketPath = join(this.runDir, 'docker.sock');
  readonly bridge = 'bted' + this.id;

  agentFlags(): string[] {
    return ['--container-runtime-endpoint', this.endpoint, '--pod-cidr', this.podCIDR, '--pod-bridge', this.bridge];
  }

  protected argv(): Argv {
    const config = join(this.runDir, 'daemon.json');
    // An empty config file: /etc/docker/daemon.json belongs to the shared engine.
    if (!existsSync(config)) writeFileSync(config, '{}\n');
    return ['dockerd',
      '-H', this.endpoint,
      '--config-file', config,
      '--data-root', this.dataRoot,
      '--exec-root', join(this.runDir, 'exec'),
      '--pidfile', join(this.runDir, 'docker.pid'),
      '--iptables=false', '--ip-masq=false', '--ip-forward=false',
      // No docker0 of its own: the shared engine has that name. bosun makes its pod network
      // (its own bridge and CIDR, from the agent's --pod-bridge and --pod-cidr).
      '--bridge=none',
      '--userland-proxy=false',
      '--storage-driver', 'overlay2',
      '--log-level', 'warn'];
  }

  protected async ping(): Promise<boolean> {
    return run('docker', ['-H', this.endpoint, 'version', '--format', '{{.Server.Version}}'], { timeout: 5_000 }).then(() => true, () => false);
  }

  async runtime(): Promise<Runtime> {
    return createDockerRuntime({ socketPath: this.socketPath, podCIDR: this.podCIDR, bridgeName: this.bridge });
  }

  async loadImages(): Promise<void> {
    await copyImages(['docker', '-H', this.endpoint, 'load']);
  }

  protected async removeAll(): Promise<void> {
    const { stdout } = await run('docker', ['-H', this.endpoint, 'ps', '-aq']);
    const ids = stdout.split('\n').filter(Boolean);
    if (ids.length) await run('docker', ['-H', this.endpoint, 'rm', '-f', '-v', ...ids]).catch(() => undefined);
    await run('docker', ['-H', this.endpoint, 'network', 'prune', '-f']).catch(() => undefined);
  }

  protected async afterStop(): Promise<void> {
    // Shims of the engine's own containerd outlive it when it was killed.
    for (const pid of pidsWith(join(this.runDir, 'exec'))) process.kill(pid, 'SIGKILL');
    await run('ip', ['link', 'del', this.bridge]).catch(() => undefined);
  }
}

class PrivateContainerd extends Base {
  kind = 'containerd' as const;
  readonly socketPath = join(this.runDir, 'containerd.sock');
  readonly bridge = 'btec' + this.id;

  agentFlags(): string[] {
    return ['--container-runtime-endpoint', this.endpoint];
  }

  protected argv(): Argv {
    const cni = join(this.runDir, 'cni');
    mkdirSync(cni, { recursive: true });
    writeFileSync(join(cni, '10-bte.conflist'), JSON.stringify({
      cniVersion: '0.4.0',
      name: `bte-${this.id}`,
      plugins: [
        { type: 'bridge', bridge: this.bridge, isGateway: true, ipMasq: false, hairpinMode: true,
          ipam: { type: 'host-local', ranges: [[{ subnet: this.podCIDR }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: join(this.dataRoot, 'cni-ipam') } },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    }, null, 2));
    const config = join(this.runDir, 'config.toml');
    writeFileSync(config, privateContainerdConfig({
      root: this.dataRoot, state: join(this.runDir, 'state'), socket: this.socketPath, cniConfDir: cni, sandboxImage: TEST_IMAGES[0],
    }));
    return ['containerd', '--config', config, '--log-level', 'warn'];
  }

  protected async ping(): Promise<boolean> {
    if (!existsSync(this.socketPath)) return false;
    const rt = await createContainerdRuntime({ socketPath: this.socketPath }).catch(() => undefined);
    if (!rt) return false;
    const ok = await rt.listPodSandboxes().then(() => true, () => false);
    await rt.close();
    return ok;
  }

  async runtime(): Promise<Runtime> {
    return createContainerdRuntime({ socketPath: this.socketPath });
  }

  async loadImages(): Promise<void> {
    await copyImages(['ctr', '-a', this.socketPath, '-n', 'k8s.io', 'images', 'import', '-']);
  }

  protected async removeAll(): Promise<void> {
    const rt = await this.runtime();
    try {
      for (const c of await rt.listContainers()) await rt.removeContainer(c.id).catch(() => undefined);
      for (const s of await rt.listPodSandboxes()) {
        await rt.stopPodSandbox(s.id).catch(() => undefined);
        await rt.removePodSandbox(s.id).catch(() => undefined);
      }
    } finally {
      await rt.close();
    }
  }

  protected async afterStop(): Promise<void> {
    // The shims (and whatever they still run) outlive containerd by design.
    for (const pid of pidsWith(this.socketPath)) process.kill(pid, 'SIGKILL');
    await sleep(200);
    await run('ip', ['link', 'del', this.bridge]).catch(() => undefined);
  }
}

/** A private dockerd, running, with the test images loaded. */
export const startPrivateDocker = (): Promise<PrivateEngine> => startPrivate(new PrivateDocker(), '10.246');

/** Where scripts/setup-host.sh --containerd writes the host containerd's config. */
const HOST_CONTAINERD_CONFIG = '/etc/bosun-containerd/config.toml';

/**
 * The host containerd's config with a private instance's paths: setup-host's file is the one
 * definition of how bosun runs containerd, so a private engine cannot drift from it.
 */
function privateContainerdConfig(p: { root: string; state: string; socket: string; cniConfDir: string; sandboxImage: string }): string {
  const host = readFileSync(HOST_CONTAINERD_CONFIG, 'utf8');
  const edits: [RegExp, string][] = [
    [/^root = .*$/m, `root = "${p.root}"`],
    [/^state = .*$/m, `state = "${p.state}"`],
    [/^(\[grpc\]\n\s*address = ).*$/m, `$1"${p.socket}"`],
    [/^(\[ttrpc\]\n\s*address = ).*$/m, `$1"${p.socket}.ttrpc"`],
    [/^(\s*sandbox_image = ).*$/m, `$1"${p.sandboxImage}"`],
    [/^(\s*conf_dir = ).*$/m, `$1"${p.cniConfDir}"`],
  ];
  return edits.reduce((text, [re, to]) => {
    if (!re.test(text)) throw new Error(`${HOST_CONTAINERD_CONFIG}: no line matches ${re} (re-run scripts/setup-host.sh --containerd)`);
    return text.replace(re, to);
  }, host);
}

/** A private CRI containerd, running, with the test images imported. */
export const startPrivateContainerd = (): Promise<PrivateEngine> => startPrivate(new PrivateContainerd(), '10.247');

async function startPrivate(e: Base, subnetPrefix: string): Promise<PrivateEngine> {
  await sweepPrivateEngines();
  e.podCIDR = await freeSubnet(subnetPrefix);
  await e.prepare();
  try {
    await e.start();
    await e.loadImages();
  } catch (err) {
    await e.destroy();
    throw err;
  }
  return e;
}

/**
 * What interrupted runs left: private engines whose daemon is gone, or that are older than
 * an hour (a test never runs that long), are stopped and removed. Younger ones that still
 * run may belong to a test going on in another process, and are left alone.
 */
export async function sweepPrivateEngines(): Promise<void> {
  let names: string[] = [];
  try {
    names = readdirSync(RUN_BASE).filter((n) => n.startsWith(PREFIX));
  } catch {
    return;
  }
  for (const n of names) {
    const runDir = join(RUN_BASE, n);
    const pid = readPid(join(runDir, 'engine.pid'));
    let old = false;
    try {
      old = Date.now() - statSync(runDir).mtimeMs > 3_600_000;
    } catch {
      continue;
    }
    if (alive(pid) && !old) continue;
    if (alive(pid)) {
      process.kill(pid!, 'SIGTERM');
      if (!(await waitExit(pid, 30_000))) process.kill(pid!, 'SIGKILL');
    }
    for (const p of pidsWith(runDir)) process.kill(p, 'SIGKILL');
    const id = n.slice(PREFIX.length);
    for (const link of [`bted${id}`, `btec${id}`]) await run('ip', ['link', 'del', link]).catch(() => undefined);
    await removeDirs(runDir, join(DATA_BASE, n));
  }
}
