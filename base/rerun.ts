/**
 * An async job that never overlaps itself: run() while it runs asks for one more run after
 * the current one (any number of such calls make one), so no request is lost and none runs
 * twice at once. run() resolves when no run is left; a job that throws ends the series (the
 * next run() starts afresh), so jobs that must go on catch their own errors.
 */
export class RunAgain {
  private running?: Promise<void>;
  private again = false;

  constructor(private readonly job: () => Promise<void>) {}

  run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    const series = (async () => {
      try {
        do {
          this.again = false;
          await this.job();
        } while (this.again);
      } finally {
        this.running = undefined;
      }
    })();
    this.running = series;
    return series;
  }

  /** Resolves when no run is in flight (without asking for one). */
  settled(): Promise<void> {
    return this.running?.then(() => undefined, () => undefined) ?? Promise.resolve();
  }

  /** A run is in flight or asked for. */
  get busy(): boolean {
    return this.running !== undefined;
  }
}
