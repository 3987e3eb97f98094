import type { KubeObject, Pod } from '../../manifests/index.js';
import { MAX_MANIFEST_BYTES } from '../../manifests/index.js';
import type { Logger } from '../log.js';
import { internalError, readManifestText } from './file.js';

// kubelet's HTTP manifest source (--manifest-url): polled every httpCheckFrequency, with
// ETag / If-None-Match so an unchanged document costs a 304. When the URL cannot be reached
// or serves something invalid, the last good set stays in force (the pods keep running)
// and the error is reported once until it changes.

export interface HttpSnapshot {
  pods: Pod[];
  objects: KubeObject[];
}

export class HttpSource {
  private etag?: string;
  private lastGood?: HttpSnapshot;
  private lastText?: string;
  private timer?: NodeJS.Timeout;
  private reported = '';
  private seenAt = new Map<string, Date>();
  private listed = false;
  private polling?: Promise<void>;

  constructor(
    private readonly url: string,
    private readonly headers: Record<string, string>,
    private readonly nodeName: string,
    private readonly log: Logger,
    private readonly onUpdate: (s: HttpSnapshot) => void,
    private readonly periodMs = 20_000,
    private readonly timeoutMs = 10_000,
  ) {}

  /** True once the URL answered with a usable document at least once. */
  get ready(): boolean {
    return this.listed;
  }

  async start(): Promise<void> {
    await this.poll();
    this.timer = setInterval(() => void this.poll(), this.periodMs);
  }

  /** kubelet's limit for a manifest body (maxConfigLength). */
  static readonly maxBytes = MAX_MANIFEST_BYTES;

  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * One request. Never rejects, and never runs twice at once: a server that stalls holds one
   * poll until the timeout (which covers the body too), and a poll that fails in our own
   * code is logged with its stack; the next tick starts afresh.
   */
  poll(): Promise<void> {
    this.polling ??= this.pollOnce()
      .catch((err: unknown) => this.problem(internalError(this.url, err, this.log)))
      .finally(() => (this.polling = undefined));
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    const signal = AbortSignal.timeout(this.timeoutMs);
    let res: Response;
    try {
      res = await fetch(this.url, {
        headers: { ...this.headers, ...(this.etag ? { 'if-none-match': this.etag } : {}) },
        signal,
        redirect: 'follow',
      });
    } catch (err) {
      return this.problem(`cannot reach ${this.url}: ${reason(err)}`);
    }
    if (res.status === 304 && this.lastGood) return this.problem('');
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      return this.problem(`${this.url}: HTTP ${res.status} ${res.statusText}`);
    }
    let text: string;
    try {
      text = await readLimited(res, HttpSource.maxBytes);
    } catch (err) {
      // A reset, a stall past the timeout, or a body over the limit: this body only.
      return this.problem(`${this.url}: reading the body: ${reason(err)}`);
    }
    // A server without ETags answers the same document again: as after a 304, the pods stay
    // the objects they were, so nothing downstream sees a change (kubelet's config merge sends
    // no update for a pod that did not change).
    if (text === this.lastText && this.lastGood) return this.problem('');
    const r = readManifestText(text, this.url, this.nodeName, (uid) => {
      let d = this.seenAt.get(uid);
      if (!d) this.seenAt.set(uid, (d = new Date()));
      return d;
    }, 'http');
    if (r.messages.length) return this.problem(r.messages.join('\n'));
    this.etag = res.headers.get('etag') ?? undefined;
    this.lastText = text;
    this.lastGood = { pods: r.pods, objects: r.objects };
    this.listed = true;
    this.problem('');
    this.onUpdate(this.lastGood);
  }

  private problem(message: string): void {
    if (message === this.reported) return;
    this.reported = message;
    if (message) this.log.error({ url: this.url, keptPrevious: !!this.lastGood }, `manifest URL: ${message}`);
    else this.log.info({ url: this.url }, 'manifest URL answering again');
  }
}

function reason(err: unknown): string {
  const e = err as Error;
  return e.cause instanceof Error ? e.cause.message : e.message;
}

class BodyTooLarge extends Error {}

/** The body as text, refusing (and dropping the connection) once it passes max bytes. */
async function readLimited(res: Response, max: number): Promise<string> {
  const declared = Number(res.headers.get('content-length'));
  if (declared > max) {
    await res.body?.cancel().catch(() => undefined);
    throw new BodyTooLarge(`Too long: ${declared} bytes: a manifest may have at most ${max} bytes`);
  }
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      throw new BodyTooLarge(`Too long: more than ${max} bytes: a manifest may have at most ${max} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
