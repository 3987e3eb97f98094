import type { ContainerStatus as RuntimeContainer, Runtime } from '../../cri/index.js';
import { RuntimeError } from '../../cri/index.js';
import type { Container, ContainerStateWaiting, EphemeralContainer, LifecycleHandler, Pod } from '../../manifests/index.js';
import { runHook } from '../../probes/index.js';
import { isSidecar } from '../../manifests/index.js';
import type { EventSink } from '../events.js';
import { podRef } from '../../manifests/index.js';
import type { Logger } from '../log.js';
import type { Backoff } from '../vocab/index.js';
import type { ImageManager } from '../pull/index.js';
import type { ContainerToStart, KillRequest, PodActions, StartedView } from './planner.js';
import type { ObservedPod } from '../vocab/index.js';
import { backoffKey, backoffMessage, computePodActions, latestByName } from './planner.js';
import type { RetryGate } from './retry.js';
import { podDNS } from '../dns/dns.js';
import { podDir } from '../volumes/plan.js';
import type { VolumePlan } from '../volumes/plan.js';
import { teardownPodDir } from '../volumes/setup.js';
import { removePodLogs } from '../logs/manager.js';
import { L, podUidOf } from '../vocab/index.js';
import { GraceBudget, podGraceSeconds, stopSignalGrace, terminationOrder, whenAborted } from './killorder.js';
import type { ContainerLogs } from './termination.js';
import type { NodeEnv } from './prepare.js';
import { attemptFromLogDir, buildContainerConfig, ensureHostsFile, podLogDirectory, prepareVolumes, writeHostsFile } from './prepare.js';
import { sandboxConfig } from './translate.js';
import { containerResources } from '../resources/index.js';
import type { ContainerToResize } from './planner.js';
import { KUBE_VERSION, Waiting } from '../vocab/index.js';

// The execution half of a pod sync (kubelet's SyncPod): walks the planner's record in a
// fixed order. Every failure becomes a waiting reason on the container it concerns; one
// failing container never stops the others from being handled.

export interface SyncDeps {
  runtime: Runtime;
  backoff: Backoff;
  images: ImageManager;
  log: Logger;
  events: EventSink;
  env: NodeEnv;
  now(): number;
  /**
   * The runtime's health: a call that failed because the engine is away is reported there
   * (once) rather than logged per pod and per attempt.
   */
  health?: { failed(err: unknown, what: string): boolean };
  /** Back-off for sandbox creation and for removals the engine refused (see retry.ts). */
  retry?: { sandbox: RetryGate; removal: RetryGate };
  /** Told of every container the agent removes: its log files go with it, and only then. */
  logs?: Pick<ContainerLogs, 'removed'>;
}

export interface SyncResult {
  actions: PodActions;
  waiting: Map<string, ContainerStateWaiting>;
  /** The runtime refused an in-place resize: its message (PodResizeInProgress, reason Error). */
  resizeError?: string;
  /** Something failed that only a retry mends (a volume refresh): the pod is synced again soon. */
  incomplete?: boolean;
}

/** Plans the pod with computePodActions and carries the plan out (kubelet's SyncPod). */
export async function syncPod(deps: SyncDeps, pod: Pod, observed: ObservedPod, kills: ReadonlyMap<string, KillRequest> = new Map(), started?: StartedView): Promise<SyncResult> {
  const res = deps.env.resources;
  return executePodActions(deps, pod, observed, computePodActions(pod, observed, deps.backoff, kills, started, res ? (c) => containerResources(pod, c, res) : undefined));
}

/**
 * Carries out one plan, in kubelet's order: kill the pod, kill containers, remove what the
 * GC plan says, resize, create the sandbox, start containers. Without a pod (one no source
 * lists any more) only the kill and remove steps exist. `budget`, when given, is the grace
 * budget of the pod kill, held by the caller so that a shorter grace can cut it meanwhile.
 */
