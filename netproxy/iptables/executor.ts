// Carries out what the planner decided: one iptables-restore per sync, the jump rules
// from the built-in chains (which restore cannot own without owning the whole built-in
// chain), the health check behind outside-flush detection, conntrack clean-up, and the
// removal of everything on `bosun proxy cleanup`.

import { beforeFirst } from '../../base/index.js';
import { runCommand, mustRun, type Runner } from '../exec.js';
import type { ConntrackDeletion } from '../conntrack.js';
import { conntrackArgs } from '../conntrack.js';
import { isServiceChain } from './names.js';
import {
  FILTER_CHAINS, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_PROXY_CANARY,
  KUBE_PROXY_FIREWALL, KUBE_SERVICES, NAT_CHAINS,
} from './render.js';

export type Table = 'nat' | 'filter';

export interface JumpRule {
  table: Table;
  /** The built-in chain the rule sits in. */
  chain: string;
  target: string;
  /** Match arguments, as given to -C/-I/-D. */
  args: string[];
}

const NEW = ['-m', 'conntrack', '--ctstate', 'NEW'];
const comment = (c: string) => ['-m', 'comment', '--comment', c];

/** kube-proxy's jumps from the built-in chains into its own. */
export const JUMP_RULES: JumpRule[] = [
  { table: 'filter', chain: 'INPUT', target: KUBE_EXTERNAL_SERVICES, args: [...NEW, ...comment('kubernetes externally-visible service portals')] },
  { table: 'filter', chain: 'FORWARD', target: KUBE_EXTERNAL_SERVICES, args: [...NEW, ...comment('kubernetes externally-visible service portals')] },
  { table: 'filter', chain: 'INPUT', target: KUBE_NODEPORTS, args: comment('kubernetes health check service ports') },
  { table: 'filter', chain: 'FORWARD', target: KUBE_SERVICES, args: [...NEW, ...comment('kubernetes service portals')] },
  { table: 'filter', chain: 'OUTPUT', target: KUBE_SERVICES, args: [...NEW, ...comment('kubernetes service portals')] },
  { table: 'filter', chain: 'FORWARD', target: KUBE_FORWARD, args: comment('kubernetes forwarding rules') },
  { table: 'filter', chain: 'INPUT', target: KUBE_PROXY_FIREWALL, args: [...NEW, ...comment('kubernetes load balancer firewall')] },
  { table: 'filter', chain: 'OUTPUT', target: KUBE_PROXY_FIREWALL, args: [...NEW, ...comment('kubernetes load balancer firewall')] },
  { table: 'filter', chain: 'FORWARD', target: KUBE_PROXY_FIREWALL, args: [...NEW, ...comment('kubernetes load balancer firewall')] },
  { table: 'nat', chain: 'OUTPUT', target: KUBE_SERVICES, args: comment('kubernetes service portals') },
  { table: 'nat', chain: 'PREROUTING', target: KUBE_SERVICES, args: comment('kubernetes service portals') },
  { table: 'nat', chain: 'POSTROUTING', target: KUBE_POSTROUTING, args: comment('kubernetes postrouting rules') },
];

/** What the proxy loop needs from the host; the fake in unit tests implements the same. */
export interface IptablesBackend {
  /** Creates our top-level chains and the jumps into them, if missing. */
  ensureJumps(): Promise<void>;
  /** One `iptables-restore --noflush --counters` transaction. */
  restore(text: string): Promise<void>;
  /** Names of the chains in the nat table now. */
  natChains(): Promise<string[]>;
  /** False when someone removed our chains or flushed KUBE-SERVICES. */
  healthy(): Promise<boolean>;
  deleteConntrack(d: ConntrackDeletion): Promise<void>;
  /** Whether MASQUERADE takes --random-fully here. */
  randomFully(): Promise<boolean>;
}

