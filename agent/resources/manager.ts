import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Runtime } from '../../cri/index.js';
import type { Pod, PodStatus } from '../../manifests/index.js';
import type { Clock } from '../../base/index.js';
import { ConfigError } from '../config-error.js';
import type { Logger } from '../log.js';
import type { ObservedPod } from '../vocab/index.js';
import type { ContainerResourceOptions } from './compute.js';
import { podRequests } from './compute.js';
import { kubepodsName, rootName } from './cgroup-names.js';
import type { CgroupVersion } from './cgroups.js';
import { createCgroupManager, detectCgroupVersion } from './cgroups.js';
import type { ResourceConfig } from './config.js';
import { evictionThresholds } from './config.js';
import { EvictionManager, type PodStats } from './eviction-manager.js';
import { ImageGC } from './image-gc.js';
import { machineInfo, observeSignals, separateImageFs } from './machine.js';
import type { MachineInfo, NodeCondition, NodeResources } from './node.js';
import { kubepodsResources, nodeResources, nodeStatusFields } from './node.js';
import { PodCgroups } from './pod-cgroups.js';
import type { NodeConditionType, Signal, Threshold } from './thresholds.js';
import { SIGNAL_CONDITION } from './thresholds.js';

// The agent's resource side, wired: checks at start (cgroup driver), node capacity and
// allocatable, pod cgroups, the eviction manager, image GC and cgroup housekeeping. The
// decisions live in the pure modules beside this one; this holds the timers and the state.

/** What the resource side needs of the pod manager. */
export interface PodSide {
  list(): { pod: Pod; status: PodStatus }[];
  cache: { uids(): string[]; get(uid: string): ObservedPod };
  evict(uid: string, e: { message: string; graceSeconds: number; tag?: string }): Promise<void>;
  readmitEvicted(pick: (e: { uid: string; tag?: string }) => boolean): string[];
}

export interface ResourceManagerOptions {
  config: ResourceConfig & { rootDir: string; podLogsDir: string; pauseImage: string };
  runtime: Runtime;
  log: Logger;
  clock: Clock;
  /** The cgroup mount (tests use a fake tree). */
  cgroupMount?: string;
}

/** Whole-housekeeping period: orphaned pod cgroups and the burstable level's shares. */
const HOUSEKEEPING_MS = 60_000;

export class ResourceManager {
  readonly thresholds: Threshold[];
  readonly eviction: EvictionManager;
  readonly imageGC: ImageGC;
  private pods?: PodSide;
  /** Called with the signal of every eviction (the kubelet_evictions metric). */
  onEviction?: (signal: Signal) => void;
  private timers: NodeJS.Timeout[] = [];
  private conditionsSeen: NodeCondition[] = [];

  private constructor(
    private readonly o: ResourceManagerOptions,
    readonly cgroupVersion: CgroupVersion,
    readonly machine: MachineInfo,
    readonly node: NodeResources,
    readonly podCgroups: PodCgroups | undefined,
  ) {
    const c = o.config;
    this.thresholds = evictionThresholds(c);
    this.imageGC = new ImageGC({
      runtime: o.runtime,
      clock: o.clock,
      log: o.log,
      policy: { highThresholdPercent: c.imageGCHighThresholdPercent, lowThresholdPercent: c.imageGCLowThresholdPercent, minAgeMs: c.imageMinimumGCAgeMs },
      pinned: () => [c.pauseImage, ...this.desiredImages()],
    });
    this.eviction = new EvictionManager({
      thresholds: this.thresholds,
      monitoringPeriodMs: c.evictionMonitoringPeriodMs,
      pressureTransitionPeriodMs: c.evictionPressureTransitionPeriodMs,
      maxPodGracePeriodSeconds: c.evictionMaxPodGracePeriod,
      clock: o.clock,
      log: o.log,
      observe: () => observeSignals({ rootDir: c.rootDir, cgroupVersion, runtime: o.runtime, memoryCapacity: machine.memoryBytes }),
      activePods: () => this.activePods(),
      podStats: (pod, signal) => this.podStats(pod, signal),
      podRequest: (pod, signal) => (signal === 'memory.available' ? podRequests(pod).memory : signal === 'nodefs.available' || signal === 'imagefs.available' ? podRequests(pod).ephemeralStorage : 0),
      reclaim: (signal) => this.reclaim(signal),
      evict: async (pod, e) => {
        if (!this.pods) return;
        this.onEviction?.(e.signal);
        await this.pods.evict(pod.metadata.uid, { message: e.message, graceSeconds: e.graceSeconds, tag: SIGNAL_CONDITION[e.signal] });
      },
      onConditions: (next) => {
        // A static pod evicted for a condition comes back once that condition is gone.
        this.pods?.readmitEvicted((e) => !!e.tag && !next.has(e.tag as NodeConditionType));
      },
    });
  }

