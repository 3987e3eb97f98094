import type { LinuxContainerResources, ContainerStatus as RuntimeContainer, PodSandboxStatus } from '../../cri/index.js';
import type { Container, Pod, RestartPolicy } from '../../manifests/index.js';
import { isSidecar } from '../../manifests/index.js';
import type { KillRequest as ProbeKillRequest } from '../../probes/index.js';
import { formatGoDuration } from '../vocab/index.js';
import type { ObservedPod } from '../vocab/index.js';
import { containerHash, L, recordedSpecChanged } from '../vocab/index.js';

// The decision half of a pod sync, after kubelet's computePodActions: a pure function from
// (desired pod, observed runtime state, back-off view) to a plain record of actions. The
// executor in sync.ts walks the record in a fixed order and touches nothing else.

/** Read-only view of the crash back-off, keyed per container spec (kubelet's stable key). */
export interface BackoffView {
  isInBackOffSince(key: string, eventTime: number): boolean;
  /** Still backing off since the last recorded failure (a start that failed left no container). */
  isInBackOffSinceUpdate(key: string): boolean;
  get(key: string): number;
}

/** Startup probe results: undefined when the container has no startup probe. */
export type StartedView = (containerName: string, containerId: string) => boolean | undefined;

export interface ContainerToKill {
  id: string;
  name: string;
  reason: string;
  message: string;
  /** Overrides the pod's terminationGracePeriodSeconds (a probe-level grace period). */
  graceSeconds?: number;
  /** Keep the dead container (for logs --previous) instead of removing it. */
  keep?: boolean;
}

/** What the planner reads of a probe's kill request (a failed liveness or startup probe). */
export type KillRequest = Pick<ProbeKillRequest, 'reason' | 'message' | 'gracePeriodSeconds'>;

function killOf(k: KillRequest): Pick<ContainerToKill, 'reason' | 'message' | 'graceSeconds'> {
  return { reason: k.reason, message: k.message, graceSeconds: k.gracePeriodSeconds };
}

export interface ContainerToStart {
  /** 'init' covers sidecars too: they live in spec.initContainers. */
  kind: 'init' | 'app' | 'ephemeral';
  index: number;
  attempt: number;
  /** True when this start is a restart that must be recorded in the back-off. */
  restart: boolean;
}

export interface WaitingInBackoff {
  name: string;
  reason: 'CrashLoopBackOff';
  message: string;
}

export interface PodActions {
  killPod: boolean;
  createSandbox: boolean;
  /** The sandbox the containers run in: the one to keep, or empty when one is to be created. */
  sandboxId: string;
  attempt: number;
  containersToKill: ContainerToKill[];
  /** In start order: at most one plain init container, then sidecars, then app containers. */
  containersToStart: ContainerToStart[];
  /** Exited containers beyond the newest one per name, and those of dead sandboxes. */
  containersToRemove: string[];
  sandboxesToRemove: string[];
  backoffs: WaitingInBackoff[];
  /** A plain init container failed and restartPolicy forbids retrying: the pod is Failed. */
  initFailed: boolean;
  /** The grace of killPod when it is not the pod's own (a deletion's, an eviction's). */
  graceSeconds?: number;
  /** Running app containers whose limits change in place (in-place resize). */
  containersToResize?: ContainerToResize[];
}

export interface ContainerToResize {
  id: string;
  name: string;
  resources: LinuxContainerResources;
}

/** The cgroup limits a container should run with; undefined where the agent sets none. */
export type DesiredResources = (c: Container) => LinuxContainerResources | undefined;

/**
 * Which of cpu and memory differ between what runs and what is asked for. Only the values a
 * resize sets: shares and quota for cpu, the limit for memory.
 */
export function resizedResources(actual: LinuxContainerResources, want: LinuxContainerResources): ('cpu' | 'memory')[] {
  const out: ('cpu' | 'memory')[] = [];
  if ((actual.cpuShares ?? 0) !== (want.cpuShares ?? 0) || (actual.cpuQuota ?? 0) !== (want.cpuQuota ?? 0)) out.push('cpu');
  if ((actual.memoryLimitInBytes ?? 0) !== (want.memoryLimitInBytes ?? 0)) out.push('memory');
  return out;
}

