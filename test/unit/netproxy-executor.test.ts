// The executors against a recording fake runner: the argv they build and how they read
// exit codes. The real kernel is exercised in test/integration/netproxy-*.

import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type CommandResult, type Runner, IptablesExecutor, JUMP_RULES, RestoreError, ServiceCidrError, checkServiceCidr, cleanup,
  enableHairpin, ensureServiceCidrRoute, ipvsAvailable,
} from '../../netproxy/index.js';

type Call = { file: string; args: string[]; input?: string };

async function fakeTree(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'netproxy-fake-'));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), text);
  }
  return root;
}

function fakeRunner(answer: (c: Call) => Partial<CommandResult> | Error = () => ({})): { run: Runner; calls: Call[] } {
  const calls: Call[] = [];
  const run: Runner = async (file, args, opts) => {
    const c = { file, args: [...args], ...(opts?.input !== undefined ? { input: opts.input } : {}) };
    calls.push(c);
    const a = answer(c);
    if (a instanceof Error) throw a;
    return { exitCode: 0, stdout: '', stderr: '', ...a };
  };
  return { run, calls };
}

describe('IptablesExecutor', () => {
  it('applies with one iptables-restore --noflush --counters, text on stdin', async () => {
    const { run, calls } = fakeRunner();
    await new IptablesExecutor(run).restore('*nat\nCOMMIT\n');
    expect(calls).toEqual([{ file: 'iptables-restore', args: ['-w', '5', '--noflush', '--counters'], input: '*nat\nCOMMIT\n' }]);
  });

  it('reports a failed restore with the offending line', async () => {
    const { run } = fakeRunner(() => ({ exitCode: 2, stderr: 'iptables-restore: line 3 failed' }));
    const err = await new IptablesExecutor(run).restore('*nat\n:A - [0:0]\n-A B -j C\nCOMMIT\n').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RestoreError);
    expect((err as Error).message).toBe('iptables-restore failed: iptables-restore: line 3 failed (line 3: -A B -j C)');
  });

  it('inserts a jump only when -C does not find it', async () => {
    const { run, calls } = fakeRunner((c) => (c.args.includes('-C') && c.args.includes('POSTROUTING') ? { exitCode: 1 } : {}));
    await new IptablesExecutor(run).ensureJumps();
    const inserts = calls.filter((c) => c.args.includes('-I'));
    expect(inserts.map((c) => c.args)).toEqual([
      ['-w', '5', '-t', 'nat', '-I', 'POSTROUTING', '-m', 'comment', '--comment', 'kubernetes postrouting rules', '-j', 'KUBE-POSTROUTING'],
    ]);
    expect(calls.filter((c) => c.args.includes('-C'))).toHaveLength(JUMP_RULES.length);
    expect(calls.every((c) => c.file === 'iptables')).toBe(true);
  });

  it('is unhealthy when a canary is missing or KUBE-SERVICES is empty', async () => {
    const answers: Record<string, Partial<CommandResult>> = {};
    const { run } = fakeRunner((c) => answers[c.args.join(' ')] ?? {});
    const ex = new IptablesExecutor(run);
    answers['-w 5 -t nat -S KUBE-SERVICES 1'] = { stdout: '-A KUBE-SERVICES -j KUBE-NODEPORTS\n' };
    expect(await ex.healthy()).toBe(true);
    answers['-w 5 -t nat -S KUBE-SERVICES 1'] = { stdout: '' };
    expect(await ex.healthy()).toBe(false);
    answers['-w 5 -t nat -S KUBE-SERVICES 1'] = { stdout: 'x' };
    answers['-w 5 -t filter -L KUBE-PROXY-CANARY -n'] = { exitCode: 1 };
    expect(await ex.healthy()).toBe(false);
  });

  it('detects --random-fully from the iptables version, and treats "0 flow entries" as done', async () => {
    const v = (out: string) => new IptablesExecutor(fakeRunner(() => ({ stdout: out })).run).randomFully();
    expect(await v('iptables v1.8.9 (nf_tables)\n')).toBe(true);
    expect(await v('iptables v1.6.2\n')).toBe(true);
    expect(await v('iptables v1.6.1\n')).toBe(false);
    const { run, calls } = fakeRunner(() => ({ exitCode: 1, stderr: 'conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.' }));
    await new IptablesExecutor(run).deleteConntrack({ protocol: 'udp', origDst: '10.96.0.10', dstNat: '10.244.0.4' });
    expect(calls[0]).toEqual({ file: 'conntrack', args: ['-D', '-p', 'udp', '--orig-dst', '10.96.0.10', '--dst-nat', '10.244.0.4'] });
  });
});

