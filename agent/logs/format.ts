// The CRI log format (kubelet pkg/kubelet/kuberuntime/logs, containerd's cio writer): one
// line per message, `<RFC3339Nano timestamp> <stdout|stderr> <F|P> <content>\n`, where P
// marks a partial line whose text continues in the next one. Plus the pure decisions of
// rotation (kubelet pkg/kubelet/logs/container_log_manager.go). Nothing here touches a file.

import type { LogStream } from '../../cri/index.js';

export interface CriLine {
  timestamp: string;
  stream: LogStream;
  /** P: the text continues in the next line of the same stream. */
  partial: boolean;
  /** The text, without the line's trailing newline. */
  content: Buffer;
}

const SPACE = 0x20;
const NL = 0x0a;

/** A message from the engine as one CRI line; a message without a trailing newline is partial. */
export function formatCriLine(timestamp: string, stream: LogStream, data: Buffer): Buffer {
  const full = data.length > 0 && data[data.length - 1] === NL;
  const content = full ? data.subarray(0, data.length - 1) : data;
  return Buffer.concat([Buffer.from(`${timestamp} ${stream} ${full ? 'F' : 'P'} `, 'latin1'), content, Buffer.from('\n')]);
}

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** Parses one line (without its newline); undefined for anything that is not a CRI log line. */
export function parseCriLine(line: Buffer): CriLine | undefined {
  const a = line.indexOf(SPACE);
  if (a < 0) return undefined;
  const b = line.indexOf(SPACE, a + 1);
  if (b < 0) return undefined;
  const timestamp = line.subarray(0, a).toString('latin1');
  const stream = line.subarray(a + 1, b).toString('latin1');
  if (!TIMESTAMP.test(timestamp) || (stream !== 'stdout' && stream !== 'stderr')) return undefined;
  // Old files (CRI before tags) have no tag: such a line is a full line.
  const tag = line.subarray(b + 1, b + 3).toString('latin1');
  if (tag === 'F ' || tag === 'P ' || (line.length === b + 2 && (tag === 'F' || tag === 'P'))) {
    return { timestamp, stream, partial: tag[0] === 'P', content: line.subarray(Math.min(b + 3, line.length)) };
  }
  return { timestamp, stream, partial: false, content: line.subarray(b + 1) };
}

/** Splits a buffer into lines (without newlines); a trailing piece without newline is `rest`. */
export function splitLines(buf: Buffer): { lines: Buffer[]; rest: Buffer } {
  const lines: Buffer[] = [];
  let start = 0;
  for (let nl = buf.indexOf(NL); nl >= 0; nl = buf.indexOf(NL, start)) {
    lines.push(buf.subarray(start, nl));
    start = nl + 1;
  }
  return { lines, rest: buf.subarray(start) };
}

