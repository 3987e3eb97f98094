import { chooseIptablesBackend } from '../../netproxy/index.js';
import type { Facts, Listener } from './facts.js';

// The judgements of `bosun doctor`, as pure functions of the gathered facts. Severities
// follow kubeadm's preflight where it has an equivalent (FAIL where it errors, WARN where it
// warns); a FAIL means bosun cannot do its job on this host.

export type Status = 'PASS' | 'WARN' | 'FAIL';

export interface CheckResult {
  status: Status;
  name: string;
  detail: string;
  /** What to do, for every result that is not PASS. */
  fix?: string;
}

const pass = (name: string, detail: string): CheckResult => ({ status: 'PASS', name, detail });
const warn = (name: string, detail: string, fix: string): CheckResult => ({ status: 'WARN', name, detail, fix });
const fail = (name: string, detail: string, fix: string): CheckResult => ({ status: 'FAIL', name, detail, fix });

/** Matches and targets the Service rules use (kube-proxy's iptables mode). */
export const REQUIRED_MATCHES = ['statistic', 'recent', 'comment', 'addrtype', 'conntrack', 'mark', 'MASQUERADE', 'DNAT'] as const;
/** A clock before this is certainly wrong (TLS, certificates and logs would all suffer). */
export const CLOCK_FLOOR = Date.UTC(2025, 0, 1);

export function engine(f: Facts): CheckResult {
  const e = f.engine;
  if (e.error) return fail('engine', `not reachable at ${e.endpoint}: ${e.error}`, 'start the engine (scripts/setup-host.sh starts dockerd; with systemd: systemctl start docker) or point --container-runtime-endpoint at its socket');
  const api = Number(e.apiVersion ?? 0);
  const detail = `docker ${e.version ?? '?'} (API ${e.apiVersion ?? '?'}) at ${e.endpoint}`;
  if (api && api < 1.41) return warn('engine', `${detail}: older than the Engine 20.10 / API 1.41 bosun is tested with`, 'upgrade the engine (apt-get install docker.io)');
  return pass('engine', detail);
}

export function cgroupDriver(f: Facts): CheckResult {
  const d = f.engine.cgroupDriver;
  if (f.engine.error || !d) return warn('cgroup driver', 'unknown: the engine did not answer', 'fix the engine first');
  const detail = `${d} (engine reports cgroup v${f.engine.cgroupVersion ?? '?'})`;
  // bosun refuses to start with another driver than the engine's: say so before it does.
  const mine = f.engine.configuredCgroupDriver;
  if (mine && mine !== d) {
    return fail('cgroup driver', `bosun is configured with ${mine}, the engine uses ${d}: bosun will refuse to start`,
      `set cgroupDriver: ${d} in the config file (or --cgroup-driver ${d}), or switch the engine to ${mine} ("exec-opts": ["native.cgroupdriver=${mine}"] in /etc/docker/daemon.json, then restart docker)`);
  }
  // Two managers of one cgroup tree (systemd and the engine's cgroupfs) is what kubeadm warns about.
  if (f.systemd && d === 'cgroupfs') return warn('cgroup driver', `${detail} while systemd is PID 1`, 'set "exec-opts": ["native.cgroupdriver=systemd"] in /etc/docker/daemon.json and restart docker');
  return pass('cgroup driver', detail);
}

export function cgroups(f: Facts): CheckResult {
  const c = f.cgroup;
  if (c.fsType === 'cgroup2fs') {
    const missing = ['cpu', 'memory', 'pids'].filter((x) => !c.v2?.includes(x));
    const detail = `v2 (unified), controllers: ${(c.v2 ?? []).join(' ') || 'none'}`;
    if (missing.length) return fail('cgroups', `${detail}; missing ${missing.join(', ')}`, `enable them for children of the root: echo "+${missing.join(' +')}" > /sys/fs/cgroup/cgroup.subtree_control (or boot without cgroup_disable=...)`);
    return pass('cgroups', detail);
  }
  const missing = ['cpu', 'cpuacct', 'memory', 'pids'].filter((x) => !c.v1.includes(x));
  const hybrid = c.unifiedMount ? `hybrid: v2 at ${c.unifiedMount} with ${c.v2?.length ? `controllers ${c.v2.join(' ')}` : 'no controllers'}` : 'legacy';
  const detail = `v1 (${hybrid}), controllers: ${c.v1.join(' ') || 'none'}`;
  if (missing.length) return fail('cgroups', `${detail}; missing ${missing.join(', ')}`, `mount the missing v1 controllers (or boot with cgroup v2: systemd.unified_cgroup_hierarchy=1)`);
  return warn('cgroups', `${detail}; upstream kubelet keeps cgroup v1 in maintenance mode`, 'bosun works on v1; where you can, boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1 on the kernel command line)');
}

