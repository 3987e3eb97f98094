import type { ContainerStatus as RuntimeContainer } from '../../cri/index.js';
import type {
  Container,
  ContainerState,
  ContainerStateWaiting,
  ContainerStatus,
  Pod,
  PodCondition,
  PodPhase,
  PodStatus,
} from '../../manifests/index.js';
import { isSidecar } from '../../manifests/index.js';
import type { ObservedPod } from '../vocab/index.js';
import { latestByName, shouldRestart } from './planner.js';
import { KUBELET_CONDITIONS, qosClass, rfc3339 } from '../vocab/index.js';
import { resizeConditions, type ResizeState } from './resize.js';

// Pod status as kubelet computes it (kubelet_pods.go generateAPIPodStatus / getPhase):
// a pure function of the spec, what the runtime holds, and why the last sync could not
// start a container.

export interface StatusInput {
  pod: Pod;
  observed: ObservedPod;
  /** Why a container is not running, from the last sync (CrashLoopBackOff, ErrImagePull...). */
  waiting: ReadonlyMap<string, ContainerStateWaiting>;
  previous?: PodStatus;
  now: number;
  hostIP: string;
  /** 'docker' or 'containerd': the scheme of containerID. */
  runtimeName: string;
  /** Readiness from probes; undefined means the container has no readiness probe. */
  readiness?: (containerName: string, containerId: string) => boolean | undefined;
  /** Startup probe passed; undefined means no startup probe. */
  started?: (containerName: string, containerId: string) => boolean | undefined;
  /** Set when the agent refused or evicted the pod. */
  rejected?: { reason: string; message: string };
  /** Termination messages of exited containers by container id (read by termination.ts). */
  messages?: ReadonlyMap<string, string>;
  /** Nothing of the pod will run again (an API pod deleted and stopped): see podPhase. */
  terminal?: boolean;
  /** An in-place resize not allocated yet, or not applied yet (resize.ts). */
  resize?: ResizeState;
}

function terminatedState(c: RuntimeContainer, runtimeName: string, messages?: ReadonlyMap<string, string>): ContainerState {
  if (c.state === 'unknown') {
    return { terminated: { exitCode: 137, reason: 'ContainerStatusUnknown', message: 'The container could not be located when the pod was terminated', containerID: `${runtimeName}://${c.id}` } };
  }
  // kubelet shows the runtime's reason as it is (StartError on containerd, ContainerCannotRun
  // on Docker for a start that failed); a runtime that gives none gets the CRI runtimes' rule.
  const reason = c.reason || (c.exitCode === 0 ? 'Completed' : 'Error');
  // The runtime's message, then what the container left (kubelet joins them with ": ").
  const message = [c.message, messages?.get(c.id)].filter((m) => !!m).join(': ');
  return {
    terminated: {
      exitCode: c.exitCode,
      reason,
      ...(message ? { message } : {}),
      startedAt: c.startedAt ? rfc3339(c.startedAt) : undefined,
      finishedAt: c.finishedAt ? rfc3339(c.finishedAt) : undefined,
      containerID: `${runtimeName}://${c.id}`,
    },
  };
}

function previousOf(containers: RuntimeContainer[], latest: RuntimeContainer): RuntimeContainer | undefined {
  let best: RuntimeContainer | undefined;
  for (const c of containers) {
    if (c.metadata.name !== latest.metadata.name || c.id === latest.id) continue;
    if (c.metadata.attempt > latest.metadata.attempt) continue;
    if (!best || c.metadata.attempt > best.metadata.attempt || (c.metadata.attempt === best.metadata.attempt && c.createdAt > best.createdAt)) best = c;
  }
  return best;
}

type Kind = 'init' | 'sidecar' | 'app' | 'ephemeral';

