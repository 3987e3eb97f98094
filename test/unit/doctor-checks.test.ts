import { describe, expect, it } from 'vitest';
import { CLOCK_FLOOR, exitCode, formatResults, looksLikeBosun, runChecks, type CheckResult } from '../../agent/doctor/checks.js';
import type { Facts } from '../../agent/doctor/facts.js';
import { parseProcNetTcp, procNetAddress } from '../../agent/doctor/gather.js';
import { must } from '../support/common.js';

// A healthy cgroup v2 host with systemd, then one thing wrong at a time.
function healthy(): Facts {
  return {
    engine: { endpoint: 'unix:///var/run/docker.sock', version: '24.0.7', apiVersion: '1.43', cgroupDriver: 'systemd', cgroupVersion: '2' },
    pauseImage: { ref: 'localhost/bosun/pause:3.10', present: true },
    systemd: true,
    cgroup: { fsType: 'cgroup2fs', v1: [], v2: ['cpuset', 'cpu', 'io', 'memory', 'pids'] },
    iptables: { version: 'iptables v1.8.9 (nf_tables)', probes: { statistic: undefined, recent: undefined, comment: undefined, addrtype: undefined, conntrack: undefined, mark: undefined, MASQUERADE: undefined, DNAT: undefined } },
    sysctl: { ipForward: '1', bridgeNfCallIptables: '1' },
    swaps: [],
    ipvs: { kernelRelease: '6.1.0-18-amd64', procNetIpVs: true, loadableModules: true, moduleFiles: ['ip_vs.ko'], ipvsadm: 'ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)' },
    conntrack: { tool: 'conntrack v1.4.7 (conntrack-tools)', kernel: true },
    ports: [
      { port: 10250, purpose: 'API', listeners: [] },
      { port: 10248, purpose: 'healthz', listeners: [] },
      { port: 10255, purpose: 'read-only API', listeners: [] },
    ],
    dirs: [{ path: '/var/lib/bosun', purpose: 'root dir', exists: true, writable: true }],
    clock: { now: Date.UTC(2026, 5, 1), ntpSynchronized: true },
  };
}

const byName = (rs: CheckResult[], name: string) => {
  const r = rs.find((x) => x.name === name);
  if (!r) throw new Error(`no check named ${name}: ${rs.map((x) => x.name).join(', ')}`);
  return r;
};
const check = (f: Facts, name: string) => byName(runChecks(f), name);