export function iptables(f: Facts): CheckResult {
  const i = f.iptables;
  if (!i.version) return fail('iptables', `not usable: ${i.error ?? 'iptables not found'}`, 'apt-get install iptables');
  const backend = /nf_tables/.test(i.version) ? 'nft' : /legacy/.test(i.version) ? 'legacy' : 'unknown';
  return pass('iptables', `${i.version.trim()}: ${backend} backend`);
}

/** Which iptables backend the proxy would use and why (iptables-wrapper's rule), and nft for nftables mode. */
export function proxyBackend(f: Facts): CheckResult[] {
  const p = f.proxy;
  if (!p) return [];
  if (p.mode === 'nftables') {
    return [p.nft ? pass('proxy backend', `nftables mode: ${p.nft.trim()}`) : fail('proxy backend', 'nftables mode, but nft is not installed', 'apt-get install nftables')];
  }
  if (p.mode !== 'iptables') return [pass('proxy backend', `proxy mode ${p.mode}: no iptables backend needed`)];
  const forced = p.iptablesBackend === 'legacy' || p.iptablesBackend === 'nft' ? p.iptablesBackend : undefined;
  const d = chooseIptablesBackend(p.evidence, forced);
  const detail = `iptables-${d.backend === 'nft' ? 'nft (nf_tables)' : 'legacy'}: ${d.reason}`;
  if (d.warnings.length === 0) return [pass('iptables backend', detail)];
  return [warn('iptables backend', `${detail}; ${d.warnings.join('; ')}`,
    forced ? `drop --iptables-backend=${forced} (auto picks the backend the host's rules use), or use --proxy-mode nftables` : 'move the other program to the same backend, or use --proxy-mode nftables')];
}

export function iptablesMatches(f: Facts): CheckResult {
  const i = f.iptables;
  if (!i.version) return fail('iptables matches', 'not checked: iptables is not usable', 'install iptables first');
  const missing = REQUIRED_MATCHES.filter((m) => !(m in i.probes) || i.probes[m] !== undefined);
  const [first] = missing;
  if (first) {
    const why = missing.map((m) => `${m} (${i.probes[m] ?? 'not probed'})`).join('; ');
    return fail('iptables matches', `unusable: ${why}`, `load the netfilter modules for them (modprobe xt_${first.toLowerCase()} ...) or use a kernel that has them`);
  }
  return pass('iptables matches', REQUIRED_MATCHES.join(', '));
}

export function ipForward(f: Facts): CheckResult {
  const v = f.sysctl.ipForward;
  if (v === '1') return pass('ip_forward', 'net.ipv4.ip_forward = 1');
  return fail('ip_forward', `net.ipv4.ip_forward = ${v ?? 'unreadable'}: pods cannot reach beyond the node`, 'sysctl -w net.ipv4.ip_forward=1 && echo net.ipv4.ip_forward=1 > /etc/sysctl.d/90-bosun.conf');
}

export function brNetfilter(f: Facts): CheckResult {
  const v = f.sysctl.bridgeNfCallIptables;
  if (v === '1') return pass('br_netfilter', 'loaded, net.bridge.bridge-nf-call-iptables = 1');
  const fix = 'modprobe br_netfilter && sysctl -w net.bridge.bridge-nf-call-iptables=1 (persist: echo br_netfilter > /etc/modules-load.d/bosun.conf)';
  if (v === undefined) return warn('br_netfilter', 'not loaded: traffic between two pods on the node bridge skips the Service rules', fix);
  return warn('br_netfilter', `net.bridge.bridge-nf-call-iptables = ${v}: traffic between two pods on the node bridge skips the Service rules`, fix);
}

export function swap(f: Facts): CheckResult {
  if (f.swaps.length === 0) return pass('swap', 'off');
  return warn('swap', `on (${f.swaps.join(', ')}): memory limits and eviction are less predictable`, 'swapoff -a, and remove the swap entries from /etc/fstab');
}

export function ipvs(f: Facts): CheckResult {
  const v = f.ipvs;
  const fix = 'nothing to do for the iptables proxy mode (the default); for IPVS mode use a kernel with CONFIG_IP_VS and modprobe ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh';
  if (v.procNetIpVs) {
    return v.ipvsadm ? pass('ipvs', `available (${v.ipvsadm.trim()})`) : warn('ipvs', 'in the kernel, but ipvsadm is not installed', 'apt-get install ipvsadm');
  }
  let reason: string;
  if (!v.loadableModules) reason = `kernel ${v.kernelRelease} loads no modules (/proc/modules missing) and has no built-in IPVS (/proc/net/ip_vs missing)`;
  else if (v.moduleFiles.length === 0) reason = `no ip_vs module for kernel ${v.kernelRelease} under /lib/modules/${v.kernelRelease}`;
  else reason = `ip_vs is not loaded (module files: ${v.moduleFiles.join(', ')})`;
  return warn('ipvs', `unavailable: ${reason}; the iptables proxy mode is used`, v.loadableModules && v.moduleFiles.length ? 'modprobe ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh' : fix);
}

