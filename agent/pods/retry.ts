import type { Clock } from '../../base/index.js';
import { Backoff, type BackoffOptions } from '../vocab/index.js';

// Failed engine operations that are not a container's crash: a sandbox that could not be
// created, a container or sandbox the engine would not remove. kubelet retries such work
// from its pod worker with a back-off (pod_workers.go: a failed sync is requeued after
// backOffPeriod, 10 s, with jitter) and its events count repeats; without this, the sync
// tick would retry every second and log every attempt. Keys are per pod UID, so that
// forgetting a pod drops them all.

/** kubelet's backOffPeriod: a pod whose sync failed is retried 10 s later, not sooner. */
export const SANDBOX_RETRY: BackoffOptions = { initialMs: 10_000, maxMs: 10_000 };
/** Removal: a layer the engine cannot unmount stays busy for a while; doubling up to 5 min. */
export const REMOVAL_RETRY: BackoffOptions = { initialMs: 10_000, maxMs: 300_000 };

export class RetryGate {
  private readonly backoff: Backoff;
  /** The last failure message per key: a repeat is counted, not reported again. */
  private readonly last = new Map<string, string>();

  constructor(clock: Clock, opts: BackoffOptions) {
    this.backoff = new Backoff(clock, opts);
  }

  /** True while the last failure of `what` for the pod is too recent to try again. */
  waiting(uid: string, what: string): boolean {
    return this.backoff.isInBackOffSinceUpdate(`${uid}/${what}`);
  }

  /**
   * Records a failure. Returns true when it should be reported (the first failure, or one
   * whose message changed), false for a repeat.
   */
  failed(uid: string, what: string, message: string): boolean {
    const key = `${uid}/${what}`;
    this.backoff.next(key);
    const repeat = this.last.get(key) === message;
    this.last.set(key, message);
    return !repeat;
  }

  /** It worked: the next failure starts from the shortest delay and is reported again. */
  succeeded(uid: string, what: string): void {
    const key = `${uid}/${what}`;
    this.backoff.reset(key);
    this.last.delete(key);
  }

  forget(uid: string): void {
    this.backoff.forgetPrefix(`${uid}/`);
    for (const k of this.last.keys()) if (k.startsWith(`${uid}/`)) this.last.delete(k);
  }
}