// Wait up to 5 s for the xtables lock (legacy backend) instead of failing when another
// program holds it, as upstream's pkg/util/iptables does. Upstream also passes `-W 100000`
// (retry every 100 ms) for older iptables; 1.8.9 waits on the lock with a blocking flock and
// answers -W with "Ignoring deprecated --wait-interval option." on stderr, so not here.
export const IPTABLES_WAIT = ['-w', '5'];
const W = IPTABLES_WAIT;

/** kubelet's KubeIPTablesHintChain: its existence in a backend's mangle table names the backend in use (iptables/backend.ts). */
export const IPTABLES_HINT_CHAIN = 'KUBE-IPTABLES-HINT';

/**
 * Which iptables binaries: `legacy` (iptables-legacy*, the x_tables kernel API), `nft`
 * (iptables-nft*, the nf_tables API), or `system` (plain `iptables*`, whatever the
 * alternatives link points at).
 */
export type IptablesVariant = 'legacy' | 'nft' | 'system';

export function iptablesCommands(variant: IptablesVariant): { iptables: string; restore: string; save: string } {
  const sfx = variant === 'system' ? '' : `-${variant}`;
  return { iptables: `iptables${sfx}`, restore: `iptables${sfx}-restore`, save: `iptables${sfx}-save` };
}

export class IptablesExecutor implements IptablesBackend {
  private readonly cmd: ReturnType<typeof iptablesCommands>;

  constructor(private readonly run: Runner = runCommand, readonly variant: IptablesVariant = 'system') {
    this.cmd = iptablesCommands(variant);
  }

  private ipt(table: Table, args: string[]) {
    return this.run(this.cmd.iptables, [...W, '-t', table, ...args]);
  }

  async ensureJumps(): Promise<void> {
    for (const j of JUMP_RULES) {
      // -N fails when the chain exists; that is the common case, not an error.
      await this.ipt(j.table, ['-N', j.target]);
      const rule = [...j.args, '-j', j.target];
      if ((await this.ipt(j.table, ['-C', j.chain, ...rule])).exitCode === 0) continue;
      const r = await this.ipt(j.table, ['-I', j.chain, ...rule]);
      if (r.exitCode !== 0) throw new Error(`iptables -t ${j.table} -I ${j.chain} ... -j ${j.target} failed: ${r.stderr.trim()}`);
    }
  }

  async restore(text: string): Promise<void> {
    // No short timeout: iptables-nft 1.8.9 needs minutes for ~10k Services (its userspace
    // looks chains up linearly), and a killed restore would leave nothing applied anyway.
    const r = await this.run(this.cmd.restore, [...W, '--noflush', '--counters'], { input: text, timeoutMs: 30 * 60_000 });
    if (r.exitCode !== 0) throw new RestoreError(r.stderr.trim(), text);
  }

  async natChains(): Promise<string[]> {
    return chainsOf(await mustRun(this.run, this.cmd.save, ['-t', 'nat']));
  }

  async healthy(): Promise<boolean> {
    for (const table of ['nat', 'filter'] as const) {
      if ((await this.ipt(table, ['-L', KUBE_PROXY_CANARY, '-n'])).exitCode !== 0) return false;
    }
    // KUBE-SERVICES always holds at least the NodePorts jump; an empty chain was flushed.
    // (iptables-nft answers `-S CHAIN 1` on an empty chain with exit 0 and no output.)
    const first = await this.ipt('nat', ['-S', KUBE_SERVICES, '1']);
    return first.exitCode === 0 && first.stdout.trim() !== '';
  }

  async deleteConntrack(d: ConntrackDeletion): Promise<void> {
    const r = await this.run('conntrack', conntrackArgs(d));
    // Exit 1 with "0 flow entries have been deleted" is the usual, harmless answer.
    if (r.exitCode !== 0 && !/0 flow entries/.test(r.stderr)) {
      throw new Error(`conntrack ${conntrackArgs(d).join(' ')} failed: ${r.stderr.trim()}`);
    }
  }

