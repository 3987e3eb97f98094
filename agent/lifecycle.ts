import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { AgentConfig } from './config.js';
import { ConfigError, resolveConfig } from './config.js';
import { UserError } from './user-error.js';
import { parseCommand, RELOADABLE, type Command } from './settings/index.js';
import type { Logger } from './log.js';
import type { ObservedPod } from './vocab/index.js';
import { L } from './vocab/index.js';

// The agent's own lifecycle, around Agent: one agent per root dir (lock), readiness and
// watchdog for systemd (sd_notify), SIGHUP reload, and the local control socket behind
// `bosun drain` / `bosun uncordon`.

/** Where the installed service keeps its config; drain, uncordon and doctor read it by default. */
export const INSTALLED_CONFIG = '/etc/bosun/config.yaml';
export const CONTROL_SOCKET = 'bosun.sock';
export const CORDON_FILE = 'cordoned';
const PID_FILE = 'bosun.pid';

// ---------------------------------------------------------------- root-dir lock

export class LockError extends UserError {}

export interface RootDirLock {
  readonly rootDir: string;
  release(): Promise<void>;
}

const LOCK_FILE = 'bosun.lock';

/**
 * The lock is flock(2) on <root-dir>/bosun.lock, a file inside the 0700 root dir: only root
 * can open it, so no other user (and no pod without a hostPath to the root dir) can take or
 * hold it, unlike the abstract unix socket it replaces, which anyone could bind first.
 *
 * Node has no flock, so the agent opens the file itself and hands that descriptor to
 * util-linux's flock(1) for the one system call. A flock belongs to the open file
 * description, not to the process that made the call: when flock(1) exits, the lock stays
 * with the agent's descriptor, and the kernel drops it when the agent exits or dies (even
 * on kill -9). So there is no stale lock to detect and no pid to trust (a pid file with an
 * O_EXCL create needs stale-pid detection, which pid reuse defeats), and no helper process
 * that could die on its own and free the lock behind the agent's back. Node opens files
 * close-on-exec, so no other child inherits the descriptor. The pid file beside it serves
 * the error message only.
 */
