import type { KubeObject, Pod } from '../../manifests/index.js';
import type { Logger } from '../log.js';
import { readManifestText } from './file.js';

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
  private timer?: NodeJS.Timeout;
  private reported = '';
  private seenAt = new Map<string, Date>();
  private listed = false;

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

  stop(): void {
    clearInterval(this.timer);
  }

  async poll(): Promise<void> {
    let res: Response;
    try {
      res = await fetch(this.url, {
        headers: { ...this.headers, ...(this.etag ? { 'if-none-match': this.etag } : {}) },
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: 'follow',
      });
    } catch (err) {
      return this.problem(`cannot reach ${this.url}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`);
    }
    if (res.status === 304 && this.lastGood) return this.problem('');
    if (!res.ok) return this.problem(`${this.url}: HTTP ${res.status} ${res.statusText}`);
    const text = await res.text();
    const r = readManifestText(text, this.url, this.nodeName, (uid) => {
      let d = this.seenAt.get(uid);
      if (!d) this.seenAt.set(uid, (d = new Date()));
      return d;
    }, 'http');
    if (r.messages.length) return this.problem(r.messages.join('\n'));
    this.etag = res.headers.get('etag') ?? undefined;
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