function containerStatus(input: StatusInput, spec: Container, defaultWaiting: string, kind: Kind): ContainerStatus {
  const { observed, runtimeName } = input;
  const latest = latestByName(observed.containers, spec.name);
  const override = input.waiting.get(spec.name);
  const base: ContainerStatus = {
    name: spec.name,
    state: { waiting: { reason: defaultWaiting } },
    lastState: {},
    ready: false,
    restartCount: 0,
    image: spec.image ?? '',
    imageID: '',
    started: false,
  };
  if (!latest) {
    if (override) base.state = { waiting: override };
    return base;
  }
  base.restartCount = latest.metadata.attempt;
  base.imageID = latest.imageID ?? latest.imageRef;
  base.containerID = `${runtimeName}://${latest.id}`;
  const prev = previousOf(observed.containers, latest);
  const prevState = prev && prev.state !== 'running' && prev.state !== 'created' ? terminatedState(prev, runtimeName, input.messages) : {};
  switch (latest.state) {
    case 'running': {
      base.state = { running: { startedAt: rfc3339(latest.startedAt) } };
      Object.assign(base, runningResources(spec, latest));
      base.lastState = prevState;
      const started = input.started?.(spec.name, latest.id);
      base.started = started ?? true;
      // A plain init container is ready only once it has exited 0; a running one never is.
      const ready = input.readiness?.(spec.name, latest.id);
      // Ephemeral containers have no readiness (kubelet's probe manager never marks them).
      base.ready = kind !== 'init' && kind !== 'ephemeral' && base.started && (ready ?? true);
      break;
    }
    case 'created':
      base.state = { waiting: override ?? { reason: 'ContainerCreating' } };
      base.lastState = prevState;
      break;
    default:
      // kubelet shows a waiting reason on a container that ended only when it will run again
      // (ShouldContainerBeRestarted); a failed start under restartPolicy Never stays terminated.
      if (override && !input.pod.metadata.deletionTimestamp && (kind === 'sidecar' || shouldRestart(input.pod.spec.restartPolicy, latest.exitCode))) {
        // Waiting to restart: the run that just ended becomes lastState, as in kubectl's view
        // of a crash-looping container.
        base.state = { waiting: override };
        base.lastState = terminatedState(latest, runtimeName, input.messages);
      } else {
        base.state = terminatedState(latest, runtimeName, input.messages);
        base.lastState = prevState;
        base.ready = kind === 'init' && latest.state === 'exited' && latest.exitCode === 0;
      }
  }
  return base;
}

/**
 * kubelet's getPhase (kubelet_pods.go). Plain init containers that run or wait hold the pod
 * Pending; a failed one under restartPolicy Never fails it. Sidecars count as running
 * containers, but only one that has not started yet holds the pod Pending (and only before
 * an app container of the current sandbox started), and exited sidecars are ignored, so a
 * pod whose app containers all finished is Running while its sidecars stop and then ends.
 * `terminal` is the pod worker's verdict that nothing will run again (an API pod that was
 * deleted): its stopped containers then end it whatever the restart policy.
 */
