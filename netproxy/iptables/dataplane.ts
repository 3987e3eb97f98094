// The iptables dataplane: renders with the iptables planner and applies with the
// executor, keeping the last applied ruleset for the next partial sync.

import type { ConntrackDeletion } from '../conntrack.js';
import type { Dataplane, SyncStats } from '../dataplane.js';
import type { ServicePortInfo } from '../ports.js';
import { type IptablesBackend, IptablesExecutor } from './executor.js';
import { type IptablesOptions, type Ruleset, renderIptables } from './render.js';

export class IptablesDataplane implements Dataplane {
  readonly name: string;
  private randomFully?: boolean;
  private needJumps = true;
  /** The last ruleset the kernel accepted. */
  applied?: Ruleset;

  constructor(
    private readonly backend: IptablesBackend = new IptablesExecutor(),
    private readonly opts: Omit<IptablesOptions, 'randomFully'> = {},
  ) {
    this.name = `iptables${backend instanceof IptablesExecutor ? ` (${backend.variant})` : ''}`;
  }

  async sync(ports: ServicePortInfo[], full: boolean): Promise<SyncStats> {
    try {
      this.randomFully ??= await this.backend.randomFully();
      const ropts: IptablesOptions = { ...this.opts, randomFully: this.randomFully };
      let rs: Ruleset;
      if (!full && this.applied) {
        rs = renderIptables(ports, ropts, { previous: this.applied });
      } else {
        if (this.needJumps) {
          await this.backend.ensureJumps();
          this.needJumps = false;
        }
        rs = renderIptables(ports, ropts, { existingNatChains: await this.backend.natChains() });
      }
      await this.backend.restore(rs.text);
      this.applied = rs;
      return { full: rs.full, lines: rs.lines, bytes: rs.bytes, natRules: rs.natRules, filterRules: rs.filterRules };
    } catch (err) {
      // A failure may have been someone deleting our jumps: re-check them on the retry.
      this.needJumps = true;
      throw err;
    }
  }

  async healthy(): Promise<boolean> {
    const ok = await this.backend.healthy();
    if (!ok) this.needJumps = true;
    return ok;
  }

  deleteConntrack(d: ConntrackDeletion): Promise<void> {
    return this.backend.deleteConntrack(d);
  }
}