export async function executePodActions(deps: SyncDeps, pod: Pod | undefined, observed: ObservedPod, actions: PodActions, budget?: GraceBudget): Promise<SyncResult> {
  const waiting = new Map<string, ContainerStateWaiting>();
  const ref = pod ? podRef(pod) : undefined;
  if (pod && ref) {
    for (const b of actions.backoffs) {
      waiting.set(b.name, { reason: b.reason, message: b.message });
      deps.events.emit(ref, 'Warning', 'BackOff', `Back-off restarting failed container ${b.name} in pod ${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})`, b.name);
    }
  }
  const grace = actions.graceSeconds ?? (pod ? podGraceSeconds(pod) : 30);
  const any = observed.sandboxes[0] ?? observed.containers[0];
  const uid = pod?.metadata.uid ?? (any ? podUidOf(any) : undefined) ?? '';
  const log = deps.log.child({ pod: pod ? `${pod.metadata.namespace}/${pod.metadata.name}` : podNameOf(observed), podUID: uid });

  if (pod && actions.createSandbox && deps.retry?.sandbox.waiting(pod.metadata.uid, 'sandbox')) {
    // kubelet's pod worker waits backOffPeriod after a failed sandbox creation before it
    // syncs the pod again (kill and create alike).
    for (const c of pod.spec.containers) waiting.set(c.name, { reason: 'ContainerCreating', message: '' });
    return { actions, waiting };
  }
  if (actions.killPod) {
    log.info({ createSandbox: actions.createSandbox, grace }, 'killing pod containers');
    if (actions.createSandbox && ref) deps.events.emit(ref, 'Normal', 'SandboxChanged', 'Pod sandbox changed, it will be killed and re-created.');
    await stopAll(deps, observed, budget ?? grace, pod);
  }
  const liveIP = observed.sandboxes.find((s) => s.state === 'ready')?.ip;
  await Promise.all(actions.containersToKill.map(async (k) => {
    log.info({ container: k.name, reason: k.reason }, k.message);
    const c = observed.containers.find((x) => x.id === k.id);
    if (c) await killContainer(deps, c, k.graceSeconds ?? grace, { pod, podIP: liveIP, message: k.message });
    // A container killed for a probe stays for `logs --previous` and restarts through the
    // back-off; one replaced for a new spec goes.
    if (!k.keep) {
      await deps.runtime.removeContainer(k.id);
      // A container in an unknown state is one the engine is removing or lost (Docker: dead,
      // removing): its run happened, and its log stays as a lost container's does.
      if (c && c.state !== 'unknown') deps.logs?.removed(c);
    }
  }));
  await removeQuietly(deps, actions.containersToRemove, actions.sandboxesToRemove, uid, observed);
  const resizeError = pod && actions.containersToResize?.length ? await resizeContainers(deps, pod, observed, actions.containersToResize) : undefined;

  if (!pod || (!actions.createSandbox && actions.killPod)) return { actions, waiting, ...(resizeError ? { resizeError } : {}) };
  const starting = actions.containersToStart.length > 0 || actions.createSandbox;
  // The pod's cgroup exists, with its limits, before anything of the pod is made in it.
  const cgroupParent = deps.env.cgroups ? (starting ? await deps.env.cgroups.ensurePod(pod) : deps.env.cgroups.parentFor(pod)) : undefined;
  let plans: VolumePlan[] = [];
  let incomplete = false;
  // Every sync, not only before a start: this is how ConfigMap and Secret edits reach the
  // volumes of running containers (it costs nothing while the objects are unchanged).
  try {
    plans = await prepareVolumes(deps.env, pod);
  } catch (err) {
    const w = err instanceof Waiting ? err : new Waiting('ContainerCreating', (err as Error).message);
    incomplete = true;
    log.warn({ reason: w.reason }, w.message);
    deps.events.emit(podRef(pod), 'Warning', w.reason === 'ContainerCreating' ? 'FailedMount' : 'Failed', w.message);
    // Running containers keep what their volumes last held; new ones cannot start.
    if (starting) {
      // A mount that is not ready yet is no container's own reason: they show kubelet's
      // default, PodInitializing while the pod has init containers to run.
      const reason = w.reason === 'ContainerCreating' && pod.spec.initContainers?.length ? 'PodInitializing' : w.reason;
      for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) waiting.set(c.name, { reason, message: reason === w.reason ? w.message : '' });
      return { actions, waiting, ...(resizeError ? { resizeError } : {}) };
    }
  }

  let sandboxId = actions.sandboxId;
  let podIP = [...observed.sandboxes].find((s) => s.id === sandboxId)?.ip ?? '';
  if (actions.createSandbox) {
    try {
      const dns = podDNS(pod, deps.env.dns);
      sandboxId = await deps.runtime.runPodSandbox(sandboxConfig(pod, actions.attempt, { ...(dns ? { dns } : {}), logDirectory: podLogDirectory(deps.env, pod), ...(cgroupParent ? { cgroupParent } : {}) }, deps.env.dns.clusterDomain));
      podIP = pod.spec.hostNetwork ? deps.env.hostIP : (await deps.runtime.podSandboxStatus(sandboxId)).ip ?? '';
      await writeHostsFile(deps.env, pod, podIP);
      log.info({ sandbox: sandboxId.slice(0, 12), attempt: actions.attempt, podIP }, 'created pod sandbox');
      deps.retry?.sandbox.succeeded(pod.metadata.uid, 'sandbox');
    } catch (err) {
      const message = `Failed to create pod sandbox: ${(err as Error).message}`;
      // The engine going away is said once by the runtime's health; a sandbox failing again
      // with the same error only counts up its event.
      const away = deps.health?.failed(err, 'creating a pod sandbox') ?? false;
      const report = deps.retry ? deps.retry.sandbox.failed(pod.metadata.uid, 'sandbox', message) : true;
      if (!away && report) log.error({ err: (err as Error).message }, message);
      if (!away) deps.events.emit(podRef(pod), 'Warning', 'FailedCreatePodSandBox', message);
      for (const c of pod.spec.containers) waiting.set(c.name, { reason: 'ContainerCreating', message });
      return { actions, waiting, ...(resizeError ? { resizeError } : {}) };
    }
  }
  if (pod.spec.hostNetwork) podIP = deps.env.hostIP;
  if (actions.containersToStart.length > 0 && !actions.createSandbox && !pod.spec.hostNetwork) {
    // An agent killed between creating the sandbox and writing the pod's hosts file left
    // none: the engine would make a directory at the bind source and every start would fail.
    try {
      await ensureHostsFile(deps.env, pod, podIP);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'cannot write the pod hosts file');
    }
  }

  for (const s of actions.containersToStart) {
    const c = specOf(pod, s);
    const held = crashBackoff(deps, pod, c, s, observed);
    if (held) {
      // A new sandbox does not reset a crash loop: kubelet's doBackOff looks at the newest
      // exited container of the name, whatever sandbox it ran in.
      waiting.set(c.name, { reason: 'CrashLoopBackOff', message: held });
      deps.events.emit(podRef(pod), 'Warning', 'BackOff', `Back-off restarting failed container ${c.name} in pod ${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})`, c.name, s.kind === 'init');
      if (s.kind === 'init' && !isSidecar(c)) break;
      continue;
    }
    try {
      const first = s.attempt === 0 && !observed.containers.some((x) => x.metadata.name === c.name);
      const attempt = first ? await attemptFromLogDir(deps.env, pod, c.name) : s.attempt;
      await startContainer(deps, pod, c, { ...s, attempt }, sandboxId, podIP, plans, cgroupParent, pidTargetOf(c, s, observed, sandboxId));
      log.info({ container: c.name, attempt }, 'started container');
    } catch (err) {
      if (deps.health?.failed(err, `starting container ${c.name}`)) {
        // The engine is going away: nothing more is tried until it is back.
        waiting.set(c.name, { reason: 'ContainerCreating', message: '' });
        break;
      }
      const w = err instanceof Waiting ? err : new Waiting('RunContainerError', (err as Error).message);
      log.warn({ container: c.name, reason: w.reason }, w.message);
      waiting.set(c.name, { reason: w.reason, message: w.message });
      deps.events.emit(podRef(pod), 'Warning', 'Failed', `Error: ${w.reason}`, c.name, s.kind === 'init');
      // A plain init container must succeed before anything after it may start.
      if (s.kind === 'init' && !isSidecar(c)) break;
    }
  }
  return { actions, waiting, ...(resizeError ? { resizeError } : {}), ...(incomplete ? { incomplete } : {}) };
}

