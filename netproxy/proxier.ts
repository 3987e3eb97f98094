// The proxy loop, with kube-proxy's sync model (pkg/proxy/iptables/proxier.go,
// syncProxyRules and its needFullSync / FullSyncPeriod): every change is programmed by a
// partial sync, at most one per minSyncPeriod; every syncPeriod the canary is checked and
// a partial sync runs; a full sync runs only at the start, after a failed sync, when the
// canary is gone (someone flushed our rules), and otherwise at most once per
// fullSyncPeriod (an hour). Keeps the numbers the agent exports as metrics. Time comes
// from an injected clock. The packet filter behind it is a Dataplane (iptables, nftables).

import { type LogSink, silentSink, systemClock, type Timers } from '../base/index.js';
import { staleConntrackEntries } from './conntrack.js';
import type { Dataplane, SyncStats } from './dataplane.js';
import { IptablesDataplane } from './iptables/dataplane.js';
import type { IptablesBackend } from './iptables/executor.js';
import type { IptablesOptions, Ruleset } from './iptables/render.js';
import type { ProxyState } from './model.js';
import { type ServicePortInfo, newServicePortsCache, servicePorts } from './ports.js';

export interface ProxierOptions {
  /** The packet filter to program; default iptables through `backend`. */
  dataplane?: Dataplane;
  /** iptables mode: the executor (tests pass a fake). Ignored with `dataplane`. */
  backend?: IptablesBackend;
  clock?: Timers;
  /** Endpoints on this node count as local (traffic policy Local). */
  nodeName?: string;
  /** iptables mode: rendering options; randomFully is detected. Ignored with `dataplane`. */
  iptables?: Omit<IptablesOptions, 'randomFully'>;
  /** Period of the canary check and the (partial) periodic sync. Default 30 s. */
  syncPeriodMs?: number;
  /** A full rewrite at most this often when nothing forces one. Default 1 h (upstream's FullSyncPeriod). */
  fullSyncPeriodMs?: number;
  /** Minimum time between two syncs. Default 1 s. */
  minSyncPeriodMs?: number;
  log?: LogSink;
}

export interface ProxierMetrics {
  syncs: number;
  fullSyncs: number;
  partialSyncs: number;
  failedSyncs: number;
  partialRestoreFailures: number;
  /** Times the health check found our rules removed or flushed by someone else. */
  outsideFlushes: number;
  conntrackDeletions: number;
  lastSyncDurationMs: number;
  /** Whether the last sync was a full one (for the full/partial duration histograms). */
  lastSyncFull: boolean;
  lastSyncAtMs: number;
  lastFullSyncAtMs: number;
  natRules: number;
  filterRules: number;
  rulesetLines: number;
  rulesetBytes: number;
  /** Last observed change-to-programmed latency. */
  lastNetworkProgrammingLatencyMs: number;
}

const MAX_LATENCY_SAMPLES = 1000;

const sameObjects = <T>(a: readonly T[], b: readonly T[]) => a === b || (a.length === b.length && a.every((x, i) => x === b[i]));

export class Proxier {
  private readonly dp: Dataplane;
  private readonly clock: Timers;
  private readonly syncPeriod: number;
  private readonly fullSyncPeriod: number;
  private readonly minSyncPeriod: number;
  private readonly log: LogSink;
  private desired?: ProxyState;
  private changeTimes: number[] = [];
  private latencySamples: number[] = [];
  private dirty = false;
  private needFull = true;
  private synced = false;
  private appliedPorts: ServicePortInfo[] = [];
  private readonly portsCache = newServicePortsCache();
  private lastSyncStart = -Infinity;
  private nextPeriodic = -Infinity;
  private timer: unknown;
  private running?: Promise<void>;
  private started = false;
  private stopped = false;
  private readonly m: ProxierMetrics = {
    syncs: 0, fullSyncs: 0, partialSyncs: 0, failedSyncs: 0, partialRestoreFailures: 0, outsideFlushes: 0,
    conntrackDeletions: 0, lastSyncDurationMs: 0, lastSyncFull: false, lastSyncAtMs: 0, lastFullSyncAtMs: 0, natRules: 0, filterRules: 0,
    rulesetLines: 0, rulesetBytes: 0, lastNetworkProgrammingLatencyMs: 0,
  };

  constructor(private readonly opts: ProxierOptions = {}) {
    this.dp = opts.dataplane ?? new IptablesDataplane(opts.backend, opts.iptables);
    this.clock = opts.clock ?? systemClock;
    this.syncPeriod = opts.syncPeriodMs ?? 30_000;
    this.fullSyncPeriod = opts.fullSyncPeriodMs ?? 3_600_000;
    this.minSyncPeriod = opts.minSyncPeriodMs ?? 1_000;
    this.log = opts.log ?? silentSink;
  }

  /**
   * Sets the whole desired state; `changedAtMs` is when the change happened (for latency).
   * A state made of the very objects already desired is no change (kube-proxy syncs only
   * on a Service or EndpointSlice change): a sync for it would only hold back, by
   * minSyncPeriod, the next real change.
   */
  update(state: ProxyState, changedAtMs: number = this.clock.now()): void {
    const d = this.desired;
    if (d && sameObjects(d.services, state.services) && sameObjects(d.endpointSlices, state.endpointSlices)) return;
    this.desired = state;
    this.changeTimes.push(changedAtMs);
    this.dirty = true;
    this.schedule();
  }