export function podPhase(pod: Pod, init: ContainerStatus[], app: ContainerStatus[], podHasInitialized: boolean, terminal = false): PodPhase {
  const policy = pod.spec.restartPolicy ?? 'Always';
  const specs = pod.spec.initContainers ?? [];
  let pendingInit = 0, pendingSidecars = 0, failedInit = 0;
  let unknown = 0, running = 0, waiting = 0, stopped = 0, succeeded = 0;
  specs.forEach((c, i) => {
    const s = init[i];
    if (!s) {
      if (isSidecar(c)) unknown++;
      else pendingInit++;
      return;
    }
    if (isSidecar(c)) {
      if (s.state.running) {
        if (!s.started) pendingSidecars++;
        running++;
      } else if (s.state.waiting && !s.lastState.terminated) {
        pendingSidecars++;
        waiting++;
      }
      return;
    }
    if (s.state.running) pendingInit++;
    else if (s.state.terminated) {
      if (s.state.terminated.exitCode !== 0) failedInit++;
    } else if (s.lastState.terminated) {
      if (s.lastState.terminated.exitCode !== 0) failedInit++;
    } else pendingInit++;
  });
  for (const s of app) {
    if (s.state.running) running++;
    else if (s.state.terminated) {
      stopped++;
      if (s.state.terminated.exitCode === 0) succeeded++;
    } else if (s.lastState.terminated) stopped++;
    else waiting++;
  }
  if (failedInit > 0 && policy === 'Never') return 'Failed';
  if (pendingInit > 0 || (pendingSidecars > 0 && !podHasInitialized) || waiting > 0) return 'Pending';
  if (running > 0 && unknown === 0) return 'Running';
  if (running === 0 && stopped > 0 && unknown === 0) {
    if (terminal && !isStatic(pod)) return stopped === succeeded ? 'Succeeded' : 'Failed';
    if (policy === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    if (policy === 'Never') return 'Failed';
    return 'Running';
  }
  return 'Pending';
}

function isStatic(pod: Pod): boolean {
  const source = pod.metadata.annotations?.['kubernetes.io/config.source'];
  return source !== undefined && source !== 'api';
}


interface Cond { ok: boolean; reason?: string; message?: string }

/** status/generate.go GenerateContainersReadyCondition: sidecars count as much as app containers. */
function containersReady(pod: Pod, init: ContainerStatus[], app: ContainerStatus[], phase: PodPhase): Cond {
  if (phase === 'Succeeded') return { ok: false, reason: 'PodCompleted' };
  if (phase === 'Failed') return { ok: false, reason: 'PodFailed' };
  // init holds the statuses of spec.initContainers, in their order.
  const sidecars = init.filter((_, i) => {
    const c = pod.spec.initContainers?.[i];
    return !!c && isSidecar(c);
  });
  const unready = [...sidecars, ...app].filter((s) => !s.ready).map((s) => s.name);
  if (unready.length) return { ok: false, reason: 'ContainersNotReady', message: `containers with unready status: [${unready.join(' ')}]` };
  return { ok: true };
}

/** GeneratePodReadyCondition: ContainersReady, then every readiness gate's condition True. */
function podReady(pod: Pod, cr: Cond, conditions: readonly PodCondition[]): Cond {
  if (!cr.ok) return cr;
  const unready: string[] = [];
  for (const g of pod.spec.readinessGates ?? []) {
    const c = conditions.find((x) => x.type === g.conditionType);
    if (!c) unready.push(`corresponding condition of pod readiness gate "${g.conditionType}" does not exist.`);
    else if (c.status !== 'True') unready.push(`the status of pod readiness gate "${g.conditionType}" is not "True", but ${c.status}`);
  }
  if (unready.length) return { ok: false, reason: 'ReadinessGatesNotReady', message: unready.join(', ') };
  return { ok: true };
}

/** GeneratePodInitializedCondition: plain init containers exited 0, sidecars started. */
function initialized(pod: Pod, init: ContainerStatus[], app: ContainerStatus[], phase: PodPhase): Cond {
  if (phase === 'Succeeded') return { ok: true, reason: 'PodCompleted' };
  // An app container that ran means the pod was initialized, even while a sidecar restarts.
  if (app.some((s) => s.state.running || s.state.terminated)) return { ok: true };
  const incomplete = (pod.spec.initContainers ?? []).filter((c, i) => (isSidecar(c) ? !init[i]?.started : !init[i]?.ready)).map((c) => c.name);
  if (incomplete.length) return { ok: false, reason: 'ContainersNotInitialized', message: `containers with incomplete status: [${incomplete.join(' ')}]` };
  return { ok: true };
}

function condition(type: string, c: Cond, now: number, previous: PodStatus | undefined): PodCondition {
  const status = c.ok ? 'True' : 'False';
  const prev = previous?.conditions?.find((x) => x.type === type);
  const out: PodCondition = {
    type,
    status,
    lastProbeTime: null,
    lastTransitionTime: prev && prev.status === status && prev.lastTransitionTime ? prev.lastTransitionTime : rfc3339(now),
  };
  if (c.reason) out.reason = c.reason;
  if (c.message) out.message = c.message;
  return out;
}

export function computePodStatus(input: StatusInput): PodStatus {
  const { pod, observed, now, previous } = input;
  const sandbox = [...observed.sandboxes].sort((a, b) => b.metadata.attempt - a.metadata.attempt)[0];
  const inits = pod.spec.initContainers ?? [];
  const initStatuses = inits.map((c) => containerStatus(input, c, 'PodInitializing', isSidecar(c) ? 'sidecar' : 'init'));
  // An app container created in the current sandbox: initialization happened there (kubelet's
  // HasAnyActiveRegularContainerStarted; a reboot's new sandbox runs its init containers again).
  const podHasInitialized = !!sandbox && pod.spec.containers.some((c) => observed.containers.some((x) => x.metadata.name === c.name && x.podSandboxId === sandbox.id));
  const initDone = inits.every((c, i) => (isSidecar(c) ? initStatuses[i]?.started : initStatuses[i]?.ready)) || podHasInitialized;
  const appStatuses = pod.spec.containers.map((c) => containerStatus(input, c, initDone ? 'ContainerCreating' : 'PodInitializing', 'app'));

  let phase: PodPhase = podPhase(pod, initStatuses, appStatuses, podHasInitialized, input.terminal);
  // A pod that reached an end never comes back (kubelet keeps terminal phases terminal).
  if (previous?.phase === 'Succeeded' || previous?.phase === 'Failed') phase = previous.phase;
  if (input.rejected) phase = 'Failed';

  const others = (pod.status?.conditions ?? []).filter((c) => !KUBELET_CONDITIONS.has(c.type));
  const cr = containersReady(pod, initStatuses, appStatuses, phase);
  const sandboxReady = !!sandbox && sandbox.state === 'ready' && (!!sandbox.ip || !!pod.spec.hostNetwork);
  const conditions: PodCondition[] = [
    condition('PodReadyToStartContainers', { ok: sandboxReady }, now, previous),
    condition('Initialized', initialized(pod, initStatuses, appStatuses, phase), now, previous),
    condition('Ready', podReady(pod, cr, others), now, previous),
    condition('ContainersReady', cr, now, previous),
    condition('PodScheduled', { ok: true }, now, previous),
    ...others,
    ...resizeConditions(input.resize, rfc3339(now), previous?.conditions),
  ];

  const podIP = pod.spec.hostNetwork ? input.hostIP : sandbox?.ip ?? previous?.podIP;
  const earliest = observed.sandboxes.reduce((m, s) => (s.createdAt && s.createdAt < m ? s.createdAt : m), Number.POSITIVE_INFINITY);
  const startTime = previous?.startTime ?? (Number.isFinite(earliest) ? rfc3339(earliest) : rfc3339(now));

  const status: PodStatus = {
    phase,
    conditions,
    hostIP: input.hostIP,
    hostIPs: [{ ip: input.hostIP }],
    ...(podIP ? { podIP, podIPs: [{ ip: podIP }] } : {}),
    startTime,
    ...(initStatuses.length ? { initContainerStatuses: initStatuses } : {}),
    containerStatuses: appStatuses,
    qosClass: qosClass(pod),
  };
  const ephemeral = pod.spec.ephemeralContainers ?? [];
  if (ephemeral.length) status.ephemeralContainerStatuses = ephemeral.map((c) => containerStatus(input, c, 'ContainerCreating', 'ephemeral'));
  if (input.rejected) {
    status.reason = input.rejected.reason;
    status.message = input.rejected.message;
  }
  return status;
}

/**
 * status.containerStatuses[].resources and allocatedResources of a running container: the
 * limits as the runtime applies them (what an in-place resize changed), the requests as
 * allocated from the spec (requests default to limits).
 */
function runningResources(spec: Container, c: RuntimeContainer): Pick<ContainerStatus, 'resources' | 'allocatedResources'> {
  const r = c.resources;
  if (!r) return {};
  const limits: Record<string, string> = {};
  if (r.cpuQuota && r.cpuQuota > 0 && r.cpuPeriod) limits.cpu = `${Math.round((r.cpuQuota * 1000) / r.cpuPeriod)}m`;
  if (r.memoryLimitInBytes && r.memoryLimitInBytes > 0) limits.memory = String(r.memoryLimitInBytes);
  const requests: Record<string, string | number> = {};
  for (const k of ['cpu', 'memory'] as const) {
    const v = spec.resources?.requests?.[k] ?? spec.resources?.limits?.[k];
    if (v !== undefined) requests[k] = v;
  }
  const has = (o: object) => Object.keys(o).length > 0;
  if (!has(limits) && !has(requests)) return {};
  return {
    resources: { ...(has(limits) ? { limits } : {}), ...(has(requests) ? { requests } : {}) },
    ...(has(requests) ? { allocatedResources: requests } : {}),
  };
}
