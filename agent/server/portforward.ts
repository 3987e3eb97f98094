import type { Duplex } from 'node:stream';
import { RST_REFUSED, SpdySession, type SpdyStream } from './spdy.js';

// kubectl port-forward over SPDY (kubelet's httpStreamHandler): for every local connection
// the client opens an error stream and a data stream carrying the same requestID and port.
// Once both are there the pod's port is dialled and the data stream is spliced to it; a
// dial error is written on the error stream. Closing the error stream tells the client the
// forwarded connection is over.

export interface PortForwardOptions {
  dial(port: number): Promise<Duplex>;
  /** How long the second stream of a pair may take (kubelet: streamCreationTimeout). */
  pairTimeoutMs?: number;
  onConnection?(port: number): void;
}

interface Pair {
  data?: SpdyStream;
  error?: SpdyStream;
  timer: NodeJS.Timeout;
}

export function servePortForward(conn: Duplex, opts: PortForwardOptions, head?: Buffer): SpdySession {
  const pairs = new Map<string, Pair>();
  const session = new SpdySession(conn, (s) => {
    const type = s.headers.streamtype;
    const port = Number(s.headers.port);
    const id = s.headers.requestid ?? '';
    if ((type !== 'data' && type !== 'error') || !Number.isInteger(port) || port < 1 || port > 65535) {
      s.reset(RST_REFUSED);
      return;
    }
    s.reply();
    let p = pairs.get(id);
    if (!p) {
      p = {
        timer: setTimeout(() => {
          pairs.delete(id);
          p?.data?.reset();
          p?.error?.reset();
        }, opts.pairTimeoutMs ?? 30_000),
      };
      pairs.set(id, p);
    }
    if (p[type]) {
      s.reset(RST_REFUSED);
      return;
    }
    p[type] = s;
    if (p.data && p.error) {
      clearTimeout(p.timer);
      pairs.delete(id);
      void forward(p.data, p.error, port, opts);
    }
  }, head);
  session.onClose(() => {
    for (const p of pairs.values()) clearTimeout(p.timer);
    pairs.clear();
  });
  return session;
}

async function forward(data: SpdyStream, error: SpdyStream, port: number, opts: PortForwardOptions): Promise<void> {
  // The client never writes on the error stream; its FIN may already have come.
  error.resume();
  let pod: Duplex;
  try {
    pod = await opts.dial(port);
  } catch (err) {
    error.end(`error forwarding port ${port}: ${(err as Error).message}`);
    data.end();
    data.resume();
    return;
  }
  opts.onConnection?.(port);
  if (data.destroyed) {
    pod.destroy();
    return;
  }
  pod.on('error', () => undefined);
  data.on('error', () => undefined);
  const podDone = new Promise<void>((r) => {
    pod.once('end', r);
    pod.once('close', r);
  });
  const dataClosed = new Promise<void>((r) => data.once('close', r));
  // Client -> pod, with the client's FIN as a half-close of the TCP connection.
  data.pipe(pod);
  // Pod -> client; the pod closing its side sends FIN on the data stream.
  pod.pipe(data);
  // Once the pod's side is over the error stream closes: the client waits for that before
  // it closes its local connection (as kubelet ends the forward when the pod side ends).
  await Promise.race([podDone, dataClosed]);
  if (!error.destroyed) error.end();
  if (!data.readableEnded && !data.destroyed) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([dataClosed, new Promise<void>((r) => data.once('end', r)), new Promise<void>((r) => (timer = setTimeout(r, 5_000)))]);
    clearTimeout(timer);
  }
  pod.destroy();
}
