// The probe manager: one worker per (pod UID, container, probe kind), with kubelet's
// semantics (pkg/kubelet/prober/worker.go). Workers are timers, not loops: a worker arms
// its next run only when the previous one has finished, so runs of one probe never
// overlap however slow the target is.

import { backgroundTimers, type LogSink, type Timers } from '../base/index.js';
import { isSidecar, podRef, type Container, type Pod, type PodRef, type Probe } from '../manifests/index.js';
import { errorText, runProbeHandler, type ExecRuntime, type KubeVersion, type ProbeResult, type ProbeTarget } from './handlers/index.js';
import { ProbeMetrics, type ProbeSeriesLabels, type ProbeTypeLabel } from './metrics.js';

export type ProbeKind = 'startup' | 'readiness' | 'liveness';
/** A worker's published result for its current container. */
export type ProbeState = 'Success' | 'Failure' | 'Unknown';

export interface RunningContainer {
  name: string;
  id: string;
  /** When the engine started it (ms since the epoch): initialDelaySeconds counts from here. */
  startedAt: number;
  /** It was already running when the agent started: its first probe is spread out. */
  adopted: boolean;
}

export interface ProbeEvent {
  pod: PodRef;
  container: string;
  /** The container is a sidecar (an init container), for the event's fieldPath. */
  init: boolean;
  containerId: string;
  probeType: ProbeKind;
  type: 'Normal' | 'Warning';
  reason: 'Unhealthy' | 'ProbeWarning';
  message: string;
}

export interface KillRequest {
  pod: PodRef;
  container: string;
  init: boolean;
  containerId: string;
  reason: 'LivenessProbe' | 'StartupProbe';
  /** kubelet's Killing message: `Container c failed liveness probe, will be restarted`. */
  message: string;
  /** The probe's terminationGracePeriodSeconds, when set: it overrides the pod's. */
  gracePeriodSeconds?: number;
}

export type ProbeRunner = (probe: Probe, target: ProbeTarget, timeoutMs: number, kind: ProbeKind) => Promise<ProbeResult>;

export interface ProbeManagerDeps {
  runtime: ExecRuntime;
  /** The agent's release: httpGet and gRPC probes send kube-probe/<major>.<minor>. */
  kubeVersion: KubeVersion;
  /** Milliseconds since the epoch, the clock container startedAt values are on. */
  timers?: Timers;
  log?: LogSink;
  /** Uniform in [0, 1), for spreading first probes. */
  random?: () => number;
  /** A liveness or startup probe crossed its failure threshold: kill the container. Once per container. */
  onKill: (kill: KillRequest) => void;
  onEvent?: (event: ProbeEvent) => void;
  /** Replaces the real handlers (tests drive the state machine with it). */
  runProbe?: ProbeRunner;
}

const KINDS: readonly ProbeKind[] = ['startup', 'readiness', 'liveness'];
const FIELD = { startup: 'startupProbe', readiness: 'readinessProbe', liveness: 'livenessProbe' } as const;
const LABEL: Record<ProbeKind, ProbeTypeLabel> = { startup: 'Startup', readiness: 'Readiness', liveness: 'Liveness' };
const INITIAL: Record<ProbeKind, ProbeState> = { startup: 'Unknown', readiness: 'Failure', liveness: 'Success' };
/** kubelet runs a probe that errors (rather than fails) up to this many times in a row. */
const MAX_PROBE_RETRIES = 3;

interface Params {
  initialDelayMs: number;
  periodMs: number;
  timeoutMs: number;
  successThreshold: number;
  failureThreshold: number;
}

/** Upstream defaults for anything unset (the API server would have filled them in). */
export function probeParams(p: Probe): Params {
  const positive = (v: number | undefined, d: number) => (v !== undefined && v > 0 ? v : d);
  return {
    initialDelayMs: Math.max(0, p.initialDelaySeconds ?? 0) * 1000,
    periodMs: positive(p.periodSeconds, 10) * 1000,
    timeoutMs: positive(p.timeoutSeconds, 1) * 1000,
    successThreshold: positive(p.successThreshold, 1),
    failureThreshold: positive(p.failureThreshold, 3),
  };
}

class Worker {
  readonly params: Params;
  containerId: string | undefined;
  startedAt = 0;
  running = false;
  state: ProbeState;
  last: 'Success' | 'Failure' | undefined;
  run = 0;
  /** Liveness/startup failed: nothing more until a new container. */
  onHold = false;
  /** Startup passed, or liveness/startup silenced for pod deletion. */
  done = false;
  inFlight = false;
  /** Bumped whenever the container changes or the worker stops: late results are dropped. */
  gen = 0;
  timer: unknown;
  dueAt = 0;
  jitter = false;
  killedId: string | undefined;
  removed = false;

