// Interactive streams on Docker (what dockershim's streaming runtime did): exec and attach
// over the engine's hijacked connection, port forwarding by dialling the pod's IP from the
// node, and container stats from the engine's one-shot stats.

import { PassThrough, type Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { checkForwardPort, dialSandbox, RuntimeError, type ContainerStats, type StreamOptions, type StreamSession } from '../runtime.js';
import { isNotFound, wrapEngineError } from './errors.js';

/**
 * Splits Docker's multiplexed stream (8-byte header: stream type, 3 zero bytes, big-endian
 * length) into two streams, pausing the source while either reader is behind.
 */
export function demux(src: Duplex, stdout: PassThrough, stderr: PassThrough): void {
  let pending: Buffer = Buffer.alloc(0);
  const resume = () => src.resume();
  src.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let blocked = false;
    while (pending.length >= 8) {
      const len = pending.readUInt32BE(4);
      if (pending.length < 8 + len) break;
      const out = pending[0] === 2 ? stderr : stdout;
      if (!out.write(pending.subarray(8, 8 + len))) {
        blocked = true;
        out.once('drain', resume);
      }
      pending = pending.subarray(8 + len);
    }
    if (blocked) src.pause();
  });
  const end = () => {
    stdout.end();
    stderr.end();
  };
  src.once('end', end);
  src.once('close', end);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The hijacked connection as a session: output split (or raw with a TTY), stdin as a writable. */
function session(sock: Duplex, opts: StreamOptions, resize: (w: number, h: number) => Promise<void>, exitCode: (ended: Promise<void>) => Promise<number>): StreamSession {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  if (opts.tty) {
    sock.pipe(stdout);
    sock.once('close', () => stdout.end());
  } else demux(sock, stdout, stderr);
  const ended = new Promise<void>((resolve) => {
    stdout.once('end', resolve);
    stdout.once('close', resolve);
    sock.once('close', resolve);
    sock.once('error', () => resolve());
  });
  // Ending stdin half-closes the connection: the engine then closes the process's stdin.
  const stdin = opts.stdin ? new PassThrough() : undefined;
  if (stdin) {
    stdin.pipe(sock, { end: false });
    stdin.once('end', () => {
      if (!sock.destroyed) sock.end();
    });
  }
  sock.on('error', () => undefined);
  let closed = false;
  return {
    stdin,
    stdout: opts.stdout || opts.tty ? stdout : undefined,
    stderr: opts.stderr && !opts.tty ? stderr : undefined,
    resize,
    exitCode: exitCode(ended),
    close() {
      if (closed) return;
      closed = true;
      stdin?.unpipe(sock);
      stdin?.destroy();
      sock.destroy();
      stdout.destroy();
      stderr.destroy();
    },
  };
}

export async function execStream(docker: Docker, id: string, cmd: string[], opts: StreamOptions): Promise<StreamSession> {
  let exec: Docker.Exec;
  let sock: Duplex;
  try {
    exec = await docker.getContainer(id).exec({
      Cmd: cmd,
      AttachStdin: opts.stdin,
      AttachStdout: opts.stdout || opts.tty,
      AttachStderr: opts.stderr && !opts.tty,
      Tty: opts.tty,
    });
    sock = (await exec.start({ hijack: true, stdin: opts.stdin, Tty: opts.tty })) as Duplex;
  } catch (err) {
    if (isNotFound(err)) throw new RuntimeError('NotFound', `exec in container ${id}: not found`, { cause: err });
    throw wrapEngineError(undefined, `exec ${JSON.stringify(cmd)} in container ${id}`, err);
  }
  const resize = async (w: number, h: number) => {
    if (!opts.tty || !(w > 0) || !(h > 0)) return;
    await exec.resize({ w, h }).catch(() => undefined);
  };
  return session(sock, opts, resize, async (ended) => {
    await ended;
    // The output can end before the engine has recorded the exit.
    for (let i = 0; i < 500; i++) {
      const info = await exec.inspect().catch(() => undefined);
      if (!info) return -1;
      if (!info.Running) return info.ExitCode ?? -1;
      await sleep(i < 50 ? 10 : 100);
    }
    return -1;
  });
}

