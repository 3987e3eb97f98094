// A container's output as the engine recorded it, followed live: Docker's logs endpoint with
// timestamps, demultiplexed into one LogChunk per engine message. The agent turns these into
// CRI log files (agent/logs); nothing here writes a file.

import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { matchGroups } from '../../base/index.js';
import { RuntimeError, type LogChunk, type LogFollower, type LogStream } from '../runtime.js';
import { engineMessage, isNotFound, statusCode, wrapEngineError } from './errors.js';

/** "2024-05-01T10:00:00.123456789Z" -> "1714557600.123456789", the form Docker's `since` takes. */
export function sinceParam(timestamp: string): string {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(timestamp);
  if (!m) throw new Error(`not an RFC 3339 timestamp: ${JSON.stringify(timestamp)}`);
  const seconds = Date.parse(`${m[1]}${m[3]}`) / 1000;
  return `${seconds}.${(m[2] ?? '').padEnd(9, '0')}`;
}

const TS = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})) /;

/** Splits "<timestamp> <message>" as the engine sends each message with timestamps on. */
export function splitTimestamp(payload: Buffer): { timestamp: string; data: Buffer } | undefined {
  const head = payload.subarray(0, 40).toString('latin1');
  const m = matchGroups(TS, head, 1);
  if (!m) return undefined;
  return { timestamp: m[1], data: payload.subarray(m[0].length) };
}

/**
 * Docker's multiplexed stream (stdcopy): frames of an 8-byte header (stream type, 3 zero
 * bytes, big-endian length) and a payload. The logs endpoint writes each message as one
 * frame, so a frame is a message. Feed it chunks; it calls back per complete frame.
 */
export class Demuxer {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly onFrame: (type: number, payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    let off = 0;
    while (this.buf.length - off >= 8) {
      const len = this.buf.readUInt32BE(off + 4);
      if (this.buf.length - off - 8 < len) break;
      this.onFrame(this.buf.readUInt8(off), this.buf.subarray(off + 8, off + 8 + len));
      off += 8 + len;
    }
    this.buf = off === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(off);
  }
}

/**
 * A TTY container's output is not multiplexed: messages follow each other as
 * "<timestamp> <text>", and only a newline ends one. Text after a newline that does not
 * start with a timestamp belongs to the message before it.
 */
export class RawSplitter {
  private rest: Buffer = Buffer.alloc(0);

  constructor(private readonly onMessage: (timestamp: string, data: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.rest = this.rest.length === 0 ? chunk : Buffer.concat([this.rest, chunk]);
    let nl: number;
    while ((nl = this.rest.indexOf(10)) >= 0) {
      const line = this.rest.subarray(0, nl + 1);
      this.rest = this.rest.subarray(nl + 1);
      const m = splitTimestamp(line);
      if (m) this.onMessage(m.timestamp, m.data);
    }
  }

  /** At the end: what is left is a message without a newline. */
  end(): void {
    const m = splitTimestamp(this.rest);
    if (m && m.data.length > 0) this.onMessage(m.timestamp, m.data);
    this.rest = Buffer.alloc(0);
  }
}

export function followLogs(
  docker: Docker,
  id: string,
  since: string | undefined,
  onChunk: (c: LogChunk) => void,
  onEngineError: (message: string) => void = () => undefined,
): LogFollower {
  let stream: Readable | undefined;
  let stopped = false;
  const done = (async () => {
    const c = docker.getContainer(id);
    let tty: boolean;
    try {
      tty = !!(await c.inspect()).Config.Tty;
      if (stopped) return;
      stream = (await c.logs({
        follow: true,
        stdout: true,
        stderr: true,
        timestamps: true,
        // A string keeps the nanoseconds; the engine parses "seconds.nanoseconds".
        ...(since ? { since: sinceParam(since) as unknown as number } : {}),
      })) as unknown as Readable;
    } catch (err) {
      // A container being removed ("dead or marked for removal") has no more output either.
      if (isNotFound(err) || statusCode(err) === 409) throw new RuntimeError('NotFound', `following the logs of container ${id}: ${engineMessage(err)}`, { cause: err });
      throw wrapEngineError(undefined, `following the logs of container ${id}`, err);
    }
    if (stopped) {
      stream.destroy();
      return;
    }
    const emit = (s: LogStream, timestamp: string, data: Buffer) => onChunk({ stream: s, timestamp, data: Buffer.from(data) });
    let feed: (b: Buffer) => void;
    let end = () => undefined as void;
    if (tty) {
      const raw = new RawSplitter((ts, data) => emit('stdout', ts, data));
      feed = (b) => raw.push(b);
      end = () => raw.end();
    } else {
      const demux = new Demuxer((type, payload) => {
        if (type === 3) {
          // The engine's own error ("Error grabbing logs: ..."), not the container's output.
          onEngineError(payload.toString('utf8').trim());
          return;
        }
        const m = splitTimestamp(payload);
        if (m) emit(type === 2 ? 'stderr' : 'stdout', m.timestamp, m.data);
      });
      feed = (b) => demux.push(b);
    }
    const s = stream;
    await new Promise<void>((resolve, reject) => {
      s.on('data', (b: Buffer) => feed(b));
      s.once('end', () => {
        end();
        resolve();
      });
      s.once('close', () => resolve());
      s.once('error', (err) => (stopped ? resolve() : reject(wrapEngineError(undefined, `following the logs of container ${id}`, err))));
    });
  })();
  return {
    done,
    stop: () => {
      stopped = true;
      stream?.destroy();
    },
  };
}

