import { Duplex } from 'node:stream';
import { constants as zc, createDeflate, createInflate, type Deflate, type Inflate } from 'node:zlib';
import { beforeFirst } from '../../base/index.js';

// The server side of SPDY/3.1 as kubectl port-forward speaks it (client-go's spdystream):
// enough of the protocol to accept streams the client opens, reply to them, carry their
// data both ways with half-close, answer pings and honour GOAWAY and RST_STREAM. No server
// push, no flow control (spdystream sends no WINDOW_UPDATE and ignores them), no priorities.
// kubectl 1.31+ tunnels this byte stream in WebSocket messages
// (subprotocol "SPDY/3.1+portforward.k8s.io"); older ones upgrade the HTTP connection
// to "SPDY/3.1" directly. The session runs over any Duplex either way.

const WORDS = ['options', 'head', 'post', 'put', 'delete', 'trace', 'accept', 'accept-charset', 'accept-encoding', 'accept-language', 'accept-ranges', 'age', 'allow', 'authorization', 'cache-control', 'connection', 'content-base', 'content-encoding', 'content-language', 'content-length', 'content-location', 'content-md5', 'content-range', 'content-type', 'date', 'etag', 'expect', 'expires', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'pragma', 'proxy-authenticate', 'proxy-authorization', 'range', 'referer', 'retry-after', 'server', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'user-agent', 'vary', 'via', 'warning', 'www-authenticate', 'method', 'get', 'status', '200 OK', 'version', 'HTTP/1.1', 'url', 'public', 'set-cookie', 'keep-alive', 'origin'];
const TAIL = '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.';

/** The SPDY/3 header compression dictionary (draft 3, 2.6.10.1): length-prefixed words, then text. */
export const SPDY_DICTIONARY: Buffer = (() => {
  const parts: Buffer[] = [];
  for (const w of WORDS) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(w.length);
    parts.push(len, Buffer.from(w, 'latin1'));
  }
  parts.push(Buffer.from(TAIL, 'latin1'));
  return Buffer.concat(parts);
})();

export const SYN_STREAM = 1;
export const SYN_REPLY = 2;
export const RST_STREAM = 3;
export const SETTINGS = 4;
export const PING = 6;
export const GOAWAY = 7;
export const HEADERS = 8;
export const WINDOW_UPDATE = 9;
export const FLAG_FIN = 0x01;
export const RST_PROTOCOL_ERROR = 1;
export const RST_REFUSED = 3;
export const RST_CANCEL = 5;

export type Frame =
  | { control: true; type: number; flags: number; data: Buffer }
  | { control: false; streamId: number; flags: number; data: Buffer };

/** Splits frames off the front of buf; `rest` is an incomplete frame. */
export function parseFrames(buf: Buffer): { frames: Frame[]; rest: Buffer } {
  const frames: Frame[] = [];
  let off = 0;
  while (buf.length - off >= 8) {
    const len = buf.readUIntBE(off + 5, 3);
    if (buf.length - off < 8 + len) break;
    const data = buf.subarray(off + 8, off + 8 + len);
    const flags = buf.readUInt8(off + 4);
    if (buf.readUInt8(off) & 0x80) {
      const version = buf.readUInt16BE(off) & 0x7fff;
      if (version !== 3) throw new SpdyError(`unsupported SPDY version ${version}`);
      frames.push({ control: true, type: buf.readUInt16BE(off + 2), flags, data });
    } else frames.push({ control: false, streamId: buf.readUInt32BE(off) & 0x7fffffff, flags, data });
    off += 8 + len;
  }
  return { frames, rest: buf.subarray(off) };
}

export class SpdyError extends Error {}

export function controlFrame(type: number, flags: number, data: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x8000 | 3, 0);
  h.writeUInt16BE(type, 2);
  h[4] = flags;
  h.writeUIntBE(data.length, 5, 3);
  return Buffer.concat([h, data]);
}

export function dataFrame(streamId: number, flags: number, data: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(streamId & 0x7fffffff, 0);
  h[4] = flags;
  h.writeUIntBE(data.length, 5, 3);
  return Buffer.concat([h, data]);
}

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

/** The uncompressed name/value block: count, then length-prefixed names and values. */
export function encodeHeaderBlock(headers: Record<string, string>): Buffer {
  const parts = [u32(Object.keys(headers).length)];
  for (const [k, v] of Object.entries(headers)) {
    const name = Buffer.from(k.toLowerCase(), 'utf8');
    const value = Buffer.from(v, 'utf8');
    parts.push(u32(name.length), name, u32(value.length), value);
  }
  return Buffer.concat(parts);
}

