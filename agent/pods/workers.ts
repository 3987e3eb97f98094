import type { Logger } from '../log.js';

// One writer per pod: work for a pod UID never overlaps itself. A dispatch that arrives
// while the pod's work runs is coalesced into one more run afterwards, so no update is
// lost and none is handled twice at once.
export class PodWorkers {
  private readonly state = new Map<string, { pending: boolean; done: Promise<void> }>();

  constructor(
    private readonly work: (uid: string) => Promise<void>,
    private readonly log: Logger,
  ) {}

  dispatch(uid: string): void {
    const s = this.state.get(uid);
    if (s) {
      s.pending = true;
      return;
    }
    const entry = { pending: false, done: Promise.resolve() };
    this.state.set(uid, entry);
    entry.done = this.loop(uid, entry);
  }

  private async loop(uid: string, entry: { pending: boolean }): Promise<void> {
    do {
      entry.pending = false;
      try {
        await this.work(uid);
      } catch (err) {
        this.log.error({ err, podUID: uid }, 'pod sync failed');
      }
    } while (entry.pending);
    this.state.delete(uid);
  }

  busy(uid: string): boolean {
    return this.state.has(uid);
  }

  /** Resolves when no pod has work running or queued. */
  async idle(): Promise<void> {
    while (this.state.size > 0) await Promise.all([...this.state.values()].map((s) => s.done));
  }
}