export function backoffKey(pod: Pod, c: Container): string {
  return `${pod.metadata.name}_${pod.metadata.namespace}_${pod.metadata.uid}_${c.name}_${containerHash(c)}`;
}

export function shouldRestart(policy: RestartPolicy | undefined, exitCode: number): boolean {
  if (policy === 'Never') return false;
  if (policy === 'OnFailure') return exitCode !== 0;
  return true;
}

/** The newest container of a name (highest attempt, then newest creation). */
export function latestByName(containers: RuntimeContainer[], name: string, sandboxId?: string): RuntimeContainer | undefined {
  let best: RuntimeContainer | undefined;
  for (const c of containers) {
    if (c.metadata.name !== name) continue;
    if (sandboxId !== undefined && c.podSandboxId !== sandboxId) continue;
    if (!best || c.metadata.attempt > best.metadata.attempt ||
        (c.metadata.attempt === best.metadata.attempt && c.createdAt > best.createdAt)) best = c;
  }
  return best;
}

function sandboxUsable(pod: Pod, s: PodSandboxStatus | undefined): boolean {
  if (!s || s.state !== 'ready') return false;
  return pod.spec.hostNetwork ? true : !!s.ip;
}

export function backoffMessage(delayMs: number, pod: Pod, c: Container): string {
  return `back-off ${formatGoDuration(delayMs)} restarting failed container=${c.name} pod=${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})`;
}

function emptyActions(): PodActions {
  return { killPod: false, createSandbox: false, sandboxId: '', attempt: 0, containersToKill: [], containersToStart: [], containersToRemove: [], sandboxesToRemove: [], backoffs: [], initFailed: false };
}

/**
 * Termination as a plan (kubelet's SyncTerminatingPod / SyncTerminatedPod): everything that
 * runs is stopped within `graceSeconds`; with `remove`, the pod's containers and sandboxes
 * then go too (a pod no source lists any more, or the leftovers of an evicted instance).
 * Without it the dead containers stay, for the final status and `logs --previous`.
 */
export function computeTerminationActions(observed: ObservedPod, o: { graceSeconds: number; remove: boolean }): PodActions {
  const actions = emptyActions();
  actions.killPod = observed.sandboxes.some((s) => s.state === 'ready') || observed.containers.some((c) => c.state === 'running');
  actions.graceSeconds = o.graceSeconds;
  // A container created and never started cannot be stopped (the engine keeps it Created):
  // it goes, it never ran and holds no history.
  actions.containersToRemove = observed.containers.filter((c) => o.remove || c.state === 'created').map((c) => c.id);
  if (o.remove) actions.sandboxesToRemove = observed.sandboxes.map((s) => s.id);
  return actions;
}

/** Nothing of the pod runs: no ready sandbox, no running or created container. */
export function podStopped(observed: ObservedPod): boolean {
  return !observed.sandboxes.some((s) => s.state === 'ready') && !observed.containers.some((c) => c.state === 'running' || c.state === 'created');
}