export function decodeHeaderBlock(b: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  if (b.length < 4) throw new SpdyError('short header block');
  const n = b.readUInt32BE(0);
  let off = 4;
  for (let i = 0; i < n; i++) {
    if (off + 4 > b.length) throw new SpdyError('short header block');
    const nl = b.readUInt32BE(off);
    off += 4;
    const name = b.subarray(off, off + nl).toString('utf8').toLowerCase();
    off += nl;
    if (off + 4 > b.length) throw new SpdyError('short header block');
    const vl = b.readUInt32BE(off);
    off += 4;
    if (off + vl > b.length) throw new SpdyError('short header block');
    // Several values are separated by NUL: the first is what port forwarding needs.
    out[name] = beforeFirst(b.subarray(off, off + vl).toString('utf8'), '\0');
    off += vl;
  }
  return out;
}

/**
 * A header block may not inflate past this (Go's net/http DefaultMaxHeaderBytes): a 255 KiB
 * SYN_STREAM of zeros inflates to hundreds of MiB otherwise.
 */
export const MAX_HEADER_BLOCK_BYTES = 1 << 20;

export class HeaderBlockTooLarge extends Error {}

/**
 * One zlib context per direction for the whole connection, flushed (SYNC) after each frame.
 * With `max`, an inflated block past it destroys the context (the session cannot go on
 * without it, and the caller ends it) instead of holding the output.
 */
function zlibStep(z: Inflate | Deflate, input: Buffer, max = Infinity): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > max) {
        z.off('data', onData);
        z.off('error', onError);
        z.destroy();
        reject(new HeaderBlockTooLarge(`header block inflates past ${max} bytes`));
        return;
      }
      chunks.push(c);
    };
    const onError = (err: Error) => {
      z.off('data', onData);
      reject(err);
    };
    z.on('data', onData);
    z.once('error', onError);
    z.write(input);
    z.flush(zc.Z_SYNC_FLUSH, () => {
      z.off('data', onData);
      z.off('error', onError);
      resolve(Buffer.concat(chunks));
    });
  });
}

/** A stream the client opened: a Duplex whose end sends FIN and whose readable ends on the client's FIN. */
export class SpdyStream extends Duplex {
  private replied = false;
  private localFin = false;
  remoteFin = false;

  constructor(
    private readonly session: SpdySession,
    readonly id: number,
    readonly headers: Record<string, string>,
  ) {
    super({ allowHalfOpen: true });
  }

  /** SYN_REPLY (empty headers): the client's CreateStream waits for it. */
  reply(): void {
    if (this.replied) return;
    this.replied = true;
    this.session.send(async () => controlFrame(SYN_REPLY, 0, Buffer.concat([u32(this.id), await this.session.compress({})])));
  }

  /** RST_STREAM: abandons the stream in both directions. */
  reset(status = RST_CANCEL): void {
    if (!this.localFin || !this.remoteFin) this.session.send(() => controlFrame(RST_STREAM, 0, Buffer.concat([u32(this.id), u32(status)])));
    this.localFin = true;
    this.remoteFin = true;
    this.destroy();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.reply();
    for (let off = 0; off < chunk.length; off += 65_536) {
      const part = chunk.subarray(off, Math.min(chunk.length, off + 65_536));
      this.session.send(() => dataFrame(this.id, 0, part));
    }
    this.session.whenWritable(cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.reply();
    this.localFin = true;
    this.session.send(() => dataFrame(this.id, FLAG_FIN, Buffer.alloc(0)));
    this.session.finished(this);
    cb();
  }

  override _read(): void {
    this.session.resumeInput();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.localFin || !this.remoteFin) {
      // Torn down before both sides finished (the pod's connection failed): tell the client.
      if (!this.session.closed) this.session.send(() => controlFrame(RST_STREAM, 0, Buffer.concat([u32(this.id), u32(RST_CANCEL)])));
      this.localFin = this.remoteFin = true;
    }
    this.session.finished(this);
    cb(err);
  }

  /** Called by the session when the client sent FIN. */
  remoteEnd(): void {
    if (this.remoteFin) return;
    this.remoteFin = true;
    this.push(null);
    this.session.finished(this);
  }

  get done(): boolean {
    return this.localFin && this.remoteFin;
  }
}

/**
 * One SPDY connection. `onStream` gets each stream the client opens (with its headers);
 * it must reply() or reset() it. The session ends when the connection does or the client
 * sends GOAWAY; close() ends it from this side.
 */
export class SpdySession {
  private readonly streams = new Map<number, SpdyStream>();
  private readonly inflate = createInflate({ dictionary: SPDY_DICTIONARY });
  private readonly deflate = createDeflate({ dictionary: SPDY_DICTIONARY });
  private pending: Buffer = Buffer.alloc(0);
  private inbound: Promise<void> = Promise.resolve();
  private outbound: Promise<void> = Promise.resolve();
  private lastStreamId = 0;
  closed = false;
  private readonly closeListeners: (() => void)[] = [];

