import type { ContainerStatus as RuntimeContainer, LabelFilter, PodSandboxStatus, Runtime, RuntimeEvent } from '../../cri/index.js';
import type { Logger } from '../log.js';
import type { ObservedPod } from '../vocab/index.js';
import { L, podUidOf } from '../vocab/index.js';

// The pod cache (kubelet's PLEG + runtime cache): observed state is re-read from the engine
// every relist, never kept from what the agent did. Engine events only make the next
// relist come sooner; the 1 s relist is the safety net when an event is lost.
export class PodCache {
  private pods = new Map<string, ObservedPod>();
  private fingerprints = new Map<string, string>();
  private timer?: NodeJS.Timeout;
  private soon?: NodeJS.Timeout;
  private unsubscribe?: () => void;
  private running?: Promise<void>;
  private queued?: Promise<void>;
  private stopped = false;
  /** Time of the last successful relist (healthz reports the loop stuck after 3 min). */
  lastRelist = 0;
  lastRelistDurationMs = 0;
  /** Called after every successful relist with its duration (the PLEG relist metric). */
  onRelist?: (ms: number) => void;
  /**
   * The runtime's health (agent/runtime/health.ts), when the agent keeps one: engine events
   * come through it, no relist is tried while the engine is away (it probes the engine
   * itself), and a relist that fails because the engine went away is reported to it instead
   * of being logged every second.
   */
  health?: { ready(): boolean; failed(err: unknown, what: string): boolean; subscribe(onEvent: (e: RuntimeEvent) => void): () => void };

  constructor(
    private readonly runtime: Runtime,
    private readonly log: Logger,
    private readonly onChange: (uids: string[]) => void,
    private readonly nodeName: string,
    private readonly periodMs = 1000,
  ) {
    this.filter = { labels: { [L.node]: nodeName } };
  }

  /** This node's objects only: the engine may hold other agents' pods, whose churn is not ours to list. */
  private readonly filter: LabelFilter;

  get(uid: string): ObservedPod {
    return this.pods.get(uid) ?? { sandboxes: [], containers: [] };
  }

  uids(): string[] {
    return [...this.pods.keys()];
  }

  async start(): Promise<void> {
    await this.relist();
    if (this.health) this.unsubscribe = this.health.subscribe(() => this.relistSoon());
    else this.subscribe(1000);
    this.timer = setInterval(() => void this.relist(), this.periodMs);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.soon);
    this.unsubscribe?.();
  }

  private subscribe(retryMs: number): void {
    if (this.stopped) return;
    this.unsubscribe = this.runtime.subscribe(
      () => this.relistSoon(),
      (err) => {
        this.log.warn({ err: err.message }, 'runtime event stream ended; relying on relist until it is back');
        this.unsubscribe?.();
        setTimeout(() => this.subscribe(Math.min(retryMs * 2, 30_000)), retryMs).unref();
      },
      undefined,
      this.filter,
    );
  }

  /** Coalesces a burst of events into one relist. */
  private relistSoon(): void {
    if (!this.soon) this.soon = setTimeout(() => { this.soon = undefined; void this.relist(); }, 20);
  }

  /**
   * Serialized. The promise resolves after a relist that started after this call: the one
   * under way may have listed before the caller's change, so a call made meanwhile gets the
   * next one, shared by every call made before it starts. Never later than that: a worker
   * that plans again "from a view that includes what it just did" used to wait until nobody
   * asked for a relist any more, which, while engine events kept coming (of any container
   * on the host) and a relist took longer than they were apart, was never.
   */
  relist(): Promise<void> {
    if (!this.running) return (this.running = this.runOnce());
    this.queued ??= this.running.then(() => {
      this.queued = undefined;
      return (this.running = this.runOnce());
    });
    return this.queued;
  }

  private runOnce(): Promise<void> {
    const p: Promise<void> = this.relistOnce()
      .catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'relist failed'))
      .finally(() => {
        if (this.running === p) this.running = undefined;
      });
    return p;
  }

  private async relistOnce(): Promise<void> {
    if (this.stopped || (this.health && !this.health.ready())) return;
    const started = Date.now();
    let sandboxes: PodSandboxStatus[];
    let containers: RuntimeContainer[];
    try {
      [sandboxes, containers] = await Promise.all([this.runtime.listPodSandboxes(this.filter), this.runtime.listContainers(this.filter)]);
    } catch (err) {
      if (!this.health?.failed(err, 'relist')) this.log.warn({ err: (err as Error).message }, 'relist failed');
      return;
    }
    const next = new Map<string, ObservedPod>();
    const entry = (uid: string) => {
      let p = next.get(uid);
      if (!p) next.set(uid, (p = { sandboxes: [], containers: [] }));
      return p;
    };
    const mine = (x: { labels: Record<string, string> }) => x.labels[L.node] === this.nodeName;
    for (const s of sandboxes) {
      const uid = podUidOf(s);
      if (uid && mine(s)) entry(uid).sandboxes.push(s);
    }
    for (const c of containers) {
      const uid = podUidOf(c);
      if (uid && mine(c)) entry(uid).containers.push(c);
    }
    const changed: string[] = [];
    const prints = new Map<string, string>();
    for (const [uid, p] of next) {
      const fp = fingerprint(p);
      prints.set(uid, fp);
      if (this.fingerprints.get(uid) !== fp) changed.push(uid);
    }
    for (const uid of this.pods.keys()) if (!next.has(uid)) changed.push(uid);
    this.pods = next;
    this.fingerprints = prints;
    this.lastRelist = Date.now();
    this.lastRelistDurationMs = this.lastRelist - started;
    this.onRelist?.(this.lastRelistDurationMs);
    if (changed.length) this.onChange(changed);
  }
}

function fingerprint(p: ObservedPod): string {
  const parts = p.sandboxes.map((s) => `${s.id}:${s.state}:${s.ip ?? ''}`);
  for (const c of p.containers) parts.push(`${c.id}:${c.state}:${c.exitCode}:${c.startedAt}:${c.finishedAt}`);
  return parts.sort().join('|');
}