export function computePodActions(pod: Pod, observed: ObservedPod, backoff: BackoffView, kills: ReadonlyMap<string, KillRequest> = new Map(), started: StartedView = () => undefined, desired?: DesiredResources): PodActions {
  const actions = emptyActions();
  const policy = pod.spec.restartPolicy ?? 'Always';
  const inits = pod.spec.initContainers ?? [];
  const apps = pod.spec.containers;
  const sandboxes = [...observed.sandboxes].sort((a, b) => b.metadata.attempt - a.metadata.attempt || b.createdAt - a.createdAt);
  // A sandbox that never started and holds nothing (a create the engine finished after the
  // agent that asked for it was killed) is not the pod's sandbox while another one exists.
  const holds = (sb: PodSandboxStatus) => sb.state === 'ready' || observed.containers.some((c) => c.podSandboxId === sb.id);
  const newest = sandboxes.find(holds) ?? sandboxes[0];
  const readySandboxes = sandboxes.filter((s) => s.state === 'ready');

  planRemovals(observed, newest, actions);

  const sandboxChanged = !sandboxUsable(pod, newest) || readySandboxes.length > 1 ||
    !!newest && (newest.labels[HOST_NETWORK_LABEL] === 'true') !== !!pod.spec.hostNetwork;

  if (sandboxChanged) {
    actions.attempt = newest ? newest.metadata.attempt + 1 : 0;
    // A pod that already ran to its end in an earlier sandbox is not brought back when
    // its policy says not to (kubelet: no sandbox for a finished RestartPolicy=Never pod).
    if (newest && policy === 'Never' && observed.containers.length > 0) {
      actions.killPod = readySandboxes.length > 0 || observed.containers.some((c) => c.state === 'running');
      return actions;
    }
    const toStart = apps
      .map((c, index) => ({ c, index }))
      .filter(({ c }) => !(policy === 'OnFailure' && succeeded(latestByName(observed.containers, c.name))));
    // Nothing left to run and the app containers have run before: the pod is done, and
    // its init containers (one-shot setup, migrations) must not run a second time
    // (upstream computePodActions with hasAnyRegularContainerCreated).
    if (toStart.length === 0 && hasAnyRegularContainerCreated(pod, observed)) {
      actions.killPod = readySandboxes.length > 0 || observed.containers.some((c) => c.state === 'running');
      return actions;
    }
    actions.killPod = !!newest;
    actions.createSandbox = true;
    // A new sandbox runs the init containers again from the first one.
    const [firstInit] = inits;
    if (firstInit) {
      actions.containersToStart.push({ kind: 'init', index: 0, attempt: nextAttempt(observed, firstInit.name), restart: false });
    } else {
      for (const { c, index } of toStart) {
        actions.containersToStart.push({ kind: 'app', index, attempt: nextAttempt(observed, c.name), restart: false });
      }
    }
    return actions;
  }

  const sandbox = newest!;
  actions.sandboxId = sandbox.id;
  // Containers still running in an older sandbox do not belong to the pod any more.
  for (const c of observed.containers) {
    if (c.podSandboxId !== sandbox.id && c.state === 'running') {
      actions.containersToKill.push({ id: c.id, name: c.metadata.name, reason: 'SandboxChanged', message: 'Pod sandbox changed, it will be killed and re-created.' });
    }
  }

  const initDone = planInit(pod, observed, sandbox.id, backoff, kills, started, actions, desired);
  if (actions.initFailed) {
    actions.killPod = true;
    return actions;
  }
  // Ephemeral containers start once, even before initialization is done, and never again:
  // any run of the name, in any sandbox, is theirs (kubelet's computePodActions).
  (pod.spec.ephemeralContainers ?? []).forEach((c, index) => {
    if (!observed.containers.some((x) => x.metadata.name === c.name)) actions.containersToStart.push({ kind: 'ephemeral', index, attempt: 0, restart: false });
  });
  if (!initDone) return actions;

  // App containers only: sidecars never keep a pod alive on their own.
  let keepRunning = 0;
  let appPending = 0;
  for (const [index, c] of apps.entries()) {
    const st = latestByName(observed.containers, c.name);
    if (!st) {
      appPending++;
      if (!gateByBackoff(pod, c, backoff, actions)) actions.containersToStart.push({ kind: 'app', index, attempt: 0, restart: false });
      continue;
    }
    const inSandbox = st.podSandboxId === sandbox.id;
    if (st.state === 'running' && inSandbox) {
      const kill = kills.get(st.id);
      if (kill) {
        // Killed now, restarted by the next sync through the restart policy and back-off.
        actions.containersToKill.push({ id: st.id, name: c.name, ...killOf(kill), keep: true });
        keepRunning++;
      } else if (specChanged(st, c) || (!canResize(st, desired) && recordedSpecChanged(st, c))) {
        // (Resources changed where the runtime cannot report or update them: recreate it.)
        actions.containersToKill.push({ id: st.id, name: c.name, reason: 'SpecChanged', message: `Container ${c.name} definition changed, will be restarted` });
        actions.containersToStart.push({ kind: 'app', index, attempt: st.metadata.attempt + 1, restart: false });
        appPending++;
      } else {
        if (planResize(st, c, desired, actions)) {
          actions.containersToStart.push({ kind: 'app', index, attempt: st.metadata.attempt + 1, restart: false });
          appPending++;
        } else {
          keepRunning++;
        }
      }
      continue;
    }
    if (st.state === 'created' || st.state === 'unknown') {
      // Created but never started (the agent died between create and start), or lost. A
      // run of the same container that is up in the sandbox stays the one that runs.
      const up = observed.containers.find((x) => x.metadata.name === c.name && x.podSandboxId === sandbox.id && x.state === 'running');
      if (up) {
        actions.containersToKill.push({ id: st.id, name: c.name, reason: 'Unknown', message: `Container ${c.name} is in state ${st.state} beside a running one, it will be removed` });
        keepRunning++;
        continue;
      }
      actions.containersToKill.push({ id: st.id, name: c.name, reason: 'Unknown', message: `Container ${c.name} is in state ${st.state}, it will be re-created` });
      actions.containersToStart.push({ kind: 'app', index, attempt: st.metadata.attempt + 1, restart: false });
      appPending++;
      continue;
    }
    if (!inSandbox && st.state === 'running') {
      keepRunning++; // killed above; restarted next sync
      continue;
    }
    if (!shouldRestart(policy, st.exitCode)) continue;
    appPending++;
    planRestart(pod, c, st, 'app', index, backoff, actions);
  }

  if (keepRunning === 0 && appPending === 0) {
    // Every app container has finished for good: the pod is done. Its sidecars are stopped
    // with it and none of them starts again (kubelet: KillPod, InitContainersToStart = nil).
    actions.containersToStart = [];
    actions.containersToKill = [];
    actions.backoffs = [];
    actions.killPod = sandbox.state === 'ready' || observed.containers.some((c) => c.state === 'running' || c.state === 'created');
  }
  return actions;
}

