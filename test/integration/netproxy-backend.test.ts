import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IPTABLES_HINT_CHAIN, chooseIptablesBackend, cleanupIptables, decideIptablesBackend, gatherBackendEvidence } from '../../netproxy/index.js';

// The iptables backend an agent picks when another writer's KUBE-* rules sit in the other
// backend: the cause of the bench's full syncs in steady state (issue 18). The bench held
// 190k rules in iptables-legacy; an agent in iptables mode that started meanwhile (another
// test, a cluster node) counted rules, picked legacy, and its full sync deleted the bench's
// chains as stale, so the bench's next partial restore failed ("Couldn't load target
// KUBE-SVC-...") and fell back to a full one. Upstream's nodes are safe from this because
// kubelet, started before kube-proxy, leaves KUBE-IPTABLES-HINT in the mangle table of the
// host's own iptables and the wrapper follows it before it counts anything. The real
// kernel: a chain of rules in legacy nat, more than nf_tables holds; removed afterwards. A
// hint already there is never removed (an agent starting meanwhile would count rules and
// pick legacy): the count-only decision is then read from the evidence without it.

const run = promisify(execFile);
const CHAIN = 'KUBE-SVC-BACKENDTEST0000';
const sh = async (file: string, args: string[], input?: string) => {
  const p = run(file, args, { maxBuffer: 256 << 20 });
  if (input !== undefined) p.child.stdin!.end(input);
  return (await p).stdout;
};
const rules = (save: string) => save.split('\n').filter((l) => l.startsWith('-')).length;
const hintIn = (save: string) => save.includes(`:${IPTABLES_HINT_CHAIN} `);

let hadHint = false;

beforeAll(async () => {
  hadHint = hintIn(await sh('iptables-nft-save', ['-t', 'mangle']));
  // More rules in legacy than in nf_tables, none of them a hint: what a legacy bench leaves.
  const n = rules(await sh('iptables-nft-save', [])) + 200;
  await sh('iptables-legacy-restore', ['-w', '5', '--noflush'], ['*nat', `:${CHAIN} - [0:0]`, ...Array.from({ length: n }, (_, i) => `-A ${CHAIN} -d 10.96.${(i >> 8) & 255}.${i & 255}/32 -j RETURN`), 'COMMIT', ''].join('\n'));
});

afterAll(async () => {
  const problems = [...(await cleanupIptables(undefined, 'legacy'))];
  if (!hadHint && hintIn(await sh('iptables-nft-save', ['-t', 'mangle']))) await sh('iptables-nft', ['-w', '5', '-t', 'mangle', '-X', IPTABLES_HINT_CHAIN]);
  expect(problems).toEqual([]);
  expect(await sh('iptables-legacy-save', ['-t', 'nat'])).not.toContain(CHAIN);
});

describe('iptables backend of an agent starting beside another writer', () => {
  it('counting rules alone picks legacy, where the other writer is', async () => {
    const ev = await gatherBackendEvidence();
    const d = chooseIptablesBackend({ ...ev, nftMangle: ev.nftMangle.replace(/^:KUBE-IPTABLES-HINT .*$/m, '') });
    expect(d.backend).toBe('legacy');
    expect(d.reason).toMatch(/host's rules are in iptables-legacy/);
  });

  it("follows the host's iptables (nf_tables here) once it left kubelet's hint, as an upstream node does", async () => {
    const system = /nf_tables/.test(await sh('iptables', ['--version'])) ? 'nft' : 'legacy';
    const d = await decideIptablesBackend();
    expect(d.backend).toBe(system);
    expect(d.reason).toMatch(/kubelet hint chain found/);
    // (A single legacy table is never listed: listing it would create it.)
    expect(hintIn(await sh(`iptables-${system}-save`, system === 'nft' ? ['-t', 'mangle'] : []))).toBe(true);
    // Forced: no hint is needed, none is written elsewhere.
    expect((await decideIptablesBackend('legacy')).backend).toBe('legacy');
    expect(hintIn(await sh('iptables-legacy-save', []))).toBe(false);
  });
});
