// Can IPVS mode run here? Answers with a reason a person can act on, for `bosun doctor`
// and the start-up log. Many hosts (containers, some VMs, this CI) have no ip_vs.

import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand, type Runner } from '../exec.js';

export interface IpvsAvailability {
  ok: boolean;
  reason: string;
}

export interface IpvsCheckOptions {
  /** Root of /proc (tests point it at a fake tree). */
  procRoot?: string;
  runner?: Runner;
}

/** The kernel modules IPVS mode needs (REFERENCE.md). */
export const IPVS_MODULES = ['ip_vs', 'ip_vs_rr', 'ip_vs_wrr', 'ip_vs_sh', 'nf_conntrack'];

const exists = (p: string) => access(p).then(() => true, () => false);

export async function ipvsAvailable(opts: IpvsCheckOptions = {}): Promise<IpvsAvailability> {
  const proc = opts.procRoot ?? '/proc';
  const run = opts.runner ?? runCommand;
  const loaded = new Set(
    (await readFile(join(proc, 'modules'), 'utf8').catch(() => ''))
      .split('\n')
      .map((l) => l.split(' ')[0])
      .filter((m): m is string => !!m),
  );
  // /proc/net/ip_vs exists exactly when ip_vs is in the kernel (built in or loaded).
  if (await exists(join(proc, 'net', 'ip_vs'))) loaded.add('ip_vs');

  const missing: string[] = [];
  const loadable: string[] = [];
  let modprobeProblem = '';
  for (const mod of IPVS_MODULES) {
    if (loaded.has(mod)) continue;
    if (mod === 'nf_conntrack' && (await exists(join(proc, 'net', 'nf_conntrack')))) continue;
    try {
      const r = await run('modprobe', ['-n', '-q', mod]);
      if (r.exitCode === 0) loadable.push(mod);
      else missing.push(mod);
    } catch (err) {
      modprobeProblem = ` (modprobe could not run: ${String(err instanceof Error ? err.message : err)})`;
      missing.push(mod);
    }
  }
  if (missing.length > 0) {
    return {
      ok: false,
      reason: `IPVS mode cannot run: kernel module${missing.length > 1 ? 's' : ''} ${missing.join(', ')} neither loaded nor loadable${modprobeProblem}; use the iptables mode`,
    };
  }
  const tools: string[] = [];
  for (const tool of ['ipvsadm', 'ipset']) {
    try {
      await run(tool, ['--version']);
    } catch {
      tools.push(tool);
    }
  }
  if (tools.length > 0) return { ok: false, reason: `IPVS mode cannot run: ${tools.join(' and ')} not installed (apt-get install ${tools.join(' ')})` };
  return {
    ok: true,
    reason: loadable.length > 0 ? `IPVS available; modules to load at start: ${loadable.join(', ')}` : 'IPVS available: ip_vs loaded',
  };
}
