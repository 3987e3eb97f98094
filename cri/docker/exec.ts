// execSync over docker exec. Docker has no way to kill an exec'd process, so on timeout
// the process tree is killed from the host by PID (bosun runs as root in the host's PID
// namespace, which is the namespace the engine reports PIDs in).

import { readFile, readdir } from 'node:fs/promises';
import type { Duplex, Readable } from 'node:stream';
import type Docker from 'dockerode';
import { RuntimeError, type ExecResult } from '../runtime.js';
import { isNotFound, wrapEngineError } from './errors.js';

/**
 * Splits Docker's multiplexed attach stream (8-byte header: stream type, 3 zero bytes,
 * big-endian length) into stdout and stderr.
 */
export class Demuxer {
  private pending: Buffer = Buffer.alloc(0);
  readonly stdout: Buffer[] = [];
  readonly stderr: Buffer[] = [];

  push(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 8) {
      const type = this.pending.readUInt8(0);
      const len = this.pending.readUInt32BE(4);
      if (this.pending.length < 8 + len) return;
      const frame = this.pending.subarray(8, 8 + len);
      (type === 2 ? this.stderr : this.stdout).push(frame);
      this.pending = this.pending.subarray(8 + len);
    }
  }
}

async function parentOf(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may contain spaces and parentheses.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number.parseInt(rest[1] ?? '', 10);
    return Number.isFinite(ppid) ? ppid : undefined;
  } catch {
    return undefined;
  }
}

async function inContainerCgroup(pid: number, containerId: string): Promise<boolean> {
  try {
    return (await readFile(`/proc/${pid}/cgroup`, 'utf8')).includes(containerId);
  } catch {
    return false;
  }
}

/** The process and all its descendants, found by walking /proc. */
async function processTree(root: number): Promise<number[]> {
  const children = new Map<number, number[]>();
  const pids = (await readdir('/proc')).filter((e) => /^\d+$/.test(e)).map(Number);
  await Promise.all(
    pids.map(async (pid) => {
      const ppid = await parentOf(pid);
      if (ppid !== undefined) {
        const list = children.get(ppid);
        if (list) list.push(pid);
        else children.set(ppid, [pid]);
      }
    }),
  );
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/**
 * Kills an exec'd process and its descendants (killing only `sh -c '...'` would leave
 * its children running). Each PID is checked to still be in the container's cgroup, so
 * a PID reused by an unrelated host process after the exec ended is never touched.
 */
export async function killExecTree(pid: number, containerId: string): Promise<void> {
  if (!(pid > 1) || !(await inContainerCgroup(pid, containerId))) return;
  for (const p of await processTree(pid)) {
    if (!(await inContainerCgroup(p, containerId))) continue;
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function execSync(docker: Docker, id: string, cmd: string[], timeoutMs: number): Promise<ExecResult> {
  const deadline = Date.now() + timeoutMs;
  let exec: Docker.Exec;
  let stream: Duplex;
  try {
    exec = await docker.getContainer(id).exec({
      Cmd: cmd,
      AttachStdin: false,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
    });
    stream = (await exec.start({ hijack: true, stdin: false })) as Duplex;
  } catch (err) {
    if (isNotFound(err)) throw new RuntimeError('NotFound', `exec in container ${id}: not found`, { cause: err });
    throw wrapEngineError(undefined, `exec ${JSON.stringify(cmd)} in container ${id}`, err);
  }

  const demux = new Demuxer();
  stream.on('data', (chunk: Buffer) => demux.push(chunk));
  const ended = new Promise<'ended'>((resolve) => {
    // An error on the attach stream only means no more output: the exit code decides.
    const done = () => resolve('ended');
    stream.once('end', done);
    stream.once('close', done);
    stream.once('error', done);
  });
  const result = (exitCode: number, timedOut: boolean): ExecResult => ({
    stdout: Buffer.concat(demux.stdout),
    stderr: Buffer.concat(demux.stderr),
    exitCode,
    timedOut,
  });

  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()));
  });
  try {
    if ((await Promise.race([ended, timeout])) === 'ended') {
      // The output can end before the engine has recorded the exit (or the process may
      // have closed its output and kept running): wait for the exit within the deadline.
      while (Date.now() < deadline) {
        const info = await exec.inspect();
        if (!info.Running) return result(info.ExitCode ?? -1, false);
        await sleep(Math.min(20, Math.max(1, deadline - Date.now())));
      }
    }
    const info = await exec.inspect().catch(() => undefined);
    if (info && !info.Running) return result(info.ExitCode ?? -1, false);
    if (info) await killExecTree(info.Pid, info.ContainerID);
    return result(-1, true);
  } catch (err) {
    throw wrapEngineError(undefined, `exec ${JSON.stringify(cmd)} in container ${id}`, err);
  } finally {
    clearTimeout(timer);
    (stream as Readable).destroy();
  }
}
