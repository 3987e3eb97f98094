// Forwarding for the pod network, the part a CNI network plugin does (flannel's FLANNEL-FWD,
// the CNI firewall plugin's CNI-FORWARD): accept forwarded traffic from and to the pod CIDR
// in a filter chain of our own. Docker sets the FORWARD policy to DROP and accepts only its
// own bridges, so without this a pod on another bridge (containerd's CNI bridge) can reach
// neither a Service nor another pod through the host. kube-proxy's KUBE-FORWARD accepts only
// traffic it marked for masquerade and established flows: new connections from pods are the
// network plugin's business, so this chain exists in every proxy mode. It lives in iptables
// even in nftables mode: a packet must pass every base chain on the forward hook, and an
// accept in our nft table does not override the DROP policy of the iptables filter table.

import { matchGroups } from '../base/index.js';
import { cidrsOverlap, parseCidr } from './ip.js';
import { runCommand, type Runner } from './exec.js';
import { IPTABLES_WAIT, type IptablesVariant, iptablesCommands } from './iptables/executor.js';

export const POD_FORWARD_CHAIN = 'BOSUN-FORWARD';
const COMMENT = 'bosun pod network forwarding';
/** The jump from FORWARD, as given to -C/-I/-D. */
export const POD_FORWARD_JUMP = ['-m', 'comment', '--comment', COMMENT, '-j', POD_FORWARD_CHAIN];

/** The chain's rules (pure): everything from and to the pod CIDR is accepted. */
export function podForwardRules(podCIDR: string): string[] {
  const cidr = parseCidr(podCIDR);
  if (!cidr) throw new Error(`pod CIDR ${JSON.stringify(podCIDR)} is not an IPv4 CIDR with zero host bits (e.g. 10.244.0.0/16)`);
  return [
    `-A ${POD_FORWARD_CHAIN} -s ${cidr.text} -m comment --comment "${COMMENT}" -j ACCEPT`,
    `-A ${POD_FORWARD_CHAIN} -d ${cidr.text} -m comment --comment "${COMMENT}" -j ACCEPT`,
  ];
}

/** Rules another agent left in the chain for other CIDRs are kept; a CIDR overlapping ours is replaced. */
export function mergePodForwardRules(existing: string[], podCIDR: string): string[] {
  const mine = parseCidr(podCIDR)!;
  const keep = existing.filter((l) => {
    const m = matchGroups(/^-A \S+ -[sd] (\S+) /, l, 1);
    const c = m ? parseCidr(m[1]) : undefined;
    return c !== undefined && !cidrsOverlap(c, mine);
  });
  return [...keep, ...podForwardRules(podCIDR)];
}

const W = IPTABLES_WAIT;

/**
 * Writes the chain (one iptables-restore, so it is never seen half-written) and the jump
 * at the top of FORWARD, if missing. Idempotent: called at start and on every periodic
 * check, since a restarted Docker re-creates FORWARD's rules around ours.
 */
export async function ensurePodForwarding(podCIDR: string, variant: IptablesVariant = 'system', run: Runner = runCommand): Promise<void> {
  const cmd = iptablesCommands(variant);
  const now = await run(cmd.iptables, [...W, '-t', 'filter', '-S', POD_FORWARD_CHAIN]);
  const existing = now.exitCode === 0 ? now.stdout.split('\n').filter((l) => l.startsWith('-A ')) : [];
  const wanted = mergePodForwardRules(existing, podCIDR);
  if (wanted.join('\n') !== existing.join('\n')) {
    const text = ['*filter', `:${POD_FORWARD_CHAIN} - [0:0]`, ...wanted, 'COMMIT', ''].join('\n');
    const r = await run(cmd.restore, [...W, '--noflush'], { input: text });
    if (r.exitCode !== 0) throw new Error(`${cmd.restore}: writing ${POD_FORWARD_CHAIN} failed: ${r.stderr.trim()}`);
  }
  if ((await run(cmd.iptables, [...W, '-t', 'filter', '-C', 'FORWARD', ...POD_FORWARD_JUMP])).exitCode === 0) return;
  const r = await run(cmd.iptables, [...W, '-t', 'filter', '-I', 'FORWARD', '1', ...POD_FORWARD_JUMP]);
  if (r.exitCode !== 0) throw new Error(`${cmd.iptables} -I FORWARD -j ${POD_FORWARD_CHAIN} failed: ${r.stderr.trim()}`);
}

/** Removes the jump and the chain; nothing there is not an error. Returns the problems met. */
export async function removePodForwarding(variant: IptablesVariant = 'system', run: Runner = runCommand): Promise<string[]> {
  const cmd = iptablesCommands(variant);
  // Nothing of ours there: touch nothing (an `iptables-legacy -D` alone loads x_tables modules).
  const save = await run(cmd.save, ['-t', 'filter']);
  if (save.exitCode !== 0 || !save.stdout.includes(POD_FORWARD_CHAIN)) return [];
  for (let i = 0; i < 10; i++) {
    if ((await run(cmd.iptables, [...W, '-t', 'filter', '-D', 'FORWARD', ...POD_FORWARD_JUMP])).exitCode !== 0) break;
  }
  await run(cmd.iptables, [...W, '-t', 'filter', '-F', POD_FORWARD_CHAIN]);
  const r = await run(cmd.iptables, [...W, '-t', 'filter', '-X', POD_FORWARD_CHAIN]);
  return r.exitCode === 0 ? [] : [`${cmd.iptables} -X ${POD_FORWARD_CHAIN}: ${r.stderr.trim()}`];
}
