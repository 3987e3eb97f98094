import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { dirname, join } from 'node:path';
import Docker from 'dockerode';
import { beforeFirst, matchGroups } from '../../base/index.js';
import type { DirFacts, Facts, Listener } from './facts.js';
import { gatherBackendEvidence } from '../../netproxy/index.js';

// Reads the host for `bosun doctor`. Read-only except for two things, both undone before it
// returns: a scratch file in each directory checked for writability, and an unreferenced
// iptables chain (BOSUN-DOCTOR-<pid>) holding one rule per required match, because only the
// kernel can say whether a match loads.

export interface DoctorTarget {
  proxyMode?: string;
  iptablesBackend?: string;
  rootDir: string;
  podManifestPath: string;
  podLogsDir: string;
  readOnlyPort: number;
  containerRuntimeEndpoint: string;
  pauseImage: string;
  cgroupDriver: string;
}

interface Run {
  ok: boolean;
  out: string;
  err: string;
}

function run(cmd: string, args: string[], timeout = 10_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout, env: { ...process.env, LC_ALL: 'C', PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` } }, (err, out, errOut) => {
      const enoent = (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';
      resolve({ ok: !err, out: String(out), err: enoent ? `${cmd}: command not found` : beforeFirst(String(errOut).trim() || err?.message || '', '\n') });
    });
  });
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

async function engineFacts(t: DoctorTarget): Promise<Pick<Facts, 'engine' | 'pauseImage'>> {
  const endpoint = t.containerRuntimeEndpoint;
  const docker = new Docker({ socketPath: endpoint.replace(/^unix:\/\//, ''), timeout: 5000 });
  try {
    const [v, info] = await Promise.all([docker.version(), docker.info() as Promise<{ CgroupDriver?: string; CgroupVersion?: string }>]);
    let present: boolean | undefined;
    try {
      await docker.getImage(t.pauseImage).inspect();
      present = true;
    } catch (err) {
      present = (err as { statusCode?: number }).statusCode === 404 ? false : undefined;
    }
    return {
      engine: { endpoint, version: v.Version, apiVersion: v.ApiVersion, cgroupDriver: info.CgroupDriver, cgroupVersion: info.CgroupVersion, configuredCgroupDriver: t.cgroupDriver },
      pauseImage: { ref: t.pauseImage, present },
    };
  } catch (err) {
    return { engine: { endpoint, error: (err as Error).message, configuredCgroupDriver: t.cgroupDriver }, pauseImage: { ref: t.pauseImage } };
  }
}

const FS_MAGIC: Record<number, string> = { 0x63677270: 'cgroup2fs', 0x01021994: 'tmpfs', 0x27e0eb: 'cgroupfs' };

function cgroupFacts(): Facts['cgroup'] {
  let fsType = 'missing';
  try {
    const t = statfsSync('/sys/fs/cgroup').type;
    fsType = FS_MAGIC[t] ?? `0x${t.toString(16)}`;
  } catch {
    // no cgroup filesystem at all
  }
  const v1 = (read('/proc/cgroups') ?? '')
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(/\s+/))
    .filter(([, hierarchy, , enabled]) => enabled === '1' && hierarchy !== '0')
    .flatMap(([name]) => (name === undefined ? [] : [name]));
  if (fsType === 'cgroup2fs') return { fsType, v1: [], v2: (read('/sys/fs/cgroup/cgroup.controllers') ?? '').trim().split(/\s+/).filter(Boolean) };
  const unified = '/sys/fs/cgroup/unified';
  const hybrid = existsSync(join(unified, 'cgroup.controllers'));
  return { fsType, v1, ...(hybrid ? { unifiedMount: unified, v2: (read(join(unified, 'cgroup.controllers')) ?? '').trim().split(/\s+/).filter(Boolean) } : {}) };
}

const PROBES: { name: string; table: 'filter' | 'nat'; rule: string[] }[] = [
  { name: 'statistic', table: 'filter', rule: ['-m', 'statistic', '--mode', 'random', '--probability', '0.5', '-j', 'RETURN'] },
  { name: 'recent', table: 'filter', rule: ['-m', 'recent', '--name', 'BOSUN-DOCTOR', '--rcheck', '--seconds', '10800', '--reap', '-j', 'RETURN'] },
  { name: 'comment', table: 'filter', rule: ['-m', 'comment', '--comment', 'bosun doctor', '-j', 'RETURN'] },
  { name: 'addrtype', table: 'filter', rule: ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'RETURN'] },
  { name: 'conntrack', table: 'filter', rule: ['-m', 'conntrack', '--ctstate', 'NEW', '-j', 'RETURN'] },
  { name: 'mark', table: 'filter', rule: ['-m', 'mark', '--mark', '0x4000/0x4000', '-j', 'RETURN'] },
  { name: 'MASQUERADE', table: 'nat', rule: ['-j', 'MASQUERADE'] },
  { name: 'DNAT', table: 'nat', rule: ['-p', 'tcp', '-j', 'DNAT', '--to-destination', '127.0.0.1:1'] },
];

async function iptablesFacts(): Promise<Facts['iptables']> {
  const v = await run('iptables', ['--version']);
  if (!v.ok) return { error: v.err, probes: {} };
  const chain = `BOSUN-DOCTOR-${process.pid}`;
  const probes: Record<string, string | undefined> = {};
  const tables = ['filter', 'nat'] as const;
  try {
    for (const table of tables) {
      const made = await run('iptables', ['-w', '5', '-t', table, '-N', chain]);
      if (!made.ok) return { version: v.out.trim(), error: `cannot create a scratch chain in ${table}: ${made.err}`, probes };
    }
    for (const p of PROBES) {
      const r = await run('iptables', ['-w', '5', '-t', p.table, '-A', chain, ...p.rule]);
      probes[p.name] = r.ok ? undefined : r.err;
    }
  } finally {
    for (const table of tables) {
      await run('iptables', ['-w', '5', '-t', table, '-F', chain]);
      await run('iptables', ['-w', '5', '-t', table, '-X', chain]);
    }
  }
  return { version: v.out.trim(), probes };
}

function ipvsFacts(ipvsadm: Run): Facts['ipvs'] {
  const rel = release();
  const moduleFiles: string[] = [];
  const dir = `/lib/modules/${rel}/kernel/net/netfilter/ipvs`;
  try {
    moduleFiles.push(...readdirSync(dir).filter((f) => f.startsWith('ip_vs')));
  } catch {
    // no module tree for this kernel
  }
  return { kernelRelease: rel, procNetIpVs: existsSync('/proc/net/ip_vs'), loadableModules: existsSync('/proc/modules'), moduleFiles, ...(ipvsadm.ok ? { ipvsadm: beforeFirst(ipvsadm.out, '\n') } : {}) };
}

/** IPv4 and IPv6 addresses as /proc/net/tcp{,6} write them (hex, 32-bit words in host order). */
export function procNetAddress(hex: string): string {
  const words = hex.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((w) => (w.match(/../g) ?? []).reverse().map((b) => parseInt(b, 16)));
  if (bytes.length === 4) return bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

/** Listening TCP sockets: port -> [{address, inode}]. */
export function parseProcNetTcp(text: string): { port: number; address: string; inode: string }[] {
  return text
    .split('\n')
    .slice(1)
    .flatMap((l) => {
      const [, local, , state, , , , , , inode] = l.trim().split(/\s+/);
      const [addr, port] = local?.split(':') ?? [];
      if (state !== '0A' || inode === undefined || addr === undefined || port === undefined) return [];
      return [{ port: parseInt(port, 16), address: procNetAddress(addr), inode }];
    });
}

function socketOwners(inodes: Set<string>): Map<string, { pid: number; argv: string[] }> {
  const owners = new Map<string, { pid: number; argv: string[] }>();
  if (inodes.size === 0) return owners;
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${p}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = readlinkSync(`/proc/${p}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = matchGroups(/^socket:\[(\d+)\]$/, link, 1);
      if (m && inodes.has(m[1]) && !owners.has(m[1])) {
        owners.set(m[1], { pid: Number(p), argv: (read(`/proc/${p}/cmdline`) ?? '').split('\0').filter(Boolean) });
      }
    }
  }
  return owners;
}

