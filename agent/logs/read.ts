import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import type { CriLine } from './format.js';
import { parseCriLine, rfc3339Nano, splitLines } from './format.js';
import { tailLines } from './writer.js';

// Reading CRI log files back (kubelet's ReadLogs): what `bosun logs` prints and what the
// kubelet API's /containerLogs will serve. Like kubelet, only the live file of a container
// is read: rotated files are for log collectors.

export interface ReadOptions {
  /** Only the last N lines of the file (CRI lines, as kubelet counts them). */
  tail?: number;
  /** Prefix each line with its RFC3339Nano timestamp. */
  timestamps?: boolean;
}

/** Renders parsed lines as the container wrote them: a partial line continues in the next one. */
export class Renderer {
  private midLine = false;

  constructor(private readonly timestamps = false) {}

  render(lines: readonly CriLine[]): Buffer {
    const parts: Buffer[] = [];
    for (const l of lines) {
      if (this.timestamps && !this.midLine) parts.push(Buffer.from(`${rfc3339Nano(l.timestamp)} `));
      parts.push(l.content);
      if (!l.partial) parts.push(Buffer.from('\n'));
      this.midLine = l.partial;
    }
    return Buffer.concat(parts);
  }
}

function readWhole(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, size - off, off);
      if (n <= 0) break;
      off += n;
    }
    return buf.subarray(0, off);
  } finally {
    closeSync(fd);
  }
}

/** The file's lines (all, or the last `tail`), parsed; lines that are not CRI lines are skipped. */
export function readLogFile(path: string, tail?: number): { lines: CriLine[]; end: number } {
  const buf = readWhole(path);
  const { lines, rest } = splitLines(buf);
  const picked = tail === undefined ? lines : tail <= 0 ? [] : lines.slice(-tail);
  return { lines: picked.map(parseCriLine).filter((l): l is CriLine => !!l), end: buf.length - rest.length };
}

/**
 * kubelet's readLastStringFromContainerLogs for FallbackToLogsOnError: the last 80 lines of
 * the log, of which at most the last 2048 bytes.
 */
export function lastLogText(path: string, lines = 80, maxBytes = 2048): string {
  const raw = tailLines(path, 256 * 1024).slice(-lines).map(parseCriLine).filter((l): l is CriLine => !!l);
  const text = new Renderer(false).render(raw);
  return text.subarray(Math.max(0, text.length - maxBytes)).toString('utf8');
}

export interface FollowOptions {
  /** Byte offset to start from (where the first read stopped). */
  from: number;
  /** Called when there was nothing new for a while: resolve true to stop following. */
  idle(): Promise<boolean>;
  pollMs?: number;
  signal?: AbortSignal;
}

/**
 * Follows a log file as it grows, across rotations (the path then names a new file: the
 * old one is read to its end first, then the new one from its start).
 */
/**
 * onLines may return a promise (the client's writes draining): reading waits for it, so a
 * slow reader leaves the rest on disk instead of in memory.
 */
export async function followLogFile(path: string, onLines: (lines: CriLine[]) => void | Promise<void>, opts: FollowOptions): Promise<void> {
  let fd = openSync(path, 'r');
  let ino = fstatSync(fd).ino;
  let pos = opts.from;
  let rest: Buffer = Buffer.alloc(0);
  const chunk = Buffer.alloc(256 * 1024);
  const drain = async (): Promise<boolean> => {
    let got = false;
    while (!opts.signal?.aborted) {
      const n = readSync(fd, chunk, 0, chunk.length, pos);
      if (n <= 0) break;
      pos += n;
      got = true;
      const { lines, rest: r } = splitLines(rest.length ? Buffer.concat([rest, chunk.subarray(0, n)]) : Buffer.from(chunk.subarray(0, n)));
      rest = Buffer.from(r);
      const parsed = lines.map(parseCriLine).filter((l): l is CriLine => !!l);
      if (parsed.length) await onLines(parsed);
    }
    return got;
  };
  try {
    let quiet = 0;
    while (!opts.signal?.aborted) {
      let got = await drain();
      let rotated = false;
      try {
        rotated = statSync(path).ino !== ino;
      } catch {
        rotated = false; // between rename and create
      }
      if (rotated) {
        got = (await drain()) || got;
        closeSync(fd);
        fd = openSync(path, 'r');
        ino = fstatSync(fd).ino;
        pos = 0;
        rest = Buffer.alloc(0);
        continue;
      }
      if (got) {
        quiet = 0;
        continue;
      }
      // Asked only once in a while, so a quiet container costs little.
      if (++quiet % 5 === 0 && (await opts.idle())) {
        drain();
        return;
      }
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 200));
    }
  } finally {
    closeSync(fd);
  }
}
