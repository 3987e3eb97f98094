import { closeSync, createReadStream, createWriteStream, fstatSync, ftruncateSync, openSync, readdirSync, readSync, renameSync, writeSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { gunzipSync, createGzip } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { hasLength } from '../../base/index.js';
import type { RotationPolicy } from './format.js';
import { planRotated, resumePoint, rotatedFiles, rotatedName, shouldRotate, splitLines } from './format.js';

// One container's CRI log file, appended to and rotated by size: `n.log` is renamed to
// `n.log.<stamp>` and a new `n.log` started; older rotated files are gzipped and the oldest
// removed so that at most maxFiles files remain. Writes are synchronous and batched by the
// caller (one write per engine read), so a file never holds half a line unless the machine
// stops mid-write, and that half line is dropped on reopen.

/** Reads up to `max` bytes from the end of a file descriptor. */
function readTail(fd: number, size: number, max: number): Buffer {
  const len = Math.min(size, max);
  const buf = Buffer.alloc(len);
  let off = 0;
  while (off < len) {
    const n = readSync(fd, buf, off, len - off, size - len + off);
    if (n <= 0) break;
    off += n;
  }
  return buf.subarray(0, off);
}

/** The complete lines at the end of a file (at least one whole line when one exists). */
export function tailLines(path: string, want = 64 * 1024): Buffer[] {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return [];
  }
  try {
    const size = fstatSync(fd).size;
    for (let max = want; ; max *= 4) {
      const buf = readTail(fd, size, max);
      const { lines } = splitLines(buf);
      // The first piece may be cut: drop it unless the read started at the file's start.
      const whole = buf.length === size ? lines : lines.slice(1);
      if (whole.length > 0 || buf.length === size) return whole;
    }
  } finally {
    closeSync(fd);
  }
}

export class CriLogWriter {
  private fd: number;
  private size: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private housekeeping: Promise<void> = Promise.resolve();

  constructor(
    readonly path: string,
    private readonly policy: RotationPolicy,
    private readonly onError: (err: Error) => void = () => undefined,
    private readonly now: () => number = Date.now,
  ) {
    this.fd = openSync(path, 'a+', 0o640);
    this.size = fstatSync(this.fd).size;
    this.dropHalfLine();
  }

  /** A line cut by a crash mid-write would glue itself to the next one: cut it off. */
  private dropHalfLine(): void {
    if (this.size === 0) return;
    const tail = readTail(this.fd, this.size, 64 * 1024);
    if (tail[tail.length - 1] === 0x0a) return;
    const nl = tail.lastIndexOf(0x0a);
    if (nl < 0 && tail.length < this.size) return; // a single line longer than 64 KiB: leave it
    this.size = this.size - tail.length + nl + 1;
    ftruncateSync(this.fd, this.size);
  }

  /**
   * Where copying resumes: the last line's timestamp and how many lines at the end carry it
   * (from the newest rotated file when the live one is empty).
   */
  resumePoint(): { timestamp: string; count: number } | undefined {
    const here = resumePoint(tailLines(this.path));
    if (here) return here;
    const dir = dirname(this.path);
    const rotated = rotatedFiles(basename(this.path), safeReaddir(dir));
    const newest = rotated[rotated.length - 1];
    if (!newest) return undefined;
    const file = join(dir, newest);
    try {
      return resumePoint(newest.endsWith('.gz') ? splitLines(gunzipSync(readFileSync(file))).lines : tailLines(file));
    } catch {
      return undefined;
    }
  }

  /** Queues one formatted line; rotates first when it would not fit. */
  append(line: Buffer): void {
    if (shouldRotate(this.size + this.pendingBytes, line.length, this.policy)) {
      this.flush();
      this.rotate();
    }
    this.pending.push(line);
    this.pendingBytes += line.length;
  }

  flush(): void {
    if (this.pending.length === 0) return;
    const buf = hasLength(this.pending, 1) ? this.pending[0] : Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
    this.size += buf.length;
  }

  private rotate(): void {
    const dir = dirname(this.path);
    const base = basename(this.path);
    const target = join(dir, rotatedName(base, this.now(), new Set(safeReaddir(dir))));
    closeSync(this.fd);
    renameSync(this.path, target);
    this.fd = openSync(this.path, 'a+', 0o640);
    this.size = 0;
    this.housekeeping = this.housekeeping.then(() => this.cleanup(dir, base)).catch((err: Error) => this.onError(err));
  }

  /** Compresses and removes rotated files per the policy (in the background, serialized). */
  private async cleanup(dir: string, base: string): Promise<void> {
    const { remove, compress } = planRotated(rotatedFiles(base, safeReaddir(dir)), this.policy.maxFiles);
    for (const f of remove) await rm(join(dir, f), { force: true });
    for (const f of compress) {
      const src = join(dir, f);
      const tmp = `${src}.gz.tmp`;
      await pipeline(createReadStream(src), createGzip(), createWriteStream(tmp, { mode: 0o640 }));
      await rename(tmp, `${src}.gz`);
      await rm(src, { force: true });
    }
  }

  /** Resolves once background compression and removal are done (tests, shutdown). */
  settled(): Promise<void> {
    return this.housekeeping;
  }

  close(): void {
    try {
      this.flush();
    } finally {
      closeSync(this.fd);
    }
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
