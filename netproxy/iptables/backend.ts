// Which iptables backend to program, as upstream's iptables-wrapper decides it
// (kubernetes-sigs/iptables-wrappers internal/iptables/detect.go): kubelet's hint chains
// (KUBE-IPTABLES-HINT, KUBE-KUBELET-CANARY in mangle) name the backend the host uses,
// nft checked first; without them the older wrapper's rule count decides (the backend
// that holds more rules, e.g. Docker's, is the one in use); nothing at all means nft.
// Rules of both backends on the same hooks run in an order nobody chose, hence the warning.
// bosun is the node's kubelet too: like kubelet's syncIPTablesRules it first leaves the hint
// chain with the host's own `iptables`, so that its proxy (and any other component) follows
// the host's iptables rather than counting rules: a count is swayed by whoever wrote the most,
// e.g. another proxy's (or a benchmark's) 190k rules in iptables-legacy.

import { runCommand, type Runner } from '../exec.js';
import { IPTABLES_HINT_CHAIN, IPTABLES_WAIT, iptablesCommands } from './executor.js';

export type IptablesBackendChoice = 'legacy' | 'nft';

export interface BackendEvidence {
  /** `iptables-nft-save -t mangle` (hint chains), '' when unavailable. */
  nftMangle: string;
  /** `iptables-nft-save` (all tables). */
  nftAll: string;
  /** `iptables-legacy-save`: all tables, as listing one table would create it. */
  legacyAll: string;
}

export interface BackendDecision {
  backend: IptablesBackendChoice;
  forced: boolean;
  reason: string;
  /** Rules (lines starting with `-`) each backend holds now. */
  rules: { legacy: number; nft: number };
  warnings: string[];
}

const HINT = /^:(KUBE-IPTABLES-HINT|KUBE-KUBELET-CANARY) /m;
const ruleCount = (save: string) => save.split('\n').filter((l) => l.startsWith('-')).length;
/** Rules that are not bosun's own (KUBE-*): who else is on the hooks. */
const foreignRules = (save: string) => save.split('\n').filter((l) => l.startsWith('-') && !l.includes('KUBE-')).length;

export function chooseIptablesBackend(ev: BackendEvidence, forced?: IptablesBackendChoice): BackendDecision {
  const rules = { legacy: ruleCount(ev.legacyAll), nft: ruleCount(ev.nftAll) };
  const warnings: string[] = [];
  let backend: IptablesBackendChoice;
  let reason: string;
  if (forced) {
    backend = forced;
    reason = `forced by --iptables-backend=${forced}`;
  } else if (HINT.test(ev.nftMangle)) {
    backend = 'nft';
    reason = 'kubelet hint chain found in the nf_tables mangle table';
  } else if (HINT.test(ev.legacyAll)) {
    backend = 'legacy';
    reason = 'kubelet hint chain found in the legacy mangle table';
  } else if (rules.legacy > rules.nft) {
    backend = 'legacy';
    reason = `the host's rules are in iptables-legacy (${rules.legacy} rules there, ${rules.nft} in nf_tables)`;
  } else if (rules.nft > 0) {
    backend = 'nft';
    reason = `the host's rules are in nf_tables (${rules.nft} rules there, ${rules.legacy} in iptables-legacy)`;
  } else {
    backend = 'nft';
    reason = 'no iptables rules on the host: nf_tables, the default';
  }
  const other = backend === 'legacy' ? foreignRules(ev.nftAll) : foreignRules(ev.legacyAll);
  if (other > 0) {
    warnings.push(
      `${other} rules of other programs are in ${backend === 'legacy' ? 'nf_tables (iptables-nft, e.g. Docker)' : 'iptables-legacy'} while bosun writes ` +
      `${backend === 'legacy' ? 'iptables-legacy' : 'nf_tables'}: two rule sets on the same hooks, evaluated in an order neither controls ` +
      '(a DROP in either one wins)',
    );
  }
  return { backend, forced: !!forced, reason, rules, warnings };
}

/** Reads the evidence from the host (read-only: never lists a single legacy table). */
export async function gatherBackendEvidence(run: Runner = runCommand): Promise<BackendEvidence> {
  const out = async (file: string, args: string[]) => {
    try {
      const r = await run(file, args, { timeoutMs: 60_000 });
      return r.exitCode === 0 ? r.stdout : '';
    } catch {
      return ''; // not installed
    }
  };
  const nft = iptablesCommands('nft').save;
  return {
    nftMangle: await out(nft, ['-t', 'mangle']),
    nftAll: await out(nft, []),
    legacyAll: await out(iptablesCommands('legacy').save, []),
  };
}

export async function detectIptablesBackend(forced?: IptablesBackendChoice, run: Runner = runCommand): Promise<BackendDecision> {
  return chooseIptablesBackend(await gatherBackendEvidence(run), forced);
}

/**
 * kubelet's hint: an empty chain in the mangle table of the host's `iptables`. Exit 1 from
 * `-N` is "it exists". A host without `iptables` gets none (the rule count decides then).
 */
export async function ensureIptablesHint(run: Runner = runCommand): Promise<void> {
  const r = await run(iptablesCommands('system').iptables, [...IPTABLES_WAIT, '-t', 'mangle', '-N', IPTABLES_HINT_CHAIN]).catch(() => undefined);
  if (r && r.exitCode !== 0 && !/exists/i.test(r.stderr)) throw new Error(`iptables -t mangle -N ${IPTABLES_HINT_CHAIN} failed: ${r.stderr.trim()}`);
}

/** The backend the proxy programs: kubelet's hint first (written here if missing), then the wrapper's rule. */
export async function decideIptablesBackend(forced?: IptablesBackendChoice, run: Runner = runCommand): Promise<BackendDecision> {
  if (!forced) await ensureIptablesHint(run);
  return detectIptablesBackend(forced, run);
}