describe('bosun doctor checks', () => {
  it('passes everything on a healthy host, exit code 0', () => {
    const rs = runChecks(healthy());
    expect(rs.filter((r) => r.status !== 'PASS')).toEqual([]);
    expect(exitCode(rs)).toBe(0);
    expect(rs.map((r) => r.name)).toEqual([
      'engine', 'cgroup driver', 'cgroups', 'pause image', 'iptables', 'iptables matches', 'ip_forward', 'br_netfilter',
      'ipvs', 'conntrack', 'swap', 'port 10250', 'port 10248', 'port 10255', 'dir /var/lib/bosun', 'clock',
    ]);
  });

  it('prints one line per check, a fix under every non-pass, a summary; exit 1 on any FAIL', () => {
    const f = healthy();
    f.swaps = ['/swapfile'];
    f.sysctl.ipForward = '0';
    const rs = runChecks(f);
    const out = formatResults(rs);
    expect(out).toContain('[PASS] engine: docker 24.0.7 (API 1.43) at unix:///var/run/docker.sock\n');
    expect(out).toMatch(/\[WARN\] swap: on \(\/swapfile\).*\n {7}fix: swapoff -a/);
    expect(out).toMatch(/\[FAIL\] ip_forward: net.ipv4.ip_forward = 0.*\n {7}fix: sysctl -w net.ipv4.ip_forward=1/);
    expect(out.trimEnd().split('\n').pop()).toBe(`${rs.length - 2} passed, 1 warnings, 1 failed`);
    for (const line of out.trimEnd().split('\n').slice(0, -1)) expect(line).toMatch(/^(\[(PASS|WARN|FAIL)\] [^:]+: .+| {7}fix: .+)$/);
    expect(exitCode(rs)).toBe(1);
  });

  it('engine: unreachable fails, and what depends on it is not judged', () => {
    const f = healthy();
    f.engine = { endpoint: 'unix:///var/run/docker.sock', error: 'connect ENOENT /var/run/docker.sock' };
    f.pauseImage = { ref: 'localhost/bosun/pause:3.10' };
    expect(check(f, 'engine')).toMatchObject({ status: 'FAIL', detail: expect.stringContaining('ENOENT') });
    expect(check(f, 'cgroup driver').status).toBe('WARN');
    expect(check(f, 'pause image')).toMatchObject({ status: 'WARN', detail: expect.stringContaining('not checked') });
    f.engine = { endpoint: 'x', version: '19.03', apiVersion: '1.40', cgroupDriver: 'systemd' };
    expect(check(f, 'engine').status).toBe('WARN');
  });

  it('cgroup driver: cgroupfs beside systemd is what kubeadm warns about', () => {
    const f = healthy();
    f.engine.cgroupDriver = 'cgroupfs';
    expect(check(f, 'cgroup driver')).toMatchObject({ status: 'WARN', fix: expect.stringContaining('native.cgroupdriver=systemd') });
    f.systemd = false;
    expect(check(f, 'cgroup driver').status).toBe('PASS');
  });

  it('cgroup driver: bosun configured with another driver than the engine\'s fails, naming both fixes', () => {
    const f = healthy();
    f.engine.configuredCgroupDriver = 'cgroupfs';
    const r = check(f, 'cgroup driver');
    expect(r).toMatchObject({ status: 'FAIL', detail: expect.stringContaining('configured with cgroupfs, the engine uses systemd') });
    expect(r.fix).toContain('cgroupDriver: systemd');
    expect(r.fix).toContain('native.cgroupdriver=cgroupfs');
    f.engine.configuredCgroupDriver = 'systemd';
    expect(check(f, 'cgroup driver').status).toBe('PASS');
  });

  it('cgroups: v2 needs cpu, memory, pids; v1 (hybrid) works with a warning', () => {
    const f = healthy();
    f.cgroup.v2 = ['cpu', 'pids'];
    expect(check(f, 'cgroups')).toMatchObject({ status: 'FAIL', detail: expect.stringContaining('missing memory') });
    f.cgroup = { fsType: 'tmpfs', v1: ['cpuset', 'cpu', 'cpuacct', 'blkio', 'memory', 'devices', 'freezer', 'pids'], v2: [], unifiedMount: '/sys/fs/cgroup/unified' };
    const r = check(f, 'cgroups');
    expect(r.status).toBe('WARN');
    expect(r.detail).toContain('v1 (hybrid: v2 at /sys/fs/cgroup/unified with no controllers)');
    f.cgroup.v1 = ['cpu', 'cpuacct', 'pids'];
    expect(check(f, 'cgroups')).toMatchObject({ status: 'FAIL', detail: expect.stringContaining('missing memory') });
  });

  it('iptables: backend named, missing matches fail with the kernel error', () => {
    const f = healthy();
    expect(check(f, 'iptables').detail).toContain('nft backend');
    f.iptables.version = 'iptables v1.8.7 (legacy)';
    expect(check(f, 'iptables').detail).toContain('legacy backend');
    f.iptables.probes.statistic = "Couldn't load match `statistic':No such file or directory";
    expect(check(f, 'iptables matches')).toMatchObject({ status: 'FAIL', detail: expect.stringContaining("statistic (Couldn't load match") });
    f.iptables = { error: 'iptables: command not found', probes: {} };
    expect(check(f, 'iptables')).toMatchObject({ status: 'FAIL', fix: 'apt-get install iptables' });
    expect(check(f, 'iptables matches').status).toBe('FAIL');
  });

  it('br_netfilter and swap warn; conntrack tool missing fails', () => {
    const f = healthy();
    f.sysctl.bridgeNfCallIptables = undefined;
    expect(check(f, 'br_netfilter')).toMatchObject({ status: 'WARN', detail: expect.stringContaining('not loaded'), fix: expect.stringContaining('modprobe br_netfilter') });
    f.sysctl.bridgeNfCallIptables = '0';
    expect(check(f, 'br_netfilter').status).toBe('WARN');
    f.conntrack = { kernel: true };
    expect(check(f, 'conntrack').status).toBe('FAIL');
    f.conntrack = { tool: 'conntrack v1.4.7', kernel: false };
    expect(check(f, 'conntrack').status).toBe('WARN');
  });

  it('ipvs: unavailable is a warning that says why', () => {
    const f = healthy();
    f.ipvs = { kernelRelease: '6.18.44-fc', procNetIpVs: false, loadableModules: false, moduleFiles: [] };
    const r = check(f, 'ipvs');
    expect(r.status).toBe('WARN');
    expect(r.detail).toBe('unavailable: kernel 6.18.44-fc loads no modules (/proc/modules missing) and has no built-in IPVS (/proc/net/ip_vs missing); the iptables proxy mode is used');
    f.ipvs = { kernelRelease: '6.1.0', procNetIpVs: false, loadableModules: true, moduleFiles: [] };
    expect(check(f, 'ipvs').detail).toContain('no ip_vs module for kernel 6.1.0 under /lib/modules/6.1.0');
    f.ipvs.moduleFiles = ['ip_vs.ko', 'ip_vs_rr.ko'];
    expect(check(f, 'ipvs')).toMatchObject({ status: 'WARN', fix: 'modprobe ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh' });
    f.ipvs = { kernelRelease: '6.1.0', procNetIpVs: true, loadableModules: true, moduleFiles: [] };
    expect(check(f, 'ipvs')).toMatchObject({ status: 'WARN', fix: 'apt-get install ipvsadm' });
  });

  it('ports: free or held by bosun pass, anything else fails', () => {
    const f = healthy();
    must(f.ports[2], 'port 10255').listeners = [{ address: '127.0.0.1', pid: 42, argv: ['node', '/opt/bosun/dist/agent/cli.js', 'run', '--config', '/etc/bosun/config.yaml'] }];
    expect(check(f, 'port 10255')).toMatchObject({ status: 'PASS', detail: expect.stringContaining('in use by bosun itself') });
    must(f.ports[0], 'port 10250').listeners = [{ address: '0.0.0.0', pid: 7, argv: ['/usr/bin/kubelet', '--config', 'x'] }];
    expect(check(f, 'port 10250')).toMatchObject({ status: 'FAIL', detail: expect.stringContaining('/usr/bin/kubelet --config x (pid 7)') });
    must(f.ports[1], 'port 10248').listeners = [{ address: '::' }];
    expect(check(f, 'port 10248')).toMatchObject({ status: 'FAIL', detail: expect.stringContaining('an unknown process') });
  });

  it('recognises a bosun agent by its command line', () => {
    expect(looksLikeBosun(['/usr/bin/node', '/opt/bosun/dist/agent/cli.js', 'run'])).toBe(true);
    expect(looksLikeBosun(['node', 'dist/agent/cli.js', 'run', '--pod-manifest-path', '/x'])).toBe(true);
    expect(looksLikeBosun(['/bin/sh', '/usr/local/bin/bosun', 'run'])).toBe(true);
    expect(looksLikeBosun(['node', 'dist/agent/cli.js', 'get', 'pods'])).toBe(false);
    expect(looksLikeBosun(['python3', '-m', 'http.server', '10255'])).toBe(false);
    expect(looksLikeBosun(undefined)).toBe(false);
  });

  it('dirs: unwritable fails, missing is created by bosun', () => {
    const f = healthy();
    f.dirs = [
      { path: '/var/log/pods', purpose: 'pod logs', exists: false, writable: true },
      { path: '/etc/kubernetes/manifests', purpose: 'static pod manifests', exists: true, writable: false, error: '/etc/kubernetes/manifests: EROFS' },
    ];
    expect(check(f, 'dir /var/log/pods')).toMatchObject({ status: 'PASS', detail: 'pod logs: missing, bosun creates it' });
    expect(check(f, 'dir /etc/kubernetes/manifests')).toMatchObject({ status: 'FAIL', detail: expect.stringContaining('EROFS') });
  });

  it('clock: wrong, unsynchronized, unknown', () => {
    const f = healthy();
    f.clock = { now: CLOCK_FLOOR - 1, ntpSynchronized: true };
    expect(check(f, 'clock').status).toBe('FAIL');
    f.clock = { now: Date.UTC(2026, 0, 1), ntpSynchronized: false };
    expect(check(f, 'clock')).toMatchObject({ status: 'WARN', detail: expect.stringContaining('NTP not synchronized') });
    f.clock = { now: Date.UTC(2026, 0, 1), ntpError: 'timedatectl: System has not been booted with systemd' };
    expect(check(f, 'clock')).toMatchObject({ status: 'WARN', detail: expect.stringContaining('cannot tell') });
  });

  it('pause image missing fails with the ways to get it', () => {
    const f = healthy();
    f.pauseImage.present = false;
    expect(check(f, 'pause image')).toMatchObject({ status: 'FAIL', fix: expect.stringContaining('scripts/setup-host.sh') });
  });
});