  constructor(
    readonly kind: ProbeKind,
    readonly container: Container,
    readonly init: boolean,
    readonly probe: Probe,
  ) {
    this.params = probeParams(probe);
    this.state = INITIAL[kind];
  }
}

interface PodEntry {
  pod: Pod;
  podIP: string | undefined;
  workers: Map<string, Worker>;
}

type Outcome = { ok: true; value: ProbeResult } | { ok: false; error: unknown };

const workerKey = (container: string, kind: ProbeKind) => `${container}\u0000${kind}`;

function probedContainers(pod: Pod): { container: Container; init: boolean }[] {
  return [
    ...(pod.spec.containers ?? []).map((container) => ({ container, init: false })),
    ...(pod.spec.initContainers ?? []).filter(isSidecar).map((container) => ({ container, init: true })),
  ];
}

export class ProbeManager {
  readonly metrics = new ProbeMetrics();
  private readonly pods = new Map<string, PodEntry>();
  private readonly listeners = new Set<(uid: string) => void>();
  private readonly timers: Timers;
  private readonly random: () => number;
  private readonly runProbe: ProbeRunner;
  private stopped = false;

  constructor(private readonly deps: ProbeManagerDeps) {
    this.timers = deps.timers ?? backgroundTimers;
    this.random = deps.random ?? Math.random;
    this.runProbe = deps.runProbe ?? ((probe, target, timeoutMs) => runProbeHandler(probe, target, deps, timeoutMs));
  }

  /**
   * Called on every pod sync with the pod's running containers: creates workers for the
   * probes in the spec, resets those whose container changed, idles those whose container
   * is not running, and drops those whose probe left the spec.
   */
  update(pod: Pod, podIP: string | undefined, running: RunningContainer[]): void {
    if (this.stopped) return;
    const uid = pod.metadata.uid;
    let entry = this.pods.get(uid);
    if (!entry) {
      entry = { pod, podIP, workers: new Map() };
      this.pods.set(uid, entry);
    }
    entry.pod = pod;
    entry.podIP = podIP;

    let changed = false;
    const wanted = new Set<string>();
    for (const { container, init } of probedContainers(pod)) {
      for (const kind of KINDS) {
        const probe = container[FIELD[kind]];
        if (!probe) continue;
        const key = workerKey(container.name, kind);
        wanted.add(key);
        if (!entry.workers.has(key)) entry.workers.set(key, new Worker(kind, container, init, probe));
      }
    }
    for (const [key, w] of entry.workers) {
      if (!wanted.has(key)) {
        this.removeWorker(entry, key, w);
        changed ||= w.kind !== 'liveness';
      }
    }

    const byName = new Map(running.map((r) => [r.name, r]));
    const deleting = Boolean(pod.metadata.deletionTimestamp);
    for (const w of entry.workers.values()) {
      const r = byName.get(w.container.name);
      if (r && (r.id !== w.containerId || !w.running)) changed = this.newContainer(w, r) || changed;
      else if (!r && w.running) changed = this.containerGone(w) || changed;
      // A pod on its way out must not have its containers killed by probes: liveness and
      // startup report Success one last time and stop; readiness goes on until the end.
      if (deleting && w.kind !== 'readiness' && w.running && !w.done) {
        this.halt(w);
        w.done = true;
        changed ||= w.kind === 'startup' && w.state !== 'Success';
        w.state = 'Success';
      }
    }
    // Armed after all resets, so that gating sees the startup worker's fresh state.
    for (const w of entry.workers.values()) this.arm(entry, w);
    if (changed) this.notify(uid);
  }

  removePod(uid: string): void {
    const entry = this.pods.get(uid);
    if (!entry) return;
    for (const [key, w] of entry.workers) this.removeWorker(entry, key, w);
    this.pods.delete(uid);
    this.notify(uid);
  }

  /** Readiness of that container; undefined when it has no readiness probe. */
  readiness(uid: string, containerName: string, containerId: string): boolean | undefined {
    return this.result(uid, containerName, containerId, 'readiness');
  }

  /** Whether its startup probe has passed; undefined when it has no startup probe. */
  started(uid: string, containerName: string, containerId: string): boolean | undefined {
    return this.result(uid, containerName, containerId, 'startup');
  }