function specOf(pod: Pod, s: ContainerToStart): Container {
  const list: readonly Container[] | undefined = s.kind === 'init' ? pod.spec.initContainers : s.kind === 'ephemeral' ? pod.spec.ephemeralContainers : pod.spec.containers;
  const c = list?.[s.index];
  // The planner builds the plan from this same pod, so this means a planner bug.
  if (!c) throw new Error(`the plan for pod ${pod.metadata.namespace}/${pod.metadata.name} starts ${s.kind} container ${s.index}, which its spec does not have`);
  return c;
}

/**
 * kubelet's doBackOff for a start the planner did not already gate (the first one in a
 * new sandbox, or a replacement): the back-off message when the container's newest exited
 * run, in any sandbox, is still inside its back-off; else the start is recorded in the
 * back-off (a planner restart records it in startContainer) and undefined is returned.
 */
export function crashBackoff(deps: SyncDeps, pod: Pod, c: Container, s: ContainerToStart, observed: ObservedPod): string | undefined {
  if (s.restart) return undefined;
  const prev = latestByName(observed.containers.filter((x) => x.state === 'exited'), c.name);
  if (!prev) return undefined;
  const key = backoffKey(pod, c);
  if (deps.backoff.isInBackOffSince(key, prev.finishedAt)) return backoffMessage(deps.backoff.get(key), pod, c);
  deps.backoff.next(key);
  return undefined;
}