export function conntrack(f: Facts): CheckResult {
  const c = f.conntrack;
  if (!c.tool) return fail('conntrack', 'the conntrack tool is missing: stale UDP Service entries cannot be flushed', 'apt-get install conntrack');
  if (!c.kernel) return warn('conntrack', `${c.tool.trim()}, but kernel connection tracking is not loaded (/proc/sys/net/netfilter/nf_conntrack_max missing)`, 'modprobe nf_conntrack');
  return pass('conntrack', c.tool.trim());
}

/** A process that is a bosun agent: `bosun run`, or node running bosun's cli.js with run. */
export function looksLikeBosun(argv: string[] | undefined): boolean {
  if (!argv) return false;
  const i = argv.findIndex((a) => /(^|\/)bosun$/.test(a) || /(^|\/)dist\/agent\/cli\.js$/.test(a));
  return i >= 0 && argv[i + 1] === 'run';
}

function owner(l: Listener): string {
  return l.pid ? `${l.argv?.join(' ').slice(0, 80) ?? '?'} (pid ${l.pid})` : 'an unknown process';
}

export function ports(f: Facts): CheckResult[] {
  return f.ports.map(({ port, purpose, listeners }) => {
    const name = `port ${port}`;
    if (listeners.length === 0) return pass(name, `free (${purpose})`);
    const others = listeners.filter((l) => !looksLikeBosun(l.argv));
    if (others.length === 0) return pass(name, `in use by bosun itself: ${listeners.map(owner).join(', ')}`);
    return fail(name, `in use by ${others.map(owner).join(', ')} on ${others.map((l) => l.address).join(', ')}; bosun needs it for the ${purpose}`, `stop that process, or give bosun another port (${purpose === 'read-only API' ? '--read-only-port' : 'see bosun run --help'})`);
  });
}

export function dirs(f: Facts): CheckResult[] {
  return f.dirs.map((d) => {
    const name = `dir ${d.path}`;
    if (!d.writable) return fail(name, `${d.purpose}: not writable${d.error ? ` (${d.error})` : ''}`, `mkdir -p ${d.path}; check the mount (read-only?) and permissions`);
    return pass(name, `${d.purpose}: ${d.exists ? 'writable' : 'missing, bosun creates it'}`);
  });
}

export function clock(f: Facts): CheckResult {
  const c = f.clock;
  const now = new Date(c.now).toISOString();
  if (c.now < CLOCK_FLOOR) return fail('clock', `${now} is before ${new Date(CLOCK_FLOOR).toISOString().slice(0, 10)}: the clock is wrong`, 'set the time (timedatectl set-ntp true, or date -s) and keep it synchronized');
  if (c.ntpSynchronized === true) return pass('clock', `${now}, NTP synchronized`);
  if (c.ntpSynchronized === false) return warn('clock', `${now}, NTP not synchronized`, 'timedatectl set-ntp true (or run chrony / systemd-timesyncd)');
  return warn('clock', `${now}; cannot tell whether it is synchronized${c.ntpError ? ` (${c.ntpError})` : ''}`, 'run an NTP client (chrony or systemd-timesyncd) and check it, e.g. chronyc tracking');
}

export function pauseImage(f: Facts): CheckResult {
  const p = f.pauseImage;
  if (p.present === undefined) return warn('pause image', `${p.ref}: not checked, the engine did not answer`, 'fix the engine first');
  if (p.present) return pass('pause image', `${p.ref} present`);
  return fail('pause image', `${p.ref} missing: no pod sandbox can start (there is no registry to pull from)`, 'scripts/setup-host.sh builds it; or docker load it, or drop a `docker save` archive in <root-dir>/images');
}

/** Every check, in the order they are printed. */
export function runChecks(f: Facts): CheckResult[] {
  return [
    engine(f), cgroupDriver(f), cgroups(f), pauseImage(f),
    iptables(f), ...proxyBackend(f), iptablesMatches(f), ipForward(f), brNetfilter(f), ipvs(f), conntrack(f),
    swap(f), ...ports(f), ...dirs(f), clock(f),
  ];
}

export function formatResults(results: CheckResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`[${r.status}] ${r.name}: ${r.detail}`);
    if (r.status !== 'PASS' && r.fix) lines.push(`       fix: ${r.fix}`);
  }
  const n = (s: Status) => results.filter((r) => r.status === s).length;
  lines.push(`${n('PASS')} passed, ${n('WARN')} warnings, ${n('FAIL')} failed`);
  return lines.join('\n') + '\n';
}

export function exitCode(results: CheckResult[]): number {
  return results.some((r) => r.status === 'FAIL') ? 1 : 0;
}