function tryFlock(fd: number): 'locked' | 'busy' {
  const r = spawnSync('flock', ['--exclusive', '--nonblock', '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] });
  if (r.error) throw new LockError(`cannot lock the root dir: running flock(1) failed: ${r.error.message} (util-linux provides it)`);
  if (r.status === 0) return 'locked';
  if (r.status === 1) return 'busy';
  throw new LockError(`cannot lock the root dir: flock(1) exited ${r.status ?? r.signal}: ${r.stderr.toString().trim()}`);
}

function openLockFile(real: string): number {
  // O_NOFOLLOW: a symlink planted where the lock file goes is refused, not followed.
  return openSync(join(real, LOCK_FILE), constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
}

export async function acquireRootDirLock(rootDir: string): Promise<RootDirLock> {
  mkdirSync(rootDir, { recursive: true, mode: 0o700 });
  const real = realpathSync(rootDir);
  const fd = openLockFile(real);
  let state: 'locked' | 'busy';
  try {
    state = tryFlock(fd);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  if (state === 'busy') {
    closeSync(fd);
    const pid = readPid(real);
    throw new LockError(`another bosun${pid ? ` (pid ${pid})` : ''} is running with --root-dir ${real}: stop it first, or give this agent its own --root-dir`);
  }
  const pidFile = join(real, PID_FILE);
  writeFileSync(pidFile, `${process.pid}\n`);
  let released = false;
  return {
    rootDir: real,
    release: async () => {
      if (released) return;
      released = true;
      rmSync(pidFile, { force: true });
      // The lock file stays: removing it would let a third agent lock a fresh file while a
      // second one still waits on the old inode.
      closeSync(fd);
    },
  };
}

/** The pid of the agent holding the lock on rootDir, or undefined when none does. */
export async function rootDirHolder(rootDir: string): Promise<number | undefined> {
  let fd: number;
  try {
    fd = openLockFile(realpathSync(rootDir));
  } catch {
    return undefined;
  }
  try {
    // Taking the lock on a description of our own, then dropping it, tells whether anyone holds it.
    return tryFlock(fd) === 'busy' ? (readPid(realpathSync(rootDir)) ?? 0) : undefined;
  } finally {
    closeSync(fd);
  }
}

function readPid(dir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dir, PID_FILE), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((res, rej) => {
    server.once('error', rej);
    server.listen(path, () => {
      server.off('error', rej);
      res();
    });
  });
}

// ---------------------------------------------------------------- sd_notify

/**
 * sd_notify(3) without a native module. Node cannot send on unix datagram sockets, so each
 * message goes through systemd-notify(1), which is there wherever systemd is.
 *
 * Why this works with NotifyAccess=main: systemd-notify sends the message with SCM_CREDENTIALS
 * naming its parent (us, the main PID) rather than itself; the kernel accepts such faked
 * credentials from a process with CAP_SYS_ADMIN, and bosun runs as root. `--no-block` skips
 * the barrier message systemd-notify would otherwise send from its own PID (that one would be
 * refused and logged by systemd on every watchdog ping).
 * The trade-off: a fork+exec per message (READY once, WATCHDOG every WatchdogSec/2). The
 * alternatives were worse: NotifyAccess=all lets any process in the unit claim readiness,
 * and a native sd-notify package needs a compiler at install time.
 * Without $NOTIFY_SOCKET (not started by systemd) every call is a no-op.
 */
export class Notifier {
  private timer?: NodeJS.Timeout;
  private failed = false;

  constructor(
    private readonly log: Logger,
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly command = 'systemd-notify',
  ) {}

  get enabled(): boolean {
    return !!this.env.NOTIFY_SOCKET;
  }

  notify(...fields: string[]): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    // One field per argument; a newline inside a value would start a new field.
    const args = ['--no-block', ...fields.map((f) => f.replace(/\n/g, ' '))];
    return new Promise((resolve) => {
      execFile(this.command, args, { env: this.env, timeout: 10_000 }, (err, _out, stderr) => {
        if (err && !this.failed) {
          this.failed = true; // said once: a failing notifier must not flood the log
          this.log.warn({ err: (stderr || err.message).trim(), fields }, 'sd_notify via systemd-notify failed');
        }
        resolve();
      });
    });
  }

  /**
   * Pings WATCHDOG=1 at half of WATCHDOG_USEC while `healthy()` holds (the pod loop relists):
   * when the loop is stuck, the pings stop and systemd restarts bosun (pods keep running).
   */
  startWatchdog(healthy: () => boolean): number | undefined {
    const usec = Number(this.env.WATCHDOG_USEC);
    const pid = this.env.WATCHDOG_PID;
    if (!this.enabled || !(usec > 0) || (pid && Number(pid) !== process.pid)) return undefined;
    const everyMs = Math.max(100, Math.floor(usec / 2000));
    this.timer = setInterval(() => {
      if (healthy()) void this.notify('WATCHDOG=1');
      else this.log.warn('pod lifecycle loop unhealthy: withholding the systemd watchdog ping');
    }, everyMs);
    this.timer.unref();
    return everyMs;
  }

  stopWatchdog(): void {
    clearInterval(this.timer);
  }
}

// ---------------------------------------------------------------- SIGHUP reload

/** Settings SIGHUP applies to a running agent (marked `reload` in the table); every other one is read at start only. */
export const LIVE_SETTINGS = RELOADABLE;

export function diffConfig(running: AgentConfig, next: AgentConfig): { live: string[]; restart: string[] } {
  const keys = new Set([...Object.keys(running), ...Object.keys(next)] as (keyof AgentConfig)[]);
  const changed = [...keys].filter((k) => JSON.stringify(running[k]) !== JSON.stringify(next[k])).sort();
  return { live: changed.filter((k) => LIVE_SETTINGS.includes(k)), restart: changed.filter((k) => !LIVE_SETTINGS.includes(k)) };
}

// ---------------------------------------------------------------- the agent, as lifecycle sees it

export interface ManagedAgent {
  readonly config: AgentConfig;
  readonly pods: { healthy(): boolean; cache: { uids(): string[]; get(uid: string): ObservedPod } };
  setCordoned(on: boolean): void;
  reload(next: AgentConfig): void;
}

/**
 * Wires the helpers above around one agent. `bosun run` calls, in order: beforeStart() (before
 * any pod is touched), started() once agent.start() resolved (every source has listed and its
 * pods went to the workers: the first sync), stopping() on SIGTERM, close() at the end.
 */
export class Lifecycle {
  readonly notifier: Notifier;
  private control?: Server;
  private running = false;
  private hupWhileStarting = false;
  // Installed before start (Node's default for SIGHUP is to exit); a SIGHUP that comes while
  // the agent starts is applied once it has.
  private readonly onHup = () => (this.running ? this.reload() : (this.hupWhileStarting = true));

  constructor(
    private readonly agent: ManagedAgent,
    private readonly log: Logger,
    private readonly loadConfig: () => AgentConfig,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.notifier = new Notifier(log, env);
  }

  private get rootDir(): string {
    return this.agent.config.rootDir;
  }

  async beforeStart(): Promise<void> {
    if (existsSync(join(this.rootDir, CORDON_FILE))) {
      this.log.warn({ file: join(this.rootDir, CORDON_FILE) }, 'node is cordoned (bosun drain): no pod will run until `bosun uncordon`');
      this.agent.setCordoned(true);
    }
    try {
      this.control = await startControlServer(this.agent, this.log);
    } catch (err) {
      // Maintenance commands are not worth refusing to run pods over.
      this.log.warn({ err: (err as Error).message }, 'control socket unavailable: bosun drain and uncordon will not reach this agent');
    }
    process.on('SIGHUP', this.onHup);
  }

  async started(): Promise<void> {
    const n = this.agent.pods.cache.uids().length;
    await this.notifier.notify('READY=1', `STATUS=first sync done; ${n} pod(s) observed`);
    const every = this.notifier.startWatchdog(() => this.agent.pods.healthy());
    if (this.notifier.enabled) this.log.info({ watchdogPingMs: every ?? null }, 'told systemd: ready');
    this.running = true;
    if (this.hupWhileStarting) this.reload();
  }

  stopping(): void {
    process.off('SIGHUP', this.onHup);
    this.notifier.stopWatchdog();
    void this.notifier.notify('STOPPING=1', 'STATUS=stopping; pods keep running');
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => (this.control ? this.control.close(() => r()) : r()));
    rmSync(join(this.rootDir, CONTROL_SOCKET), { force: true });
  }

  /** SIGHUP: re-read the config file; apply what can change live, name what needs a restart. */
  reload(): void {
    let next: AgentConfig;
    try {
      next = this.loadConfig();
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'SIGHUP: configuration not reloaded (the running one stays in force)');
      return;
    }
    const { live, restart } = diffConfig(this.agent.config, next);
    if (live.includes('logLevel')) this.log.level = next.logLevel ?? process.env.BOSUN_LOG_LEVEL ?? 'info';
    this.agent.reload(next);
    this.log.info({ applied: live }, live.length ? 'SIGHUP: configuration reloaded' : 'SIGHUP: configuration reloaded; nothing to apply live');
    if (restart.length) this.log.warn({ settings: restart }, 'SIGHUP: these settings changed but only take effect on restart (systemctl restart bosun; pods keep running)');
  }
}