  constructor(
    private readonly conn: Duplex,
    private readonly onStream: (s: SpdyStream) => void,
    head?: Buffer,
  ) {
    conn.on('data', (chunk: Buffer) => this.receive(chunk));
    conn.once('end', () => this.close());
    conn.once('close', () => this.close());
    conn.on('error', () => this.close());
    if (head && head.length) this.receive(head);
  }

  onClose(f: () => void): void {
    if (this.closed) f();
    else this.closeListeners.push(f);
  }

  get openStreams(): number {
    return this.streams.size;
  }

  /** Queues one outgoing frame; frames leave in the order they were queued. */
  send(make: () => Buffer | Promise<Buffer>): void {
    this.outbound = this.outbound.then(async () => {
      if (this.closed) return;
      const frame = await make();
      if (!this.closed && !this.conn.destroyed && this.conn.writable) this.conn.write(frame);
    }).catch(() => this.close());
  }

  /** Calls back once the queued frames are handed to the connection and it is not backed up. */
  whenWritable(cb: () => void): void {
    this.outbound = this.outbound.then(() => new Promise<void>((resolve) => {
      const go = () => {
        resolve();
        cb();
      };
      if (this.closed || !this.conn.writableNeedDrain) go();
      else this.conn.once('drain', go);
    }));
  }

  compress(headers: Record<string, string>): Promise<Buffer> {
    return zlibStep(this.deflate, encodeHeaderBlock(headers));
  }

  resumeInput(): void {
    if (this.conn.isPaused()) this.conn.resume();
  }

  finished(s: SpdyStream): void {
    if (s.done || s.destroyed) this.streams.delete(s.id);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.streams.values()) s.destroy();
    this.streams.clear();
    this.inflate.close();
    this.deflate.close();
    this.conn.destroy();
    for (const f of this.closeListeners.splice(0)) f();
  }

  private receive(chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let frames: Frame[];
    try {
      ({ frames, rest: this.pending } = parseFrames(this.pending));
    } catch {
      this.goAway(1);
      return;
    }
    for (const f of frames) this.inbound = this.inbound.then(() => this.handle(f)).catch(() => this.goAway(1));
  }

  private goAway(status: number): void {
    if (this.closed) return;
    this.send(() => controlFrame(GOAWAY, 0, Buffer.concat([u32(this.lastStreamId), u32(status)])));
    this.send(() => {
      setImmediate(() => this.close());
      return Buffer.alloc(0);
    });
  }

  private async handle(f: Frame): Promise<void> {
    if (this.closed) return;
    if (!f.control) {
      const s = this.streams.get(f.streamId);
      if (!s) return;
      if (f.data.length && !s.remoteFin && !s.push(Buffer.from(f.data))) this.conn.pause();
      if (f.flags & FLAG_FIN) s.remoteEnd();
      return;
    }
    switch (f.type) {
      case SYN_STREAM: {
        const id = f.data.readUInt32BE(0) & 0x7fffffff;
        // Every header block passes through the one inflate context, in order.
        const headers = decodeHeaderBlock(await zlibStep(this.inflate, f.data.subarray(10), MAX_HEADER_BLOCK_BYTES));
        if (id % 2 === 0 || id <= this.lastStreamId) {
          this.send(() => controlFrame(RST_STREAM, 0, Buffer.concat([u32(id), u32(RST_PROTOCOL_ERROR)])));
          return;
        }
        this.lastStreamId = id;
        const s = new SpdyStream(this, id, headers);
        this.streams.set(id, s);
        if (f.flags & FLAG_FIN) s.remoteEnd();
        this.onStream(s);
        return;
      }
      case SYN_REPLY:
      case HEADERS:
        await zlibStep(this.inflate, f.data.subarray(4), MAX_HEADER_BLOCK_BYTES);
        return;
      case RST_STREAM: {
        const s = this.streams.get(f.data.readUInt32BE(0) & 0x7fffffff);
        if (s) {
          s.remoteFin = true;
          s.destroy();
          this.streams.delete(s.id);
        }
        return;
      }
      case PING:
        // Client pings are odd; each is answered with the same frame.
        if (f.data.readUInt32BE(0) % 2 === 1) this.send(() => controlFrame(PING, 0, Buffer.from(f.data)));
        return;
      case GOAWAY:
        this.close();
        return;
      default:
        // SETTINGS, WINDOW_UPDATE and anything newer: nothing to do.
        return;
    }
  }
}
