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

/**
 * The grace budget of one stop, which a later request may cut while the stop runs: kubelet's
 * calculateEffectiveGracePeriod lets a grace period only decrease (a second API delete with a
 * shorter gracePeriodSeconds, an eviction), and UpdatePod then cancels the termination under
 * way and starts it again with the shorter grace, counted from then. Here the stop goes on,
 * its deadline moved: `signal` aborts when the budget runs out (a preStop hook is cut there,
 * a sidecar stops waiting for its turn), and listeners of `onShorten` stop a container again
 * with what is left. The clock is injected.
 */
export class GraceBudget {
  private deadline: number;
  private readonly expired = new AbortController();
  private timer?: NodeJS.Timeout;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly now: () => number, private grace: number) {
    this.grace = grace < 0 ? 1 : grace;
    this.deadline = now() + this.grace * 1000;
    this.arm();
  }

  /** The grace period in force, in seconds. */
  get seconds(): number {
    return this.grace;
  }

  /** Aborts when the budget has run out. */
  get signal(): AbortSignal {
    return this.expired.signal;
  }

  /** Seconds left (negative once over). */
  left(): number {
    return (this.deadline - this.now()) / 1000;
  }

  /**
   * Takes `seconds` (at least 1, as kubelet) when it is shorter than the grace in force, as a
   * fresh budget counted from now. Returns whether it was.
   */
  shorten(seconds: number): boolean {
    const g = Math.max(1, seconds);
    if (g >= this.grace) return false;
    this.grace = g;
    this.deadline = this.now() + g * 1000;
    this.arm();
    for (const l of [...this.listeners]) l();
    return true;
  }

  /** Called at each cut; returns the unsubscribe. */
  onShorten(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The stop is over: no timer left behind. */
  dispose(): void {
    clearTimeout(this.timer);
    this.listeners.clear();
  }

  private arm(): void {
    clearTimeout(this.timer);
    if (this.expired.signal.aborted) return;
    this.timer = setTimeout(() => this.expired.abort(), Math.max(0, this.left() * 1000));
  }
}

/** Resolves once `signal` aborts (never, if it never does). */
export function whenAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
