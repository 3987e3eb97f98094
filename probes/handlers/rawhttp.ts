import { connect, type Socket } from 'node:net';
import { MAX_OUTPUT_BYTES, dialErrorText, errnoMessage, hardClose } from './common.js';

// One plain-HTTP GET on its own connection, written and read on a bare socket: what
// kubelet's probe transport does (a new connection per probe, keep-alive off), without
// node:http's request and response streams, header objects and parser per probe. At a probe
// every 2 s for each of a hundred pods that machinery was most of the agent's idle CPU.
// It reads what DoHTTPProbe needs: the status, Location, and at most 10 KiB of the body,
// framed by Content-Length, chunked encoding or the end of the connection.

export interface RawResponse {
  status: number;
  location?: string;
  body: string;
}

/** Go's transport default is 10 MiB; node:http's is 16 KiB. A probe needs neither. */
const MAX_HEAD_BYTES = 64 * 1024;
/** Go refuses more informational (1xx) answers before the real one. */
const MAX_1XX = 5;
/** A chunk-size or trailer line longer than this is not HTTP (Go: 4 KiB). */
const MAX_LINE = 4096;

/**
 * Every probe socket reads into this one buffer: its bytes are consumed (copied where they
 * must be kept) before the read callback returns, and callbacks never interleave.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** Refused by Go's client before anything is sent (httpguts.ValidHeaderFieldName/Value). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;

export class RawHttpError extends Error {}

/**
 * The request bytes in Go's order: Host, User-Agent, then the other headers sorted by name
 * (a list value as one line per value). Throws RawHttpError for a name or value Go refuses.
 */
export function requestBytes(path: string, host: string, headers: Record<string, string | string[] | number | undefined>): Buffer {
  let text = `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n`;
  const entries = Object.entries(headers).sort(([a], [b]) => {
    const ua = a.toLowerCase() === 'user-agent';
    const ub = b.toLowerCase() === 'user-agent';
    return ua !== ub ? (ua ? -1 : 1) : a < b ? -1 : a > b ? 1 : 0;
  });
  for (const [name, v] of entries) {
    if (v === undefined || name.toLowerCase() === 'host') continue;
    if (!TOKEN.test(name)) throw new RawHttpError(`net/http: invalid header field name ${JSON.stringify(name)}`);
    for (const value of Array.isArray(v) ? v : [String(v)]) {
      if (BAD_VALUE.test(value)) throw new RawHttpError(`net/http: invalid header field value for ${JSON.stringify(name)}`);
      text += `${name}: ${value}\r\n`;
    }
  }
  if (BAD_VALUE.test(host) || BAD_VALUE.test(path)) throw new RawHttpError('net/http: invalid Host header');
  return Buffer.from(`${text}\r\n`, 'utf8');
}

type Framing = { kind: 'length'; left: number } | { kind: 'close' } | { kind: 'chunked'; state: 'size' | 'data' | 'data-end' | 'trailer'; left: number; line: string };

interface Head {
  status: number;
  location?: string;
  framing: Framing;
}

/** The status line and the three headers that matter; throws RawHttpError as Go words it. */
export function parseHead(text: string): Head {
  const lines = text.split('\n');
  const first = lines[0]!.replace(/\r$/, '');
  // Go's ReadResponse: "HTTP/x.y", a space, three digits, then an optional reason.
  const m = /^HTTP\/\d\.\d (.*)$/.exec(first);
  if (!m) throw new RawHttpError(`malformed HTTP response ${JSON.stringify(first)}`);
  const code = m[1]!.split(' ')[0]!;
  if (!/^\d{3}$/.test(code)) throw new RawHttpError(`malformed HTTP status code ${JSON.stringify(code)}`);
  const status = Number(code);
  let location: string | undefined;
  let length: string | undefined;
  let chunked = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new RawHttpError(`malformed MIME header line: ${line}`);
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (name === 'location') location ??= value;
    else if (name === 'content-length') {
      if (!/^\d+$/.test(value)) throw new RawHttpError(`bad Content-Length ${JSON.stringify(value)}`);
      if (length !== undefined && length !== value) throw new RawHttpError(`http: message cannot contain multiple Content-Length headers; got ${JSON.stringify([length, value])}`);
      length = value;
    } else if (name === 'transfer-encoding') {
      if (value.toLowerCase() !== 'chunked') throw new RawHttpError(`unsupported transfer encoding: ${JSON.stringify(value)}`);
      chunked = true;
    }
  }
  let framing: Framing;
  if (status === 204 || status === 304 || (status >= 100 && status < 200 && status !== 101)) framing = { kind: 'length', left: 0 };
  else if (chunked) framing = { kind: 'chunked', state: 'size', left: 0, line: '' };
  else if (length !== undefined) framing = { kind: 'length', left: Number(length) };
  else framing = { kind: 'close' };
  return { status, ...(location !== undefined ? { location } : {}), framing };
}

/** Where the head ends: just past its blank line (CRLF or bare LF, as Go's reader takes both). */
function headEnd(b: Buffer): number {
  let from = 0;
  for (;;) {
    const nl = b.indexOf(10, from);
    if (nl < 0) return -1;
    if (b[nl + 1] === 10) return nl + 2;
    if (b[nl + 1] === 13 && b[nl + 2] === 10) return nl + 3;
    from = nl + 1;
  }
}

/**
 * One GET on a fresh connection, reset (not closed) once the answer is in, so that the
 * probing side keeps no TIME_WAIT socket. Rejects with RawHttpError carrying Go's wording
 * of what went wrong after `Get "url": `.
 */
