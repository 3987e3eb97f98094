// Applies an IPVS plan: the dummy link kube-ipvs0 with the service addresses bound to it,
// the ipsets, the virtual servers, and the small iptables remainder. This project's
// machines have no ip_vs module, so this is exercised here against a recording runner
// only; where the kernel has IPVS it runs as written (see README).

import { type Runner, runCommand, mustRun } from '../exec.js';
import { IPVS_DUMMY_LINK, type IpvsPlan, addressChanges } from './render.js';

export class IpvsExecutor {
  constructor(private readonly run: Runner = runCommand) {}

  /** Addresses bound to kube-ipvs0 now, as a.b.c.d (ip -j addr). */
  async boundAddresses(): Promise<string[]> {
    const r = await this.run('ip', ['-j', '-4', 'addr', 'show', 'dev', IPVS_DUMMY_LINK]);
    if (r.exitCode !== 0) return [];
    const links = JSON.parse(r.stdout || '[]') as { addr_info?: { local?: string }[] }[];
    return links.flatMap((l) => (l.addr_info ?? []).map((a) => a.local ?? '')).filter(Boolean);
  }

  /**
   * One full sync. ipset first (the iptables rules match on the sets), then the virtual
   * servers, replaced as a whole (ipvsadm has no transaction: a clear and a restore is
   * the shortest window), then the addresses, then the iptables remainder.
   */
  async apply(plan: IpvsPlan): Promise<void> {
    const link = await this.run('ip', ['link', 'show', IPVS_DUMMY_LINK]);
    if (link.exitCode !== 0) await mustRun(this.run, 'ip', ['link', 'add', IPVS_DUMMY_LINK, 'type', 'dummy']);
    await mustRun(this.run, 'ipset', ['restore', '-exist'], { input: plan.ipset });
    await mustRun(this.run, 'ipvsadm', ['--clear']);
    await mustRun(this.run, 'ipvsadm-restore', [], { input: plan.ipvsadm });
    const { add, remove } = addressChanges(await this.boundAddresses(), plan.addresses);
    for (const a of add) await mustRun(this.run, 'ip', ['addr', 'add', `${a}/32`, 'dev', IPVS_DUMMY_LINK]);
    for (const a of remove) await mustRun(this.run, 'ip', ['addr', 'del', `${a}/32`, 'dev', IPVS_DUMMY_LINK]);
    await mustRun(this.run, 'iptables-restore', ['--noflush', '--counters'], { input: plan.iptables });
  }

  /** Removes the virtual servers, the link and the sets (the iptables part: cleanupIptables). */
  async cleanup(setNames: string[]): Promise<void> {
    await this.run('ipvsadm', ['--clear']);
    await this.run('ip', ['link', 'del', IPVS_DUMMY_LINK]);
    for (const s of setNames) await this.run('ipset', ['destroy', s]);
  }
}