// ---------------------------------------------------------------- control socket (drain)

// `bosun drain` talks to the running agent over <root-dir>/bosun.sock (mode 0600: root only),
// never over the read-only port, which must not change state. Protocol: one JSON request line
// ({"op":"drain"|"uncordon"|"status"}); the agent answers with {"msg":...} progress lines
// and one final {"ok":true|false,...} line.

interface Reply {
  ok?: boolean;
  msg?: string;
  error?: string;
  cordoned?: boolean;
  pods?: number;
}

async function startControlServer(agent: ManagedAgent, log: Logger): Promise<Server> {
  const path = join(agent.config.rootDir, CONTROL_SOCKET);
  if (Buffer.byteLength(path) > 107) throw new Error(`${path}: longer than a unix socket path may be (107 bytes)`);
  // We hold the root-dir lock: a socket file left there is from a dead agent.
  rmSync(path, { force: true });
  const server = createServer((conn) => serveControl(agent, log, conn));
  // The umask covers the instant between bind() and chmod().
  const umask = process.umask(0o177);
  try {
    await listen(server, path);
  } finally {
    process.umask(umask);
  }
  chmodSync(path, 0o600);
  server.unref();
  return server;
}

function serveControl(agent: ManagedAgent, log: Logger, conn: Socket): void {
  let buf = '';
  let closed = false;
  conn.on('close', () => (closed = true));
  conn.on('error', () => undefined);
  const send = (r: Reply) => {
    if (!closed) conn.write(JSON.stringify(r) + '\n');
  };
  conn.on('data', (d) => {
    buf += d.toString();
    const nl = buf.indexOf('\n');
    if (nl < 0) return;
    conn.removeAllListeners('data');
    let op = '';
    try {
      op = String((JSON.parse(buf.slice(0, nl)) as { op?: unknown }).op);
    } catch {
      // answered below as an unknown request
    }
    void handleControl(agent, log, op, send, () => closed).then(
      (r) => (send(r), conn.end()),
      (err: Error) => (send({ ok: false, error: err.message }), conn.end()),
    );
  });
}

const podName = (o: ObservedPod) => {
  const l = (o.sandboxes[0] ?? o.containers[0])?.labels ?? {};
  return `${l[L.podNamespace] ?? '?'}/${l[L.podName] ?? '?'}`;
};

