import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { StreamSession } from '../../cri/index.js';
import { status, type Status } from './api.js';

// Kubernetes' channel protocol over WebSocket (k8s.io/apimachinery wsstream, remotecommand):
// every binary message starts with a channel byte. exec/attach: 0 stdin, 1 stdout,
// 2 stderr, 3 error (a metav1.Status carrying the exit code), 4 resize ({"Width","Height"});
// v5 adds 255 = close one channel (the next byte names it: the client ending stdin).
// Port forwarding: per port a data channel (2i) and an error channel (2i+1), each opened by
// the server with the port as 2 little-endian bytes.

export const STDIN = 0;
export const STDOUT = 1;
export const STDERR = 2;
export const ERROR = 3;
export const RESIZE = 4;
export const CLOSE = 255;

export const V5 = 'v5.channel.k8s.io';
export const V4 = 'v4.channel.k8s.io';
export const CHANNEL_PROTOCOLS = [V5, V4];
/**
 * exec/attach also speak the older channel protocols kubelet keeps (remotecommand
 * websocket.go): the API server passes a client's WebSocket through to the node unchanged
 * unless it asks for v5, and upstream's e2e "remote command execution over websockets" asks
 * for channel.k8s.io. The base64 variants send text messages: the channel as an ASCII digit,
 * then the data in base64. Before v4 the error channel carries only a failure's message text.
 */
export const V4_BASE64 = 'v4.base64.channel.k8s.io';
export const V1 = 'channel.k8s.io';
export const V1_BASE64 = 'base64.channel.k8s.io';
export const EXEC_PROTOCOLS = [V5, V4, V4_BASE64, V1, V1_BASE64];

/** How one subprotocol puts a channel's bytes in a message and reads them back. */
export interface Framing {
  send(ws: WebSocket, channel: number, data: Buffer): void;
  read(data: Buffer, isBinary: boolean): { channel: number; body: Buffer } | undefined;
}

const BINARY: Framing = {
  send: (ws, channel, data) => ws.send(frame(channel, data), { binary: true }),
  read: (data, isBinary) => (isBinary && data.length > 0 ? { channel: data[0]!, body: data.subarray(1) } : undefined),
};

const BASE64: Framing = {
  send: (ws, channel, data) => ws.send(String.fromCharCode(48 + channel) + data.toString('base64'), { binary: false }),
  read: (data, isBinary) => {
    if (isBinary || data.length === 0) return undefined;
    const channel = data[0]! - 48;
    if (channel < 0 || channel > 9) return undefined;
    return { channel, body: Buffer.from(data.subarray(1).toString('latin1'), 'base64') };
  },
};

export function framing(protocol: string): Framing {
  return protocol === V1_BASE64 || protocol === V4_BASE64 ? BASE64 : BINARY;
}

/** The protocols whose error channel carries a JSON Status (v4 on); older ones a failure's text. */
function statusAsJson(protocol: string): boolean {
  return protocol === V5 || protocol === V4 || protocol === V4_BASE64;
}
/** SPDY/3.1 tunnelled in WebSocket messages (kubectl port-forward since 1.31). */
export const SPDY_TUNNEL_PREFIX = 'SPDY/3.1+';
export const PORT_FORWARD_PROTOCOL = 'portforward.k8s.io';

/** The first protocol the client offered that we speak (the client lists its preference first). */
export function pickProtocol(offered: Iterable<string>, supported: readonly string[]): string | undefined {
  for (const p of offered) if (supported.includes(p)) return p;
  return undefined;
}

export function frame(channel: number, data: Buffer | string): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data) : data;
  const out = Buffer.allocUnsafe(body.length + 1);
  out[0] = channel;
  body.copy(out, 1);
  return out;
}

/** The Status the error channel carries when the command ended with `code`. */
export function exitStatus(code: number): Status {
  if (code === 0) return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success' };
  return status(500, 'NonZeroExitCode', `command terminated with non-zero exit code: exit status ${code}`, {
    causes: [{ reason: 'ExitCode', message: String(code) }],
  });
}

export function errorStatus(message: string): Status {
  return status(500, 'InternalError', message);
}

/** A resize message: {"Width":80,"Height":24}; undefined when it is not one. */
export function parseResize(data: Buffer): { width: number; height: number } | undefined {
  try {
    const v = JSON.parse(data.toString('utf8')) as { Width?: unknown; Height?: unknown };
    const width = Number(v.Width);
    const height = Number(v.Height);
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0 || width > 65535 || height > 65535) return undefined;
    return { width, height };
  } catch {
    return undefined;
  }
}

/** Above this many buffered bytes on the socket, the producer is paused. */
const HIGH_WATER = 1 << 20;

