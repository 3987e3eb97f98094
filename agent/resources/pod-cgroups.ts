import type { Pod } from '../../manifests/index.js';
import type { Logger } from '../log.js';
import type { QOSClass } from '../vocab/index.js';
import { qosClass } from '../vocab/index.js';
import type { CgroupResources } from './compute.js';
import { podCgroupResources, qosCgroupResources } from './compute.js';
import type { CgroupName } from './cgroup-names.js';
import { kubepodsName, podName, podUidOfChild, qosName, runtimeCgroupParent } from './cgroup-names.js';
import type { CgroupManager, CgroupUsage } from './cgroups.js';

// Pod cgroups (kubelet's podContainerManager and qosContainerManager): kubepods with the
// node's allocatable, burstable and besteffort below it, one pod<uid> cgroup per pod holding
// its pause container and its containers. The engine creates each container's own cgroup
// under the pod's (CgroupParent).

export interface PodCgroupsOptions {
  manager: CgroupManager;
  root: CgroupName;
  podPidsLimit?: number;
  cpuCFSQuota?: boolean;
  log: Logger;
  /** The pods that count for the burstable level's shares: admitted and not finished. */
  activePods(): Pod[];
}

const QOS_CLASSES: QOSClass[] = ['Guaranteed', 'Burstable', 'BestEffort'];

export class PodCgroups {
  private warned = false;
  /** Pods whose cgroup this agent has made or completed since it started. */
  private readonly ensured = new Set<string>();

  constructor(private readonly o: PodCgroupsOptions) {}

  get manager(): CgroupManager {
    return this.o.manager;
  }

  /** Creates kubepods (with the node allocatable it enforces) and the two QoS levels. */
  async init(kubepods: CgroupResources): Promise<void> {
    await this.o.manager.ensure(kubepodsName(this.o.root), kubepods);
    const qos = qosCgroupResources(this.o.activePods());
    await this.o.manager.ensure(qosName(this.o.root, 'Burstable'), qos.burstable);
    await this.o.manager.ensure(qosName(this.o.root, 'BestEffort'), qos.besteffort);
  }

  name(pod: Pod): CgroupName {
    return podName(this.o.root, qosClass(pod), pod.metadata.uid);
  }

  /** The CgroupParent the runtime is given for the pod's sandbox and containers. */
  parentFor(pod: Pod): string {
    return runtimeCgroupParent(this.name(pod), this.o.manager.driver);
  }

  /**
   * Makes sure the pod's cgroup exists with its limits before anything of the pod is
   * created. A failure is logged (once) and the pod still starts: the engine then makes the
   * directories itself, without the pod-level limits.
   */
  async ensurePod(pod: Pod): Promise<string> {
    const name = this.name(pod);
    try {
      // Once per pod and agent life, whether or not the cgroup exists: an agent killed
      // while making it can leave it with some controllers or limits missing.
      if (!this.ensured.has(pod.metadata.uid) || !(await this.o.manager.exists(name))) {
        this.ensured.add(pod.metadata.uid);
        await this.o.manager.ensure(name, podCgroupResources(pod, { podPidsLimit: this.o.podPidsLimit, cpuCFSQuota: this.o.cpuCFSQuota }));
        await this.updateQoS();
      }
    } catch (err) {
      if (!this.warned) this.o.log.warn({ err: (err as Error).message, pod: `${pod.metadata.namespace}/${pod.metadata.name}` }, 'cannot create the pod cgroup; pods run without pod-level limits');
      this.warned = true;
    }
    return this.parentFor(pod);
  }

  /** In-place resize: the pod's cgroup takes the limits of its new spec. */
  async resizePod(pod: Pod): Promise<void> {
    await this.o.manager.update(this.name(pod), podCgroupResources(pod, { podPidsLimit: this.o.podPidsLimit, cpuCFSQuota: this.o.cpuCFSQuota }));
    await this.updateQoS();
  }

  /** The burstable level's shares follow the requests of the Burstable pods. */
  async updateQoS(): Promise<void> {
    const qos = qosCgroupResources(this.o.activePods());
    await this.o.manager.update(qosName(this.o.root, 'Burstable'), qos.burstable).catch(() => undefined);
  }

  /** Removes the pod's cgroup (whatever QoS level it sits in), after its containers are gone. */
  async removePod(uid: string): Promise<void> {
    this.ensured.delete(uid);
    for (const qos of QOS_CLASSES) {
      const name = podName(this.o.root, qos, uid);
      if (!(await this.o.manager.exists(name))) continue;
      await this.o.manager.remove(name).catch((err: Error) => this.o.log.warn({ podUID: uid, err: err.message }, 'pod cgroup not removed yet'));
    }
    await this.updateQoS();
  }

  /** UIDs of the pod cgroups that exist, with their names. */
  async list(): Promise<Map<string, CgroupName>> {
    const out = new Map<string, CgroupName>();
    for (const qos of QOS_CLASSES) {
      const parent = qosName(this.o.root, qos);
      for (const child of await this.o.manager.children(parent)) {
        const uid = podUidOfChild(child, this.o.manager.driver);
        if (uid) out.set(uid, podName(this.o.root, qos, uid));
      }
    }
    return out;
  }

  /**
   * cleanupOrphanedPodCgroups: pod cgroups of pods that are neither desired nor have
   * anything in the runtime. Only ones older than `minAgeMs`, so that a cgroup made a moment
   * ago for a pod this agent is about to start (or another agent's, on a shared root) stays.
   */
  async removeOrphans(keep: (uid: string) => boolean, minAgeMs = 60_000, now = Date.now()): Promise<string[]> {
    const removed: string[] = [];
    for (const [uid, name] of await this.list()) {
      if (keep(uid)) continue;
      const made = await this.o.manager.createdAt(name);
      if (made !== undefined && now - made < minAgeMs) continue;
      try {
        await this.o.manager.remove(name);
        removed.push(uid);
      } catch (err) {
        this.o.log.debug({ podUID: uid, err: (err as Error).message }, 'orphaned pod cgroup still busy');
      }
    }
    if (removed.length) await this.updateQoS();
    return removed;
  }

  usage(pod: Pod): Promise<CgroupUsage> {
    return this.o.manager.usage(this.name(pod));
  }

  /** A container's own cgroup below the pod's (the engine names it by the container id). */
  containerUsage(pod: Pod, containerId: string): Promise<CgroupUsage> {
    const child = this.o.manager.driver === 'systemd' ? `docker-${containerId}.scope` : containerId;
    return this.o.manager.usage(this.name(pod), child);
  }
}

/** What the pod sync needs of the pod cgroups. */
export type PodCgroupsLike = Pick<PodCgroups, 'ensurePod' | 'parentFor' | 'removePod'> & Partial<Pick<PodCgroups, 'resizePod'>>;
