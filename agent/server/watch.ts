// Watches on a standalone node (`kubectl get -w`, `kubectl delete`'s wait): the served
// objects of a resource are compared with what was last seen, and each difference becomes
// an ADDED, MODIFIED or DELETED event with a resourceVersion from one counter. The agent
// keeps no write log to replay, so the feed is computed: on every read of the resource, and
// every POLL_MS while someone watches it.

export interface Meta {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  resourceVersion?: string;
}
export interface Served {
  metadata: Meta;
}
export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';
export interface Change {
  type: EventType;
  object: Served;
  rv: number;
}

const POLL_MS = 500;
/** Deletions remembered for watches that start from an older resourceVersion. */
const MAX_TOMBSTONES = 1000;

interface Seen {
  fingerprint: string;
  rv: number;
  object: Served;
}

const keyOf = (o: Served) => `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;

/** The object as served: its resourceVersion is the feed's. */
function withRV(o: Served, rv: number): Served {
  return { ...o, metadata: { ...o.metadata, resourceVersion: String(rv) } };
}

export class ChangeFeed {
  private rev = 1;
  private state = new Map<string, Map<string, Seen>>();
  private tombstones = new Map<string, Change[]>();
  private subs = new Set<{ resource: string; fn: (c: Change) => void }>();
  private running = new Map<string, Promise<void>>();
  private timer?: NodeJS.Timeout;

  constructor(private readonly read: (resource: string) => Promise<Served[]>, private readonly pollMs = POLL_MS) {}

  /** Reads the resource now, tells its watchers what changed, and returns the objects with their resourceVersions. */
  async sync(resource: string): Promise<{ items: Served[]; rv: string }> {
    // One pass at a time per resource: two interleaved passes would number one change twice.
    const prev = this.running.get(resource) ?? Promise.resolve();
    const pass = prev.then(() => this.pass(resource));
    this.running.set(resource, pass.catch(() => undefined));
    await pass;
    const seen = this.state.get(resource)!;
    return { items: [...seen.values()].map((s) => withRV(s.object, s.rv)), rv: String(this.rev) };
  }

  private async pass(resource: string): Promise<void> {
    const objects = await this.read(resource);
    const before = this.state.get(resource);
    const after = new Map<string, Seen>();
    const changes: Change[] = [];
    for (const o of objects) {
      const k = keyOf(o);
      const fingerprint = JSON.stringify({ ...o, metadata: { ...o.metadata, resourceVersion: undefined } });
      const old = before?.get(k);
      if (old && old.fingerprint === fingerprint) {
        after.set(k, old);
        continue;
      }
      const rv = ++this.rev;
      after.set(k, { fingerprint, rv, object: o });
      // The first read of a resource is its starting point, not a change.
      if (before) changes.push({ type: old ? 'MODIFIED' : 'ADDED', object: withRV(o, rv), rv });
    }
    for (const [k, old] of before ?? []) {
      if (after.has(k)) continue;
      const rv = ++this.rev;
      const c: Change = { type: 'DELETED', object: withRV(old.object, rv), rv };
      changes.push(c);
      const t = this.tombstones.get(resource) ?? [];
      t.push(c);
      if (t.length > MAX_TOMBSTONES) t.shift();
      this.tombstones.set(resource, t);
    }
    this.state.set(resource, after);
    for (const c of changes) for (const s of this.subs) if (s.resource === resource) s.fn(c);
  }

  /**
   * The changes after `since` that can still be told (objects changed since, and remembered
   * deletions), in resourceVersion order: what a watch starting at an older version missed.
   */
  since(resource: string, since: number): Change[] {
    const out: Change[] = [];
    for (const s of this.state.get(resource)?.values() ?? []) if (s.rv > since) out.push({ type: 'MODIFIED', object: withRV(s.object, s.rv), rv: s.rv });
    for (const t of this.tombstones.get(resource) ?? []) if (t.rv > since) out.push(t);
    return out.sort((a, b) => a.rv - b.rv);
  }

  subscribe(resource: string, fn: (c: Change) => void): () => void {
    const sub = { resource, fn };
    this.subs.add(sub);
    this.timer ??= setInterval(() => {
      for (const r of new Set([...this.subs].map((s) => s.resource))) void this.sync(r).catch(() => undefined);
    }, this.pollMs);
    return () => {
      this.subs.delete(sub);
      if (!this.subs.size) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  get watchers(): number {
    return this.subs.size;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.subs.clear();
  }
}