/**
 * kubelet's computeInitContainerActions. Returns true once the pod is initialized: every
 * plain init container exited 0 and every sidecar started (its startup probe passed, or it
 * runs and has none), or app containers were already created in this sandbox. The walk goes
 * from the last init container back, so that the newest one that ran decides what is next
 * even when the runtime lost the records of earlier ones; once the pod is initialized only
 * sidecars are kept running (restarted when they exit or their spec changed).
 */
function planInit(pod: Pod, observed: ObservedPod, sandboxId: string, backoff: BackoffView, kills: ReadonlyMap<string, KillRequest>, started: StartedView, actions: PodActions, desired?: DesiredResources): boolean {
  const inits = pod.spec.initContainers ?? [];
  if (inits.length === 0) return true;
  const policy = pod.spec.restartPolicy ?? 'Always';
  const inSandbox = (name: string) => latestByName(observed.containers, name, sandboxId);
  let initialized = pod.spec.containers.some((c) => inSandbox(c.name) !== undefined);
  let seen = initialized;
  // Collected last to first; started in spec order.
  const starts: ContainerToStart[] = [];
  const startNew = (index: number) => {
    const c = inits[index];
    if (!c) return; // callers pass indices of inits (0, or one past an index that is not the last)
    if (!gateByBackoff(pod, c, backoff, actions)) starts.push({ kind: 'init', index, attempt: nextAttempt(observed, c.name), restart: false });
  };
  const restart = (index: number, c: Container, st: RuntimeContainer) => {
    const before = actions.containersToStart.length;
    planRestart(pod, c, st, 'init', index, backoff, actions);
    starts.push(...actions.containersToStart.splice(before));
  };
  for (const [index, c] of [...inits.entries()].reverse()) {
    const sidecar = isSidecar(c);
    const st = inSandbox(c.name);
    if (!st) {
      // A sidecar whose record is gone after later ones ran is started again.
      if (seen && sidecar) startNew(index);
      continue;
    }
    if (seen && !sidecar) continue;
    // Nothing after this one has run yet: it is the newest, and decides what comes next.
    const newest = !seen;
    seen = true;
    if (st.state === 'created' || st.state === 'unknown') {
      actions.containersToKill.push({ id: st.id, name: c.name, reason: 'Unknown', message: `Init container ${c.name} is in state ${st.state}, it will be re-created` });
      starts.push({ kind: 'init', index, attempt: st.metadata.attempt + 1, restart: false });
      continue;
    }
    if (st.state === 'running') {
      if (!sidecar) continue; // wait for it to finish
      // A sidecar with a startup probe holds back what follows until the probe passes.
      const kill = kills.get(st.id);
      if (c.startupProbe && started(c.name, st.id) !== true) {
        if (kill) actions.containersToKill.push({ id: st.id, name: c.name, ...killOf(kill), keep: true });
        continue;
      }
      if (index === inits.length - 1) initialized = true;
      else if (newest) startNew(index + 1);
      if (specChanged(st, c) || (!canResize(st, desired) && recordedSpecChanged(st, c))) {
        actions.containersToKill.push({ id: st.id, name: c.name, reason: 'SpecChanged', message: `Init container ${c.name} definition changed, will be restarted` });
        starts.push({ kind: 'init', index, attempt: st.metadata.attempt + 1, restart: false });
        continue;
      }
      // Sidecars resize in place as app containers do (upstream allows restartable init containers).
      if (!kill && planResize(st, c, desired, actions)) {
        starts.push({ kind: 'init', index, attempt: st.metadata.attempt + 1, restart: false });
        continue;
      }
      // A failed liveness probe: killed now, restarted through the back-off next sync.
      if (kill) actions.containersToKill.push({ id: st.id, name: c.name, ...killOf(kill), keep: true });
      continue;
    }
    // Exited.
    if (sidecar) {
      // Restarted whatever the pod's policy; what follows waits until it runs again.
      restart(index, c, st);
      continue;
    }
    if (st.exitCode !== 0) {
      if (policy === 'Never') {
        actions.initFailed = true;
        actions.containersToStart = [];
        return false;
      }
      restart(index, c, st);
      continue;
    }
    if (index === inits.length - 1) initialized = true;
    else if (newest) startNew(index + 1);
  }
  if (!seen) startNew(0);
  actions.containersToStart.push(...starts.reverse());
  return initialized;
}

