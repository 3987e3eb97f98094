// kubelet's image pullers (pkg/kubelet/images/puller.go): with serializeImagePulls one pull
// at a time in arrival order; without it, up to maxParallelImagePulls at once (unlimited
// when unset). A pull that waits its turn counts the wait in "including waiting".

export interface PullTiming<T> {
  value: T;
  /** The pull itself. */
  pullMs: number;
  /** From the request to the end, the queue included. */
  totalMs: number;
}

export class Puller {
  private active = 0;
  private readonly queue: (() => void)[] = [];

  constructor(
    private readonly limit: number,
    private readonly now: () => number,
  ) {
    if (!(limit >= 1)) throw new Error(`pull limit must be at least 1, got ${limit}`);
  }

  /** How many pulls run now and how many wait (for tests and metrics). */
  get stats(): { active: number; waiting: number } {
    return { active: this.active, waiting: this.queue.length };
  }

  async run<T>(fn: () => Promise<T>): Promise<PullTiming<T>> {
    const requested = this.now();
    if (this.active >= this.limit) await new Promise<void>((r) => this.queue.push(r));
    else this.active++;
    const started = this.now();
    try {
      const value = await fn();
      const end = this.now();
      return { value, pullMs: end - started, totalMs: end - requested };
    } finally {
      const next = this.queue.shift();
      // The slot passes straight to the next waiter, so arrival order holds.
      if (next) next();
      else this.active--;
    }
  }
}

/** Go's time.Duration text at millisecond precision, as kubelet's events print it: "313ms", "1.594s", "1m2.5s". */
export function goDurationMs(ms: number): string {
  const t = Math.max(0, Math.round(ms));
  if (t < 1000) return `${t}ms`;
  const trim = (x: number) => x.toFixed(3).replace(/\.?0+$/, '');
  if (t < 60_000) return `${trim(t / 1000)}s`;
  const h = Math.floor(t / 3_600_000);
  const m = Math.floor((t % 3_600_000) / 60_000);
  const s = (t % 60_000) / 1000;
  return `${h > 0 ? `${h}h` : ''}${m}m${trim(s)}s`;
}