function portFacts(t: DoctorTarget): Facts['ports'] {
  const wanted: { port: number; purpose: string }[] = [
    { port: 10250, purpose: 'API' },
    { port: 10248, purpose: 'healthz' },
    ...(t.readOnlyPort > 0 ? [{ port: t.readOnlyPort, purpose: 'read-only API' }] : []),
  ];
  const listening = [...parseProcNetTcp(read('/proc/net/tcp') ?? ''), ...parseProcNetTcp(read('/proc/net/tcp6') ?? '')].filter((l) => wanted.some((w) => w.port === l.port));
  const owners = socketOwners(new Set(listening.map((l) => l.inode)));
  return wanted.map(({ port, purpose }) => ({
    port,
    purpose,
    listeners: listening.filter((l) => l.port === port).map((l): Listener => ({ address: l.address, ...owners.get(l.inode) })),
  }));
}

function dirFacts(path: string, purpose: string): DirFacts {
  const exists = existsSync(path);
  let probeDir = path;
  while (!existsSync(probeDir) && probeDir !== '/') probeDir = dirname(probeDir);
  // A dotfile: the manifest directory ignores it.
  const probe = join(probeDir, `.bosun-doctor-${process.pid}`);
  try {
    writeFileSync(probe, '');
    rmSync(probe, { force: true });
    return { path, purpose, exists, writable: true };
  } catch (err) {
    return { path, purpose, exists, writable: false, error: `${probeDir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
}

async function clockFacts(): Promise<Facts['clock']> {
  const r = await run('timedatectl', ['show', '-p', 'NTPSynchronized', '--value']);
  const now = Date.now();
  if (r.ok && /^(yes|no)$/.test(r.out.trim())) return { now, ntpSynchronized: r.out.trim() === 'yes' };
  return { now, ntpError: `timedatectl: ${r.err || r.out.trim()}` };
}

export async function gatherFacts(t: DoctorTarget): Promise<Facts> {
  const [engine, iptables, conntrackTool, ipvsadm, clock, evidence, nft] = await Promise.all([
    engineFacts(t),
    iptablesFacts(),
    run('conntrack', ['--version']),
    run('ipvsadm', ['--version']),
    clockFacts(),
    gatherBackendEvidence(),
    run('nft', ['--version']),
  ]);
  return {
    ...engine,
    systemd: existsSync('/run/systemd/system'),
    cgroup: cgroupFacts(),
    iptables,
    proxy: { mode: t.proxyMode ?? 'iptables', iptablesBackend: t.iptablesBackend ?? 'auto', evidence, ...(nft.ok ? { nft: nft.out } : {}) },
    sysctl: {
      ipForward: read('/proc/sys/net/ipv4/ip_forward')?.trim(),
      bridgeNfCallIptables: read('/proc/sys/net/bridge/bridge-nf-call-iptables')?.trim(),
    },
    swaps: (read('/proc/swaps') ?? '').split('\n').slice(1).filter(Boolean).flatMap((l) => l.split(/\s+/).slice(0, 1)),
    ipvs: ipvsFacts(ipvsadm),
    conntrack: { ...(conntrackTool.ok ? { tool: beforeFirst(conntrackTool.out, '\n') } : {}), kernel: existsSync('/proc/sys/net/netfilter/nf_conntrack_max') },
    ports: portFacts(t),
    dirs: [dirFacts(t.rootDir, 'root dir'), dirFacts(t.podManifestPath, 'static pod manifests'), dirFacts(t.podLogsDir, 'pod logs')],
    clock,
  };
}