  /** Called with the pod UID whenever a readiness or startup result changes. */
  onChange(listener: (uid: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stop(): void {
    this.stopped = true;
    for (const entry of this.pods.values()) {
      for (const w of entry.workers.values()) {
        this.halt(w);
        w.removed = true;
      }
    }
    this.pods.clear();
    this.listeners.clear();
  }

  private result(uid: string, name: string, id: string, kind: ProbeKind): boolean | undefined {
    const w = this.pods.get(uid)?.workers.get(workerKey(name, kind));
    if (!w) return undefined;
    return w.containerId === id && w.running && w.state === 'Success';
  }

  private newContainer(w: Worker, r: RunningContainer): boolean {
    this.halt(w);
    w.containerId = r.id;
    w.startedAt = r.startedAt;
    w.running = true;
    w.state = INITIAL[w.kind];
    w.last = undefined;
    w.run = 0;
    w.onHold = false;
    w.done = false;
    w.jitter = r.adopted;
    if (r.adopted && w.kind !== 'liveness') {
      // A container found running after an agent restart keeps what it had reached (kubelet
      // since 1.35): started, and ready until its readiness probe fails again. No result
      // survives the restart, so "ready before" is assumed, not remembered.
      w.state = 'Success';
      if (w.kind === 'startup') w.done = true;
    }
    return w.kind !== 'liveness';
  }

  /** kubelet marks a probed container that is not running as failed and waits. */
  private containerGone(w: Worker): boolean {
    this.halt(w);
    w.running = false;
    if (w.state === 'Failure') return false;
    w.state = 'Failure';
    return w.kind !== 'liveness';
  }

  /** Cancels the timer and orphans a run in flight. */
  private halt(w: Worker): void {
    if (w.timer !== undefined) this.timers.clearTimeout(w.timer);
    w.timer = undefined;
    w.inFlight = false;
    w.gen++;
  }

  private removeWorker(entry: PodEntry, key: string, w: Worker): void {
    this.halt(w);
    w.removed = true;
    entry.workers.delete(key);
    this.metrics.forget(this.labels(entry, w));
  }

  private gated(entry: PodEntry, w: Worker): boolean {
    if (w.kind === 'startup') return false;
    const s = entry.workers.get(workerKey(w.container.name, 'startup'));
    return s !== undefined && !(s.containerId === w.containerId && s.state === 'Success');
  }

  private eligible(entry: PodEntry, w: Worker): boolean {
    return !this.stopped && !w.removed && w.running && !w.onHold && !w.done && !this.gated(entry, w);
  }

  /** Schedules the first run for this container, if there is none pending. */
  private arm(entry: PodEntry, w: Worker): void {
    if (w.timer !== undefined || w.inFlight || !this.eligible(entry, w)) return;
    const now = this.timers.now();
    let at = now;
    if (w.jitter) {
      // After an agent restart every adopted container would be probed at once.
      at += this.random() * w.params.periodMs;
      w.jitter = false;
    }
    this.schedule(entry, w, Math.max(at, w.startedAt + w.params.initialDelayMs));
  }

  private schedule(entry: PodEntry, w: Worker, at: number): void {
    if (w.timer !== undefined) this.timers.clearTimeout(w.timer);
    w.dueAt = at;
    w.timer = this.timers.setTimeout(() => this.tick(entry, w), Math.max(0, at - this.timers.now()));
  }

  private tick(entry: PodEntry, w: Worker): void {
    w.timer = undefined;
    if (w.inFlight || !this.eligible(entry, w)) return;
    w.inFlight = true;
    const gen = w.gen;
    const dueAt = w.dueAt;
    const startedAt = this.timers.now();
    const target: ProbeTarget = { pod: entry.pod, container: w.container, containerId: w.containerId as string, podIP: entry.podIP };
    void this.attempt(w, target).then((outcome) => this.complete(entry, w, gen, dueAt, startedAt, outcome));
  }

  private async attempt(w: Worker, target: ProbeTarget): Promise<Outcome> {
    let error: unknown;
    for (let i = 0; i < MAX_PROBE_RETRIES; i++) {
      try {
        return { ok: true, value: await this.runProbe(w.probe, target, w.params.timeoutMs, w.kind) };
      } catch (err) {
        error = err;
      }
    }
    return { ok: false, error };
  }

  private complete(entry: PodEntry, w: Worker, gen: number, dueAt: number, startedAt: number, outcome: Outcome): void {
    if (gen !== w.gen || w.removed || this.stopped) return;
    w.inFlight = false;
    const now = this.timers.now();
    const labels = this.labels(entry, w);
    this.metrics.observe(labels, (now - startedAt) / 1000);
    const what = LABEL[w.kind];

    if (!outcome.ok) {
      // kubelet throws such a result away: it neither counts towards a threshold nor changes state.
      this.metrics.count(labels, 'unknown');
      this.event(entry, w, 'Unhealthy', `${what} probe errored and resulted in unknown state: ${errorText(outcome.error)}`);
    } else {
      const { result, output } = outcome.value;
      const verdict = result === 'Failure' ? 'Failure' : 'Success';
      this.metrics.count(labels, verdict === 'Success' ? 'successful' : 'failed');
      if (result === 'Warning') this.event(entry, w, 'ProbeWarning', `${what} probe warning: ${output}`);
      if (result === 'Failure') this.event(entry, w, 'Unhealthy', `${what} probe failed: ${output}`);
      if (w.last === verdict) w.run++;
      else {
        w.last = verdict;
        w.run = 1;
      }
      const threshold = verdict === 'Failure' ? w.params.failureThreshold : w.params.successThreshold;
      if (w.run >= threshold) this.settle(entry, w, verdict);
    }
    if (gen === w.gen && this.eligible(entry, w)) this.schedule(entry, w, Math.max(dueAt + w.params.periodMs, this.timers.now()));
  }

  private settle(entry: PodEntry, w: Worker, verdict: 'Success' | 'Failure'): void {
    const changed = w.state !== verdict;
    w.state = verdict;
    if (verdict === 'Failure' && w.kind !== 'readiness') {
      // Probing a container that is being killed gains nothing (and upstream saw engines
      // corrupt state on exec during a stop): wait for the next container.
      w.onHold = true;
      w.run = 0;
      if (w.killedId !== w.containerId) {
        w.killedId = w.containerId;
        this.kill(entry, w);
      }
    }
    if (w.kind === 'startup' && verdict === 'Success') {
      w.done = true;
      for (const kind of ['readiness', 'liveness'] as const) {
        const sibling = entry.workers.get(workerKey(w.container.name, kind));
        if (!sibling) continue;
        // The startup probe already took the spread-out first slot.
        sibling.jitter = false;
        this.arm(entry, sibling);
      }
    }
    if (changed && w.kind !== 'liveness') this.notify(entry.pod.metadata.uid);
  }

  private kill(entry: PodEntry, w: Worker): void {
    const restart = w.init || entry.pod.spec.restartPolicy !== 'Never';
    const kill: KillRequest = {
      pod: podRef(entry.pod),
      container: w.container.name,
      init: w.init,
      containerId: w.containerId as string,
      reason: w.kind === 'liveness' ? 'LivenessProbe' : 'StartupProbe',
      message: `Container ${w.container.name} failed ${w.kind} probe${restart ? ', will be restarted' : ''}`,
    };
    if (w.probe.terminationGracePeriodSeconds !== undefined) kill.gracePeriodSeconds = w.probe.terminationGracePeriodSeconds;
    this.deps.log?.info({ ...this.logKeys(entry, w), containerID: kill.containerId }, kill.message);
    try {
      this.deps.onKill(kill);
    } catch (err) {
      this.deps.log?.warn({ ...this.logKeys(entry, w), err: errorText(err) }, 'Probe kill callback failed');
    }
  }

  private event(entry: PodEntry, w: Worker, reason: ProbeEvent['reason'], message: string): void {
    this.deps.log?.debug({ ...this.logKeys(entry, w), reason }, message);
    if (!this.deps.onEvent) return;
    try {
      this.deps.onEvent({
        pod: podRef(entry.pod),
        container: w.container.name,
        init: w.init,
        containerId: w.containerId as string,
        probeType: w.kind,
        type: 'Warning',
        reason,
        message,
      });
    } catch (err) {
      this.deps.log?.warn({ ...this.logKeys(entry, w), err: errorText(err) }, 'Probe event callback failed');
    }
  }

  private notify(uid: string): void {
    for (const l of [...this.listeners]) {
      try {
        l(uid);
      } catch (err) {
        this.deps.log?.warn({ podUID: uid, err: errorText(err) }, 'Probe change listener failed');
      }
    }
  }

  private labels(entry: PodEntry, w: Worker): ProbeSeriesLabels {
    const m = entry.pod.metadata;
    return { probe_type: LABEL[w.kind], container: w.container.name, pod: m.name, namespace: m.namespace, pod_uid: m.uid };
  }

  private logKeys(entry: PodEntry, w: Worker): Record<string, string> {
    const m = entry.pod.metadata;
    return { pod: `${m.namespace}/${m.name}`, podUID: m.uid, container: w.container.name, probeType: w.kind };
  }
}
