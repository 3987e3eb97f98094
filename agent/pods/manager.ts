import type { Runtime } from '../../cri/index.js';
import type { ContainerStateWaiting, Pod, PodStatus } from '../../manifests/index.js';
import type { Clock } from '../../base/index.js';
import type { EventSink } from '../events.js';
import type { Logger } from '../log.js';
import { Backoff, CONTAINER_BACKOFF, KUBE_VERSION } from '../vocab/index.js';
import { ImageManager, type ImageManagerOptions } from '../pull/index.js';
import { PodCache } from './cache.js';
import { L } from '../vocab/index.js';
import type { SyncDeps } from './sync.js';
import { cleanupPodDir, executePodActions, syncPod } from './sync.js';
import type { NodeEnv } from './prepare.js';
import { podDir } from '../volumes/plan.js';
import { lstat, readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { computePodStatus } from './status.js';
import { pastActiveDeadline } from './deadline.js';
import { GraceBudget, podGraceSeconds } from './killorder.js';
import { PodWorkers } from './workers.js';
import { ProbeManager } from '../../probes/index.js';
import type { KillRequest } from './planner.js';
import type { ObservedPod } from '../vocab/index.js';
import { podStopped, resizedResources } from './planner.js';
import { checkResize, resourcesDiffer, withAllocatedResources, type ResizeState } from './resize.js';
import { containerResources } from '../resources/index.js';
import type { AdmissionContext } from './admission.js';
import { admitPod } from './admission.js';
import { type IneffectiveField, ineffectiveFields } from './fields.js';
import type { ContainerLogs } from './termination.js';
import { TerminationMessages } from './termination.js';
import { podRef } from '../../manifests/index.js';
import type { RuntimeHealth } from '../runtime/health.js';
import { REMOVAL_RETRY, RetryGate, SANDBOX_RETRY } from './retry.js';
import type { HeldPod } from '../sources/merge.js';
import type { PodWorkerState } from './states.js';
import { decidePodStep } from './states.js';
import type { PersistedPod } from './store.js';
import { PodRecordStore } from './store.js';

export interface PodManagerOptions {
  runtime: Runtime;
  runtimeName: string;
  log: Logger;
  clock: Clock;
  events: EventSink;
  env: NodeEnv;
  hostIP: string;
  nodeName: string;
  /**
   * kubelet's syncFrequency (resyncInterval): a pod whose last sync left nothing to do is
   * synced again after this long (plus up to half of it, as kubelet's jitter), unless an
   * event (engine, probe, source, eviction) brings it sooner. Default 1 min.
   */
  syncPeriodMs?: number;
  /** Uniform in [0, 1), for the resync jitter. */
  random?: () => number;
  relistPeriodMs?: number;
  /** What admission checks against (allowedUnsafeSysctls...). */
  admission?: AdmissionContext;
  /** Asked at each admission instead of `admission`, for what changes (allocatable, node pressure). */
  admissionContext?: () => AdmissionContext;
  /** The log copier, so a FallbackToLogsOnError message sees the container's last lines. */
  logs?: ContainerLogs;
  /**
   * The container engine's health (agent/runtime/health.ts): while it is down no pod is
   * synced, so nothing is started or killed; when it is back, the pods are relisted and
   * planned as after an agent restart.
   */
  health?: RuntimeHealth;
  /** Pull settings (credentials, mirrors, serial/parallel, offline fallback); unset: kubelet's defaults. */
  images?: Partial<Omit<ImageManagerOptions, 'runtime' | 'clock' | 'log'>>;
}

export interface PodView {
  pod: Pod;
  status: PodStatus;
}

/**
 * One pod UID's record (kubelet's podSyncStatus): its worker state and everything the
 * agent knows of the pod that the runtime does not show. Only the pod's worker changes
 * `state`; evict() and readmitEvicted() set what the next worker step reads.
 */
interface PodRecord {
  uid: string;
  state: PodWorkerState;
  status?: PodStatus;
  admitted: boolean;
  rejected?: { reason: string; message: string };
  evicted?: { reason: string; message: string; graceSeconds: number; tag?: string };
  /** An evicted static pod started again: its old containers go before it starts. */
  restarting: boolean;
  /** Running containers that failed a liveness or startup probe: container ID -> why. */
  kills: Map<string, KillRequest>;
  /** The back-off keys of the pod (name_namespace_uid_), to forget them with the pod. */
  backoffPrefix?: string;
  /** What was last written to the store, to write only changes. */
  saved?: string;
  /** The status listeners have seen this record's status (a restored one is told once). */
  announced?: boolean;
  /** JSON of `status` when syncOne computed it: the text is what tells a change. */
  statusJSON?: string;
  /**
   * When the tick syncs the pod next (clock ms; pod_workers' workQueue): set after each
   * sync, later for a pod that was left with nothing to do. Unset: at the next tick.
   */
  resyncAt?: number;
  /** The pod object the last sync saw (create / update / sync for the worker metric). */
  seen?: Pod;
  /** The pod whose resources are allocated (resize.ts): an edit of them that does not fit waits. */
  allocated?: Pod;
  resize?: ResizeState;
  /** The grace budget of the termination under way: a shorter grace that arrives cuts it. */
  termination?: GraceBudget;
}

const isTerminal = (s: PodStatus | undefined) => s?.phase === 'Succeeded' || s?.phase === 'Failed';

/** A pod still on its way somewhere: pending, or a container waiting (to start, in a back-off). */
function anyWaiting(s: PodStatus): boolean {
  if (s.phase === 'Pending') return true;
  for (const c of s.initContainerStatuses ?? []) if (c.state.waiting) return true;
  for (const c of s.containerStatuses ?? []) if (c.state.waiting) return true;
  return false;
}

// The agent's core loop: the desired set (from the sources) and the observed set (from
// the pod cache) meet here, one serialized worker per pod UID, each step decided by
// decidePodStep (states.ts) and carried out by the executor (sync.ts). Pods that are
// observed but not desired are terminated, but only once every source has listed at least
// once, so an agent restart never kills a pod whose manifest has simply not been read yet.
export class PodManager {
  private desired = new Map<string, Pod>();
  private readonly records = new Map<string, PodRecord>();
  private sourcesReady = false;
  private tick?: NodeJS.Timeout;
  private housekeepingTimer?: NodeJS.Timeout;
  private readonly deps: SyncDeps;
  readonly cache: PodCache;
  readonly probes: ProbeManager;
  private readonly workers: PodWorkers;
  private readonly store: PodRecordStore;
  private readonly statusListeners = new Set<(view: PodView) => void>();
  private readonly started = Date.now();
  private readonly messages: TerminationMessages;
  /** Pods an invalid manifest still names, by `namespace/name`: what runs of them is kept. */
  private held = new Map<string, HeldPod>();
  /** Held pod UIDs already reported, with what was said. */
  private readonly heldReported = new Map<string, string>();
  /** Told of every pod worker step with its duration (kubelet_pod_worker_duration_seconds). */
  onSync?: (seconds: number, operation: 'create' | 'update' | 'sync') => void;

  constructor(private readonly opts: PodManagerOptions) {
    this.deps = {
      runtime: opts.runtime,
      backoff: new Backoff(opts.clock, CONTAINER_BACKOFF),
      images: new ImageManager({
        serializeImagePulls: true,
        secret: (ns, name) => opts.env.objects.secret(ns, name),
        ...opts.images,
        runtime: opts.runtime,
        clock: opts.clock,
        log: opts.log,
      }),
      log: opts.log,
      events: opts.events,
      env: opts.env,
      now: () => opts.clock.now(),
      ...(opts.health ? { health: opts.health } : {}),
      ...(opts.logs ? { logs: opts.logs } : {}),
      retry: { sandbox: new RetryGate(opts.clock, SANDBOX_RETRY), removal: new RetryGate(opts.clock, REMOVAL_RETRY) },
    };
    this.store = new PodRecordStore(opts.env.rootDir, opts.log);
    // A sync cut short because the engine went away is not a failed sync: the health says it once.
    this.workers = new PodWorkers((uid) => this.syncTimed(uid).catch((err: unknown) => {
      if (!opts.health?.failed(err, 'pod sync')) throw err;
    }), opts.log);
    this.messages = new TerminationMessages(opts.logs);
    this.probes = new ProbeManager({
      runtime: opts.runtime,
      kubeVersion: KUBE_VERSION,
      log: opts.log,
      onKill: (k) => {
        const rec = this.records.get(k.pod.uid);
        if (!rec) return;
        rec.kills.set(k.containerId, k);
        this.workers.dispatch(k.pod.uid);
      },
      onEvent: (e) => opts.events.emit(e.pod, e.type, e.reason, e.message, e.container, e.init),
    });
    // Readiness and startup results change the pod's status (and so its Service endpoints).
    this.probes.onChange((uid) => this.workers.dispatch(uid));
    this.cache = new PodCache(opts.runtime, opts.log, (uids) => uids.forEach((u) => this.workers.dispatch(u)), opts.nodeName, opts.relistPeriodMs);
    if (opts.health) {
      this.cache.health = opts.health;
      // Back from an engine restart: what runs now is read afresh, then every pod is planned.
      opts.health.onUp(() => void this.cache.relist().then(() => this.dispatchAll()));
    }
  }

  /**
   * Reads the persisted records and the runtime, and repairs what an agent killed in the
   * middle of starting pods left half-done, before any pod is synced: nothing of a pod
   * starts until the sources have listed, which is after this.
   */
  async start(): Promise<void> {
    for (const p of (await this.store.load()).values()) this.records.set(p.uid, fromPersisted(p));
    await this.cache.start();
    await this.repair();
    this.tick = setInterval(() => this.dispatchDue(), this.tickMs());
    this.housekeepingTimer = setInterval(() => void this.housekeeping(), 60_000);
  }

  /**
   * kubelet's syncTicker is 1 s: each tick syncs the pods that are due. A syncFrequency
   * below that (tests) ticks at the syncFrequency.
   */
  private tickMs(): number {
    return Math.min(1000, this.resyncMs());
  }

  private resyncMs(): number {
    return this.opts.syncPeriodMs ?? 60_000;
  }

  /**
   * syncFrequency changed (SIGHUP): the tick restarts; a pod waiting for its resync is due
   * no later than one new period from now. Nothing is synced now.
   */
  setSyncPeriod(ms: number): void {
    this.opts.syncPeriodMs = ms;
    const latest = this.opts.clock.now() + ms;
    for (const rec of this.records.values()) if (rec.resyncAt !== undefined && rec.resyncAt > latest) rec.resyncAt = latest;
    if (this.tick === undefined) return; // not started: start() uses it
    clearInterval(this.tick);
    this.tick = setInterval(() => this.dispatchDue(), this.tickMs());
  }

  async stop(): Promise<void> {
    clearInterval(this.tick);
    clearInterval(this.housekeepingTimer);
    this.probes.stop();
    this.cache.stop();
    await this.workers.idle();
  }

  /**
   * What a killed agent can leave behind: containers created and never started (they hold
   * no history, and an engine keeps them Created for ever), and an `etc-hosts` that the
   * engine made a directory of because a container was started before the file existed.
   * Missing per-pod files are written by the executor before each start, half-made pod
   * cgroups are completed by the first ensurePod of this agent's life, volumes are set up
   * again (idempotently) by the first sync of each pod.
   */
  private async repair(): Promise<void> {
    const observed = this.cache.uids().map((uid) => this.cache.get(uid));
    const created = observed.flatMap((o) => o.containers.filter((c) => c.state === 'created'));
    // A sandbox that is not ready and holds no container has nothing to keep: most often
    // one whose start was cut short. An engine may still finish a start the dead agent
    // asked for; removing it now means it never becomes a second ready sandbox of its pod.
    const empty = observed.flatMap((o) => o.sandboxes.filter((s) => s.state !== 'ready' && !o.containers.some((c) => c.podSandboxId === s.id)));
    await Promise.all(created.map(async (c) => {
      this.opts.log.info({ podUID: c.labels[L.podUid], container: c.metadata.name, id: c.id.slice(0, 12) }, 'removing a container created and never started by an earlier run of the agent');
      await this.opts.runtime.removeContainer(c.id).then(() => this.opts.logs?.removed(c), (err: Error) => this.opts.log.warn({ err: err.message, id: c.id }, 'remove failed'));
    }));
    await Promise.all(empty.map(async (s) => {
      this.opts.log.info({ podUID: s.metadata.uid, sandbox: s.id.slice(0, 12) }, 'removing an empty sandbox that is not ready');
      await this.opts.runtime.removePodSandbox(s.id).catch((err: Error) => this.opts.log.warn({ err: err.message, id: s.id }, 'remove failed'));
    }));
    const root = dirname(podDir(this.opts.env.rootDir, 'x'));
    for (const uid of await readdir(root).catch(() => [] as string[])) {
      const hosts = join(root, uid, 'etc-hosts');
      const st = await lstat(hosts).catch(() => undefined);
      if (st?.isDirectory()) {
        this.opts.log.info({ podUID: uid, path: hosts }, 'removing the directory the engine made in place of the pod hosts file');
        await rm(hosts, { recursive: true, force: true }).catch(() => undefined);
      }
    }
    if (created.length || empty.length) await this.cache.relist();
  }

  /** Replaces the desired set. `ready` is true once every source has listed. */
  setDesired(pods: Pod[], ready: boolean, held: HeldPod[] = []): void {
    const heldBefore = this.held;
    this.held = new Map(held.map((h) => [`${h.namespace}/${h.name}`, h]));
    // A manifest fixed or removed releases what it held: those pods are synced (stopped) now.
    const released = [...heldBefore.keys()].some((k) => !this.held.has(k));
    const next = new Map(pods.map((p) => [p.metadata.uid, p]));
    const touched = new Set<string>();
    for (const [uid, p] of next) if (this.desired.get(uid) !== p) touched.add(uid);
    for (const uid of this.desired.keys()) if (!next.has(uid)) touched.add(uid);
    this.desired = next;
    for (const uid of touched) {
      const p = next.get(uid);
      if (p?.metadata.deletionTimestamp) this.shortenTermination(uid, podGraceSeconds(p), 'deleted again with a shorter grace period');
    }
    const becameReady = ready && !this.sourcesReady;
    this.sourcesReady = this.sourcesReady || ready;
    if (becameReady || released) {
      this.dispatchAll();
      void this.housekeeping();
    } else touched.forEach((u) => this.workers.dispatch(u));
  }

  /**
   * A shorter grace for a pod whose termination is under way cuts its budget now, as
   * kubelet's UpdatePod cancels the termination and starts it again with the shorter grace
   * (calculateEffectiveGracePeriod); the worker, busy with the stop, would see it only after.
   */
  private shortenTermination(uid: string, graceSeconds: number, why: string): void {
    const budget = this.records.get(uid)?.termination;
    const before = budget?.seconds;
    if (!budget?.shorten(graceSeconds)) return;
    this.opts.log.info({ podUID: uid, from: before, to: budget.seconds }, `termination grace period shortened: ${why}`);
  }

  /** Config objects changed: every pod re-syncs (volumes refresh, waiting containers start). */
  objectsChanged(): void {
    this.dispatchAll();
  }

  /**
   * Pod directories of pods that are neither desired nor running (their containers went
   * while the agent was down) are released, tmpfs mounts included.
   */
  async housekeeping(): Promise<void> {
    if (!this.sourcesReady) return;
    const root = dirname(podDir(this.opts.env.rootDir, 'x'));
    const uids = await readdir(root).catch(() => [] as string[]);
    const live = new Set(this.cache.uids());
    for (const uid of uids) if (!this.desired.has(uid) && !live.has(uid)) this.workers.dispatch(uid);
  }

  /** Desired pods with their latest status, for the API and the CLI. */
  list(): PodView[] {
    return [...this.desired.values()].map((pod) => ({ pod, status: this.records.get(pod.metadata.uid)?.status ?? { phase: 'Pending' } }));
  }

  /** The worker state of a pod UID (undefined: no record). */
  state(uid: string): PodWorkerState | undefined {
    return this.records.get(uid)?.state;
  }

  /** Resolves when no pod has work running or queued. */
  idle(): Promise<void> {
    return this.workers.idle();
  }

  /** Nothing of the pod runs: no ready sandbox, no running container, no work under way. */
  stopped(uid: string): boolean {
    return !this.workers.busy(uid) && podStopped(this.cache.get(uid));
  }

  healthy(now = Date.now()): boolean {
    return now - this.cache.lastRelist < 3 * 60_000;
  }

  private dispatchAll(): void {
    for (const uid of this.desired.keys()) this.workers.dispatch(uid);
    this.dispatchUndesired();
  }

  /**
   * The sync tick (kubelet's syncCh with getPodsToSync): the desired pods whose resync is
   * due. Everything else reaches a pod as an event: a relist that saw its containers
   * change, a probe result, a new or changed spec, an eviction, a config object.
   */
  private dispatchDue(): void {
    const now = this.opts.clock.now();
    for (const uid of this.desired.keys()) {
      const at = this.records.get(uid)?.resyncAt;
      if (at === undefined || at <= now) this.workers.dispatch(uid);
    }
    this.dispatchUndesired();
  }

  private dispatchUndesired(): void {
    if (!this.sourcesReady) return;
    for (const uid of this.cache.uids()) if (!this.desired.has(uid)) this.workers.dispatch(uid);
    // Records of pods no source lists and the runtime no longer holds: forgotten.
    for (const uid of this.records.keys()) if (!this.desired.has(uid)) this.workers.dispatch(uid);
  }

  private record(uid: string): PodRecord {
    let rec = this.records.get(uid);
    if (!rec) this.records.set(uid, (rec = { uid, state: 'syncing', admitted: false, restarting: false, kills: new Map() }));
    return rec;
  }

  /** One worker step, timed, and the pod's next resync set from what it left. */
  private async syncTimed(uid: string): Promise<void> {
    const t0 = performance.now();
    const before = this.records.get(uid);
    const op = !before?.seen ? 'create' : before.seen !== this.desired.get(uid) ? 'update' : 'sync';
    let settled = false;
    try {
      settled = await this.syncOne(uid);
    } finally {
      const rec = this.records.get(uid);
      if (rec) {
        const ms = this.resyncMs();
        // completeWork: a pod with nothing left to do waits for its resync (jittered, as
        // kubelet's workerResyncIntervalJitterFactor 0.5); anything else is due at the next tick.
        rec.resyncAt = settled ? this.opts.clock.now() + ms + (this.opts.random ?? Math.random)() * ms * 0.5 : undefined;
        const pod = this.desired.get(uid);
        if (pod) rec.seen = pod;
      }
      this.onSync?.((performance.now() - t0) / 1000, op);
    }
  }

  /**
   * Returns true when the pod was left with nothing to do that only time would bring on:
   * no action taken, no container waiting, no retry, back-off, deadline or resize pending.
   */
  private async syncOne(uid: string): Promise<boolean> {
    // kubelet's syncLoop skips pod synchronization while the runtime is down: nothing is
    // created in an engine that is shutting down or still starting, nothing is stopped.
    // The status still follows the probes (kubelet's prober writes readiness straight to
    // its status manager).
    const paused = !!this.opts.health && !this.opts.health.ready();
    const pod = this.desired.get(uid);
    if (!pod && (!this.sourcesReady || paused)) return false;
    const rec = this.record(uid);
    const observed = this.cache.get(uid);
    if (!pod) {
      // An invalid manifest still names this pod: what runs of it is kept, unmanaged.
      if (this.keepHeld(uid, observed)) return false;
      this.heldReported.delete(uid);
    }
    if (pod) rec.backoffPrefix = `${pod.metadata.name}_${pod.metadata.namespace}_${uid}_`;
    if (pod && !rec.evicted && !rec.restarting) this.admit(pod, observed, rec);
    // What the containers are planned and reported with: the pod as allocated.
    const planned = pod && rec.admitted && !rec.rejected ? this.allocate(pod, rec) : pod;
    const overdue = pod && rec.admitted && !rec.evicted && !isTerminal(rec.status) ? pastActiveDeadline(pod, rec.status?.startTime, this.opts.clock.now()) : undefined;
    if (pod && overdue) {
      // Killed like an eviction (with the pod's own grace) and never started again.
      rec.evicted = { ...overdue, graceSeconds: podGraceSeconds(pod) };
      void this.persist(rec);
      this.opts.events.emit(podRef(pod), 'Normal', overdue.reason, overdue.message);
    }
    const wasTerminated = rec.state === 'terminated';
    const { state, step } = decidePodStep({
      state: rec.state,
      pod,
      sourcesReady: this.sourcesReady,
      terminal: isTerminal(rec.status),
      rejected: !!rec.rejected,
      ...(rec.evicted ? { evicted: { graceSeconds: rec.evicted.graceSeconds } } : {}),
      restarting: rec.restarting,
      otherInstanceAlive: pod ? this.otherInstanceAlive(pod) : false,
    }, observed);
    // While the engine is away nothing is created, stopped or removed: only the status below
    // is brought up to date, and the step is decided again once the engine is back.
    if (!paused) {
      if (state !== rec.state) this.opts.log.info({ podUID: uid, pod: pod ? `${pod.metadata.namespace}/${pod.metadata.name}` : undefined, from: rec.state, to: state }, 'pod worker state');
      rec.state = state;
    }

    let waiting: ReadonlyMap<string, ContainerStateWaiting> = new Map();
    const todo = paused ? { kind: 'none' as const } : step;
    // Only a step that did nothing and found nothing pending may wait for the resync.
    let quiet = !paused && todo.kind === 'none';
    switch (todo.kind) {
      case 'forget':
        this.deps.retry?.sandbox.forget(uid);
        this.deps.retry?.removal.forget(uid);
        await this.forget(rec);
        return false;
      case 'none':
        break;
      case 'wait':
        waiting = new Map((pod?.spec.containers ?? []).map((c) => [c.name, { reason: todo.reason, message: todo.message }]));
        break;
      case 'terminate': {
        this.opts.log.info({ podUID: uid, pod: pod ? `${pod.metadata.namespace}/${pod.metadata.name}` : undefined, grace: todo.actions.graceSeconds }, `terminating pod that is ${todo.why}`);
        const budget = new GraceBudget(this.deps.now, todo.actions.graceSeconds ?? podGraceSeconds(pod));
        rec.termination = budget;
        try {
          await executePodActions(this.deps, pod, observed, todo.actions, budget);
        } finally {
          budget.dispose();
          if (rec.termination === budget) delete rec.termination;
        }
        await this.cache.relist();
        break;
      }
      case 'sync': {
        rec.restarting = false;
        const result = await syncPod(this.deps, planned!, observed, rec.kills, (name, id) => this.probes.started(uid, name, id));
        if (rec.resize) delete rec.resize.inProgress;
        if (result.resizeError) (rec.resize ??= {}).inProgress = { reason: 'Error', message: result.resizeError };
        waiting = result.waiting;
        const a = result.actions;
        const acted = a.killPod || a.createSandbox || a.containersToKill.length || a.containersToStart.length || a.containersToRemove.length || a.sandboxesToRemove.length || !!a.containersToResize?.length;
        if (acted) {
          // Plan again only from a view that includes what was just done.
          await this.cache.relist();
        }
        quiet = !acted && !a.backoffs.length && !result.incomplete && waiting.size === 0;
      }
    }
    if (!pod || this.desired.get(uid) !== pod || this.records.get(uid) !== rec) return false;
    // A finished pod's final status is kept as it was: its containers may be gone by now.
    if (wasTerminated && isTerminal(rec.status)) {
      if (!rec.announced) this.announce(rec, pod);
      return quiet;
    }
    const now = this.cache.get(uid);
    const running = now.containers.filter((c) => c.state === 'running');
    for (const id of rec.kills.keys()) if (!running.some((c) => c.id === id)) rec.kills.delete(id);
    const sandbox = now.sandboxes.find((s) => s.state === 'ready');
    const podIP = pod.spec.hostNetwork ? this.opts.hostIP : sandbox?.ip;
    const live = sandbox ? running.filter((c) => c.podSandboxId === sandbox.id) : [];
    this.probes.update(pod, podIP, live.map((c) => ({ name: c.metadata.name, id: c.id, startedAt: c.startedAt, adopted: c.startedAt < this.started })));
    const rejected = rec.evicted ? { reason: rec.evicted.reason, message: rec.evicted.message } : rec.rejected;
    const previous = rec.status;
    const resize = this.resizeState(planned!, now, rec);
    const status = computePodStatus({
      pod: planned!,
      observed: now,
      ...(resize ? { resize } : {}),
      waiting,
      previous,
      now: this.opts.clock.now(),
      hostIP: this.opts.hostIP,
      runtimeName: this.opts.runtimeName,
      readiness: (name, id) => this.probes.readiness(uid, name, id),
      started: (name, id) => this.probes.started(uid, name, id),
      ...(rejected ? { rejected } : {}),
      messages: await this.messages.collect(pod, now),
      // A deleted pod with nothing left running is over (an API pod then ends Succeeded or Failed).
      terminal: !!pod.metadata.deletionTimestamp && running.length === 0 && !sandbox,
    });
    const json = JSON.stringify(status);
    const changed = json !== (rec.statusJSON ?? JSON.stringify(previous));
    rec.status = status;
    rec.statusJSON = json;
    if (isTerminal(status)) await this.persist(rec);
    if (!rec.announced || changed) this.announce(rec, pod);
    // What the clock alone changes is synced at every tick, as before: an active deadline
    // (kubelet's activeDeadlineHandler is asked at each tick too), a resize that waits, a
    // liveness kill under way, a container not yet running or finished.
    return quiet && rec.kills.size === 0 && !resize && pod.spec.activeDeadlineSeconds === undefined && !overdue && !anyWaiting(status);
  }

  private announce(rec: PodRecord, pod: Pod): void {
    rec.announced = true;
    const status = rec.status ?? { phase: 'Pending' };
    for (const l of this.statusListeners) l({ pod, status });
  }

  /** SyncTerminatedPod for a pod no source lists: its directory, cgroup and record go. */
  private async forget(rec: PodRecord): Promise<void> {
    const uid = rec.uid;
    this.records.delete(uid);
    this.probes.removePod(uid);
    this.messages.forget(uid);
    if (rec.backoffPrefix) this.deps.backoff.forgetPrefix(rec.backoffPrefix);
    this.deps.images.forgetPod(uid);
    await cleanupPodDir(this.deps, uid);
    await this.store.remove(uid);
  }

  private async persist(rec: PodRecord): Promise<void> {
    const p: PersistedPod = {
      uid: rec.uid,
      ...(rec.admitted ? { admitted: true } : {}),
      ...(rec.rejected ? { rejected: rec.rejected } : {}),
      ...(rec.evicted ? { evicted: rec.evicted } : {}),
      ...(isTerminal(rec.status) ? { final: rec.status } : {}),
      ...(rec.resize?.pending && rec.allocated ? { allocated: allocatedSnapshot(rec.allocated) } : {}),
    };
    const text = JSON.stringify(p);
    if (text === rec.saved) return;
    rec.saved = text;
    await this.store.save(p);
  }

  /** Called with every status change: the ready-endpoints stream Services subscribe to. */
  onStatus(listener: (view: PodView) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  /**
   * kubelet's canAdmitPod, once per pod: checked against the pods admitted before it that
   * have not finished. A pod the runtime already runs (adopted after a restart) was admitted
   * by an earlier life of the agent and is never re-checked; neither is one whose admission
   * was persisted.
   */
  private admit(pod: Pod, observed: ObservedPod, rec: PodRecord): void {
    if (rec.admitted || rec.rejected) return;
    const runs = (o: ObservedPod) => o.sandboxes.length > 0 || o.containers.length > 0;
    if (runs(observed)) {
      rec.admitted = true;
      void this.persist(rec);
      return;
    }
    const ctx = this.opts.admissionContext?.() ?? this.opts.admission;
    const r = admitPod(pod, this.admittedOthers(pod), ctx);
    if (r.ok) {
      rec.admitted = true;
      void this.persist(rec);
      if (ctx?.features) this.warnIneffective(pod, ineffectiveFields(pod, ctx.features));
      return;
    }
    rec.rejected = { reason: r.reason, message: `Pod was rejected: ${r.message}` };
    void this.persist(rec);
    this.opts.log.warn({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, podUID: pod.metadata.uid, reason: r.reason }, rec.rejected.message);
    this.opts.events.emit(podRef(pod), 'Warning', r.reason, r.message);
  }

  /**
   * handlePodResourcesResize: an edit of an admitted pod's resources is allocated when it
   * fits (checkResize), else the pod goes on as allocated and the edit waits, re-checked at
   * every sync (Deferred) or until the next edit (Infeasible, checked again all the same).
   */
  private allocate(pod: Pod, rec: PodRecord): Pod {
    if (!rec.allocated || rec.allocated === pod || !resourcesDiffer(pod, rec.allocated)) {
      rec.allocated = pod;
      if (rec.resize?.pending) {
        delete rec.resize.pending;
        void this.persist(rec);
      }
      return pod;
    }
    const ctx = this.opts.admissionContext?.() ?? this.opts.admission ?? {};
    const r = checkResize(pod, this.admittedOthers(pod), ctx);
    const ref = { pod: `${pod.metadata.namespace}/${pod.metadata.name}`, podUID: pod.metadata.uid };
    if (r.ok) {
      rec.allocated = pod;
      if (rec.resize?.pending) {
        this.opts.log.info(ref, 'pod resize allocated');
        delete rec.resize.pending;
        void this.persist(rec);
      }
      return pod;
    }
    const before = rec.resize?.pending;
    if (!before || before.reason !== r.reason || before.message !== r.message) {
      this.opts.log.warn({ ...ref, reason: r.reason }, `pod resize ${r.reason.toLowerCase()}: ${r.message}`);
      this.opts.events.emit(podRef(pod), 'Warning', r.reason === 'Infeasible' ? 'ResizeInfeasible' : 'ResizeDeferred', r.message);
    }
    (rec.resize ??= {}).pending = { reason: r.reason, message: r.message };
    void this.persist(rec);
    return withAllocatedResources(pod, rec.allocated);
  }

  /** The pods admitted before this one that have not finished, each as allocated. */
  private admittedOthers(pod: Pod): Pod[] {
    const runs = (o: ObservedPod) => o.sandboxes.length > 0 || o.containers.length > 0;
    return [...this.desired.values()].filter((p) => {
      const u = p.metadata.uid;
      const r = this.records.get(u);
      return u !== pod.metadata.uid && (!!r?.admitted || runs(this.cache.get(u))) && !r?.rejected && !isTerminal(r?.status);
    }).map((p) => this.records.get(p.metadata.uid)?.allocated ?? p);
  }

  /**
   * PodResizeInProgress while a running container's limits are not yet the allocated ones
   * (with reason Error when the runtime refused them); PodResizePending as allocate() left it.
   */
  private resizeState(pod: Pod, observed: ObservedPod, rec: PodRecord): ResizeState | undefined {
    const res = this.deps.env.resources;
    const sandbox = observed.sandboxes.find((s) => s.state === 'ready');
    let lagging = false;
    if (res && sandbox) {
      for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
        const st = observed.containers.find((x) => x.metadata.name === c.name && x.podSandboxId === sandbox.id && x.state === 'running');
        const want = st?.resources && st.annotations[L.containerHashNoResources] ? containerResources(pod, c, res) : undefined;
        if (want && resizedResources(st!.resources!, want).length) lagging = true;
      }
    }
    if (!lagging && rec.resize) delete rec.resize.inProgress;
    else if (lagging) (rec.resize ??= {}).inProgress ??= {};
    const out = rec.resize && (rec.resize.pending || rec.resize.inProgress) ? rec.resize : undefined;
    return out ? { ...out } : undefined;
  }

  /** Once per admitted pod: each field that cannot act here, as a Warning event and a log line. */
  private warnIneffective(pod: Pod, fields: IneffectiveField[]): void {
    for (const f of fields) {
      const message = `${f.field} has no effect on this node: ${f.why}`;
      this.opts.log.warn({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, podUID: pod.metadata.uid, field: f.field }, message);
      this.opts.events.emit(podRef(pod), 'Warning', 'FieldIgnored', message);
    }
  }

  /**
   * The eviction manager's kill (killPodFunc): the pod's containers are stopped within
   * `graceSeconds` and it ends Failed, reason Evicted, with `message`. Resolves once nothing
   * of it runs. `tag` is kept for readmitEvicted.
   */
  async evict(uid: string, e: { message: string; graceSeconds: number; tag?: string }): Promise<void> {
    const pod = this.desired.get(uid);
    const rec = this.records.get(uid);
    if (!pod || !rec || rec.evicted) return;
    rec.evicted = { reason: 'Evicted', message: e.message, graceSeconds: e.graceSeconds, ...(e.tag ? { tag: e.tag } : {}) };
    this.shortenTermination(uid, e.graceSeconds, 'evicted');
    await this.persist(rec);
    this.opts.events.emit(podRef(pod), 'Warning', 'Evicted', e.message);
    this.workers.dispatch(uid);
    const deadline = Date.now() + (e.graceSeconds + 30) * 1000;
    while (Date.now() < deadline && (!podStopped(this.cache.get(uid)) || this.workers.busy(uid))) await new Promise((r) => setTimeout(r, 100));
  }

  /** UIDs of evicted pods, with their tags. */
  evictedPods(): { uid: string; tag?: string }[] {
    return [...this.records.values()].filter((r) => r.evicted).map((r) => ({ uid: r.uid, ...(r.evicted?.tag ? { tag: r.evicted.tag } : {}) }));
  }

  /**
   * Static pods evicted for which `pick` holds are started again (upstream never evicts
   * static pods; bosun, whose pods are nearly all static, evicts them and brings them back
   * once the pressure that evicted them is gone): a fresh record, admitted anew, as a pod
   * never seen.
   */
  readmitEvicted(pick: (e: { uid: string; tag?: string }) => boolean): string[] {
    const out: string[] = [];
    for (const old of [...this.records.values()]) {
      const e = old.evicted;
      const pod = this.desired.get(old.uid);
      const source = pod?.metadata.annotations?.['kubernetes.io/config.source'];
      if (!e || !pod || source === 'api' || !pick({ uid: old.uid, ...(e.tag ? { tag: e.tag } : {}) })) continue;
      const rec: PodRecord = { uid: old.uid, state: 'syncing', admitted: false, restarting: true, kills: new Map() };
      this.records.set(old.uid, rec);
      void this.persist(rec);
      this.deps.backoff.forgetPrefix(`${pod.metadata.name}_${pod.metadata.namespace}_${old.uid}_`);
      this.opts.log.info({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, podUID: old.uid }, 'pressure is gone: starting the evicted static pod again');
      this.workers.dispatch(old.uid);
      out.push(old.uid);
    }
    return out;
  }

  /**
   * A running pod that no source gives but whose manifest is only invalid (never read valid
   * since the agent started) is left running: one Warning event and one log line say which
   * file and fields keep it from being managed.
   */
  private keepHeld(uid: string, observed: ObservedPod): boolean {
    const labels = (observed.sandboxes[0] ?? observed.containers[0])?.labels ?? {};
    const h = this.held.get(`${labels[L.podNamespace]}/${labels[L.podName]}`);
    if (!h) return false;
    const message = `manifest ${h.source} is invalid; its running pod is kept as it is, unmanaged, until the file is fixed or removed: ${h.messages.join('; ')}`;
    if (this.heldReported.get(uid) !== message) {
      this.heldReported.set(uid, message);
      const pod = `${labels[L.podNamespace]}/${labels[L.podName]}`;
      this.opts.log.warn({ pod, podUID: uid, file: h.source, errors: h.messages }, 'invalid manifest: keeping its running pod');
      this.opts.events.emit({ name: labels[L.podName]!, namespace: labels[L.podNamespace]!, uid }, 'Warning', 'InvalidManifest', message);
    }
    return true;
  }

  private otherInstanceAlive(pod: Pod): boolean {
    for (const uid of this.cache.uids()) {
      if (uid === pod.metadata.uid || this.desired.has(uid)) continue;
      const o = this.cache.get(uid);
      const any = o.sandboxes[0] ?? o.containers[0];
      if (any && any.labels[L.podName] === pod.metadata.name && any.labels[L.podNamespace] === pod.metadata.namespace) return true;
    }
    return false;
  }
}

/** The allocated pod as persisted: names and resources, all withAllocatedResources reads. */
function allocatedSnapshot(p: Pod): Pod {
  const slim = (cs: Pod['spec']['containers'] | undefined) => cs?.map((c) => ({ name: c.name, image: '', ...(c.resources ? { resources: c.resources } : {}) }));
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: p.metadata.name, namespace: p.metadata.namespace, uid: p.metadata.uid },
    spec: { containers: slim(p.spec.containers)!, ...(p.spec.initContainers ? { initContainers: slim(p.spec.initContainers) } : {}), ...(p.spec.resources ? { resources: p.spec.resources } : {}) },
  };
}

function validSnapshot(p: Pod | undefined): p is Pod {
  const ok = (cs: unknown) => Array.isArray(cs) && cs.every((c) => typeof c === 'object' && c !== null && typeof (c as { name?: unknown }).name === 'string');
  return !!p && typeof p.spec === 'object' && p.spec !== null && ok(p.spec.containers) && (p.spec.initContainers === undefined || ok(p.spec.initContainers));
}

function fromPersisted(p: PersistedPod): PodRecord {
  return {
    uid: p.uid,
    // A finished pod stays finished; anything else is synced from what the runtime shows.
    state: p.final ? 'terminated' : 'syncing',
    admitted: !!p.admitted,
    ...(p.rejected ? { rejected: p.rejected } : {}),
    ...(p.evicted ? { evicted: p.evicted } : {}),
    ...(p.final ? { status: p.final } : {}),
    // A resize that waited when the agent stopped waits on: the old resources stay allocated.
    ...(validSnapshot(p.allocated) ? { allocated: p.allocated } : {}),
    restarting: false,
    kills: new Map(),
    saved: JSON.stringify(p),
  };
}
