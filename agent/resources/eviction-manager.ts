import type { Pod } from '../../manifests/index.js';
import type { Clock } from '../../base/index.js';
import type { Logger } from '../log.js';
import { containerRequests, valueOf } from './compute.js';
import type { EvictionState, Observations, PodUsage } from './eviction.js';
import { EMPTY_STATE, evaluate, evictionMessage, rankForEviction } from './eviction.js';
import type { NodeConditionType, Signal, Threshold } from './thresholds.js';
import { SIGNAL_RESOURCE } from './thresholds.js';

// The eviction manager's loop (eviction_manager.go synchronize): every monitoring period,
// observe the signals, update the pressure conditions, and when a threshold has been crossed
// for its grace period, first try to reclaim at node level (unused images for the image
// filesystem), then evict one pod: the first of the ranking. At most one pod per period, so
// that the next check sees what the last eviction gave back.

/** kubelet's immediateEvictionGracePeriodSeconds: hard thresholds do not wait. */
export const HARD_EVICTION_GRACE_SECONDS = 1;

export interface PodStats {
  /** Use of the resource the signal is about, for the whole pod. */
  usage: number;
  /** Per container, for the eviction message. */
  containers: { name: string; usage?: number }[];
}

export interface EvictionDeps {
  thresholds: readonly Threshold[];
  monitoringPeriodMs: number;
  pressureTransitionPeriodMs: number;
  /** evictionMaxPodGracePeriod: the grace of a soft eviction (capped by the pod's own). */
  maxPodGracePeriodSeconds: number;
  clock: Clock;
  log: Logger;
  observe(): Promise<Observations>;
  /** Pods that may be evicted: admitted, not finished, not evicted already. */
  activePods(): Pod[];
  /** The pod's use of the resource behind `signal`. */
  podStats(pod: Pod, signal: Signal): Promise<PodStats>;
  /** What the pod requests of the resource behind `signal` (bytes for memory and storage, 0 else). */
  podRequest(pod: Pod, signal: Signal): number;
  /** Node-level reclaim (image GC for disk signals); resolves when done. */
  reclaim?(signal: Signal): Promise<void>;
  evict(pod: Pod, e: { message: string; graceSeconds: number; signal: Signal }): Promise<void>;
  /** Called with the conditions after every check. */
  onConditions?(conditions: ReadonlySet<NodeConditionType>, previous: ReadonlySet<NodeConditionType>): void;
}

export class EvictionManager {
  private state: EvictionState = EMPTY_STATE;
  private current = new Set<NodeConditionType>();
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;
  private readonly warnedUnobserved = new Set<Signal>();

  constructor(private readonly d: EvictionDeps) {}

  start(): void {
    if (this.d.thresholds.length === 0) return;
    const tick = () => {
      if (!this.running) this.running = this.synchronize().catch((err: Error) => this.d.log.warn({ err: err.message }, 'eviction check failed')).finally(() => (this.running = undefined));
    };
    tick();
    this.timer = setInterval(tick, this.d.monitoringPeriodMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  conditions(): ReadonlySet<NodeConditionType> {
    return this.current;
  }

  /** One check; returns the evicted pod, if any. */
  async synchronize(): Promise<Pod | undefined> {
    let observations = await this.d.observe();
    for (const t of this.d.thresholds) {
      if (!observations[t.signal] && !this.warnedUnobserved.has(t.signal)) {
        this.warnedUnobserved.add(t.signal);
        this.d.log.warn({ signal: t.signal }, 'eviction signal cannot be observed on this node: its threshold is not enforced');
      }
    }
    let now = this.d.clock.now();
    let e = evaluate(this.d.thresholds, observations, this.state, now, this.d.pressureTransitionPeriodMs);
    this.state = e.state;
    this.setConditions(e.conditions);
    const threshold = e.actionable[0];
    if (!threshold) return undefined;

    if (this.d.reclaim && threshold.signal !== 'memory.available' && threshold.signal !== 'pid.available') {
      await this.d.reclaim(threshold.signal);
      observations = await this.d.observe();
      now = this.d.clock.now();
      e = evaluate(this.d.thresholds, observations, this.state, now, this.d.pressureTransitionPeriodMs);
      if (!e.actionable.some((t) => t.signal === threshold.signal)) {
        this.d.log.info({ signal: threshold.signal }, 'eviction manager: node-level reclaim resolved the pressure; no pod evicted');
        return undefined;
      }
    }

    const candidates = this.d.activePods();
    if (candidates.length === 0) {
      this.d.log.warn({ signal: threshold.signal }, 'eviction manager: no pod to evict');
      return undefined;
    }
    const ranked = rankForEviction(await Promise.all(candidates.map(async (pod): Promise<PodUsage & { stats: PodStats }> => {
      const stats = await this.d.podStats(pod, threshold.signal).catch(() => ({ usage: 0, containers: [] }));
      return { pod, usage: stats.usage, request: this.d.podRequest(pod, threshold.signal), stats };
    })));
    const victim = ranked[0]!;
    const resource = SIGNAL_RESOURCE[threshold.signal];
    const containers = victim.stats.containers.map((c) => ({ ...c, request: requestOf(victim.pod, c.name, resource) }));
    const message = evictionMessage(threshold, observations[threshold.signal], containers);
    const own = victim.pod.spec.terminationGracePeriodSeconds ?? 30;
    const graceSeconds = threshold.hard ? HARD_EVICTION_GRACE_SECONDS : Math.min(this.d.maxPodGracePeriodSeconds, own);
    this.d.log.warn({ pod: `${victim.pod.metadata.namespace}/${victim.pod.metadata.name}`, podUID: victim.pod.metadata.uid, signal: threshold.signal, usage: victim.usage, ranking: ranked.map((r) => r.pod.metadata.name) }, `eviction manager: evicting pod: ${message}`);
    await this.d.evict(victim.pod, { message, graceSeconds, signal: threshold.signal });
    return victim.pod;
  }

  private setConditions(next: Set<NodeConditionType>): void {
    const prev = this.current;
    const changed = next.size !== prev.size || [...next].some((c) => !prev.has(c));
    this.current = next;
    if (changed) {
      for (const c of next) if (!prev.has(c)) this.d.log.warn({ condition: c }, `node condition ${c} is now True`);
      for (const c of prev) if (!next.has(c)) this.d.log.info({ condition: c }, `node condition ${c} is now False`);
      this.d.onConditions?.(next, prev);
    }
  }
}

/** A container's request of a resource (requests defaulted from limits); 0 when none. */
function requestOf(pod: Pod, container: string, resource: string): number {
  const c = pod.spec.containers.find((x) => x.name === container);
  return c ? valueOf(containerRequests(c)[resource]) : 0;
}