export async function attachStream(docker: Docker, id: string, opts: StreamOptions): Promise<StreamSession> {
  const c = docker.getContainer(id);
  let sock: Duplex;
  try {
    const info = await c.inspect();
    if (!info.State.Running) throw new RuntimeError('NotFound', `container ${id} is not running`);
    if (opts.stdin && !info.Config.OpenStdin) throw new RuntimeError('NotFound', `container ${id} was not created with stdin: true`);
    sock = (await c.attach({ stream: true, stdin: opts.stdin, stdout: opts.stdout || opts.tty, stderr: opts.stderr && !opts.tty, hijack: true })) as Duplex;
  } catch (err) {
    if (err instanceof RuntimeError) throw err;
    if (isNotFound(err)) throw new RuntimeError('NotFound', `attach to container ${id}: not found`, { cause: err });
    throw wrapEngineError(undefined, `attach to container ${id}`, err);
  }
  const resize = async (w: number, h: number) => {
    if (!opts.tty || !(w > 0) || !(h > 0)) return;
    await c.resize({ w, h }).catch(() => undefined);
  };
  return session(sock, opts, resize, async (ended) => {
    await ended;
    return 0;
  });
}

/**
 * A TCP connection to the pod's port. dockershim ran socat inside the sandbox's network
 * namespace; the pod IP is on this machine's bridge, so dialling it reaches the same
 * listeners except those bound to the pod's loopback only. Host-network pods: 127.0.0.1.
 */
export async function portForward(docker: Docker, sandboxId: string, port: number, networkName: string): Promise<Duplex> {
  checkForwardPort(port);
  let info: Docker.ContainerInspectInfo;
  try {
    info = await docker.getContainer(sandboxId).inspect();
  } catch (err) {
    if (isNotFound(err)) throw new RuntimeError('NotFound', `sandbox ${sandboxId} not found`, { cause: err });
    throw wrapEngineError(undefined, `inspecting sandbox ${sandboxId}`, err);
  }
  if (!info.State.Running) throw new RuntimeError('NotFound', `sandbox ${sandboxId} is not running`);
  const host = info.HostConfig.NetworkMode === 'host' ? '127.0.0.1' : info.NetworkSettings.Networks?.[networkName]?.IPAddress;
  if (!host) throw new RuntimeError('NotFound', `sandbox ${sandboxId} has no IP on network ${networkName}`);
  return dialSandbox(host, port);
}

interface DockerStats {
  read: string;
  cpu_stats?: { cpu_usage?: { total_usage?: number } };
  memory_stats?: { usage?: number; stats?: Record<string, number> };
  networks?: Record<string, { rx_bytes: number; rx_errors: number; tx_bytes: number; tx_errors: number }>;
}

/** Docker's stats body as CRI's numbers (working set = usage - inactive file, as cAdvisor). */
export function toContainerStats(s: DockerStats, now: number): ContainerStats {
  const m = s.memory_stats ?? {};
  const st = m.stats ?? {};
  const usage = m.usage ?? 0;
  // cgroup v1 reports total_inactive_file, v2 inactive_file.
  const inactive = st.total_inactive_file ?? st.inactive_file ?? 0;
  const t = Date.parse(s.read);
  return {
    timestamp: Number.isFinite(t) && t > 0 ? t : now,
    cpuUsageCoreNanoSeconds: s.cpu_stats?.cpu_usage?.total_usage ?? 0,
    memoryUsageBytes: usage,
    memoryWorkingSetBytes: Math.max(0, usage - inactive),
    memoryRssBytes: st.total_rss ?? st.rss ?? st.anon ?? 0,
    pageFaults: st.total_pgfault ?? st.pgfault ?? 0,
    majorPageFaults: st.total_pgmajfault ?? st.pgmajfault ?? 0,
    networks: Object.entries(s.networks ?? {}).map(([name, n]) => ({ name, rxBytes: n.rx_bytes, rxErrors: n.rx_errors, txBytes: n.tx_bytes, txErrors: n.tx_errors })),
  };
}

export async function containerStats(docker: Docker, id: string): Promise<ContainerStats> {
  const c = docker.getContainer(id);
  try {
    // one-shot (API 1.41): one sample now instead of waiting a second for a second one.
    const [s, info] = await Promise.all([
      c.stats({ stream: false, 'one-shot': true } as { stream: false }) as unknown as Promise<DockerStats>,
      c.inspect({ size: true } as Docker.ContainerInspectOptions) as Promise<Docker.ContainerInspectInfo & { SizeRw?: number }>,
    ]);
    return { ...toContainerStats(s, Date.now()), ...(info.SizeRw !== undefined ? { writableLayerBytes: info.SizeRw } : {}) };
  } catch (err) {
    if (isNotFound(err)) throw new RuntimeError('NotFound', `stats of container ${id}: not found`, { cause: err });
    throw wrapEngineError(undefined, `stats of container ${id}`, err);
  }
}
