import { readdir, readFile, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeFirst, matchGroups } from '../../base/index.js';
import type { ContainerStats, ContainerStatus as RuntimeContainer, PodSandboxStatus, StreamingService } from '../../cri/index.js';
import type { PodView } from '../pods/manager.js';
import { volumeDir } from '../volumes/plan.js';
import { buildSummary, type FsSample, type NetSample, type NodeSample, type PodInput } from './stats.js';

// The I/O half of /stats/summary: /proc and statfs for the node, the engine's stats for
// containers (cgroup reads), file sizes for logs and emptyDir volumes.

export interface StatsSources {
  nodeName: string;
  rootDir: string;
  podLogsDir: string;
  imageFsDir: string;
  startedAt: number;
  pods(): PodView[];
  observed(uid: string): { sandboxes: PodSandboxStatus[]; containers: RuntimeContainer[] };
  runtime: Pick<StreamingService, 'containerStats'>;
}

const CLK_TCK = 100;

export async function nodeCpuNanos(): Promise<number> {
  const line = beforeFirst(await readFile('/proc/stat', 'utf8'), '\n');
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: busy = all but idle and iowait.
  const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
  return (busy * 1e9) / CLK_TCK;
}

async function meminfo(): Promise<NodeSample['memory']> {
  const m = new Map<string, number>();
  for (const l of (await readFile('/proc/meminfo', 'utf8')).split('\n')) {
    const x = matchGroups(/^(\w+):\s+(\d+)/, l, 2);
    if (x) m.set(x[1], Number(x[2]) * 1024);
  }
  let pageFaults = 0;
  let majorPageFaults = 0;
  try {
    for (const l of (await readFile('/proc/vmstat', 'utf8')).split('\n')) {
      const [k, v] = l.split(' ');
      if (k === 'pgfault') pageFaults = Number(v);
      if (k === 'pgmajfault') majorPageFaults = Number(v);
    }
  } catch {
    // no vmstat
  }
  const total = m.get('MemTotal') ?? 0;
  return { totalBytes: total, availableBytes: m.get('MemAvailable') ?? m.get('MemFree') ?? 0, freeBytes: m.get('MemFree') ?? 0, pageFaults, majorPageFaults };
}

/** The host's own interfaces (not loopback, container bridges or veths). */
export function parseNetDev(text: string): NetSample[] {
  const out: NetSample[] = [];
  for (const l of text.split('\n').slice(2)) {
    const [name, rest] = l.split(':');
    if (name === undefined || !rest) continue;
    const n = name.trim();
    if (n === 'lo' || /^(veth|docker|bosun|br-|cni|flannel|kube-ipvs)/.test(n)) continue;
    const f = rest.trim().split(/\s+/).map(Number);
    out.push({ name: n, rxBytes: f[0] ?? 0, rxErrors: f[2] ?? 0, txBytes: f[8] ?? 0, txErrors: f[10] ?? 0 });
  }
  return out;
}

async function fsSample(path: string): Promise<FsSample> {
  const s = await statfs(path);
  return { capacityBytes: s.blocks * s.bsize, availableBytes: s.bavail * s.bsize, usedBytes: (s.blocks - s.bfree) * s.bsize, inodes: s.files, inodesFree: s.ffree };
}

async function existingDir(p: string, fallback: string): Promise<string> {
  try {
    return (await stat(p)).isDirectory() ? p : fallback;
  } catch {
    return fallback;
  }
}

export async function nodeSample(rootDir: string, imageFsDir: string): Promise<NodeSample> {
  const [cpu, memory, net, fs, imageFs, maxPid, procs] = await Promise.all([
    nodeCpuNanos(),
    meminfo(),
    readFile('/proc/net/dev', 'utf8').then(parseNetDev, () => []),
    existingDir(rootDir, '/').then(fsSample),
    existingDir(imageFsDir, '/').then(fsSample),
    readFile('/proc/sys/kernel/pid_max', 'utf8').then((s) => Number(s.trim()), () => 0),
    readdir('/proc').then((e) => e.filter((x) => /^\d+$/.test(x)).length, () => 0),
  ]);
  return { time: Date.now(), cpuUsageCoreNanoSeconds: cpu, memory, interfaces: net, fs, imageFs, maxPid, processes: procs };
}