/** Sends `src` on `channel`, pausing it while the WebSocket is behind. Resolves when src ends. */
export function pump(ws: WebSocket, src: NodeJS.ReadableStream, channel: number, f: Framing = BINARY): Promise<void> {
  return new Promise<void>((resolve) => {
    let waiting = false;
    const onData = (chunk: Buffer | string) => {
      if (ws.readyState !== ws.OPEN) return;
      f.send(ws, channel, typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      if (ws.bufferedAmount > HIGH_WATER && !waiting) {
        waiting = true;
        src.pause();
        const check = () => {
          if (ws.readyState !== ws.OPEN || ws.bufferedAmount <= HIGH_WATER / 2) {
            waiting = false;
            src.resume();
          } else setTimeout(check, 10).unref();
        };
        setTimeout(check, 10).unref();
      }
    };
    const done = () => {
      src.off('data', onData);
      resolve();
    };
    src.on('data', onData);
    src.once('end', done);
    src.once('close', done);
    src.once('error', done);
  });
}

export interface RemoteCommandOptions {
  protocol: string;
  stdin: boolean;
  /** Which output channels the client asked for (the first one gets the open notice). */
  stdout?: boolean;
  stderr?: boolean;
  tty: boolean;
  /** Called once with an error that happened before the session opened. */
  open(): Promise<StreamSession>;
  onClose?(): void;
}

/**
 * Serves one exec or attach over an accepted WebSocket: the session's output to the
 * client, the client's stdin and resizes to the session, then the exit Status on the error
 * channel and a normal close. When the client goes away first, the session is closed: the
 * process's stdin ends, the engine connection is freed.
 */
export async function serveRemoteCommand(ws: WebSocket, o: RemoteCommandOptions): Promise<void> {
  let session: StreamSession | undefined;
  let clientGone = false;
  const pendingInput: [Buffer, boolean][] = [];
  const f = framing(o.protocol);
  const finish = (st: Status) => {
    if (ws.readyState === ws.OPEN) {
      if (statusAsJson(o.protocol)) f.send(ws, ERROR, Buffer.from(JSON.stringify(st)));
      else if (st.status !== 'Success') f.send(ws, ERROR, Buffer.from(st.message ?? ''));
      ws.close(1000);
    }
  };
  // An empty message on the first writable channel tells the client the session is open
  // (kubelet's createWebSocketStreams does the same).
  f.send(ws, o.stdout ? STDOUT : o.stderr ? STDERR : ERROR, Buffer.alloc(0));
  const onMessage = (data: Buffer, isBinary: boolean) => {
    const m = f.read(data, isBinary);
    if (!m) return;
    const ch = m.channel;
    const body = m.body;
    if (!session) {
      pendingInput.push([Buffer.from(data), isBinary]);
      return;
    }
    if (ch === STDIN && session.stdin && !session.stdin.writableEnded) session.stdin.write(body);
    else if (ch === RESIZE) {
      const r = parseResize(body);
      if (r) void session.resize(r.width, r.height);
    } else if (ch === CLOSE && o.protocol === V5 && body[0] === STDIN) session.stdin?.end();
  };
  ws.on('message', onMessage);
  ws.once('close', () => {
    clientGone = true;
    session?.close();
    o.onClose?.();
  });
  try {
    session = await o.open();
  } catch (err) {
    finish(errorStatus((err as Error).message));
    return;
  }
  if (clientGone) {
    session.close();
    return;
  }
  // Input that came while the session was opening.
  for (const [m, isBinary] of pendingInput.splice(0)) onMessage(m, isBinary);
  const outputs = [session.stdout ? pump(ws, session.stdout, STDOUT, f) : undefined, session.stderr ? pump(ws, session.stderr, STDERR, f) : undefined];
  await Promise.all(outputs);
  let code: number;
  try {
    code = await session.exitCode;
  } catch (err) {
    session.close();
    finish(errorStatus((err as Error).message));
    return;
  }
  session.close();
  finish(exitStatus(code));
}

/**
 * kubelet's WebSocket port forwarding: for each port, the data channel carries the TCP
 * stream and the error channel any dial error; each is opened by sending the port number.
 */
export async function serveWebSocketPortForward(ws: WebSocket, ports: number[], dial: (port: number) => Promise<Duplex>): Promise<void> {
  const conns = new Map<number, Duplex>();
  const pending = new Map<number, Buffer[]>();
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    const ch = data[0];
    if (!isBinary || ch === undefined) return;
    if (ch % 2 !== 0 || ch / 2 >= ports.length) return;
    const c = conns.get(ch);
    if (c) c.write(data.subarray(1));
    else pending.get(ch)?.push(Buffer.from(data.subarray(1)));
  });
  ws.once('close', () => {
    for (const c of conns.values()) c.destroy();
    conns.clear();
  });
  ports.forEach((port, i) => {
    const le = Buffer.alloc(2);
    le.writeUInt16LE(port);
    ws.send(frame(2 * i, le), { binary: true });
    ws.send(frame(2 * i + 1, le), { binary: true });
    pending.set(2 * i, []);
  });
  await Promise.all(ports.map(async (port, i) => {
    let conn: Duplex;
    try {
      conn = await dial(port);
    } catch (err) {
      if (ws.readyState === ws.OPEN) ws.send(frame(2 * i + 1, (err as Error).message), { binary: true });
      return;
    }
    if (ws.readyState !== ws.OPEN) {
      conn.destroy();
      return;
    }
    conns.set(2 * i, conn);
    for (const b of pending.get(2 * i) ?? []) conn.write(b);
    pending.delete(2 * i);
    conn.on('error', () => undefined);
    await pump(ws, conn, 2 * i);
    conns.delete(2 * i);
    conn.destroy();
  }));
  if (ws.readyState === ws.OPEN) ws.close(1000);
}