export function rawGet(host: string, port: number, request: Buffer, deadline: number | undefined, signal?: AbortSignal): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let phase: 'connect' | 'headers' | 'body' = 'connect';
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let pending: Buffer | undefined;
    let seen = 0;
    let informational = 0;
    let head: Head | undefined;
    const body: Buffer[] = [];
    let bodyBytes = 0;

    const finish = (err: string | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      hardClose(socket);
      if (err !== undefined) reject(new RawHttpError(err));
      else resolve({ status: head!.status, ...(head!.location !== undefined ? { location: head!.location } : {}), body: (body.length === 1 ? body[0]! : Buffer.concat(body)).toString('utf8') });
    };
    const onAbort = () => finish('context canceled');

    /** Keeps up to 10 KiB of body; true once kubelet would stop reading. */
    const keep = (b: Buffer, start: number, end: number): boolean => {
      const n = Math.min(end - start, MAX_OUTPUT_BYTES - bodyBytes);
      if (n > 0) {
        body.push(Buffer.from(b.subarray(start, start + n)));
        bodyBytes += n;
      }
      return bodyBytes >= MAX_OUTPUT_BYTES;
    };

    /** Body bytes b[i..end): false when the exchange is over (finished or failed). */
    const onBody = (b: Buffer, i: number, end: number): boolean => {
      const f = head!.framing;
      if (f.kind === 'close') {
        if (keep(b, i, end)) finish(undefined);
        return !settled;
      }
      if (f.kind === 'length') {
        const n = Math.min(f.left, end - i);
        f.left -= n;
        if (keep(b, i, i + n) || f.left === 0) finish(undefined);
        return !settled;
      }
      while (i < end) {
        if (f.state === 'data') {
          const n = Math.min(f.left, end - i);
          f.left -= n;
          if (keep(b, i, i + n)) {
            finish(undefined);
            return false;
          }
          i += n;
          if (f.left === 0) f.state = 'data-end';
          continue;
        }
        // A line: the chunk size, the CRLF after a chunk's data, or a trailer.
        const nl = b.indexOf(10, i);
        const stop = nl < 0 || nl >= end ? end : nl;
        f.line += b.toString('latin1', i, stop);
        if (f.line.length > MAX_LINE) {
          finish('http: chunk line too long');
          return false;
        }
        i = stop;
        if (stop === end) break;
        i++;
        const line = f.line.replace(/\r$/, '');
        f.line = '';
        if (f.state === 'data-end') {
          if (line !== '') {
            finish('malformed chunked encoding');
            return false;
          }
          f.state = 'size';
        } else if (f.state === 'size') {
          const size = line.split(';')[0]!.trim();
          if (!/^[0-9a-fA-F]{1,16}$/.test(size)) {
            finish('invalid byte in chunk length');
            return false;
          }
          f.left = Number.parseInt(size, 16);
          f.state = f.left === 0 ? 'trailer' : 'data';
        } else if (line === '') {
          finish(undefined);
          return false;
        }
      }
      return true;
    };

    const onRead = (nread: number): boolean => {
      if (settled) return false;
      seen += nread;
      let b = READ_BUFFER.subarray(0, nread);
      let i = 0;
      while (!head) {
        if (pending) {
          b = Buffer.concat([pending, b.subarray(i)]);
          pending = undefined;
          i = 0;
        }
        const end = headEnd(i ? b.subarray(i) : b);
        if (end < 0) {
          if (b.length - i > MAX_HEAD_BYTES) {
            finish(`net/http: server response headers exceeded ${MAX_HEAD_BYTES} bytes; aborted`);
            return false;
          }
          pending = Buffer.from(b.subarray(i));
          return true;
        }
        let h: Head;
        try {
          h = parseHead(b.toString('latin1', i, i + end));
        } catch (err) {
          finish((err as Error).message);
          return false;
        }
        i += end;
        if (h.status >= 100 && h.status < 200 && h.status !== 101) {
          if (++informational > MAX_1XX) {
            finish('net/http: too many 1xx informational responses');
            return false;
          }
          continue;
        }
        head = h;
        phase = 'body';
        if (h.framing.kind === 'length' && h.framing.left === 0) {
          finish(undefined);
          return false;
        }
      }
      return onBody(b, i, b.length);
    };

    const socket: Socket = connect({
      host,
      port,
      // Half-open allowed: Node would otherwise answer the server's FIN with its own, and a
      // socket with a FIN queued can no longer be reset.
      allowHalfOpen: true,
      onread: { buffer: READ_BUFFER, callback: onRead },
    });
    // Flowing, so that the end of the stream is told ('end'): the bytes themselves all go to
    // onRead, never through the stream.
    socket.resume();
    socket.once('connect', () => {
      if (phase === 'connect') phase = 'headers';
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (phase === 'connect') finish(dialErrorText(host, port, err));
      else finish(errnoMessage(err));
    });
    socket.on('end', () => {
      if (!head) finish(seen === 0 && !pending ? 'EOF' : 'unexpected EOF');
      else if (head.framing.kind === 'close') finish(undefined);
      else finish('unexpected EOF');
    });
    socket.on('close', () => finish('unexpected EOF'));
    if (deadline !== undefined) {
      timer = setTimeout(() => {
        finish(`context deadline exceeded (${phase === 'body' ? 'Client.Timeout or context cancellation while reading body' : 'Client.Timeout exceeded while awaiting headers'})`);
      }, Math.max(0, deadline - Date.now()));
    }
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    socket.write(request);
  });
}
