// A container's output from the CRI log file containerd writes itself
// ("<RFC 3339 nano> <stdout|stderr> <P|F> <message>" per line), followed by polling until the
// container has exited and the file has been read to its end.

import { open, type FileHandle } from 'node:fs/promises';
import { RuntimeError, type ContainerStatus, type LogChunk, type LogFollower } from '../runtime.js';

const POLL_MS = 200;

/** "2024-05-01T10:00:00.1234Z" -> nanoseconds since the epoch (containerd trims zeros). */
export function timestampNs(ts: string): bigint {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(ts);
  if (!m) return -1n;
  return BigInt(Date.parse(`${m[1]}${m[3]}`)) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

/** Parses one CRI log line (without its "\n"); undefined when it is not one. */
export function parseCriLine(line: Buffer): LogChunk | undefined {
  const s1 = line.indexOf(0x20);
  const s2 = s1 < 0 ? -1 : line.indexOf(0x20, s1 + 1);
  const s3 = s2 < 0 ? -1 : line.indexOf(0x20, s2 + 1);
  if (s3 < 0 && !(s2 > 0 && s2 + 2 === line.length)) return undefined;
  const timestamp = line.subarray(0, s1).toString('latin1');
  const stream = line.subarray(s1 + 1, s2).toString('latin1');
  const tag = line.subarray(s2 + 1, s3 < 0 ? line.length : s3).toString('latin1');
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  const body = s3 < 0 ? Buffer.alloc(0) : line.subarray(s3 + 1);
  const partial = tag.split(':')[0] === 'P';
  return { stream, timestamp, data: partial ? Buffer.from(body) : Buffer.concat([body, Buffer.from('\n')]) };
}

export function followCriLog(
  id: string,
  status: () => Promise<ContainerStatus>,
  since: string | undefined,
  onChunk: (c: LogChunk) => void,
): LogFollower {
  let stopped = false;
  let wake: (() => void) | undefined;
  const sinceNs = since === undefined ? undefined : timestampNs(since);
  const done = (async () => {
    let st = await status(); // NotFound rejects done
    let fh: FileHandle | undefined;
    let pos = 0;
    let rest: Buffer = Buffer.alloc(0);
    const buf = Buffer.alloc(256 * 1024);
    try {
      while (!stopped) {
        if (!fh && st.logPath) fh = await open(st.logPath, 'r').catch(() => undefined);
        let got = 0;
        if (fh) {
          for (;;) {
            const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
            if (bytesRead === 0) break;
            pos += bytesRead;
            got += bytesRead;
            let data = Buffer.concat([rest, buf.subarray(0, bytesRead)]);
            let nl: number;
            while ((nl = data.indexOf(0x0a)) >= 0) {
              const chunk = parseCriLine(data.subarray(0, nl));
              data = data.subarray(nl + 1);
              if (chunk && (sinceNs === undefined || timestampNs(chunk.timestamp) >= sinceNs)) onChunk(chunk);
            }
            rest = Buffer.from(data);
          }
        }
        if (got === 0) {
          if (st.state === 'exited' || st.state === 'unknown') {
            // One more read after seeing it exited: containerd may still be flushing.
            await new Promise<void>((r) => setTimeout(r, POLL_MS));
            if (fh && (await fh.stat()).size > pos) continue;
            return;
          }
          await new Promise<void>((r) => {
            wake = r;
            setTimeout(r, POLL_MS);
          });
          try {
            st = await status();
          } catch (err) {
            if (err instanceof RuntimeError && err.code === 'NotFound') return; // removed
            throw err;
          }
        }
      }
    } finally {
      await fh?.close();
    }
  })();
  void id;
  return {
    done,
    stop() {
      stopped = true;
      wake?.();
    },
  };
}