async function handleControl(agent: ManagedAgent, log: Logger, op: string, send: (r: Reply) => void, gone: () => boolean): Promise<Reply> {
  const node = agent.config.nodeName;
  const cordonFile = join(agent.config.rootDir, CORDON_FILE);
  switch (op) {
    case 'status':
      return { ok: true, cordoned: existsSync(cordonFile), pods: agent.pods.cache.uids().length };
    case 'uncordon':
      rmSync(cordonFile, { force: true });
      agent.setCordoned(false);
      log.info('uncordoned (bosun uncordon): pods run again');
      return { ok: true, msg: `node/${node} uncordoned` };
    case 'drain': {
      // Persisted first: an agent restarted in the middle of maintenance stays cordoned.
      writeFileSync(cordonFile, `${new Date().toISOString()}\n`);
      const left = new Map(agent.pods.cache.uids().map((uid) => [uid, podName(agent.pods.cache.get(uid))]));
      log.info({ pods: [...left.values()] }, 'draining (bosun drain): terminating every pod with its grace period');
      // Desired set empty: each pod is terminated by its own worker, as when its manifest is
      // deleted (grace period, and preStop hooks through the same path).
      agent.setCordoned(true);
      send({ msg: `node/${node} cordoned` });
      for (const name of [...left.values()].sort()) send({ msg: `terminating pod/${name}` });
      while (left.size) {
        if (gone()) return { ok: false, error: 'client went away' };
        await new Promise((r) => setTimeout(r, 200));
        const now = new Set(agent.pods.cache.uids());
        for (const [uid, name] of left) {
          if (now.has(uid)) continue;
          left.delete(uid);
          send({ msg: `pod/${name} terminated` });
        }
      }
      log.info('drained: no pod left');
      return { ok: true, msg: `node/${node} drained` };
    }
    default:
      return { ok: false, error: `unknown request ${JSON.stringify(op)} (drain, uncordon, status)` };
  }
}

/** Sends one request to the agent on rootDir; progress lines go to `onMsg`. */
export function controlRequest(rootDir: string, op: string, onMsg: (m: string) => void): Promise<Reply> {
  const path = join(rootDir, CONTROL_SOCKET);
  return new Promise((resolve, reject) => {
    const c = createConnection(path);
    let buf = '';
    let final: Reply | undefined;
    c.on('connect', () => c.write(JSON.stringify({ op }) + '\n'));
    c.on('data', (d) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const r = JSON.parse(buf.slice(0, nl)) as Reply;
        buf = buf.slice(nl + 1);
        if (r.ok === undefined) onMsg(r.msg ?? '');
        else final = r;
      }
    });
    c.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') reject(new ConfigError(`no bosun agent is running with --root-dir ${rootDir} (no answer on ${path})`));
      else if (err.code === 'EACCES') reject(new ConfigError(`${path}: permission denied (bosun ${op} must run as root)`));
      else reject(err);
    });
    c.on('close', () => (final ? resolve(final) : reject(new ConfigError(`the agent closed the connection before finishing "${op}" (did it stop?)`))));
  });
}

/** `bosun drain` and `bosun uncordon`: the client side. */
export const DRAIN_COMMAND: Command = {
  name: 'drain',
  usage: 'drain [--root-dir DIR | --config FILE]',
  summary: 'Terminate every pod gracefully and stay cordoned (across restarts too) until uncordon.',
  description: 'It asks the running agent, over <rootDir>/bosun.sock; --config defaults to /etc/bosun/config.yaml when it exists.',
  config: true,
  settings: ['rootDir'],
};

export const UNCORDON_COMMAND: Command = {
  name: 'uncordon',
  usage: 'uncordon [--root-dir DIR | --config FILE]',
  summary: 'Let pods run again after a drain.',
  description: DRAIN_COMMAND.description!,
  config: true,
  settings: ['rootDir'],
};

export async function controlMain(op: 'drain' | 'uncordon', argv: string[]): Promise<number> {
  const { flags, config } = parseCommand(op === 'drain' ? DRAIN_COMMAND : UNCORDON_COMMAND, argv);
  const rootDir = resolveConfig(flags, config ?? (existsSync(INSTALLED_CONFIG) ? INSTALLED_CONFIG : undefined)).rootDir;
  const r = await controlRequest(rootDir, op, (m) => process.stdout.write(m + '\n'));
  if (!r.ok) {
    process.stderr.write(`error: ${r.error ?? 'failed'}\n`);
    return 1;
  }
  process.stdout.write(`${r.msg ?? 'ok'}\n`);
  return 0;
}
