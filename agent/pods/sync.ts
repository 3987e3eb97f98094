import type { ContainerStatus as RuntimeContainer, Runtime } from '../../cri/index.js';
import type { Container, ContainerStateWaiting, LifecycleHandler, Pod } from '../../manifests/index.js';
import { runHook } from '../../probes/index.js';
import { isSidecar } from '../../manifests/index.js';
import type { EventSink } from '../events.js';
import { podRef } from '../events.js';
import type { Logger } from '../log.js';
import type { Backoff } from './backoff.js';
import type { ImageManager } from '../pull/index.js';
import type { ContainerToStart, KillRequest, ObservedPod, PodActions } from './planner.js';
import { backoffKey, computePodActions } from './planner.js';
import { podDNS } from '../dns/dns.js';
import { podDir } from '../volumes/plan.js';
import type { VolumePlan } from '../volumes/plan.js';
import { teardownPodDir } from '../volumes/setup.js';
import { removePodLogs } from '../logs/manager.js';
import { L, recordedGrace } from './labels.js';
import type { NodeEnv } from './prepare.js';
import { buildContainerConfig, podLogDirectory, prepareVolumes, writeHostsFile } from './prepare.js';
import { sandboxConfig } from './translate.js';
import { Waiting } from './waiting.js';

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
}

export interface SyncResult {
  actions: PodActions;
  waiting: Map<string, ContainerStateWaiting>;
}

export async function syncPod(deps: SyncDeps, pod: Pod, observed: ObservedPod, kills: ReadonlyMap<string, KillRequest> = new Map()): Promise<SyncResult> {
  const actions = computePodActions(pod, observed, deps.backoff, kills);
  const waiting = new Map<string, ContainerStateWaiting>();
  const ref = podRef(pod);
  for (const b of actions.backoffs) {
    waiting.set(b.name, { reason: b.reason, message: b.message });
    deps.events.emit(ref, 'Warning', 'BackOff', `Back-off restarting failed container ${b.name} in pod ${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})`, b.name);
  }
  const grace = pod.spec.terminationGracePeriodSeconds ?? 30;
  const log = deps.log.child({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, podUID: pod.metadata.uid });

  if (actions.killPod) {
    log.info({ createSandbox: actions.createSandbox }, 'killing pod containers');
    if (actions.createSandbox) deps.events.emit(ref, 'Normal', 'SandboxChanged', 'Pod sandbox changed, it will be killed and re-created.');
    await stopAll(deps, observed, grace, pod);
  }
  const liveIP = observed.sandboxes.find((s) => s.state === 'ready')?.ip;
  await Promise.all(actions.containersToKill.map(async (k) => {
    log.info({ container: k.name, reason: k.reason }, k.message);
    const c = observed.containers.find((x) => x.id === k.id);
    if (c) await killContainer(deps, c, k.graceSeconds ?? grace, { pod, podIP: liveIP, message: k.message });
    // A container killed for a probe stays for `logs --previous` and restarts through the
    // back-off; one replaced for a new spec goes.
    if (!k.keep) await deps.runtime.removeContainer(k.id);
  }));
  await removeQuietly(deps, actions.containersToRemove, actions.sandboxesToRemove);

  if (!actions.createSandbox && actions.killPod) return { actions, waiting };
  const starting = actions.containersToStart.length > 0 || actions.createSandbox;
  // The pod's cgroup exists, with its limits, before anything of the pod is made in it.
  const cgroupParent = deps.env.cgroups ? (starting ? await deps.env.cgroups.ensurePod(pod) : deps.env.cgroups.parentFor(pod)) : undefined;
  let plans: VolumePlan[] = [];
  // Every sync, not only before a start: this is how ConfigMap and Secret edits reach the
  // volumes of running containers (it costs nothing while the objects are unchanged).
  try {
    plans = await prepareVolumes(deps.env, pod);
  } catch (err) {
    const w = err instanceof Waiting ? err : new Waiting('ContainerCreating', (err as Error).message);
    log.warn({ reason: w.reason }, w.message);
    deps.events.emit(ref, 'Warning', w.reason === 'ContainerCreating' ? 'FailedMount' : 'Failed', w.message);
    // Running containers keep what their volumes last held; new ones cannot start.
    if (starting) {
      for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) waiting.set(c.name, { reason: w.reason, message: w.message });
      return { actions, waiting };
    }
  }

  let sandboxId = actions.sandboxId;
  let podIP = [...observed.sandboxes].find((s) => s.id === sandboxId)?.ip ?? '';
  if (actions.createSandbox) {
    try {
      const dns = podDNS(pod, deps.env.dns);
      sandboxId = await deps.runtime.runPodSandbox(sandboxConfig(pod, actions.attempt, { ...(dns ? { dns } : {}), logDirectory: podLogDirectory(deps.env, pod), ...(cgroupParent ? { cgroupParent } : {}) }));
      podIP = pod.spec.hostNetwork ? deps.env.hostIP : (await deps.runtime.podSandboxStatus(sandboxId)).ip ?? '';
      await writeHostsFile(deps.env, pod, podIP);
      log.info({ sandbox: sandboxId.slice(0, 12), attempt: actions.attempt, podIP }, 'created pod sandbox');
    } catch (err) {
      const message = `Failed to create pod sandbox: ${(err as Error).message}`;
      log.error({ err }, message);
      deps.events.emit(ref, 'Warning', 'FailedCreatePodSandBox', message);
      for (const c of pod.spec.containers) waiting.set(c.name, { reason: 'ContainerCreating', message });
      return { actions, waiting };
    }
  }
  if (pod.spec.hostNetwork) podIP = deps.env.hostIP;

  for (const s of actions.containersToStart) {
    const c = s.kind === 'init' ? pod.spec.initContainers![s.index] : pod.spec.containers[s.index];
    try {
      await startContainer(deps, pod, c, s, sandboxId, podIP, plans, cgroupParent);
      log.info({ container: c.name, attempt: s.attempt }, 'started container');
    } catch (err) {
      const w = err instanceof Waiting ? err : new Waiting('RunContainerError', (err as Error).message);
      log.warn({ container: c.name, reason: w.reason }, w.message);
      waiting.set(c.name, { reason: w.reason, message: w.message });
      deps.events.emit(ref, 'Warning', 'Failed', `Error: ${w.reason}`, c.name, s.kind === 'init');
      // A plain init container must succeed before anything after it may start.
      if (s.kind === 'init' && !isSidecar(c)) break;
    }
  }
  return { actions, waiting };
}