  /**
   * Checks the engine agrees on the cgroup driver (refusing to start otherwise, as kubelet
   * does), reads the machine, and prepares the pod cgroups.
   */
  static async create(o: ResourceManagerOptions): Promise<ResourceManager> {
    const c = o.config;
    const engine = (await o.runtime.runtimeConfig()).linux.cgroupDriver;
    if (engine !== c.cgroupDriver) {
      throw new ConfigError(
        `misconfiguration: kubelet cgroup driver: "${c.cgroupDriver}" is different from docker cgroup driver: "${engine}": ` +
        `start bosun with --cgroup-driver ${engine} (cgroupDriver: ${engine} in the config file), ` +
        `or switch the engine ("exec-opts": ["native.cgroupdriver=${c.cgroupDriver}"] in /etc/docker/daemon.json, then restart docker)`,
      );
    }
    const version = await detectCgroupVersion(o.cgroupMount);
    const machine = await machineInfo(c.rootDir);
    const thresholds = evictionThresholds(c);
    const node = nodeResources(machine, { maxPods: c.maxPods, kubeReserved: c.kubeReserved, systemReserved: c.systemReserved, thresholds });
    let podCgroups: PodCgroups | undefined;
    let self: ResourceManager | undefined;
    if (c.cgroupsPerQOS) {
      podCgroups = new PodCgroups({
        manager: createCgroupManager(c.cgroupDriver, version, o.cgroupMount),
        root: rootName(c.cgroupRoot),
        podPidsLimit: c.podPidsLimit,
        cpuCFSQuota: c.cpuCFSQuota,
        log: o.log,
        activePods: () => self?.activePods() ?? [],
      });
      try {
        await podCgroups.init(kubepodsResources(node));
      } catch (err) {
        o.log.warn({ err: (err as Error).message }, 'cannot create the kubepods cgroup hierarchy: pods run without pod cgroups');
        podCgroups = undefined;
      }
    }
    self = new ResourceManager(o, version, machine, node, podCgroups);
    o.log.info({
      cgroupDriver: c.cgroupDriver, cgroupVersion: version, kubepods: podCgroups ? podCgroups.manager.path(kubepodsName(rootName(c.cgroupRoot))) : '(cgroupsPerQOS off)',
      capacity: node.capacity, allocatable: node.allocatable,
    }, 'node resources');
    return self;
  }

  /** What the pod sync applies: container resources, and the pod cgroups. */
  nodeEnv(): { resources: ContainerResourceOptions; cgroups?: PodCgroups } {
    const c = this.o.config;
    return {
      resources: { memoryCapacity: this.machine.memoryBytes, podPidsLimit: c.podPidsLimit, cpuCFSQuota: c.cpuCFSQuota },
      ...(this.podCgroups ? { cgroups: this.podCgroups } : {}),
    };
  }

  /** What admission checks: allocatable, and the pressure conditions of now. */
  admissionContext(): { allocatable: NodeResources['allocatable']; nodeConditions: ReadonlySet<NodeConditionType> } {
    return { allocatable: this.node.allocatable, nodeConditions: this.eviction.conditions() };
  }

  start(pods: PodSide): void {
    this.pods = pods;
    this.eviction.start();
    const c = this.o.config;
    const gc = () => void this.imageGC.collect().catch((err: Error) => this.o.log.warn({ err: err.message }, 'image garbage collection failed'));
    this.timers.push(setInterval(gc, c.imageGCPeriodMs));
    this.timers.push(setInterval(() => void this.housekeeping(), HOUSEKEEPING_MS));
    for (const t of this.timers) t.unref();
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.eviction.stop();
  }