describe('cleanup', () => {
  it('removes jumps, then flushes and deletes only our chains, then the route', async () => {
    const save: Record<string, string> = {
      nat: '*nat\n:PREROUTING ACCEPT [0:0]\n:DOCKER - [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-SVC-AAAA - [0:0]\n:KUBE-SEP-BBBB - [0:0]\n:KUBE-MARK-MASQ - [0:0]\nCOMMIT\n',
      filter: '*filter\n:INPUT ACCEPT [0:0]\n:KUBE-FORWARD - [0:0]\n:KUBE-PROXY-CANARY - [0:0]\n:DOCKER-USER - [0:0]\nCOMMIT\n',
    };
    const { run, calls } = fakeRunner((c) => {
      if (c.file === 'iptables-save') return { stdout: c.args.length === 0 ? save.filter! + save.nat! : save[c.args[1]!]! };
      // Each jump exists once: the first -D succeeds, the second does not.
      if (c.args.includes('-D')) return { exitCode: calls.filter((x) => x.args.join() === c.args.join()).length > 1 ? 1 : 0 };
      return {};
    });
    expect(await cleanup({ runner: run, iptablesVariants: ['system'], nftTable: false })).toEqual([]);
    expect(calls.filter((c) => c.args.includes('-D'))).toHaveLength(JUMP_RULES.length * 2);
    const restores = calls.filter((c) => c.file === 'iptables-restore').map((c) => c.input);
    expect(restores).toEqual([
      '*filter\n:KUBE-FORWARD - [0:0]\n:KUBE-PROXY-CANARY - [0:0]\n-X KUBE-FORWARD\n-X KUBE-PROXY-CANARY\nCOMMIT\n',
      '*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-SVC-AAAA - [0:0]\n:KUBE-SEP-BBBB - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n-X KUBE-SERVICES\n-X KUBE-SVC-AAAA\n-X KUBE-SEP-BBBB\n-X KUBE-MARK-MASQ\nCOMMIT\n',
    ]);
    expect(calls.at(-1)).toEqual({ file: 'ip', args: ['route', 'del', '10.96.0.0/12', 'dev', 'bosun0'] });
  });

  it('touches neither backend where nothing of ours is, and deletes the nftables table', async () => {
    const { run, calls } = fakeRunner((c) => (c.file.endsWith('-save') ? { stdout: '*nat\n:DOCKER - [0:0]\nCOMMIT\n' } : {}));
    expect(await cleanup({ runner: run, route: false })).toEqual([]);
    expect(calls.map((c) => [c.file, ...c.args].join(' '))).toEqual([
      // Each backend: bosun proxy's chains, then the pod network's forwarding chain.
      'iptables-legacy-save', 'iptables-legacy-save -t filter', 'iptables-nft-save', 'iptables-nft-save -t filter', 'nft delete table ip kube-proxy',
    ]);
  });
});

describe('Service CIDR safety', () => {
  const routes = [
    { dst: 'default', gateway: '192.0.2.1', dev: 'eth0' },
    { dst: '10.244.0.0/16', dev: 'bosun0', protocol: 'kernel' },
    { dst: '172.17.0.0/16', dev: 'docker0', protocol: 'kernel' },
    { dst: '192.0.2.0/24', dev: 'eth0', protocol: 'kernel' },
  ];

  it('accepts the defaults and our own earlier route', () => {
    expect(() => checkServiceCidr('10.96.0.0/12', '10.244.0.0/16', [...routes, { dst: '10.96.0.0/12', dev: 'bosun0' }])).not.toThrow();
  });

  it('refuses an overlap with the pod CIDR or a host route, and a malformed CIDR', () => {
    expect(() => checkServiceCidr('10.240.0.0/12', '10.244.0.0/16', routes)).toThrow(new ServiceCidrError('service CIDR 10.240.0.0/12 overlaps the pod CIDR 10.244.0.0/16: choose ranges that do not overlap'));
    expect(() => checkServiceCidr('172.16.0.0/12', '10.244.0.0/16', routes)).toThrow('service CIDR 172.16.0.0/12 overlaps the host route 172.17.0.0/16 dev docker0');
    expect(() => checkServiceCidr('192.0.2.128/25', '10.244.0.0/16', routes)).toThrow('overlaps the host route 192.0.2.0/24 dev eth0');
    expect(() => checkServiceCidr('10.96.0.0/12', '10.244.0.0/16', [{ dst: '10.100.1.1', gateway: '192.0.2.1', dev: 'eth0' }])).toThrow('host route 10.100.1.1 via 192.0.2.1 dev eth0');
    expect(() => checkServiceCidr('10.96.0.1/12', '10.244.0.0/16', routes)).toThrow('is not an IPv4 CIDR with zero host bits');
  });

  it('routes the Service CIDR to the bridge after checking, without ICMP redirects, and says how to create a missing bridge', async () => {
    const sysctlRoot = await fakeTree({ 'net/ipv4/conf/all/send_redirects': '1\n', 'net/ipv4/conf/bosun0/send_redirects': '1\n' });
    const { run, calls } = fakeRunner((c) => (c.args[1] === 'route' ? { stdout: JSON.stringify(routes) } : {}));
    await ensureServiceCidrRoute({ runner: run, sysctlRoot });
    expect(calls.map((c) => [c.file, ...c.args].join(' '))).toEqual([
      'ip -j link show dev bosun0', 'ip -j -4 route show', 'ip route replace 10.96.0.0/12 dev bosun0',
    ]);
    for (const conf of ['all', 'bosun0']) expect(await readFile(join(sysctlRoot, 'net/ipv4/conf', conf, 'send_redirects'), 'utf8')).toBe('0');
    const missing = fakeRunner(() => ({ exitCode: 1, stderr: 'Device "bosun0" does not exist.' }));
    await expect(ensureServiceCidrRoute({ runner: missing.run })).rejects.toThrow(
      'pod bridge bosun0 not found: create the pod network first (docker network create --subnet 10.244.0.0/16 -o com.docker.network.bridge.name=bosun0 bosun)',
    );
  });
});