function planRestart(pod: Pod, c: Container, st: RuntimeContainer, kind: 'init' | 'app', index: number, backoff: BackoffView, actions: PodActions): void {
  const key = backoffKey(pod, c);
  if (backoff.isInBackOffSince(key, st.finishedAt)) {
    actions.backoffs.push({ name: c.name, reason: 'CrashLoopBackOff', message: backoffMessage(backoff.get(key), pod, c) });
    return;
  }
  actions.containersToStart.push({ kind, index, attempt: st.metadata.attempt + 1, restart: true });
}

/**
 * A container whose last start failed left nothing behind (the runtime removes it), so
 * there is no finish time to measure the back-off from: the failure itself is the event.
 * Without this, a bad image entrypoint would be retried every sync tick.
 */
function gateByBackoff(pod: Pod, c: Container, backoff: BackoffView, actions: PodActions): boolean {
  const key = backoffKey(pod, c);
  if (!backoff.isInBackOffSinceUpdate(key)) return false;
  actions.backoffs.push({ name: c.name, reason: 'CrashLoopBackOff', message: backoffMessage(backoff.get(key), pod, c) });
  return true;
}

/**
 * Any app container exists in the runtime (created, running or exited): the init containers
 * completed once. Upstream's hasAnyRegularContainerCreated.
 */
