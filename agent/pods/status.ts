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
import type { ObservedPod } from './planner.js';
import { latestByName } from './planner.js';
import { qosClass } from './qos.js';

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
}

export function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

function terminatedState(c: RuntimeContainer, runtimeName: string, messages?: ReadonlyMap<string, string>): ContainerState {
  if (c.state === 'unknown') {
    return { terminated: { exitCode: 137, reason: 'ContainerStatusUnknown', message: 'The container could not be located when the pod was terminated', containerID: `${runtimeName}://${c.id}` } };
  }
  const reason = c.reason === 'OOMKilled' ? 'OOMKilled' : c.exitCode === 0 ? 'Completed' : 'Error';
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

function containerStatus(input: StatusInput, spec: Container, defaultWaiting: string): ContainerStatus {
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
      base.lastState = prevState;
      const started = input.started?.(spec.name, latest.id);
      base.started = started ?? true;
      const ready = input.readiness?.(spec.name, latest.id);
      base.ready = base.started && (ready ?? true);
      break;
    }
    case 'created':
      base.state = { waiting: override ?? { reason: 'ContainerCreating' } };
      base.lastState = prevState;
      break;
    default:
      if (override) {
        // Waiting to restart: the run that just ended becomes lastState, as in kubectl's view
        // of a crash-looping container.
        base.state = { waiting: override };
        base.lastState = terminatedState(latest, runtimeName, input.messages);
      } else {
        base.state = terminatedState(latest, runtimeName, input.messages);
        base.lastState = prevState;
      }
  }
  return base;
}

export function initContainersDone(pod: Pod, observed: ObservedPod): { done: boolean; failed: boolean; pending: string[] } {
  const sandbox = [...observed.sandboxes].sort((a, b) => b.metadata.attempt - a.metadata.attempt)[0];
  const pending: string[] = [];
  let failed = false;
  for (const c of pod.spec.initContainers ?? []) {
    const st = sandbox ? latestByName(observed.containers, c.name, sandbox.id) : undefined;
    if (isSidecar(c)) {
      if (!st || (st.state !== 'running' && st.state !== 'exited')) pending.push(c.name);
      continue;
    }
    if (!st || st.state !== 'exited' || st.exitCode !== 0) {
      pending.push(c.name);
      if (st && st.state === 'exited' && st.exitCode !== 0) failed = true;
    }
  }
  return { done: pending.length === 0, failed, pending };
}

/** kubelet's getPhase, over app containers, with init containers gating Pending. */
export function podPhase(pod: Pod, init: { done: boolean; failed: boolean }, statuses: ContainerStatus[]): PodPhase {
  const policy = pod.spec.restartPolicy ?? 'Always';
  if (!init.done) return init.failed && policy === 'Never' ? 'Failed' : 'Pending';
  let running = 0, waiting = 0, stopped = 0, succeeded = 0;
  for (const s of statuses) {
    if (s.state.running) running++;
    else if (s.state.terminated) {
      stopped++;
      if (s.state.terminated.exitCode === 0) succeeded++;
    } else if (s.state.waiting) {
      if (s.lastState.terminated) stopped++;
      else waiting++;
    }
  }
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped > 0) {
    if (policy === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    if (policy === 'Never') return 'Failed';
    return 'Running';
  }
  return 'Pending';
}

function condition(type: string, ok: boolean, now: number, previous: PodStatus | undefined, reason?: string, message?: string): PodCondition {
  const status = ok ? 'True' : 'False';
  const prev = previous?.conditions?.find((c) => c.type === type);
  const c: PodCondition = {
    type,
    status,
    lastProbeTime: null,
    lastTransitionTime: prev && prev.status === status && prev.lastTransitionTime ? prev.lastTransitionTime : rfc3339(now),
  };
  if (!ok && reason) {
    c.reason = reason;
    if (message) c.message = message;
  }
  return c;
}

export function computePodStatus(input: StatusInput): PodStatus {
  const { pod, observed, now, previous } = input;
  const sandbox = [...observed.sandboxes].sort((a, b) => b.metadata.attempt - a.metadata.attempt)[0];
  const init = initContainersDone(pod, observed);
  const initStatuses = (pod.spec.initContainers ?? []).map((c) => containerStatus(input, c, 'PodInitializing'));
  const appStatuses = pod.spec.containers.map((c) => containerStatus(input, c, init.done ? 'ContainerCreating' : 'PodInitializing'));

  let phase: PodPhase = podPhase(pod, init, appStatuses);
  // A pod that reached an end never comes back (kubelet keeps terminal phases terminal).
  if (previous?.phase === 'Succeeded' || previous?.phase === 'Failed') phase = previous.phase;
  if (input.rejected) phase = 'Failed';

  const unready = appStatuses.filter((s) => !s.ready).map((s) => s.name);
  const containersReady = unready.length === 0;
  const completed = phase === 'Succeeded';
  const sandboxReady = !!sandbox && sandbox.state === 'ready' && (!!sandbox.ip || !!pod.spec.hostNetwork);
  const conditions: PodCondition[] = [
    condition('PodReadyToStartContainers', sandboxReady, now, previous),
    condition('Initialized', init.done, now, previous, 'ContainersNotInitialized', `containers with incomplete status: [${init.pending.join(' ')}]`),
    condition('Ready', containersReady, now, previous, completed ? 'PodCompleted' : 'ContainersNotReady', completed ? undefined : `containers with unready status: [${unready.join(' ')}]`),
    condition('ContainersReady', containersReady, now, previous, completed ? 'PodCompleted' : 'ContainersNotReady', completed ? undefined : `containers with unready status: [${unready.join(' ')}]`),
    condition('PodScheduled', true, now, previous),
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
  if (input.rejected) {
    status.reason = input.rejected.reason;
    status.message = input.rejected.message;
  }
  return status;
}