async function startContainer(deps: SyncDeps, pod: Pod, c: Container, s: ContainerToStart, sandboxId: string, podIP: string, plans: VolumePlan[], cgroupParent?: string): Promise<void> {
  const init = s.kind === 'init';
  const emit = (type: 'Normal' | 'Warning', reason: string, message: string) => deps.events.emit(podRef(pod), type, reason, message, c.name, init);
  const image = c.image ?? '';
  await deps.images.ensureImageExists(pod, c, emit);
  const type = s.kind === 'app' ? 'app' : isSidecar(c) ? 'sidecar' : 'init';
  const imageUser = (await deps.runtime.imageStatus(image).catch(() => undefined))?.user;
  const config = await buildContainerConfig(deps.env, pod, c, s.attempt, type, podIP, plans, imageUser);
  if (s.restart) deps.backoff.next(backoffKey(pod, c));
  let id: string;
  try {
    id = await deps.runtime.createContainer(sandboxId, config, sandboxConfig(pod, 0, { logDirectory: podLogDirectory(deps.env, pod), ...(cgroupParent ? { cgroupParent } : {}) }));
    emit('Normal', 'Created', `Created container ${c.name}`);
  } catch (err) {
    throw new Waiting('CreateContainerError', (err as Error).message);
  }
  try {
    await deps.runtime.startContainer(id);
    emit('Normal', 'Started', `Started container ${c.name}`);
  } catch (err) {
    // A failed start is a failed run: it goes through the crash back-off like an exit.
    if (!s.restart) deps.backoff.next(backoffKey(pod, c));
    throw new Waiting('RunContainerError', (err as Error).message);
  }
  const postStart = c.lifecycle?.postStart;
  if (postStart) {
    // The sync waits for the hook, so the container is not reported Running before it returns.
    const r = await runHook(postStart, { pod, container: c, containerId: id, podIP }, { runtime: deps.runtime }, { timeoutMs: (pod.spec.terminationGracePeriodSeconds ?? 30) * 1000 });
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
 * Stops every running container of the pod, app containers first and then init
 * containers and sidecars (upstream stops sidecars after the containers they serve), then
 * the sandboxes. Each stop gets the full grace period: the runtime sends the stop signal
 * and kills after it.
 */
export async function stopAll(deps: SyncDeps, observed: ObservedPod, graceSeconds: number, pod?: Pod): Promise<void> {
  const running = observed.containers.filter((c) => c.state === 'running' || c.state === 'created');
  const podIP = observed.sandboxes.find((s) => s.state === 'ready')?.ip;
  const stop = (c: RuntimeContainer) => killContainer(deps, c, graceSeconds, { pod, podIP, message: `Stopping container ${c.metadata.name}` });
  await Promise.all(running.filter((c) => !isInitType(c)).map(stop));
  await Promise.all(running.filter(isInitType).map(stop));
  await Promise.all(observed.sandboxes.filter((s) => s.state === 'ready').map((s) => deps.runtime.stopPodSandbox(s.id)));
}

function isInitType(c: RuntimeContainer): boolean {
  const t = c.annotations[L.containerType];
  return t === 'init' || t === 'sidecar';
}

/**
 * Kills one container as kubelet's killContainer does: the Killing event, the preStop hook
 * inside the grace budget, then the stop signal with what is left of the grace period (at
 * least 2 s after a preStop), then SIGKILL. The hook's handler comes from the spec, or from
 * the container's annotations when the spec is gone.
 */
export async function killContainer(deps: SyncDeps, c: RuntimeContainer, graceSeconds: number, o: { pod?: Pod; podIP?: string; message: string }): Promise<void> {
  const ref = { name: c.labels[L.podName] ?? '', namespace: c.labels[L.podNamespace] ?? '', uid: c.labels[L.podUid] ?? '' };
  const name = c.metadata.name;
  if (c.state !== 'running') {
    await deps.runtime.stopContainer(c.id, 0).catch(() => undefined);
    return;
  }
  deps.events.emit(ref, 'Normal', 'Killing', o.message, name, isInitType(c));
  let grace = graceSeconds;
  const spec = [...(o.pod?.spec.initContainers ?? []), ...(o.pod?.spec.containers ?? [])].find((x) => x.name === name);
  const preStop = spec ? spec.lifecycle?.preStop : parseJSON<LifecycleHandler>(c.annotations[L.preStop]);
  if (preStop && grace > 0) {
    const container: Container = spec ?? { name, ports: parseJSON(c.annotations[L.ports]) ?? [] };
    const pod: Pod = o.pod ?? { apiVersion: 'v1', kind: 'Pod', metadata: { ...ref }, spec: { containers: [container] } };
    const started = deps.now();
    const r = await runHook(preStop, { pod, container, containerId: c.id, podIP: o.podIP }, { runtime: deps.runtime }, { timeoutMs: grace * 1000 });
    if (!r.ok) {
      deps.events.emit(ref, 'Warning', 'FailedPreStopHook', r.message, name, isInitType(c));
      deps.log.warn({ pod: `${ref.namespace}/${ref.name}`, container: name }, r.message);
    }
    grace = Math.max(2, Math.ceil(grace - (deps.now() - started) / 1000));
  }
  await deps.runtime.stopContainer(c.id, grace).catch((err) => deps.log.warn({ err, container: name }, 'stop failed'));
}

function parseJSON<T>(s: string | undefined): T | undefined {
  if (!s) return undefined;
  try {
    return JSON.parse(s) as T;
  } catch {
    return undefined;
  }
}

/** Ends a pod that is no longer desired: stop everything within its grace, then remove it. */
export async function terminatePod(deps: SyncDeps, uid: string, observed: ObservedPod, graceSeconds?: number): Promise<void> {
  const grace = graceSeconds ?? Math.max(0, ...observed.sandboxes.map(recordedGrace), ...observed.containers.map(recordedGrace));
  await stopAll(deps, observed, grace);
  await removeQuietly(deps, observed.containers.map((c) => c.id), observed.sandboxes.map((s) => s.id));
  await cleanupPodDir(deps, uid);
}

/** Releases the pod's cgroup (its containers are gone by now), volumes (tmpfs included) and data directory. */
export async function cleanupPodDir(deps: SyncDeps, uid: string): Promise<void> {
  await deps.env.cgroups?.removePod(uid);
  deps.env.prepared.delete(uid);
  await teardownPodDir(podDir(deps.env.rootDir, uid)).catch((err) => deps.log.warn({ err, podUID: uid }, 'pod directory cleanup failed'));
  await removePodLogs(deps.env.podLogsDir, uid);
}

async function removeQuietly(deps: SyncDeps, containers: string[], sandboxes: string[]): Promise<void> {
  await Promise.all(containers.map((id) => deps.runtime.removeContainer(id).catch((err) => deps.log.warn({ err, id }, 'remove container failed'))));
  await Promise.all(sandboxes.map((id) => deps.runtime.removePodSandbox(id).catch((err) => deps.log.warn({ err, id }, 'remove sandbox failed'))));
}