describe('enableHairpin', () => {
  it('turns hairpin mode on for the given veths only (or all ports)', async () => {
    const sysRoot = await fakeTree({
      'class/net/bosun0/brif/vethA/hairpin_mode': '0\n', 'class/net/vethA/ifindex': '31\n',
      'class/net/bosun0/brif/vethB/hairpin_mode': '0\n', 'class/net/vethB/ifindex': '32\n',
      'class/net/bosun0/brif/vethC/hairpin_mode': '1\n', 'class/net/vethC/ifindex': '33\n',
    });
    expect(await enableHairpin({ sysRoot, ifindexes: [32, 33] })).toEqual(['vethB']);
    expect(await readFile(join(sysRoot, 'class/net/bosun0/brif/vethA/hairpin_mode'), 'utf8')).toBe('0\n');
    expect(await enableHairpin({ sysRoot })).toEqual(['vethA']);
  });
});

describe('ipvsAvailable', () => {
  const fakeProc = fakeTree;

  it('says no, naming the modules, when the kernel has no IPVS and modprobe is missing', async () => {
    const procRoot = await fakeProc({ 'net/nf_conntrack': '' });
    const { run } = fakeRunner((c) => (c.file === 'modprobe' ? new Error('spawn modprobe ENOENT') : {}));
    const r = await ipvsAvailable({ procRoot, runner: run });
    expect(r.ok).toBe(false);
    expect(r.reason).toBe('IPVS mode cannot run: kernel modules ip_vs, ip_vs_rr, ip_vs_wrr, ip_vs_sh neither loaded nor loadable (modprobe could not run: spawn modprobe ENOENT); use the iptables mode');
  });

  it('says yes when the modules are loaded or loadable and the tools exist', async () => {
    const procRoot = await fakeProc({ 'net/ip_vs': '', modules: 'ip_vs_rr 16384 0 - Live 0x0\nnf_conntrack 1 0 - Live 0x0\n' });
    const { run, calls } = fakeRunner((c) => (c.file === 'modprobe' ? { exitCode: c.args.includes('ip_vs_sh') ? 0 : 1 } : {}));
    expect(await ipvsAvailable({ procRoot, runner: run })).toEqual({ ok: false, reason: expect.stringContaining('kernel module ip_vs_wrr neither loaded nor loadable') });
    expect(calls.filter((c) => c.file === 'modprobe').map((c) => c.args)).toEqual([['-n', '-q', 'ip_vs_wrr'], ['-n', '-q', 'ip_vs_sh']]);
    const ok = fakeRunner();
    expect(await ipvsAvailable({ procRoot, runner: ok.run })).toEqual({ ok: true, reason: 'IPVS available; modules to load at start: ip_vs_wrr, ip_vs_sh' });
    const noTools = fakeRunner((c) => (c.file === 'ipset' ? new Error('ENOENT') : {}));
    expect((await ipvsAvailable({ procRoot, runner: noTools.run })).reason).toBe('IPVS mode cannot run: ipset not installed (apt-get install ipset)');
  });

  it('answers on this machine without throwing', async () => {
    const r = await ipvsAvailable();
    expect(typeof r.ok).toBe('boolean');
    expect(r.reason).toMatch(/IPVS/);
  });
});
