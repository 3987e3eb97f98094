import type { ContainerStatus as RuntimeContainer } from '../../cri/index.js';
import type { Pod } from '../../manifests/index.js';
import { isSidecar } from '../../manifests/index.js';
import { L } from '../vocab/index.js';

// How a pod's running containers are stopped together (kubelet's killContainersWithSyncResult
// with kuberuntime_termination_order.go): every container starts its kill at once, inside one
// grace budget. App containers go straight to their stop signal; a sidecar runs its preStop
// hook at once too, but sends its stop signal only when every app container and every later
// sidecar has exited (or the budget has run out), so sidecars stop in reverse order, after
// the containers they serve. Pure: the executor in sync.ts waits on what this returns.

/** kubelet's minimumGracePeriodInSeconds: every stop signal gets at least this long before SIGKILL. */
export const MIN_GRACE_SECONDS = 2;

/**
 * The grace budget of a pod-wide stop: the override (deletion's or eviction's grace), else the
 * pod's terminationGracePeriodSeconds, else 30. A negative value counts as 1, as the API
 * server stores it.
 */
export function podGraceSeconds(pod: Pod | undefined, override?: number): number {
  const v = override ?? pod?.metadata.deletionGracePeriodSeconds ?? pod?.spec.terminationGracePeriodSeconds ?? 30;
  return v < 0 ? 1 : v;
}

/** Seconds between the stop signal and SIGKILL, given what is left of the budget. */
export function stopSignalGrace(remainingSeconds: number): number {
  return Math.max(MIN_GRACE_SECONDS, Math.ceil(remainingSeconds));
}

function kind(pod: Pod | undefined, c: RuntimeContainer): { sidecar: boolean; index: number } {
  const name = c.metadata.name;
  const inits = pod?.spec.initContainers ?? [];
  const i = inits.findIndex((x) => x.name === name);
  const init = inits[i];
  if (init) return { sidecar: isSidecar(init), index: i };
  if (pod?.spec.containers.some((x) => x.name === name)) return { sidecar: false, index: -1 };
  // The spec is gone (an orphan): the runtime's record says what it was.
  return { sidecar: c.annotations[L.containerType] === 'sidecar', index: -1 };
}

/**
 * For each running container (by id), the ids of the running containers that must have
 * exited before its stop signal is sent. App containers and plain init containers wait for
 * nothing; a sidecar waits for every app container and for the sidecars after it in the
 * spec. Containers that are not running are not waited for.
 */
export function terminationOrder(pod: Pod | undefined, running: readonly RuntimeContainer[]): Map<string, string[]> {
  const kinds = running.map((c) => ({ c, ...kind(pod, c) }));
  const apps = kinds.filter((k) => !k.sidecar && k.c.annotations[L.containerType] !== 'init' && k.index < 0).map((k) => k.c.id);
  const sidecars = kinds.filter((k) => k.sidecar);
  const out = new Map<string, string[]>();
  for (const k of kinds) {
    if (!k.sidecar) {
      out.set(k.c.id, []);
      continue;
    }
    const later = k.index < 0 ? [] : sidecars.filter((s) => s.index > k.index).map((s) => s.c.id);
    out.set(k.c.id, [...apps, ...later]);
  }
  return out;
}