  async randomFully(): Promise<boolean> {
    const r = await this.run(this.cmd.iptables, ['--version']);
    const m = /v(\d+)\.(\d+)\.(\d+)/.exec(r.stdout);
    if (!m) return false;
    const [maj, min, patch] = m.slice(1).map(Number) as [number, number, number];
    return maj > 1 || (maj === 1 && (min > 6 || (min === 6 && patch >= 2)));
  }
}

export class RestoreError extends Error {
  constructor(readonly stderr: string, readonly input: string) {
    super(`iptables-restore failed: ${stderr}${lineContext(stderr, input)}`);
    this.name = 'RestoreError';
  }
}

/** iptables-restore names the failing line number: quote it, for the log. */
function lineContext(stderr: string, input: string): string {
  const m = /line:? (\d+)/i.exec(stderr);
  if (!m) return '';
  const line = input.split('\n')[Number(m[1]) - 1];
  return line === undefined ? '' : ` (line ${m[1]}: ${line})`;
}

export function chainsOf(save: string): string[] {
  return save.split('\n').filter((l) => l.startsWith(':')).map((l) => beforeFirst(l.slice(1), ' '));
}

/**
 * Removes every jump, rule and chain bosun's proxy made, in both tables. Safe to run
 * when nothing is there. Returns the problems it met (it keeps going past them).
 */
export async function cleanupIptables(run: Runner = runCommand, variant: IptablesVariant = 'system'): Promise<string[]> {
  const problems: string[] = [];
  const cmd = iptablesCommands(variant);
  // Nothing of ours there: touch nothing (for the legacy backend, even an `iptables -D`
  // would load the x_tables nat module on a host that never used it).
  const all = await run(cmd.save, []);
  if (all.exitCode === 0 && !all.stdout.includes('KUBE-')) return problems;
  for (const j of JUMP_RULES) {
    // Delete until gone: a crashed earlier run may have inserted a jump twice.
    for (let i = 0; i < 10; i++) {
      const r = await run(cmd.iptables, [...W, '-t', j.table, '-D', j.chain, ...j.args, '-j', j.target]);
      if (r.exitCode !== 0) break;
    }
  }
  const ours: Record<Table, (c: string) => boolean> = {
    nat: (c) => NAT_CHAINS.includes(c) || isServiceChain(c),
    filter: (c) => FILTER_CHAINS.includes(c),
  };
  for (const table of ['filter', 'nat'] as const) {
    const save = await run(cmd.save, ['-t', table]);
    if (save.exitCode !== 0) {
      // Not installed (e.g. no legacy binaries): nothing of ours can be there.
      if (/not found|ENOENT/.test(save.stderr)) continue;
      problems.push(`${cmd.save} -t ${table}: ${save.stderr.trim()}`);
      continue;
    }
    const chains = chainsOf(save.stdout).filter(ours[table]);
    if (chains.length === 0) continue;
    // Flush all first, in the same transaction, so that references between our chains
    // are gone before any -X.
    const text = [`*${table}`, ...chains.map((c) => `:${c} - [0:0]`), ...chains.map((c) => `-X ${c}`), 'COMMIT', ''].join('\n');
    const r = await run(cmd.restore, [...W, '--noflush'], { input: text, timeoutMs: 30 * 60_000 });
    if (r.exitCode !== 0) problems.push(`removing ${table} chains: ${r.stderr.trim()}`);
  }
  // The hint the agent left for the backend decision (ensureIptablesHint).
  if (all.exitCode === 0 && all.stdout.includes(`:${IPTABLES_HINT_CHAIN} `)) {
    const r = await run(cmd.iptables, [...W, '-t', 'mangle', '-X', IPTABLES_HINT_CHAIN]);
    if (r.exitCode !== 0) problems.push(`${cmd.iptables} -t mangle -X ${IPTABLES_HINT_CHAIN}: ${r.stderr.trim()}`);
  }
  return problems;
}