describe('reading /proc/net/tcp', () => {
  it('decodes addresses and finds listeners', () => {
    expect(procNetAddress('0100007F')).toBe('127.0.0.1');
    expect(procNetAddress('00000000')).toBe('0.0.0.0');
    expect(procNetAddress('00000000000000000000000000000000')).toBe('::');
    expect(procNetAddress('00000000000000000000000001000000')).toBe('::1');
    const text = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:2817 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 123456 1 0000000000000000 100 0 0 10 0',
      '   1: 0100007F:2817 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 123457 1 0000000000000000 20 4 30 10 -1',
    ].join('\n');
    expect(parseProcNetTcp(text)).toEqual([{ port: 10263, address: '127.0.0.1', inode: '123456' }]);
  });

  it('iptables backend: says which and why; warns when forced legacy sits beside nf_tables rules; nftables mode needs nft', () => {
    const docker = Array.from({ length: 20 }, (_, i) => `-A DOCKER -j RETURN ${i}`).join('\n');
    const f = healthy();
    f.proxy = { mode: 'iptables', iptablesBackend: 'auto', evidence: { nftMangle: '', nftAll: docker, legacyAll: '' }, nft: 'nftables v1.0.6' };
    const auto = byName(runChecks(f), 'iptables backend');
    expect(auto.status).toBe('PASS');
    expect(auto.detail).toMatch(/^iptables-nft \(nf_tables\): the host's rules are in nf_tables \(20 rules there/);
    f.proxy.iptablesBackend = 'legacy';
    const forced = byName(runChecks(f), 'iptables backend');
    expect(forced.status).toBe('WARN');
    expect(forced.detail).toMatch(/forced by --iptables-backend=legacy.*two rule sets on the same hooks/);
    expect(forced.fix).toMatch(/drop --iptables-backend=legacy/);
    f.proxy = { ...f.proxy, mode: 'nftables', nft: undefined };
    expect(byName(runChecks(f), 'proxy backend')).toMatchObject({ status: 'FAIL', fix: 'apt-get install nftables' });
  });
});
