import { Counter, Gauge, Registry } from 'prom-client';
import type { ContainerStats } from '../../cri/index.js';
import { rfc3339 } from '../vocab/index.js';

// kubelet's /stats/summary (statsapi.Summary) and /metrics/resource, built (pure) from
// samples: the node's from /proc and statfs, containers' from the engine's cgroup reads.
// Rates (usageNanoCores) need two samples; the collector keeps the previous one.

export interface FsSample {
  capacityBytes: number;
  availableBytes: number;
  usedBytes: number;
  inodes: number;
  inodesFree: number;
}

export interface NetSample {
  name: string;
  rxBytes: number;
  rxErrors: number;
  txBytes: number;
  txErrors: number;
}

export interface NodeSample {
  time: number;
  cpuUsageCoreNanoSeconds: number;
  memory: { totalBytes: number; availableBytes: number; freeBytes: number; rssBytes?: number; pageFaults: number; majorPageFaults: number };
  interfaces: NetSample[];
  fs: FsSample;
  imageFs?: FsSample;
  maxPid: number;
  processes: number;
}

export interface ContainerInput {
  name: string;
  startTime: number;
  stats: ContainerStats;
  previous?: { timestamp: number; cpuUsageCoreNanoSeconds: number };
  logsBytes?: number;
}

export interface PodInput {
  name: string;
  namespace: string;
  uid: string;
  startTime: number;
  containers: ContainerInput[];
  /** The sandbox's stats: its network namespace's interfaces. */
  sandbox?: ContainerStats;
  volumes: { name: string; usedBytes: number; inodesUsed: number }[];
}

export interface SummaryInput {
  nodeName: string;
  nodeStartTime: number;
  node: NodeSample;
  previousNode?: { time: number; cpuUsageCoreNanoSeconds: number };
  pods: PodInput[];
}

const iso = rfc3339;

export function nanoCores(cur: { t: number; ns: number }, prev?: { t: number; ns: number }): number | undefined {
  if (!prev || cur.t <= prev.t || cur.ns < prev.ns) return undefined;
  return Math.round(((cur.ns - prev.ns) * 1000) / (cur.t - prev.t));
}

function cpuStats(time: number, ns: number, prev?: { t: number; ns: number }) {
  const rate = nanoCores({ t: time, ns }, prev);
  return { time: iso(time), ...(rate !== undefined ? { usageNanoCores: rate } : {}), usageCoreNanoSeconds: ns };
}

function fsStats(time: number, f: FsSample) {
  return { time: iso(time), availableBytes: f.availableBytes, capacityBytes: f.capacityBytes, usedBytes: f.usedBytes, inodesFree: f.inodesFree, inodes: f.inodes, inodesUsed: f.inodes - f.inodesFree };
}

function netStats(time: number, ifaces: NetSample[]) {
  const primary = ifaces.find((i) => i.name === 'eth0') ?? ifaces[0];
  return primary ? { time: iso(time), ...primary, interfaces: ifaces } : undefined;
}

function containerMemory(time: number, s: ContainerStats, limit?: number) {
  return {
    time: iso(time),
    ...(limit ? { availableBytes: Math.max(0, limit - s.memoryWorkingSetBytes) } : {}),
    usageBytes: s.memoryUsageBytes,
    workingSetBytes: s.memoryWorkingSetBytes,
    rssBytes: s.memoryRssBytes,
    pageFaults: s.pageFaults,
    majorPageFaults: s.majorPageFaults,
  };
}

export function buildSummary(i: SummaryInput): object {
  const n = i.node;
  const node = {
    nodeName: i.nodeName,
    startTime: iso(i.nodeStartTime),
    cpu: cpuStats(n.time, n.cpuUsageCoreNanoSeconds, i.previousNode && { t: i.previousNode.time, ns: i.previousNode.cpuUsageCoreNanoSeconds }),
    memory: {
      time: iso(n.time),
      availableBytes: n.memory.availableBytes,
      usageBytes: n.memory.totalBytes - n.memory.freeBytes,
      workingSetBytes: n.memory.totalBytes - n.memory.availableBytes,
      ...(n.memory.rssBytes !== undefined ? { rssBytes: n.memory.rssBytes } : {}),
      pageFaults: n.memory.pageFaults,
      majorPageFaults: n.memory.majorPageFaults,
    },
    ...(netStats(n.time, n.interfaces) ? { network: netStats(n.time, n.interfaces) } : {}),
    fs: fsStats(n.time, n.fs),
    runtime: { imageFs: fsStats(n.time, n.imageFs ?? n.fs) },
    rlimit: { time: iso(n.time), maxpid: n.maxPid, curproc: n.processes },
  };
  const pods = i.pods.map((p) => {
    const containers = p.containers.map((c) => {
      const t = c.stats.timestamp;
      return {
        name: c.name,
        startTime: iso(c.startTime),
        cpu: cpuStats(t, c.stats.cpuUsageCoreNanoSeconds, c.previous && { t: c.previous.timestamp, ns: c.previous.cpuUsageCoreNanoSeconds }),
        memory: containerMemory(t, c.stats),
        rootfs: { ...fsStats(t, n.imageFs ?? n.fs), usedBytes: c.stats.writableLayerBytes ?? 0, inodesUsed: undefined },
        logs: { ...fsStats(t, n.fs), usedBytes: c.logsBytes ?? 0, inodesUsed: undefined },
      };
    });
    const time = Math.max(n.time, ...p.containers.map((c) => c.stats.timestamp));
    const sum = (f: (c: ContainerInput) => number) => p.containers.reduce((a, c) => a + f(c), 0);
    const prevAll = p.containers.every((c) => c.previous);
    const podCpu = {
      time: iso(time),
      ...(prevAll && containers.every((c) => 'usageNanoCores' in c.cpu) ? { usageNanoCores: containers.reduce((a, c) => a + ((c.cpu as { usageNanoCores?: number }).usageNanoCores ?? 0), 0) } : {}),
      usageCoreNanoSeconds: sum((c) => c.stats.cpuUsageCoreNanoSeconds),
    };
    const volumes = p.volumes.map((v) => ({ ...fsStats(time, n.fs), usedBytes: v.usedBytes, inodesUsed: v.inodesUsed, name: v.name }));
    const ephemeral = sum((c) => (c.stats.writableLayerBytes ?? 0) + (c.logsBytes ?? 0)) + p.volumes.reduce((a, v) => a + v.usedBytes, 0);
    const net = p.sandbox ? netStats(p.sandbox.timestamp, p.sandbox.networks) : undefined;
    return {
      podRef: { name: p.name, namespace: p.namespace, uid: p.uid },
      startTime: iso(p.startTime),
      containers,
      cpu: podCpu,
      memory: {
        time: iso(time),
        usageBytes: sum((c) => c.stats.memoryUsageBytes),
        workingSetBytes: sum((c) => c.stats.memoryWorkingSetBytes),
        rssBytes: sum((c) => c.stats.memoryRssBytes),
        pageFaults: sum((c) => c.stats.pageFaults),
        majorPageFaults: sum((c) => c.stats.majorPageFaults),
      },
      ...(net ? { network: net } : {}),
      volume: volumes,
      'ephemeral-storage': { ...fsStats(time, n.fs), usedBytes: ephemeral, inodesUsed: undefined },
    };
  });
  return JSON.parse(JSON.stringify({ node, pods }));
}