/** Bytes and inodes under a directory (what cAdvisor's du gives for a volume). */
export async function du(dir: string, budget = { entries: 100_000 }): Promise<{ bytes: number; inodes: number }> {
  let bytes = 0;
  let inodes = 0;
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (--budget.entries < 0) return;
      const p = join(d, e.name);
      inodes++;
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) bytes += await stat(p).then((s) => s.size, () => 0);
    }
  };
  await walk(dir);
  return { bytes, inodes };
}

async function fileSize(p: string | undefined): Promise<number> {
  if (!p) return 0;
  return stat(p).then((s) => s.size, () => 0);
}

export class StatsCollector {
  private prevNode?: { time: number; cpuUsageCoreNanoSeconds: number };
  private prev = new Map<string, { timestamp: number; cpuUsageCoreNanoSeconds: number }>();

  constructor(private readonly src: StatsSources) {}

  async summary(): Promise<{ summary: object; errors: string[] }> {
    const errors: string[] = [];
    const stats = async (id: string): Promise<ContainerStats | undefined> => {
      try {
        return await this.src.runtime.containerStats(id);
      } catch (err) {
        errors.push((err as Error).message);
        return undefined;
      }
    };
    const views = this.src.pods();
    const work = views.map(async ({ pod, status }): Promise<PodInput | undefined> => {
      const o = this.src.observed(pod.metadata.uid);
      const sandbox = o.sandboxes.find((s) => s.state === 'ready');
      if (!sandbox) return undefined;
      const running = o.containers.filter((c) => c.state === 'running' && c.podSandboxId === sandbox.id);
      const [sb, ...cs] = await Promise.all([stats(sandbox.id), ...running.map((c) => stats(c.id))]);
      const containers = (await Promise.all(running.map(async (c, i) => {
        const s = cs[i];
        if (!s) return undefined;
        const previous = this.prev.get(c.id);
        this.prev.set(c.id, { timestamp: s.timestamp, cpuUsageCoreNanoSeconds: s.cpuUsageCoreNanoSeconds });
        return { name: c.metadata.name, startTime: c.startedAt, stats: s, previous, logsBytes: await fileSize(c.logPath) };
      }))).filter((c) => c !== undefined);
      const volumes = await Promise.all((pod.spec.volumes ?? []).filter((v) => v.emptyDir).map(async (v) => {
        const d = await du(volumeDir(this.src.rootDir, pod.metadata.uid, 'empty-dir', v.name));
        return { name: v.name, usedBytes: d.bytes, inodesUsed: d.inodes };
      }));
      return {
        name: pod.metadata.name,
        namespace: pod.metadata.namespace,
        uid: pod.metadata.uid,
        startTime: Date.parse(status.startTime ?? '') || sandbox.createdAt,
        containers,
        ...(sb && !pod.spec.hostNetwork ? { sandbox: sb } : {}),
        volumes,
      };
    });
    const [node, ...pods] = await Promise.all([nodeSample(this.src.rootDir, this.src.imageFsDir), ...work]);
    const summary = buildSummary({
      nodeName: this.src.nodeName,
      nodeStartTime: this.src.startedAt,
      node,
      previousNode: this.prevNode,
      pods: pods.filter((p): p is PodInput => !!p),
    });
    this.prevNode = { time: node.time, cpuUsageCoreNanoSeconds: node.cpuUsageCoreNanoSeconds };
    // Forget containers that are gone.
    const live = new Set(views.flatMap((v) => this.src.observed(v.pod.metadata.uid).containers.map((c) => c.id)));
    for (const id of this.prev.keys()) if (!live.has(id)) this.prev.delete(id);
    return { summary, errors };
  }
}
