import type { CoreEvent } from '../events.js';
import type { Logger } from '../log.js';
import { ApiRequestError, type ApiClient } from './client.js';

// The agent's events posted to the API server (client-go's event broadcaster, simply): a
// token bucket (kubelet's eventRecordQPS / eventBurst), the same event repeated becomes a
// patch of count and lastTimestamp, and a queue that drops the oldest when the API server
// is away for long.

export class EventPoster {
  private queue: CoreEvent[] = [];
  private posted = new Map<string, string>(); // our name -> name in the API (same)
  private tokens: number;
  private last = Date.now();
  private timer?: NodeJS.Timeout;
  private busy = false;
  readonly stats = { posted: 0, patched: 0, dropped: 0 };
  private reported = '';

  constructor(private readonly client: ApiClient, private readonly log: Logger, private readonly qps = 10, private readonly burst = 50, private readonly maxQueue = 1000) {
    this.tokens = burst;
  }

  start(): void {
    this.timer = setInterval(() => void this.flush(), 500);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  add(e: CoreEvent): void {
    this.queue = this.queue.filter((q) => q.metadata.name !== e.metadata.name);
    this.queue.push(structuredClone(e));
    if (this.queue.length > this.maxQueue) {
      this.queue.shift();
      this.stats.dropped++;
    }
    void this.flush();
  }

  private async flush(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      for (let e = this.queue[0]; e; e = this.queue[0]) {
        const now = Date.now();
        this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
        this.last = now;
        if (this.tokens < 1) return;
        try {
          await this.send(e);
          this.tokens--;
          this.queue.shift();
          this.reported = '';
        } catch (err) {
          if (err instanceof ApiRequestError && err.code >= 400 && err.code < 500 && err.code !== 429) {
            this.queue.shift(); // refused for good: do not block the rest
            this.stats.dropped++;
            continue;
          }
          const msg = (err as Error).message;
          if (msg !== this.reported) this.log.warn({ component: 'events' }, `events not posted: ${msg}`);
          this.reported = msg;
          return;
        }
      }
    } finally {
      this.busy = false;
    }
  }

  private async send(e: CoreEvent): Promise<void> {
    const ns = e.metadata.namespace;
    if (this.posted.has(e.metadata.name) && e.count > 1) {
      try {
        await this.client.request('PATCH', `/api/v1/namespaces/${ns}/events/${e.metadata.name}`, { count: e.count, lastTimestamp: e.lastTimestamp, message: e.message }, 'application/strategic-merge-patch+json');
        this.stats.patched++;
        return;
      } catch (err) {
        if (!(err instanceof ApiRequestError && err.code === 404)) throw err;
      }
    }
    const { uid: _u, creationTimestamp: _c, ...meta } = e.metadata;
    try {
      await this.client.request('POST', `/api/v1/namespaces/${ns}/events`, { ...e, metadata: meta });
    } catch (err) {
      if (!(err instanceof ApiRequestError && err.code === 409)) throw err;
    }
    this.posted.set(e.metadata.name, e.metadata.name);
    if (this.posted.size > 5000) this.posted.delete(this.posted.keys().next().value!);
    this.stats.posted++;
  }
}
