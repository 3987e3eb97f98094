import type { Runtime } from '../../cri/index.js';
import type { ContainerStateWaiting, Pod, PodStatus } from '../../manifests/index.js';
import type { Clock } from '../clock.js';
import type { EventSink } from '../events.js';
import type { Logger } from '../log.js';
import { Backoff, CONTAINER_BACKOFF } from './backoff.js';
import { ImageManager, type ImageManagerOptions } from '../pull/index.js';
import { PodCache } from './cache.js';
import { L } from './labels.js';
import type { SyncDeps } from './sync.js';
import { cleanupPodDir, stopAll, syncPod, terminatePod } from './sync.js';
import type { NodeEnv } from './prepare.js';
import { podDir } from '../volumes/plan.js';
import { readdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { computePodStatus } from './status.js';
import { PodWorkers } from './workers.js';
import { ProbeManager } from '../../probes/index.js';
import type { KillRequest, ObservedPod } from './planner.js';
import type { AdmissionContext } from './admission.js';
import { admitPod } from './admission.js';
import type { LogFlusher } from './termination.js';
import { TerminationMessages } from './termination.js';
import { podRef } from '../events.js';

export interface PodManagerOptions {
  runtime: Runtime;
  runtimeName: string;
  log: Logger;
  clock: Clock;
  events: EventSink;
  env: NodeEnv;
  hostIP: string;
  nodeName: string;
  /** Sync tick: every desired pod is re-planned this often (cheap when nothing changes). */
  syncPeriodMs?: number;
  relistPeriodMs?: number;
  /** What admission checks against (allowedUnsafeSysctls...). */
  admission?: AdmissionContext;
  /** Asked at each admission instead of `admission`, for what changes (allocatable, node pressure). */
  admissionContext?: () => AdmissionContext;
  /** The log copier, so a FallbackToLogsOnError message sees the container's last lines. */
  logs?: LogFlusher;
  /** Pull settings (credentials, mirrors, serial/parallel, offline fallback); unset: kubelet's defaults. */
  images?: Partial<Omit<ImageManagerOptions, 'runtime' | 'clock' | 'log'>>;
}

export interface PodView {
  pod: Pod;
  status: PodStatus;
}

// The agent's core loop: the desired set (from the sources) and the observed set (from
// the pod cache) meet here, one serialized worker per pod UID. Pods that are observed but
// not desired are terminated, but only once every source has listed at least once, so an
// agent restart never kills a pod whose manifest has simply not been read yet.
export class PodManager {
  private desired = new Map<string, Pod>();
  private statuses = new Map<string, PodStatus>();
  private sourcesReady = false;
  private tick?: NodeJS.Timeout;
  private housekeepingTimer?: NodeJS.Timeout;
  private readonly deps: SyncDeps;
  readonly cache: PodCache;
  readonly probes: ProbeManager;
  private readonly workers: PodWorkers;
  /** Containers that failed a liveness or startup probe: pod UID -> container ID -> why. */
  private readonly kills = new Map<string, Map<string, KillRequest>>();
  private readonly statusListeners = new Set<(view: PodView) => void>();
  private readonly started = Date.now();
  /** Admission is decided once per pod UID; a refused pod never runs anything. */
  private readonly admitted = new Set<string>();
  private readonly rejected = new Map<string, { reason: string; message: string }>();
  /** Pods the eviction manager evicted: stopped, Failed with reason Evicted. */
  private readonly evicted = new Map<string, { reason: string; message: string; graceSeconds: number; tag?: string }>();
  /** Evicted static pods to start again as new: their old containers go first. */
  private readonly restarting = new Set<string>();
  private readonly messages: TerminationMessages;

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
    };
    this.workers = new PodWorkers((uid) => this.syncOne(uid), opts.log);
    this.messages = new TerminationMessages(opts.logs);
    this.probes = new ProbeManager({
      runtime: opts.runtime,
      log: opts.log,
      onKill: (k) => {
        const forPod = this.kills.get(k.pod.uid) ?? new Map<string, KillRequest>();
        forPod.set(k.containerId, { reason: k.reason, message: k.message, graceSeconds: k.gracePeriodSeconds });
        this.kills.set(k.pod.uid, forPod);
        this.workers.dispatch(k.pod.uid);
      },
      onEvent: (e) => opts.events.emit(e.pod, e.type, e.reason, e.message, e.container, e.init),
    });
    // Readiness and startup results change the pod's status (and so its Service endpoints).
    this.probes.onChange((uid) => this.workers.dispatch(uid));
    this.cache = new PodCache(opts.runtime, opts.log, (uids) => uids.forEach((u) => this.workers.dispatch(u)), opts.nodeName, opts.relistPeriodMs);
  }

  async start(): Promise<void> {
    await this.cache.start();
    this.tick = setInterval(() => this.dispatchAll(), this.opts.syncPeriodMs ?? 1000);
    this.housekeepingTimer = setInterval(() => void this.housekeeping(), 60_000);
  }

  async stop(): Promise<void> {
    clearInterval(this.tick);
    clearInterval(this.housekeepingTimer);
    this.probes.stop();
    this.cache.stop();
    await this.workers.idle();
  }

  /** Replaces the desired set. `ready` is true once every source has listed. */
  setDesired(pods: Pod[], ready: boolean): void {
    const next = new Map(pods.map((p) => [p.metadata.uid, p]));
    const touched = new Set<string>();
    for (const [uid, p] of next) if (this.desired.get(uid) !== p) touched.add(uid);
    for (const uid of this.desired.keys()) if (!next.has(uid)) touched.add(uid);
    this.desired = next;
    const becameReady = ready && !this.sourcesReady;
    this.sourcesReady = this.sourcesReady || ready;
    if (becameReady) {
      this.dispatchAll();
      void this.housekeeping();
    } else touched.forEach((u) => this.workers.dispatch(u));
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
    return [...this.desired.values()].map((pod) => ({ pod, status: this.statuses.get(pod.metadata.uid) ?? { phase: 'Pending' } }));
  }

  /** Resolves when no pod has work running or queued. */
  idle(): Promise<void> {
    return this.workers.idle();
  }

  /** Nothing of the pod runs: no ready sandbox, no running container, no work under way. */
  stopped(uid: string): boolean {
    const o = this.cache.get(uid);
    return !this.workers.busy(uid) && !o.sandboxes.some((s) => s.state === 'ready') && !o.containers.some((c) => c.state === 'running' || c.state === 'created');
  }

  healthy(now = Date.now()): boolean {
    return now - this.cache.lastRelist < 3 * 60_000;
  }

  private dispatchAll(): void {
    for (const uid of this.desired.keys()) this.workers.dispatch(uid);
    if (this.sourcesReady) for (const uid of this.cache.uids()) if (!this.desired.has(uid)) this.workers.dispatch(uid);
  }

  private async syncOne(uid: string): Promise<void> {
    const pod = this.desired.get(uid);
    let observed = this.cache.get(uid);
    if (!pod) {
      if (!this.sourcesReady) return;
      this.evicted.delete(uid);
      this.restarting.delete(uid);
      this.statuses.delete(uid);
      this.kills.delete(uid);
      this.probes.removePod(uid);
      this.admitted.delete(uid);
      this.rejected.delete(uid);
      this.messages.forget(uid);
      if (observed.sandboxes.length === 0 && observed.containers.length === 0) {
        await cleanupPodDir(this.deps, uid);
        return;
      }
      this.opts.log.info({ podUID: uid, pod: podNameOf(observed) }, 'terminating pod that is no longer desired');
      await terminatePod(this.deps, uid, observed);
      this.deps.backoff.forgetPrefix(`${podNameOf(observed)}_${uid}_`);
      this.deps.images.forgetPod(uid);
      await this.cache.relist();
      return;
    }

    if (this.restarting.delete(uid)) {
      // An evicted static pod comes back as a new instance: what the last one left goes.
      await terminatePod(this.deps, uid, observed, 0);
      await this.cache.relist();
      observed = this.cache.get(uid);
    }
    let waiting: ReadonlyMap<string, ContainerStateWaiting> = new Map();
    const previous = this.statuses.get(uid);
    const terminal = previous?.phase === 'Succeeded' || previous?.phase === 'Failed';
    const evicted = this.evicted.get(uid);
    const rejected = evicted ? { reason: evicted.reason, message: evicted.message } : this.admit(pod, observed);
    if (evicted) {
      // Evicted: everything stops within the eviction's grace; the dead containers stay.
      if (observed.sandboxes.some((s) => s.state === 'ready') || observed.containers.some((c) => c.state === 'running')) {
        await stopAll(this.deps, observed, evicted.graceSeconds, pod);
        await this.cache.relist();
      }
    } else if (rejected) {
      // Refused at admission: nothing of it is created, ever.
    } else if (pod.metadata.deletionTimestamp && pod.metadata.annotations?.['kubernetes.io/config.source'] === 'api') {
      // Deleted through the API server: stopped within the deletion's grace period; it stays
      // desired (its status shows how it ended) until the source removes it.
      if (observed.sandboxes.some((s) => s.state === 'ready') || observed.containers.some((c) => c.state === 'running' || c.state === 'created')) {
        await stopAll(this.deps, observed, pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30, pod);
        await this.cache.relist();
      }
    } else if (this.otherInstanceAlive(pod)) {
      // A static pod whose manifest changed gets a new UID; the old instance must be gone
      // before the new one starts (host ports, names, volumes).
      waiting = new Map(pod.spec.containers.map((c) => [c.name, { reason: 'ContainerCreating', message: 'waiting for the previous instance of this pod to terminate' }]));
    } else if (terminal) {
      // Finished for good: nothing starts again, and whatever still runs is released.
      if (observed.sandboxes.some((s) => s.state === 'ready') || observed.containers.some((c) => c.state === 'running')) {
        await stopAll(this.deps, observed, pod.spec.terminationGracePeriodSeconds ?? 30);
        await this.cache.relist();
      }
    } else {
      const result = await syncPod(this.deps, pod, observed, this.kills.get(uid));
      waiting = result.waiting;
      const a = result.actions;
      if (a.killPod || a.createSandbox || a.containersToKill.length || a.containersToStart.length || a.containersToRemove.length || a.sandboxesToRemove.length) {
        // Plan again only from a view that includes what was just done.
        await this.cache.relist();
      }
    }
    if (this.desired.get(uid) !== pod) return;
    const now = this.cache.get(uid);
    const running = now.containers.filter((c) => c.state === 'running');
    const kills = this.kills.get(uid);
    if (kills) for (const id of kills.keys()) if (!running.some((c) => c.id === id)) kills.delete(id);
    const sandbox = now.sandboxes.find((s) => s.state === 'ready');
    const podIP = pod.spec.hostNetwork ? this.opts.hostIP : sandbox?.ip;
    const live = sandbox ? running.filter((c) => c.podSandboxId === sandbox.id) : [];
    this.probes.update(pod, podIP, live.map((c) => ({ name: c.metadata.name, id: c.id, startedAt: c.startedAt, adopted: c.startedAt < this.started })));
    const status = computePodStatus({
      pod,
      observed: now,
      waiting,
      previous,
      now: this.opts.clock.now(),
      hostIP: this.opts.hostIP,
      runtimeName: this.opts.runtimeName,
      readiness: (name, id) => this.probes.readiness(uid, name, id),
      started: (name, id) => this.probes.started(uid, name, id),
      ...(rejected ? { rejected } : {}),
      messages: await this.messages.collect(pod, now),
    });
    this.statuses.set(uid, status);
    if (JSON.stringify(status) !== JSON.stringify(previous)) for (const l of this.statusListeners) l({ pod, status });
  }

  /** Called with every status change: the ready-endpoints stream Services subscribe to. */
  onStatus(listener: (view: PodView) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  /**
   * kubelet's canAdmitPod, once per pod: checked against the pods admitted before it that
   * have not finished. A pod the runtime already runs (adopted after a restart) was admitted
   * by an earlier life of the agent and is never re-checked.
   */
  private admit(pod: Pod, observed: ObservedPod): { reason: string; message: string } | undefined {
    const uid = pod.metadata.uid;
    if (this.admitted.has(uid) || this.rejected.has(uid)) return this.rejected.get(uid);
    const runs = (o: ObservedPod) => o.sandboxes.length > 0 || o.containers.length > 0;
    if (runs(observed)) {
      this.admitted.add(uid);
      return undefined;
    }
    const ended = (u: string) => ['Succeeded', 'Failed'].includes(this.statuses.get(u)?.phase ?? '');
    const others = [...this.desired.values()].filter((p) => {
      const u = p.metadata.uid;
      return u !== uid && (this.admitted.has(u) || runs(this.cache.get(u))) && !this.rejected.has(u) && !ended(u);
    });
    const r = admitPod(pod, others, this.opts.admissionContext?.() ?? this.opts.admission);
    if (r.ok) {
      this.admitted.add(uid);
      return undefined;
    }
    const rejection = { reason: r.reason, message: `Pod was rejected: ${r.message}` };
    this.rejected.set(uid, rejection);
    this.opts.log.warn({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, podUID: uid, reason: r.reason }, rejection.message);
    this.opts.events.emit(podRef(pod), 'Warning', r.reason, r.message);
    return rejection;
  }

  /**
   * The eviction manager's kill (killPodFunc): the pod's containers are stopped within
   * `graceSeconds` and it ends Failed, reason Evicted, with `message`. Resolves once nothing
   * of it runs. `tag` is kept for readmitEvicted.
   */
  async evict(uid: string, e: { message: string; graceSeconds: number; tag?: string }): Promise<void> {
    const pod = this.desired.get(uid);
    if (!pod || this.evicted.has(uid)) return;
    this.evicted.set(uid, { reason: 'Evicted', message: e.message, graceSeconds: e.graceSeconds, ...(e.tag ? { tag: e.tag } : {}) });
    this.opts.events.emit(podRef(pod), 'Warning', 'Evicted', e.message);
    this.workers.dispatch(uid);
    const deadline = Date.now() + (e.graceSeconds + 30) * 1000;
    const alive = () => { const o = this.cache.get(uid); return o.containers.some((c) => c.state === 'running') || o.sandboxes.some((s) => s.state === 'ready'); };
    while (Date.now() < deadline && (alive() || this.workers.busy(uid))) await new Promise((r) => setTimeout(r, 100));
  }

  /** UIDs of evicted pods, with their tags. */
  evictedPods(): { uid: string; tag?: string }[] {
    return [...this.evicted].map(([uid, e]) => ({ uid, ...(e.tag ? { tag: e.tag } : {}) }));
  }

  /**
   * Static pods evicted for which `pick` holds are started again (upstream never evicts
   * static pods; bosun, whose pods are nearly all static, evicts them and brings them back
   * once the pressure that evicted them is gone): admitted anew, as a pod never seen.
   */
  readmitEvicted(pick: (e: { uid: string; tag?: string }) => boolean): string[] {
    const out: string[] = [];
    for (const [uid, e] of this.evicted) {
      const pod = this.desired.get(uid);
      const source = pod?.metadata.annotations?.['kubernetes.io/config.source'];
      if (!pod || source === 'api' || !pick({ uid, ...(e.tag ? { tag: e.tag } : {}) })) continue;
      this.evicted.delete(uid);
      this.admitted.delete(uid);
      this.rejected.delete(uid);
      this.statuses.delete(uid);
      this.kills.delete(uid);
      this.restarting.add(uid);
      this.deps.backoff.forgetPrefix(`${pod.metadata.name}_${pod.metadata.namespace}_${uid}_`);
      this.opts.log.info({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, podUID: uid }, 'pressure is gone: starting the evicted static pod again');
      this.workers.dispatch(uid);
      out.push(uid);
    }
    return out;
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

function podNameOf(o: { sandboxes: { labels: Record<string, string> }[]; containers: { labels: Record<string, string> }[] }): string {
  const l = (o.sandboxes[0] ?? o.containers[0])?.labels ?? {};
  return `${l[L.podName] ?? '?'}_${l[L.podNamespace] ?? '?'}`;
}
