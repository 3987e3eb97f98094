import { mkdirSync } from 'node:fs';
import { lstat, mkdir, readdir, readlink, rename, rm, rmdir, stat, symlink, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { ContainerStatus as RuntimeContainer, LogChunk, LogFollower, RuntimeService } from '../../cri/index.js';
import type { Logger } from '../log.js';
import { L } from '../vocab/index.js';
import { formatCriLine, logFileAttempt, lostAttemptFilesToRemove } from './format.js';
import type { RotationPolicy } from './format.js';
import { CriLogWriter } from './writer.js';

// The container log manager: for every container of this agent that has a log path, copies
// the engine's record of its output into the CRI log file (`<podLogsDir>/<ns>_<pod>_<uid>/
// <container>/<restartCount>.log`), rotated by size, with kubelet's symlink in
// containerLogsDir. It follows the pod cache (every second): a new container gets a
// copier. A container the agent removes loses its files (kubelet's removeContainerLog); one
// that vanishes otherwise (the engine lost it) keeps them until its pod goes, so that the
// restart count goes on from them and `logs --previous` still reads them. Copying resumes
// after an agent restart from the last line written: nothing is written twice, nothing is
// lost while the engine still has it.

export interface ContainerSource {
  uids(): string[];
  get(uid: string): { containers: RuntimeContainer[] };
}

export interface LogManagerOptions {
  runtime: Pick<RuntimeService, 'followLogs'>;
  source: ContainerSource;
  policy: RotationPolicy;
  /** kubelet's /var/log/containers. */
  containerLogsDir: string;
  log: Logger;
  periodMs?: number;
  now?: () => number;
  /** True while the container engine is away: no follower is (re)started until it is back. */
  paused?: () => boolean;
  /**
   * The pod log root (`<podLogsDir>/<ns>_<pod>_<uid>/...`): symlinks in containerLogsDir into
   * it whose file is gone are removed (kubelet's evictPodLogsDirectories does the same).
   */
  podLogsDir?: string;
}

/** kubelet's logSymlink: `<pod>_<ns>_<container>-<id>.log`, cut to fit ext4's 255 bytes. */
export function logSymlinkPath(dir: string, c: Pick<RuntimeContainer, 'id' | 'labels' | 'metadata'>): string {
  const name = `${c.labels[L.podName] ?? ''}_${c.labels[L.podNamespace] ?? ''}_${c.metadata.name}-${c.id}`;
  return join(dir, `${name.slice(0, 255 - '.log'.length)}.log`);
}

class Copier {
  readonly done: Promise<void>;
  private follower?: LogFollower;
  private stopped = false;

  constructor(
    readonly container: RuntimeContainer,
    private readonly opts: LogManagerOptions,
  ) {
    this.done = this.run();
  }

  private async run(): Promise<void> {
    const c = this.container;
    const path = c.logPath!;
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    const writer = new CriLogWriter(path, this.opts.policy, (err) => this.opts.log.warn({ err: err.message, container: c.metadata.name }, 'log rotation cleanup failed'), this.opts.now);
    try {
      await this.link(path);
      const from = writer.resumePoint();
      let skip = from?.count ?? 0;
      let batch = false;
      const onChunk = (chunk: LogChunk) => {
        // The engine's `since` includes the instant itself: the lines already written at that
        // exact timestamp come again first.
        if (skip > 0 && from && chunk.timestamp === from.timestamp) {
          skip--;
          return;
        }
        skip = 0;
        writer.append(formatCriLine(chunk.timestamp, chunk.stream, chunk.data));
        // One write per burst of messages rather than per message.
        if (!batch) {
          batch = true;
          setImmediate(() => {
            batch = false;
            if (!this.stopped) writer.flush();
          });
        }
      };
      if (this.stopped) return;
      this.follower = this.opts.runtime.followLogs(c.id, from?.timestamp, onChunk);
      if (this.stopped) this.follower.stop();
      await this.follower.done;
    } finally {
      writer.close();
      await writer.settled();
    }
  }

  /** /var/log/containers/<pod>_<ns>_<container>-<id>.log -> the pod log file. */
  private async link(path: string): Promise<void> {
    const link = logSymlinkPath(this.opts.containerLogsDir, this.container);
    await mkdir(this.opts.containerLogsDir, { recursive: true, mode: 0o755 });
    const tmp = `${link}.tmp`;
    await unlink(tmp).catch(() => undefined);
    await symlink(path, tmp);
    await rename(tmp, link);
  }

  stop(): void {
    this.stopped = true;
    this.follower?.stop();
  }
}

export class LogManager {
  private readonly copiers = new Map<string, Copier>();
  /** Containers whose output has been copied to the end (exited, copier finished). */
  private readonly complete = new Map<string, RuntimeContainer>();
  /** Every container seen with a log path, for cleanup once it is gone. */
  private readonly known = new Map<string, RuntimeContainer>();
  /** Containers the agent removed: their files go once the cache no longer lists them. */
  private readonly removedByAgent = new Set<string>();
  private timer?: NodeJS.Timeout;
  private syncing = false;
  private passes = 0;

  constructor(private readonly opts: LogManagerOptions) {}

  start(): void {
    mkdirSync(this.opts.containerLogsDir, { recursive: true, mode: 0o755 });
    this.sync();
    this.timer = setInterval(() => this.sync(), this.opts.periodMs ?? 1000);
  }

  /** Stops copying; files stay (the next start resumes them). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    const all = [...this.copiers.values()];
    for (const c of all) c.stop();
    await Promise.all(all.map((c) => c.done.catch(() => undefined)));
  }

  /** One pass over the cache: start copiers for new containers, clean up removed ones. */
  sync(): void {
    if (this.syncing || this.opts.paused?.()) return;
    this.syncing = true;
    try {
      const seen = new Map<string, RuntimeContainer>();
      for (const uid of this.opts.source.uids()) {
        for (const c of this.opts.source.get(uid).containers) if (c.logPath) seen.set(c.id, c);
      }
      for (const c of seen.values()) {
        this.known.set(c.id, c);
        if (c.state === 'running' || c.state === 'exited') this.ensure(c);
      }
      const livePaths = new Set([...seen.values()].map((c) => c.logPath));
      for (const [id, c] of this.known) {
        if (seen.has(id)) continue;
        this.known.delete(id);
        this.complete.delete(id);
        if (this.removedByAgent.delete(id)) void this.removeFiles(c, livePaths.has(c.logPath));
        else void this.lost(c, livePaths);
      }
      // Once a minute, as kubelet's container GC.
      if (this.passes++ % 60 === 0) void this.removeDeadSymlinks();
    } finally {
      this.syncing = false;
    }
  }

  /**
   * The agent removed this container (or is about to): its log files and symlink go once the
   * engine no longer lists it. Every removal the agent makes is reported here; a container
   * that disappears without one keeps its files while the pod exists.
   */
  removed(c: RuntimeContainer): void {
    if (!c.logPath) return;
    this.removedByAgent.add(c.id);
    if (!this.known.has(c.id)) this.known.set(c.id, c);
  }

  /**
   * Waits until a container's output is in its log file (an exited container's copier has
   * reached the end), at most timeoutMs. For the termination message fallback.
   */
  async flush(c: RuntimeContainer, timeoutMs = 2000): Promise<void> {
    if (!c.logPath || this.complete.has(c.id)) return;
    if (this.known.has(c.id)) this.known.set(c.id, c);
    const copier = this.ensure(c);
    if (!copier) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([copier.done.catch(() => undefined), new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }

  private ensure(c: RuntimeContainer): Copier | undefined {
    if (this.complete.has(c.id)) return undefined;
    let copier = this.copiers.get(c.id);
    if (copier) return copier;
    copier = new Copier(c, this.opts);
    this.copiers.set(c.id, copier);
    const log = this.opts.log.child({ container: c.metadata.name, pod: `${c.labels[L.podNamespace]}/${c.labels[L.podName]}` });
    copier.done.then(
      () => {
        this.copiers.delete(c.id);
        // The output of an exited container ends with the stream; a running one's stream can
        // end with an engine restart: the next sync follows it again from the file.
        const latest = this.known.get(c.id) ?? c;
        if (latest.state === 'exited') this.complete.set(c.id, latest);
      },
      (err: Error) => {
        this.copiers.delete(c.id);
        const code = (err as { code?: string }).code;
        if (code === 'NotFound') this.complete.set(c.id, c);
        // The engine went away (the runtime's health says so once): followed again once it is back.
        else if (code === 'Unavailable' || this.opts.paused?.()) return;
        else log.warn({ err: err.message }, 'copying container output failed; retrying');
      },
    );
    return copier;
  }

  private async stopCopier(c: RuntimeContainer): Promise<void> {
    const copier = this.copiers.get(c.id);
    if (copier) {
      copier.stop();
      await copier.done.catch(() => undefined);
    }
  }

  /**
   * A container the engine lost: its files and symlink stay (they go with the pod's log
   * directory); older lost attempts of the same container that no container writes go.
   */
  private async lost(c: RuntimeContainer, livePaths: ReadonlySet<string | undefined>): Promise<void> {
    await this.stopCopier(c);
    const kept = c.logPath ? logFileAttempt(basename(c.logPath)) : undefined;
    if (kept === undefined) return;
    const dir = dirname(c.logPath!);
    const live = new Set<number>();
    for (const p of livePaths) {
      const a = p && dirname(p) === dir ? logFileAttempt(basename(p)) : undefined;
      if (a !== undefined) live.add(a);
    }
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const f of lostAttemptFilesToRemove(names, kept, live)) await rm(join(dir, f), { force: true });
    this.opts.log.info({ pod: `${c.labels[L.podNamespace]}/${c.labels[L.podName]}`, container: c.metadata.name, attempt: kept }, 'the engine no longer holds this container; its log stays while the pod exists');
  }

  /**
   * Symlinks in containerLogsDir into this agent's pod log root whose file is gone (the pod
   * was removed, or a lost attempt's files were), unless their container still runs: the
   * file of a running one is only missing for an instant during rotation.
   */
  private async removeDeadSymlinks(): Promise<void> {
    const root = this.opts.podLogsDir;
    if (!root) return;
    const running = new Set([...this.known.values()].filter((c) => c.state === 'running').map((c) => c.id));
    for (const name of await readdir(this.opts.containerLogsDir).catch(() => [] as string[])) {
      if (!name.endsWith('.log')) continue;
      const link = join(this.opts.containerLogsDir, name);
      const target = await readlink(link).catch(() => undefined);
      if (!target || !target.startsWith(`${root}/`)) continue;
      if (await stat(link).then(() => true, () => false)) continue;
      const id = name.slice(name.lastIndexOf('-') + 1, -'.log'.length);
      if (running.has(id)) continue;
      await unlinkIfSymlink(link);
    }
  }

  /** kubelet's removeContainerLog: the log files and the symlink go with the container. */
  private async removeFiles(c: RuntimeContainer, pathInUse: boolean): Promise<void> {
    await this.stopCopier(c);
    await unlinkIfSymlink(logSymlinkPath(this.opts.containerLogsDir, c));
    if (pathInUse || !c.logPath) return; // another container of the same attempt writes there now
    const dir = dirname(c.logPath);
    const base = basename(c.logPath);
    for (const f of await readdir(dir).catch(() => [] as string[])) {
      if (f === base || f.startsWith(`${base}.`)) await rm(join(dir, f), { force: true });
    }
    // The container's directory and the pod's, once empty.
    await rmdir(dir).catch(() => undefined);
    await rmdir(dirname(dir)).catch(() => undefined);
  }
}

async function unlinkIfSymlink(path: string): Promise<void> {
  try {
    if ((await lstat(path)).isSymbolicLink()) await unlink(path);
  } catch {
    // already gone
  }
}

/** Removes a pod's log directory (`<podLogsDir>/<ns>_<name>_<uid>`) once the pod is gone. */
export async function removePodLogs(podLogsDir: string, uid: string): Promise<void> {
  for (const d of await readdir(podLogsDir).catch(() => [] as string[])) {
    if (d.endsWith(`_${uid}`)) await rm(join(podLogsDir, d), { recursive: true, force: true });
  }
}