/**
 * The running container whose PID namespace an ephemeral container joins (its
 * targetContainerName; kubelet's getTargetID): a target that does not run is a config error.
 */
function pidTargetOf(c: EphemeralContainer, s: ContainerToStart, observed: ObservedPod, sandboxId: string): string | undefined {
  const name = s.kind === 'ephemeral' ? c.targetContainerName : undefined;
  if (!name) return undefined;
  const target = observed.containers.find((x) => x.metadata.name === name && x.podSandboxId === sandboxId && x.state === 'running');
  if (!target) throw new Waiting('CreateContainerConfigError', `target container ${name} is not running`);
  return target.id;
}

async function startContainer(deps: SyncDeps, pod: Pod, c: Container, s: ContainerToStart, sandboxId: string, podIP: string, plans: VolumePlan[], cgroupParent?: string, pidTarget?: string): Promise<void> {
  const init = s.kind === 'init';
  const emit = (type: 'Normal' | 'Warning', reason: string, message: string) => deps.events.emit(podRef(pod), type, reason, message, c.name, init);
  const image = c.image ?? '';
  const { present } = await deps.images.ensureImage(pod, c, emit);
  const type = s.kind === 'init' ? (isSidecar(c) ? 'sidecar' : 'init') : s.kind;
  // After a pull the engine is asked again: the image is new.
  const imageUser = (present ?? (await deps.runtime.imageStatus(image).catch(() => undefined)))?.user;
  const config = await buildContainerConfig(deps.env, pod, c, s.attempt, type, podIP, plans, imageUser);
  if (pidTarget) config.pidTarget = pidTarget;
  if (s.restart) deps.backoff.next(backoffKey(pod, c));
  let id: string;
  try {
    id = await deps.runtime.createContainer(sandboxId, config, sandboxConfig(pod, 0, { logDirectory: podLogDirectory(deps.env, pod), ...(cgroupParent ? { cgroupParent } : {}) }));
    emit('Normal', 'Created', `Created container ${c.name}`);
  } catch (err) {
    if (err instanceof RuntimeError && err.code === 'Unavailable') throw err;
    // Retried through the back-off too, not at every sync tick.
    if (!s.restart) deps.backoff.next(backoffKey(pod, c));
    throw new Waiting('CreateContainerError', (err as Error).message);
  }
  try {
    await deps.runtime.startContainer(id);
    emit('Normal', 'Started', `Started container ${c.name}`);
  } catch (err) {
    if (err instanceof RuntimeError && err.code === 'Unavailable') throw err;
    // A failed start is a failed run: it goes through the crash back-off like an exit.
    if (!s.restart) deps.backoff.next(backoffKey(pod, c));
    throw new Waiting('RunContainerError', (err as Error).message);
  }
  const postStart = c.lifecycle?.postStart;
  if (postStart) {
    // The sync waits for the hook, so the container is not reported Running before it returns.
    const r = await runHook(postStart, { pod, container: c, containerId: id, podIP }, { runtime: deps.runtime, kubeVersion: KUBE_VERSION }, { timeoutMs: (pod.spec.terminationGracePeriodSeconds ?? 30) * 1000 });
    // kubelet reports it on the pod, not on the container.
    if (r.warning) deps.events.emit(podRef(pod), 'Warning', r.warning.reason, r.warning.message);
    if (!r.ok) {
      emit('Warning', 'FailedPostStartHook', r.message);
      if (!s.restart) deps.backoff.next(backoffKey(pod, c));
      const status = await deps.runtime.containerStatus(id).catch(() => undefined);
      if (status) await killContainer(deps, status, pod.spec.terminationGracePeriodSeconds ?? 30, { pod, podIP, message: `FailedPostStartHook` });
      throw new Waiting('PostStartHookError', r.error ?? r.message);
    }
  }
}

/**
 * Stops every running container of the pod within one grace budget, in kubelet's order
 * (killorder.ts): all kills start at once, sidecars send their stop signal only after the
 * app containers and the sidecars after them have exited. Then the sandboxes.
 */
