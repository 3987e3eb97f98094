import type { Clock } from '../../base/index.js';

// kubelet's flowcontrol.Backoff: per key, the delay starts at `initial`, doubles on every
// restart up to `max`, and starts over once the key has been quiet for 2 x max
// (a container that ran 10 minutes is no longer crash-looping).
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

interface Entry {
  backoffMs: number;
  lastUpdate: number;
}

export const CONTAINER_BACKOFF: BackoffOptions = { initialMs: 10_000, maxMs: 300_000 };
export const IMAGE_PULL_BACKOFF: BackoffOptions = { initialMs: 10_000, maxMs: 300_000 };

export class Backoff {
  private entries = new Map<string, Entry>();

  constructor(
    private readonly clock: Clock,
    private readonly opts: BackoffOptions = CONTAINER_BACKOFF,
  ) {}

  /** Records a restart now and returns the delay that will gate the next one. */
  next(key: string): number {
    const now = this.clock.now();
    const e = this.entries.get(key);
    if (!e || this.expired(e, now)) {
      this.entries.set(key, { backoffMs: this.opts.initialMs, lastUpdate: now });
      return this.opts.initialMs;
    }
    e.backoffMs = Math.min(e.backoffMs * 2, this.opts.maxMs);
    e.lastUpdate = now;
    return e.backoffMs;
  }

  /** The current delay for key, or 0 when there is none. */
  get(key: string): number {
    const e = this.entries.get(key);
    return e && !this.expired(e, this.clock.now()) ? e.backoffMs : 0;
  }

  /**
   * True while `eventTime + delay` is still ahead: kubelet measures the delay from the
   * moment the container finished, not from when the restart was decided.
   */
  isInBackOffSince(key: string, eventTime: number): boolean {
    const e = this.entries.get(key);
    if (!e) return false;
    const now = this.clock.now();
    if (this.expired(e, now)) return false;
    return now - eventTime < e.backoffMs;
  }

  /** True while the delay since the last recorded failure has not passed (image pulls). */
  isInBackOffSinceUpdate(key: string): boolean {
    const e = this.entries.get(key);
    if (!e) return false;
    const now = this.clock.now();
    return !this.expired(e, now) && now - e.lastUpdate < e.backoffMs;
  }

  /** Remaining wait for key measured from eventTime (0 when not backing off). */
  remaining(key: string, eventTime: number): number {
    const e = this.entries.get(key);
    if (!e) return 0;
    return Math.max(0, eventTime + e.backoffMs - this.clock.now());
  }

  reset(key: string): void {
    this.entries.delete(key);
  }

  /** Drops entries for keys that start with prefix (a pod that is gone). */
  forgetPrefix(prefix: string): void {
    for (const k of this.entries.keys()) if (k.startsWith(prefix)) this.entries.delete(k);
  }

  /** Drops entries quiet for 2 x max, as kubelet's periodic GC does. */
  gc(): void {
    const now = this.clock.now();
    for (const [k, e] of this.entries) if (this.expired(e, now)) this.entries.delete(k);
  }

  private expired(e: Entry, now: number): boolean {
    return now - e.lastUpdate > 2 * this.opts.maxMs;
  }
}

/**
 * Go's time.Duration.String for a whole number of milliseconds, as kubelet's messages print
 * durations: `10s`, `2m40s`, `5m0s`, `1h0m0s`, `1.5s`, `500ms`.
 */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(Math.round(ms));
  if (rest < 1000) return `${sign}${rest}ms`;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = (rest / 1000).toFixed(3).replace(/\.?0+$/, '');
  if (h > 0) return `${sign}${h}h${m}m${s}s`;
  if (m > 0) return `${sign}${m}m${s}s`;
  return `${sign}${s}s`;
}
