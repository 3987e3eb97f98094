import type { Readable } from 'node:stream';

/**
 * Docker's streaming endpoints (events, pull and load progress) send one JSON object per
 * line, but the socket's chunking is arbitrary: buffer until a newline.
 */
export function onJsonLines(stream: Readable, onObject: (o: unknown) => void): void {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line === '') continue;
      try {
        onObject(JSON.parse(line));
      } catch {
        // a line that is not JSON carries nothing we could act on
      }
    }
  });
  stream.on('end', () => {
    const line = buf.trim();
    buf = '';
    if (line !== '') {
      try {
        onObject(JSON.parse(line));
      } catch {
        // ignore, as above
      }
    }
  });
}

/** Reads a progress stream to its end; rejects with the first `{"error": ...}` line. */
export function drainProgress(stream: Readable, onObject?: (o: Record<string, unknown>) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let failed: string | undefined;
    onJsonLines(stream, (o) => {
      if (typeof o !== 'object' || o === null) return;
      const rec = o as Record<string, unknown>;
      if (failed === undefined && typeof rec.error === 'string') failed = rec.error;
      onObject?.(rec);
    });
    stream.once('error', reject);
    stream.once('end', () => (failed !== undefined ? reject(new Error(failed)) : resolve()));
  });
}