export async function stopAll(deps: SyncDeps, observed: ObservedPod, grace: number | GraceBudget, pod?: Pod): Promise<void> {
  const running = observed.containers.filter((c) => c.state === 'running' || c.state === 'created');
  const podIP = observed.sandboxes.find((s) => s.state === 'ready')?.ip;
  const order = terminationOrder(pod, running);
  const exited = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  for (const c of running) {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    exited.set(c.id, { promise, resolve });
  }
  // One budget for every container of the pod (a shorter grace cuts it for all of them).
  const budget = typeof grace === 'number' ? new GraceBudget(deps.now, grace) : grace;
  try {
    await Promise.all(running.map(async (c) => {
      const prereqs = (order.get(c.id) ?? []).map((id) => exited.get(id)!.promise);
      const waitForTurn = prereqs.length ? () => Promise.all(prereqs).then(() => undefined) : undefined;
      try {
        await killContainer(deps, c, budget, { pod, podIP, message: `Stopping container ${c.metadata.name}`, waitForTurn });
      } finally {
        exited.get(c.id)!.resolve();
      }
    }));
  } finally {
    if (budget !== grace) budget.dispose();
  }
  await Promise.all(observed.sandboxes.filter((s) => s.state === 'ready').map((s) => deps.runtime.stopPodSandbox(s.id)));
}

function isInitType(c: RuntimeContainer): boolean {
  const t = c.annotations[L.containerType];
  return t === 'init' || t === 'sidecar';
}

/**
 * Kills one container as kubelet's killContainer does: the Killing event, the preStop hook
 * inside the grace budget, then (for a sidecar) its turn, then the stop signal with what is
 * left of the budget but never less than 2 s, then SIGKILL. The hook's handler comes from the
 * spec, or from the container's annotations when the spec is gone. A budget cut while this
 * runs (GraceBudget.shorten) ends the hook and the wait at the new deadline, and stops the
 * container again with what is left, as kubelet's restarted termination does.
 */
export async function killContainer(deps: SyncDeps, c: RuntimeContainer, grace: number | GraceBudget, o: { pod?: Pod; podIP?: string; message: string; waitForTurn?: () => Promise<void> }): Promise<void> {
  const ref = { name: c.labels[L.podName] ?? '', namespace: c.labels[L.podNamespace] ?? '', uid: c.labels[L.podUid] ?? '' };
  const name = c.metadata.name;
  if (c.state !== 'running') {
    await deps.runtime.stopContainer(c.id, 0).catch(() => undefined);
    return;
  }
  deps.events.emit(ref, 'Normal', 'Killing', o.message, name, isInitType(c));
  const budget = typeof grace === 'number' ? new GraceBudget(deps.now, grace) : grace;
  try {
    const spec = [...(o.pod?.spec.initContainers ?? []), ...(o.pod?.spec.containers ?? [])].find((x) => x.name === name);
    const preStop = spec ? spec.lifecycle?.preStop : parseJSON<LifecycleHandler>(c.annotations[L.preStop]);
    if (preStop && budget.left() > 0) {
      const container: Container = spec ?? { name, ports: parseJSON(c.annotations[L.ports]) ?? [] };
      const pod: Pod = o.pod ?? { apiVersion: 'v1', kind: 'Pod', metadata: { ...ref }, spec: { containers: [container] } };
      const run = runHook(preStop, { pod, container, containerId: c.id, podIP: o.podIP }, { runtime: deps.runtime, kubeVersion: KUBE_VERSION }, { timeoutMs: Math.max(0, Math.round(budget.left() * 1000)), signal: budget.signal });
      // The signal ends sleep and httpGet hooks; an exec cannot be cancelled in the engine, so
      // past a cut budget it is left to end with its container.
      const r = preStop.exec ? await Promise.race([run, whenAborted(budget.signal).then(() => undefined)]) : await run;
      if (r?.warning) deps.events.emit(ref, 'Warning', r.warning.reason, r.warning.message);
      if (r && !r.ok) {
        deps.events.emit(ref, 'Warning', 'FailedPreStopHook', r.message, name, isInitType(c));
        deps.log.warn({ pod: `${ref.namespace}/${ref.name}`, container: name }, r.message);
      }
    }
    if (o.waitForTurn && budget.left() > 0) await Promise.race([o.waitForTurn(), whenAborted(budget.signal)]);
    const stop = () => deps.runtime.stopContainer(c.id, stopSignalGrace(budget.left())).catch((err) => {
      if (!deps.health?.failed(err, `stopping container ${name}`)) deps.log.warn({ err, container: name }, 'stop failed');
    });
    const stops = [stop()];
    const off = budget.onShorten(() => stops.push(stop()));
    try {
      await stops[0];
    } finally {
      off();
    }
    await Promise.all(stops);
  } finally {
    if (budget !== grace) budget.dispose();
  }
}

