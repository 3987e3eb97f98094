import type { Logger } from '../log.js';
import { ApiRequestError, isStatus, type ApiClient, type WatchEvent } from './client.js';

// client-go's Reflector: list, then watch from the list's resourceVersion; every event and
// BOOKMARK moves the resourceVersion on; a watch that ends is resumed from it; 410 Gone (as
// an HTTP answer or an ERROR event inside the stream) means the history is gone: list again.
// Any other failure: back-off with jitter, then resume. The loop never stops until stop():
// that is the guard the JS client's informer lacks. Changes are delivered coalesced: the
// handler gets the whole current set, at most once per turn of the event loop.

export interface KObj {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export interface ReflectorOptions {
  client: ApiClient;
  /** Collection path, e.g. /api/v1/pods. */
  path: string;
  /** kind/apiVersion for list items (lists leave them out). */
  kind: string;
  apiVersion: string;
  fieldSelector?: string;
  log: Logger;
  onChange: (items: ReadonlyMap<string, KObj>) => void;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export function objKey(o: KObj): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}

export class Reflector {
  private items = new Map<string, KObj>();
  private rv = '';
  private running = false;
  private abort = new AbortController();
  private notifyQueued = false;
  private loop?: Promise<void>;
  private failures = 0;
  /** True once a list succeeded. */
  listed = false;
  /** Counters for tests and logs. */
  readonly stats = { lists: 0, watches: 0, bookmarks: 0, gone: 0, errors: 0 };
  private reported = '';

  constructor(private readonly o: ReflectorOptions) {}

  /** The objects as last listed and watched. */
  snapshot(): KObj[] {
    return [...this.items.values()];
  }

  get resourceVersion(): string {
    return this.rv;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.abort = new AbortController();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.abort.abort();
    await this.loop;
  }

  private query(extra: Record<string, string>): string {
    const q = new URLSearchParams({ ...(this.o.fieldSelector ? { fieldSelector: this.o.fieldSelector } : {}), ...extra });
    return `${this.o.path}?${q.toString()}`;
  }

  private async run(): Promise<void> {
    let needList = true;
    while (this.running) {
      try {
        if (needList) {
          await this.list();
          needList = false;
        }
        const began = Date.now();
        await this.watch();
        this.failures = 0;
        if (Date.now() - began < 1000) await this.sleep(1000); // a server that ends watches at once
      } catch (err) {
        if (!this.running) break;
        if (err instanceof ApiRequestError && err.code === 410) {
          this.stats.gone++;
          this.o.log.info({ resource: this.o.path, resourceVersion: this.rv }, 'watch: resourceVersion too old (410 Gone): listing again');
          needList = true;
          continue;
        }
        this.stats.errors++;
        this.failures++;
        const base = Math.min(this.o.maxBackoffMs ?? 8_000, (this.o.minBackoffMs ?? 800) * 2 ** Math.min(this.failures - 1, 10));
        const wait = base * (0.5 + Math.random()); // jitter: nodes do not come back in step
        const msg = (err as Error).message;
        if (msg !== this.reported) this.o.log.warn({ resource: this.o.path, retryInMs: Math.round(wait) }, `list/watch failed: ${msg}`);
        this.reported = msg;
        await this.sleep(wait);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const signal = this.abort.signal;
      const onAbort = () => { clearTimeout(t); r(); };
      // Removed when the timer fires: one listener per back-off would pile up during an outage.
      const t = setTimeout(() => { signal.removeEventListener('abort', onAbort); r(); }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private async list(): Promise<void> {
    const l = await this.o.client.request<{ metadata: { resourceVersion: string }; items: KObj[] }>('GET', this.query({}));
    this.stats.lists++;
    const next = new Map<string, KObj>();
    for (const it of l.items) next.set(objKey(it), { apiVersion: this.o.apiVersion, kind: this.o.kind, ...it });
    this.items = next;
    this.rv = l.metadata.resourceVersion;
    if (this.reported) this.o.log.info({ resource: this.o.path }, 'list/watch working again');
    this.reported = '';
    this.listed = true;
    this.notify();
  }

  private async watch(): Promise<void> {
    this.stats.watches++;
    const timeout = 240 + Math.floor(Math.random() * 120);
    const path = this.query({ watch: 'true', resourceVersion: this.rv, allowWatchBookmarks: 'true', timeoutSeconds: String(timeout) });
    await this.o.client.watch<KObj>(path, (e: WatchEvent<KObj>) => this.event(e), this.abort.signal, (timeout + 60) * 1000);
  }

  private event(e: WatchEvent<KObj>): void {
    if (e.type === 'ERROR') {
      const st = isStatus(e.object) ? e.object : undefined;
      throw new ApiRequestError(st?.code ?? 500, st?.reason ?? '', `watch ${this.o.path}: ${st?.message ?? 'error event'}`);
    }
    const rv = e.object?.metadata?.resourceVersion;
    if (e.type === 'BOOKMARK') {
      this.stats.bookmarks++;
      if (rv) this.rv = rv;
      return;
    }
    const o = { ...e.object, apiVersion: e.object.apiVersion ?? this.o.apiVersion, kind: e.object.kind ?? this.o.kind };
    if (e.type === 'DELETED') this.items.delete(objKey(o));
    else this.items.set(objKey(o), o);
    if (rv) this.rv = rv;
    if (this.reported) this.o.log.info({ resource: this.o.path }, 'list/watch working again');
    this.reported = '';
    this.notify();
  }

  private notify(): void {
    if (this.notifyQueued) return;
    this.notifyQueued = true;
    setImmediate(() => {
      this.notifyQueued = false;
      this.o.onChange(this.items);
    });
  }
}