  /** Starts syncing; nothing is programmed before the first update(). */
  start(): void {
    this.started = true;
    this.stopped = false;
    this.schedule();
  }

  /** Stops the loop and waits for a sync in flight. Leaves the rules in place, as kube-proxy does. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  metrics(): ProxierMetrics {
    return { ...this.m };
  }

  /** Network programming latency samples (ms) since the last call. */
  takeLatencySamples(): number[] {
    const s = this.latencySamples;
    this.latencySamples = [];
    return s;
  }

  /** iptables mode: the last applied ruleset (for inspection and tests). */
  lastRuleset(): Ruleset | undefined {
    return this.dp instanceof IptablesDataplane ? this.dp.applied : undefined;
  }

  get dataplane(): Dataplane {
    return this.dp;
  }

  /** Runs one sync now, outside the schedule (tests, benchmarks, the CLI). */
  async syncNow(opts: { full?: boolean } = {}): Promise<void> {
    await this.running;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (opts.full) this.needFull = true;
    await this.runSync(false);
  }

  private schedule(): void {
    if (!this.started || this.stopped || this.running || !this.desired) return;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    const now = this.clock.now();
    let due = this.nextPeriodic;
    // needFull alone waits for the periodic sync: after a failure that is the retry.
    if (this.dirty) due = Math.min(due, Math.max(now, this.lastSyncStart + this.minSyncPeriod));
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      void this.runSync(this.clock.now() >= this.nextPeriodic);
    }, Math.max(0, due - now));
  }

  private async runSync(periodic: boolean): Promise<void> {
    // The period runs from the start of the periodic sync, however many change-driven
    // syncs come in between: the canary is checked every syncPeriod.
    if (periodic) this.nextPeriodic = this.clock.now() + this.syncPeriod;
    const p = (async () => {
      // The canary check (upstream's Monitor): only a vanished canary forces a full sync.
      if (periodic && this.synced && !this.needFull) {
        if (!(await this.safe(() => this.dp.healthy(), true))) {
          this.m.outsideFlushes++;
          this.needFull = true;
          this.log.warn({}, 'proxy rules were removed or flushed outside bosun: restoring them');
        }
      }
      await this.sync();
    })();
    this.running = p;
    try {
      await p;
    } finally {
      this.running = undefined;
      this.schedule();
    }
  }

  private async safe<T>(fn: () => Promise<T>, fallback: T): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      this.log.error({ err: String(err) }, `${this.dp.name} check failed`);
      return fallback;
    }
  }

  private async sync(): Promise<void> {
    const state = this.desired;
    if (!state) return;
    const start = this.clock.now();
    this.lastSyncStart = start;
    this.dirty = false;
    const changes = this.changeTimes;
    this.changeTimes = [];
    const t0 = performance.now();
    const ports = servicePorts(state, { nodeName: this.opts.nodeName }, this.portsCache);
    let full = this.needFull || !this.synced || start - this.m.lastFullSyncAtMs >= this.fullSyncPeriod;
    try {
      let stats: SyncStats | undefined;
      if (!full) {
        try {
          stats = await this.dp.sync(ports, false);
        } catch (err) {
          this.m.partialRestoreFailures++;
          this.log.warn({ err: String(err) }, `partial ${this.dp.name} sync failed: falling back to a full sync`);
          full = true;
        }
      }
      stats ??= await this.dp.sync(ports, true);
      this.synced = true;
      this.needFull = false;
      const first = this.appliedPorts.length === 0 && this.m.syncs === 0;
      const prevPorts = this.appliedPorts;
      this.appliedPorts = ports;
      // Nothing can be stale before our first sync: skip the clean-up then.
      if (!first) await this.cleanConntrack(prevPorts, ports);
      const end = this.clock.now();
      for (const t of changes) this.latencySamples.push(end - t);
      if (this.latencySamples.length > MAX_LATENCY_SAMPLES) this.latencySamples.splice(0, this.latencySamples.length - MAX_LATENCY_SAMPLES);
      if (changes.length > 0) this.m.lastNetworkProgrammingLatencyMs = end - Math.min(...changes);
      this.m.syncs++;
      if (full) {
        this.m.fullSyncs++;
        this.m.lastFullSyncAtMs = end;
      } else this.m.partialSyncs++;
      Object.assign(this.m, {
        lastSyncAtMs: end, lastSyncFull: full, natRules: stats.natRules, filterRules: stats.filterRules, rulesetLines: stats.lines, rulesetBytes: stats.bytes,
      });
    } catch (err) {
      this.m.failedSyncs++;
      this.needFull = true;
      // The changes are not programmed yet: keep them for the latency of the retry.
      this.changeTimes.unshift(...changes);
      // Retry after a full period, as kube-proxy: a broken packet filter should not be hammered.
      this.nextPeriodic = this.clock.now() + this.syncPeriod;
      this.log.error({ err: String(err), dataplane: this.dp.name }, 'proxy rules sync failed');
    } finally {
      this.m.lastSyncDurationMs = performance.now() - t0;
    }
  }

  private async cleanConntrack(prev: ServicePortInfo[], next: ServicePortInfo[]): Promise<void> {
    for (const d of staleConntrackEntries(prev, next)) {
      try {
        await this.dp.deleteConntrack(d);
        this.m.conntrackDeletions++;
      } catch (err) {
        this.log.warn({ err: String(err) }, 'conntrack clean-up failed');
      }
    }
  }
}