/** Nanoseconds since the epoch, to compare timestamps of any precision exactly. */
export function timestampNanos(ts: string): bigint {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(ts);
  if (!m) throw new Error(`not an RFC 3339 timestamp: ${JSON.stringify(ts)}`);
  return BigInt(Date.parse(`${m[1]}${m[3]}`)) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

/** Go's RFC3339Nano (trailing zeros of the fraction dropped), as kubectl --timestamps prints. */
export function rfc3339Nano(ts: string): string {
  return ts.replace(/\.(\d*?)0+(Z|[+-])/, (_m, digits: string, z: string) => (digits ? `.${digits}${z}` : z));
}

/**
 * Where to resume copying after a restart: the last timestamp written and how many lines at
 * the end carry it (the engine's `since` includes that instant, so those are skipped again).
 */
export function resumePoint(lines: readonly Buffer[]): { timestamp: string; count: number } | undefined {
  let last: string | undefined;
  let count = 0;
  for (const line of [...lines].reverse()) {
    const l = parseCriLine(line);
    if (!l) continue;
    if (last === undefined) last = l.timestamp;
    else if (l.timestamp !== last) break;
    count++;
  }
  return last === undefined ? undefined : { timestamp: last, count };
}

export interface RotationPolicy {
  /** containerLogMaxSize in bytes. */
  maxSize: number;
  /** containerLogMaxFiles: the live file plus rotated ones. */
  maxFiles: number;
}

/** Rotate before appending `incoming` bytes when the file would pass the limit (never rotate an empty file). */
export function shouldRotate(currentSize: number, incoming: number, policy: RotationPolicy): boolean {
  return currentSize > 0 && currentSize + incoming > policy.maxSize;
}

/** kubelet's rotated-file stamp, "20060102-150405" (UTC here). */
export function rotationStamp(nowMs: number): string {
  const d = new Date(nowMs).toISOString();
  return `${d.slice(0, 4)}${d.slice(5, 7)}${d.slice(8, 10)}-${d.slice(11, 13)}${d.slice(14, 16)}${d.slice(17, 19)}`;
}

/**
 * The name for a file rotated now: `<base>.<stamp>`, or `<base>.<stamp>-001`... after
 * rotations in the same second, always sorting after every rotated file that exists (a
 * suffix freed by cleanup is never reused: the newest file must sort last).
 */
export function rotatedName(base: string, nowMs: number, taken: Iterable<string>): string {
  const stamp = `${base}.${rotationStamp(nowMs)}`;
  let max = -1;
  for (const t of taken) {
    const k = t.replace(/\.gz$/, '');
    if (k === stamp) max = Math.max(max, 0);
    else if (k.startsWith(`${stamp}-`) && /^\d{3}$/.test(k.slice(stamp.length + 1))) max = Math.max(max, Number(k.slice(stamp.length + 1)));
  }
  return max < 0 ? stamp : `${stamp}-${String(max + 1).padStart(3, '0')}`;
}

/** Rotated files of `base` among directory entries, oldest first. */
export function rotatedFiles(base: string, entries: readonly string[]): string[] {
  const key = (n: string) => n.replace(/\.gz$/, '');
  return entries
    .filter((n) => n.startsWith(`${base}.`) && /^\d{8}-\d{6}(-\d{3})?(\.gz)?$/.test(n.slice(base.length + 1)))
    .sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/**
 * After a rotation: the oldest rotated files beyond maxFiles - 1 go (the live file counts),
 * and every rotated file but the newest is compressed (kubelet keeps the newest plain).
 */
export function planRotated(rotated: readonly string[], maxFiles: number): { remove: string[]; compress: string[] } {
  const keep = Math.max(0, maxFiles - 1);
  const cut = Math.max(0, rotated.length - keep);
  const remove = rotated.slice(0, cut);
  const kept = rotated.slice(cut);
  const compress = kept.slice(0, -1).filter((n) => !n.endsWith('.gz'));
  return { remove, compress };
}

/** The restart count a container log file belongs to: `N.log` and its rotations `N.log.<stamp>[.gz]`. */
export function logFileAttempt(name: string): number | undefined {
  const m = /^(\d+)\.log(\..*)?$/.exec(name);
  const v = m ? Number(m[1]) : NaN;
  return Number.isSafeInteger(v) ? v : undefined;
}

/**
 * A container the engine no longer holds, which the agent did not remove (the engine lost
 * it), keeps its log files while its pod exists: kubelet deletes a container's logs only
 * when it removes the container itself, and the files are what the restart count and
 * `logs --previous` are recovered from. Like kubelet's container GC (one dead container per
 * name), only the newest such attempt stays: the files in the container's directory of
 * attempts older than `kept` that no container of the engine writes go.
 */
export function lostAttemptFilesToRemove(entries: readonly string[], kept: number, live: ReadonlySet<number>): string[] {
  return entries.filter((n) => {
    const a = logFileAttempt(n);
    return a !== undefined && a < kept && !live.has(a);
  });
}
