// The pod network's forwarding chain (netproxy/forward.ts): the rules, how another CIDR's
// rules are kept, and the argv the executor builds. The real kernel: test/integration/services-traffic.test.ts.

import { describe, expect, it } from 'vitest';
import { type CommandResult, type Runner, ensurePodForwarding, mergePodForwardRules, podForwardRules, removePodForwarding } from '../../netproxy/index.js';

type Call = { file: string; args: string[]; input?: string };

function fakeRunner(answer: (c: Call) => Partial<CommandResult> = () => ({})): { run: Runner; calls: Call[] } {
  const calls: Call[] = [];
  const run: Runner = async (file, args, opts) => {
    const c = { file, args: [...args], ...(opts?.input !== undefined ? { input: opts.input } : {}) };
    calls.push(c);
    return { exitCode: 0, stdout: '', stderr: '', ...answer(c) };
  };
  return { run, calls };
}

const RULES = [
  '-A BOSUN-FORWARD -s 10.245.0.0/16 -m comment --comment "bosun pod network forwarding" -j ACCEPT',
  '-A BOSUN-FORWARD -d 10.245.0.0/16 -m comment --comment "bosun pod network forwarding" -j ACCEPT',
];

describe('pod network forwarding', () => {
  it('accepts from and to the pod CIDR, in iptables -S form', () => {
    expect(podForwardRules('10.245.0.0/16')).toEqual(RULES);
  });

  it('refuses a pod CIDR that is not a CIDR, naming it', () => {
    expect(() => podForwardRules('10.245.0.1/16')).toThrow(/pod CIDR "10.245.0.1\/16"/);
    expect(() => podForwardRules('x -j DROP')).toThrow(/pod CIDR/);
  });

  it("keeps another agent's CIDR and replaces rules that overlap its own", () => {
    const other = podForwardRules('10.244.0.0/16');
    expect(mergePodForwardRules([...other, '-A BOSUN-FORWARD -s 10.245.0.0/24 -j ACCEPT'], '10.245.0.0/16')).toEqual([...other, ...RULES]);
  });

  it('writes the chain in one restore and inserts the jump at the top of FORWARD when missing', async () => {
    const { run, calls } = fakeRunner((c) => (c.args.includes('-S') || c.args.includes('-C') ? { exitCode: 1 } : {}));
    await ensurePodForwarding('10.245.0.0/16', 'nft', run);
    expect(calls.map((c) => [c.file, ...c.args].join(' '))).toEqual([
      'iptables-nft -w 5 -t filter -S BOSUN-FORWARD',
      'iptables-nft-restore -w 5 --noflush',
      'iptables-nft -w 5 -t filter -C FORWARD -m comment --comment bosun pod network forwarding -j BOSUN-FORWARD',
      'iptables-nft -w 5 -t filter -I FORWARD 1 -m comment --comment bosun pod network forwarding -j BOSUN-FORWARD',
    ]);
    expect(calls[1]!.input).toBe(['*filter', ':BOSUN-FORWARD - [0:0]', ...RULES, 'COMMIT', ''].join('\n'));
  });

  it('changes nothing when the chain and the jump are in place', async () => {
    const { run, calls } = fakeRunner((c) => (c.args.includes('-S') ? { stdout: ['-N BOSUN-FORWARD', ...RULES, ''].join('\n') } : {}));
    await ensurePodForwarding('10.245.0.0/16', 'system', run);
    expect(calls.map((c) => c.args[4])).toEqual(['-S', '-C']);
  });

  it('cleanup touches nothing when the chain is not there', async () => {
    const { run, calls } = fakeRunner(() => ({ stdout: '*filter\n:FORWARD DROP [0:0]\nCOMMIT\n' }));
    expect(await removePodForwarding('legacy', run)).toEqual([]);
    expect(calls.map((c) => c.file)).toEqual(['iptables-legacy-save']);
  });
});
