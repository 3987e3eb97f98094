import type { Duplex } from 'node:stream';
import type { StreamSession } from '../../cri/index.js';
import { errorStatus, exitStatus } from './channels.js';
import { RST_REFUSED, SpdySession, type SpdyStream } from './spdy.js';

// exec and attach over SPDY/3.1 (kubelet's remotecommand httpstream server,
// pkg/kubelet/cri/streaming/remotecommand/httpstream.go). The API server speaks this to the
// node when it proxies `kubectl exec/attach`: it turns kubectl's WebSocket into SPDY itself.
// The client opens one stream per channel, each named by its streamType header: error, then
// stdin, stdout, stderr (not with a TTY) and resize (TTY only). Once every stream the query
// asked for is there, the command runs; its output goes on stdout/stderr, the client's FIN
// on stdin ends the process's stdin, resize carries JSON TerminalSize objects one after
// another, and at the end the error stream carries the metav1.Status with the exit code.

/** The protocols served over SPDY, best first: v5 is WebSocket-only upstream. */
export const SPDY_REMOTECOMMAND_PROTOCOLS = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];

export interface SpdyRemoteCommandOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
  open(): Promise<StreamSession>;
  /** How long the client may take to open its streams (kubelet: streamCreationTimeout, 30 s). */
  streamTimeoutMs?: number;
}

/** The streams a request with these options must open. */
export function expectedStreams(o: Pick<SpdyRemoteCommandOptions, 'stdin' | 'stdout' | 'stderr' | 'tty'>): string[] {
  return ['error', ...(o.stdin ? ['stdin'] : []), ...(o.stdout ? ['stdout'] : []), ...(o.stderr && !o.tty ? ['stderr'] : []), ...(o.tty ? ['resize'] : [])];
}

/** Splits concatenated JSON objects (a Go json.Decoder stream) off the front of `buf`. */
export function splitJsonObjects(buf: string): { objects: string[]; rest: string } {
  const objects: string[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  let escaped = false;
  let consumed = 0;
  for (let i = 0; i < buf.length; i++) {
    const ch = buf[i];
    if (inString) {
      if (escaped) escaped = false;
      else if (ch === '\\') escaped = true;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === '{') {
      if (depth++ === 0) start = i;
    } else if (ch === '}' && depth > 0 && --depth === 0) {
      objects.push(buf.slice(start, i + 1));
      consumed = i + 1;
    }
  }
  return { objects, rest: buf.slice(consumed) };
}

export function serveSpdyRemoteCommand(conn: Duplex, o: SpdyRemoteCommandOptions, head?: Buffer): SpdySession {
  const want = expectedStreams(o);
  const streams = new Map<string, SpdyStream>();
  let started = false;
  const timer = setTimeout(() => {
    if (!started) session.close();
  }, o.streamTimeoutMs ?? 30_000);
  const session = new SpdySession(conn, (s) => {
    const type = s.headers.streamtype ?? '';
    if (started || !want.includes(type) || streams.has(type)) {
      s.reset(RST_REFUSED);
      return;
    }
    s.reply();
    s.on('error', () => undefined);
    streams.set(type, s);
    if (want.every((t) => streams.has(t))) {
      started = true;
      clearTimeout(timer);
      void run(session, streams, o);
    }
  }, head);
  session.onClose(() => clearTimeout(timer));
  return session;
}

async function run(session: SpdySession, streams: Map<string, SpdyStream>, o: SpdyRemoteCommandOptions): Promise<void> {
  const error = streams.get('error')!;
  error.resume(); // the client writes nothing there
  const finish = (st: ReturnType<typeof exitStatus>) => {
    for (const t of ['stdout', 'stderr']) streams.get(t)?.end();
    error.end(JSON.stringify(st));
    // The client closes the connection once it has read the status; this is the fallback.
    setTimeout(() => session.close(), 5_000).unref();
  };
  let cmd: StreamSession;
  try {
    cmd = await o.open();
  } catch (err) {
    finish(errorStatus((err as Error).message));
    return;
  }
  if (session.closed) {
    cmd.close();
    return;
  }
  session.onClose(() => cmd.close());
  const stdin = streams.get('stdin');
  if (stdin && cmd.stdin) {
    const sink = cmd.stdin;
    sink.on('error', () => undefined);
    stdin.pipe(sink);
  } else stdin?.resume();
  const resize = streams.get('resize');
  if (resize) {
    let pending = '';
    resize.setEncoding('utf8');
    resize.on('data', (chunk: string) => {
      const { objects, rest } = splitJsonObjects(pending + chunk);
      pending = rest.length > 4096 ? '' : rest;
      for (const obj of objects) {
        try {
          const v = JSON.parse(obj) as { Width?: unknown; Height?: unknown };
          const w = Number(v.Width);
          const h = Number(v.Height);
          if (Number.isInteger(w) && Number.isInteger(h) && w >= 0 && h >= 0 && w <= 65535 && h <= 65535) void cmd.resize(w, h);
        } catch {
          // not a TerminalSize: ignored, as kubelet logs and goes on
        }
      }
    });
  }
  const copy = (src: NodeJS.ReadableStream | undefined, dst: SpdyStream | undefined) => new Promise<void>((resolve) => {
    if (!src) return resolve();
    if (!dst) {
      src.resume();
      src.once('end', resolve);
      return;
    }
    src.once('end', resolve);
    src.once('error', () => resolve());
    src.pipe(dst, { end: false });
  });
  await Promise.all([copy(cmd.stdout, streams.get('stdout')), copy(cmd.stderr, streams.get('stderr'))]);
  let code: number;
  try {
    code = await cmd.exitCode;
  } catch (err) {
    cmd.close();
    finish(errorStatus((err as Error).message));
    return;
  }
  cmd.close();
  finish(exitStatus(code));
}