interface SummaryShape {
  node: { cpu: { time: string; usageCoreNanoSeconds: number }; memory: { time: string; workingSetBytes: number } };
  pods: {
    podRef: { name: string; namespace: string };
    cpu: { usageCoreNanoSeconds: number };
    memory: { workingSetBytes: number };
    containers: { name: string; startTime: string; cpu: { usageCoreNanoSeconds: number }; memory: { workingSetBytes: number } }[];
  }[];
}

/** kubelet's /metrics/resource (what metrics-server scrapes), from a summary. */
export async function resourceMetrics(summary: object, scrapeError: boolean): Promise<{ contentType: string; body: string }> {
  const s = summary as SummaryShape;
  const r = new Registry();
  const counter = (name: string, help: string, labelNames: string[] = []) => new Counter({ name, help, labelNames, registers: [r] });
  const gauge = (name: string, help: string, labelNames: string[] = []) => new Gauge({ name, help, labelNames, registers: [r] });
  if (!scrapeError) {
    counter('node_cpu_usage_seconds_total', 'Cumulative cpu time consumed by the node in core-seconds').inc(s.node.cpu.usageCoreNanoSeconds / 1e9);
    gauge('node_memory_working_set_bytes', 'Current working set of the node in bytes').set(s.node.memory.workingSetBytes);
    const podCpu = counter('pod_cpu_usage_seconds_total', 'Cumulative cpu time consumed by the pod in core-seconds', ['namespace', 'pod']);
    const podMem = gauge('pod_memory_working_set_bytes', 'Current working set of the pod in bytes', ['namespace', 'pod']);
    const cCpu = counter('container_cpu_usage_seconds_total', 'Cumulative cpu time consumed by the container in core-seconds', ['container', 'namespace', 'pod']);
    const cMem = gauge('container_memory_working_set_bytes', 'Current working set of the container in bytes', ['container', 'namespace', 'pod']);
    const cStart = gauge('container_start_time_seconds', 'Start time of the container since unix epoch in seconds', ['container', 'namespace', 'pod']);
    for (const p of s.pods) {
      const pl = { namespace: p.podRef.namespace, pod: p.podRef.name };
      podCpu.inc(pl, p.cpu.usageCoreNanoSeconds / 1e9);
      podMem.set(pl, p.memory.workingSetBytes);
      for (const c of p.containers) {
        const cl = { ...pl, container: c.name };
        cCpu.inc(cl, c.cpu.usageCoreNanoSeconds / 1e9);
        cMem.set(cl, c.memory.workingSetBytes);
        cStart.set(cl, Date.parse(c.startTime) / 1000);
      }
    }
  }
  gauge('scrape_error', '1 if there was an error while getting container metrics, 0 otherwise').set(scrapeError ? 1 : 0);
  return { contentType: r.contentType, body: await r.metrics() };
}

/** The summary cut to CPU and memory (`/stats/summary?only_cpu_and_memory=true`, what metrics-server asks for). */
export function onlyCpuAndMemory(summary: object): object {
  const s = summary as { node: Record<string, unknown>; pods: Record<string, unknown>[] };
  const keep = (o: Record<string, unknown>, keys: string[]) => Object.fromEntries(Object.entries(o).filter(([k]) => keys.includes(k)));
  return {
    node: keep(s.node, ['nodeName', 'startTime', 'cpu', 'memory', 'systemContainers']),
    pods: s.pods.map((p) => ({ ...keep(p, ['podRef', 'startTime', 'cpu', 'memory']), containers: (p.containers as Record<string, unknown>[]).map((c) => keep(c, ['name', 'startTime', 'cpu', 'memory'])) })),
  };
}