function parseJSON<T>(s: string | undefined): T | undefined {
  if (!s) return undefined;
  try {
    return JSON.parse(s) as T;
  } catch {
    return undefined;
  }
}

function podNameOf(o: ObservedPod): string {
  const l = (o.sandboxes[0] ?? o.containers[0])?.labels ?? {};
  return `${l[L.podNamespace] ?? '?'}/${l[L.podName] ?? '?'}`;
}

/** Releases the pod's cgroup (its containers are gone by now), volumes (tmpfs included) and data directory. */
export async function cleanupPodDir(deps: SyncDeps, uid: string): Promise<void> {
  await deps.env.cgroups?.removePod(uid);
  deps.env.prepared.delete(uid);
  await teardownPodDir(podDir(deps.env.rootDir, uid)).catch((err) => deps.log.warn({ err, podUID: uid }, 'pod directory cleanup failed'));
  await removePodLogs(deps.env.podLogsDir, uid);
}

/**
 * Removes what the planner let go. A removal the engine refuses (an overlay layer still
 * mounted somewhere: "device or resource busy", "Removal In Progress") is retried with a
 * back-off and reported once per message, not at every sync.
 */
async function removeQuietly(deps: SyncDeps, containers: string[], sandboxes: string[], uid = '', observed?: ObservedPod): Promise<void> {
  const remove = async (kind: 'container' | 'sandbox', id: string) => {
    const gate = deps.retry?.removal;
    if (gate?.waiting(uid, id)) return;
    try {
      await (kind === 'container' ? deps.runtime.removeContainer(id) : deps.runtime.removePodSandbox(id));
      gate?.succeeded(uid, id);
      const c = kind === 'container' ? observed?.containers.find((x) => x.id === id) : undefined;
      if (c && c.state !== 'unknown') deps.logs?.removed(c);
    } catch (err) {
      if (deps.health?.failed(err, `removing ${kind} ${id.slice(0, 12)}`)) return;
      // Gone already (lost, not removed by the agent): the log manager keeps its files.
      if (err instanceof RuntimeError && err.code === 'NotFound') return;
      if (!gate || gate.failed(uid, id, (err as Error).message)) deps.log.warn({ err: (err as Error).message, id, podUID: uid || undefined }, `remove ${kind} failed; retrying with a back-off`);
    }
  };
  await Promise.all(containers.map((id) => remove('container', id)));
  await Promise.all(sandboxes.map((id) => remove('sandbox', id)));
}

/**
 * In-place resize (kubelet's doPodResizeAction): the pod cgroup grows before its containers
 * and shrinks after them, so that neither level is ever below the other. A container the
 * engine cannot update keeps its limits and is tried again on the next sync.
 */
async function resizeContainers(deps: SyncDeps, pod: Pod, observed: ObservedPod, list: ContainerToResize[]): Promise<string | undefined> {
  let failed: string | undefined;
  const log = deps.log.child({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, podUID: pod.metadata.uid });
  const cgroups = deps.env.cgroups;
  const grows = list.some((r) => {
    const now = observed.containers.find((c) => c.id === r.id)?.resources;
    return (r.resources.memoryLimitInBytes ?? 0) > (now?.memoryLimitInBytes ?? 0) || (r.resources.cpuQuota ?? 0) > (now?.cpuQuota ?? 0);
  });
  const resizePod = async () => {
    try {
      await cgroups?.resizePod?.(pod);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'pod cgroup not resized');
    }
  };
  if (grows) await resizePod();
  for (const r of list) {
    try {
      await deps.runtime.updateContainerResources(r.id, r.resources);
      log.info({ container: r.name, resources: r.resources }, 'container resized in place');
      deps.events.emit(podRef(pod), 'Normal', 'Resized', `Container ${r.name} resized in place`, r.name);
    } catch (err) {
      log.warn({ container: r.name, err: (err as Error).message }, 'container not resized');
      deps.events.emit(podRef(pod), 'Warning', 'ResizeFailed', `Container ${r.name} not resized: ${(err as Error).message}`, r.name);
      failed ??= `container ${r.name}: ${(err as Error).message}`;
    }
  }
  await resizePod();
  return failed;
}
