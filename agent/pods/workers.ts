import { RunAgain } from '../../base/index.js';
import type { Logger } from '../log.js';

// One writer per pod: work for a pod UID never overlaps itself. A dispatch that arrives
// while the pod's work runs is coalesced into one more run afterwards, so no update is
// lost and none is handled twice at once.
export class PodWorkers {
  private readonly state = new Map<string, RunAgain>();

  constructor(
    private readonly work: (uid: string) => Promise<void>,
    private readonly log: Logger,
  ) {}

  dispatch(uid: string): void {
    let w = this.state.get(uid);
    if (!w) {
      w = new RunAgain(() => this.work(uid).catch((err: unknown) => this.log.error({ err, podUID: uid }, 'pod sync failed')));
      this.state.set(uid, w);
    }
    const mine = w;
    void mine.run().then(() => {
      if (!mine.busy && this.state.get(uid) === mine) this.state.delete(uid);
    });
  }

  busy(uid: string): boolean {
    return this.state.has(uid);
  }

  /** Resolves when no pod has work running or queued. */
  async idle(): Promise<void> {
    while (this.state.size > 0) await Promise.all([...this.state.values()].map((w) => w.settled()));
  }
}