  /** Node status fields: capacity, allocatable and the pressure conditions. */
  nodeStatus(): ReturnType<typeof nodeStatusFields> {
    const s = nodeStatusFields(this.node, this.eviction.conditions(), this.o.clock.now(), this.conditionsSeen);
    this.conditionsSeen = s.conditions;
    return s;
  }

  /** Orphaned pod cgroups go; the burstable level follows its pods' requests. */
  async housekeeping(): Promise<string[]> {
    if (!this.podCgroups || !this.pods) return [];
    const desired = new Set(this.pods.list().map((v) => v.pod.metadata.uid));
    const live = new Set(this.pods.cache.uids());
    const removed = await this.podCgroups.removeOrphans((uid) => desired.has(uid) || live.has(uid));
    await this.podCgroups.updateQoS();
    return removed;
  }

  /** Pods that count: desired, not finished (evicted and rejected pods are Failed). */
  activePods(): Pod[] {
    return (this.pods?.list() ?? []).filter((v) => v.status.phase !== 'Succeeded' && v.status.phase !== 'Failed').map((v) => v.pod);
  }

  private desiredImages(): string[] {
    return (this.pods?.list() ?? []).flatMap((v) => [...(v.pod.spec.initContainers ?? []), ...v.pod.spec.containers].map((c) => c.image ?? '')).filter(Boolean);
  }

  private async podStats(pod: Pod, signal: Signal): Promise<PodStats> {
    if (signal === 'memory.available' || signal === 'pid.available') {
      if (!this.podCgroups) return { usage: 0, containers: [] };
      const u = await this.podCgroups.usage(pod);
      if (signal === 'pid.available') return { usage: u.pids, containers: [] };
      const running = (this.pods?.cache.get(pod.metadata.uid).containers ?? []).filter((c) => c.state === 'running');
      const containers = await Promise.all(running.map(async (c) => ({
        name: c.metadata.name,
        usage: (await this.podCgroups!.containerUsage(pod, c.id).catch(() => undefined))?.memoryWorkingSet,
      })));
      return { usage: u.memoryWorkingSet, containers };
    }
    // Disk: what the pod writes on the node's filesystem (its volumes and logs). Writable
    // layers are not counted.
    const uid = pod.metadata.uid;
    const dirs = [
      join(this.o.config.rootDir, 'pods', uid),
      join(this.o.config.podLogsDir, `${pod.metadata.namespace}_${pod.metadata.name}_${uid}`),
    ];
    let bytes = 0;
    let inodes = 0;
    for (const d of dirs) {
      const u = await du(d);
      bytes += u.bytes;
      inodes += u.inodes;
    }
    return { usage: signal.endsWith('inodesFree') ? inodes : bytes, containers: [] };
  }

  /** Node-level reclaim before evicting for disk: every unused image goes (the image filesystem's). */
  private async reclaim(signal: Signal): Promise<void> {
    const imageFsPressure = signal.startsWith('imagefs.');
    const root = (await this.o.runtime.imageFsInfo().catch(() => []))[0]?.mountpoint;
    const shared = root ? !(await separateImageFs(this.o.config.rootDir, root)) : false;
    if (!imageFsPressure && !shared) return;
    const plan = await this.imageGC.collect(true);
    if (plan.remove.length) this.o.log.info({ signal, images: plan.remove.length, bytes: plan.bytesFreed }, 'eviction manager: removed unused images');
  }
}

/** Bytes and inodes below a directory (not following links, not crossing into other trees). */
async function du(dir: string): Promise<{ bytes: number; inodes: number }> {
  let bytes = 0;
  let inodes = 0;
  const walk = async (p: string, depth: number): Promise<void> => {
    let st;
    try {
      st = await lstat(p);
    } catch {
      return;
    }
    inodes++;
    bytes += st.blocks * 512;
    if (!st.isDirectory() || depth > 32) return;
    const entries = await readdir(p).catch(() => [] as string[]);
    for (const e of entries) await walk(join(p, e), depth + 1);
  };
  await walk(dir, 0);
  return { bytes, inodes };
}
