import type { Container, Pod, PodCondition } from '../../manifests/index.js';
import { podRequests } from '../resources/compute.js';
import { admitPod, type AdmissionContext } from './admission.js';

// In-place resize, the allocation half (kubelet's allocation manager,
// pkg/kubelet/allocation: handlePodResourcesResize, canResizePod). A pod's resources are
// "allocated" when admitted; an edit of them is allocated only when it fits: requests beyond
// the node's allocatable are Infeasible, requests that fit the node but not beside the other
// admitted pods are Deferred (tried again at every sync). Until then the pod keeps running
// with what was allocated, and says why in a PodResizePending condition. Pure.

export type ResizeCheck = { ok: true } | { ok: false; reason: 'Infeasible' | 'Deferred'; message: string };

/** What a resize changes: containers' resources (init containers too: sidecars resize) and pod-level resources. */
function resourcesOf(pod: Pod): string {
  const of = (cs: Container[] | undefined) => (cs ?? []).map((c) => [c.name, c.resources ?? {}]);
  return JSON.stringify([of(pod.spec.initContainers), of(pod.spec.containers), pod.spec.resources ?? {}]);
}

export function resourcesDiffer(a: Pod, b: Pod): boolean {
  return resourcesOf(a) !== resourcesOf(b);
}

/**
 * The pod as allocated: its spec with the resources of `allocated` (containers matched by
 * name; one new to the spec keeps its own, as it is not running yet).
 */
export function withAllocatedResources(pod: Pod, allocated: Pod): Pod {
  if (!resourcesDiffer(pod, allocated)) return pod;
  const take = (cs: Container[] | undefined, from: Container[] | undefined) => cs?.map((c) => {
    const a = from?.find((x) => x.name === c.name);
    if (!a) return c;
    const { resources: _r, ...rest } = c;
    return a.resources ? { ...rest, resources: a.resources } : rest;
  });
  const { resources: _p, ...spec } = pod.spec;
  return {
    ...pod,
    spec: {
      ...spec,
      ...(allocated.spec.resources ? { resources: allocated.spec.resources } : {}),
      containers: take(pod.spec.containers, allocated.spec.containers)!,
      ...(pod.spec.initContainers ? { initContainers: take(pod.spec.initContainers, allocated.spec.initContainers) } : {}),
    },
  };
}

/**
 * canResizePod: Infeasible when the pod's requests exceed the node's allocatable (as upstream:
 * memory first, then cpu, in bytes and millicores); else the admission checks against the
 * other admitted pods, whose refusal defers the resize with its message.
 */
export function checkResize(pod: Pod, others: readonly Pod[], ctx: AdmissionContext): ResizeCheck {
  const a = ctx.allocatable;
  if (a) {
    const req = podRequests(pod);
    if (req.memory > a.memory) return { ok: false, reason: 'Infeasible', message: `Node didn't have enough capacity: memory, requested: ${req.memory}, capacity: ${a.memory}` };
    if (req.cpuMilli > a.cpuMilli) return { ok: false, reason: 'Infeasible', message: `Node didn't have enough capacity: cpu, requested: ${req.cpuMilli}, capacity: ${a.cpuMilli}` };
  }
  const r = admitPod(pod, others, ctx);
  return r.ok ? { ok: true } : { ok: false, reason: 'Deferred', message: r.message };
}

/** The resize conditions of the pod's status (kubelet appends them after its own). */
export interface ResizeState {
  /** A resize not allocated yet: Infeasible or Deferred. */
  pending?: { reason: string; message: string };
  /** Allocated but not yet what the runtime runs; reason Error with the runtime's message when applying it failed. */
  inProgress?: { reason?: string; message?: string };
}

export function resizeConditions(state: ResizeState | undefined, now: string, previous: readonly PodCondition[] | undefined): PodCondition[] {
  const out: PodCondition[] = [];
  const add = (type: string, c: { reason?: string; message?: string }) => {
    const prev = previous?.find((x) => x.type === type);
    const same = prev && prev.reason === c.reason && prev.message === c.message;
    out.push({
      type,
      status: 'True',
      lastProbeTime: same && prev.lastProbeTime ? prev.lastProbeTime : now,
      lastTransitionTime: same && prev.lastTransitionTime ? prev.lastTransitionTime : now,
      ...(c.reason ? { reason: c.reason } : {}),
      ...(c.message ? { message: c.message } : {}),
    });
  };
  if (state?.pending) add('PodResizePending', state.pending);
  if (state?.inProgress) add('PodResizeInProgress', state.inProgress);
  return out;
}