export function hasAnyRegularContainerCreated(pod: Pod, observed: ObservedPod): boolean {
  return pod.spec.containers.some((c) => {
    const st = latestByName(observed.containers, c.name);
    return !!st && st.state !== 'unknown';
  });
}

function succeeded(st: RuntimeContainer | undefined): boolean {
  return !!st && st.state === 'exited' && st.exitCode === 0;
}

function nextAttempt(observed: ObservedPod, name: string): number {
  const st = latestByName(observed.containers, name);
  return st ? st.metadata.attempt + 1 : 0;
}

/** Label the executor puts on sandboxes so that a hostNetwork change is seen. */
export const HOST_NETWORK_LABEL = 'bosun.io/host-network';

/**
 * Container and sandbox GC for one pod (kuberuntime_gc.go evictContainers, evictSandboxes):
 * the newest dead container per name stays (MaxPerPodContainer 1: what `logs --previous`
 * reads, what restartCount and lastState are made of, and the proof that a container
 * already succeeded); older ones go. A sandbox that still holds a container stays, however
 * dead it is: removing it would take its containers, and the pod's history, with it. Only
 * an empty sandbox that is neither ready nor the newest is removed. A container created and
 * never started outside the newest sandbox (a start cut short) holds no history and goes.
 */
function planRemovals(observed: ObservedPod, newest: PodSandboxStatus | undefined, actions: PodActions): void {
  const byName = new Map<string, RuntimeContainer[]>();
  const removed = new Set<string>();
  for (const c of observed.containers) {
    if (c.state === 'running') continue;
    if (c.state === 'created') {
      if (newest && c.podSandboxId !== newest.id) removed.add(c.id);
      continue;
    }
    const list = byName.get(c.metadata.name) ?? [];
    list.push(c);
    byName.set(c.metadata.name, list);
  }
  for (const list of byName.values()) {
    list.sort((a, b) => b.metadata.attempt - a.metadata.attempt || b.createdAt - a.createdAt);
    for (const c of list.slice(1)) removed.add(c.id);
  }
  actions.containersToRemove.push(...removed);
  for (const s of observed.sandboxes) {
    if (s === newest || s.state === 'ready') continue;
    const holds = observed.containers.some((c) => c.podSandboxId === s.id && !removed.has(c.id));
    if (!holds) actions.sandboxesToRemove.push(s.id);
  }
}

/**
 * Whether a running container must be recreated for its spec. Containers that carry the hash
 * without resources are compared on it (a resources-only edit is a resize); older ones on
 * the full hash.
 */
function specChanged(st: RuntimeContainer, c: Container): boolean {
  if (st.annotations[L.containerHashNoResources]) return recordedSpecChanged(st, c, 'withoutResources');
  return recordedSpecChanged(st, c);
}

/**
 * A running container whose spec changed in its resources only: resized in place, or killed
 * where its resizePolicy says RestartContainer for a resource that changed (true: the
 * caller starts it again).
 */
function planResize(st: RuntimeContainer, c: Container, desired: DesiredResources | undefined, actions: PodActions): boolean {
  const want = st.annotations[L.containerHashNoResources] && st.resources ? desired?.(c) : undefined;
  const changed = want ? resizedResources(st.resources!, want) : [];
  if (changed.some((r) => c.resizePolicy?.find((p) => p.resourceName === r)?.restartPolicy === 'RestartContainer')) {
    actions.containersToKill.push({ id: st.id, name: c.name, reason: 'Resized', message: `Container ${c.name} resized (${changed.join(', ')}); its resizePolicy restarts it` });
    return true;
  }
  if (changed.length) (actions.containersToResize ??= []).push({ id: st.id, name: c.name, resources: want! });
  return false;
}

/** A running container can be resized in place: it carries the hash without resources and the runtime reports its limits. */
function canResize(st: RuntimeContainer, desired: DesiredResources | undefined): boolean {
  return !!st.annotations[L.containerHashNoResources] && !!st.resources && !!desired;
}
