import type { LinuxContainerResources } from '../../cri/index.js';
import type { Container, Pod } from '../../manifests/index.js';
import { isSidecar, milliValue, parseQuantity } from '../../manifests/index.js';
import { qosClass } from '../vocab/index.js';

// The resource math kubelet does, as pure functions over the Pod spec (pkg/kubelet/cm
// helpers_linux.go, kuberuntime_container_linux.go, pkg/kubelet/qos/policy.go,
// k8s.io/component-helpers/resource). Integers as upstream computes them (Go's int64
// division truncates: Math.trunc here).

export const MIN_SHARES = 2;
export const MAX_SHARES = 262144;
export const SHARES_PER_CPU = 1024;
export const MILLI_CPU_TO_CPU = 1000;
/** CFS period (us) kubelet uses unless the CPUCFSQuotaPeriod gate says otherwise. */
export const QUOTA_PERIOD = 100_000;
/** The smallest CFS quota (us) the kernel accepts. */
export const MIN_QUOTA_PERIOD = 1000;

export const GUARANTEED_OOM_SCORE_ADJ = -997;
export const BESTEFFORT_OOM_SCORE_ADJ = 1000;
/** dockershim's and containerd's score for the pause container. */
export const SANDBOX_OOM_SCORE_ADJ = -998;
/** The agent itself (the unit sets OOMScoreAdjust=-999). */
export const KUBELET_OOM_SCORE_ADJ = -999;
/** Priority of system-node-critical: such pods get the Guaranteed score whatever their QoS. */
export const SYSTEM_NODE_CRITICAL_PRIORITY = 2_000_001_000;

/** cm.MilliCPUToShares: requests -> cpu.shares, clamped to [2, 262144]. */
export function milliCPUToShares(milliCPU: number): number {
  if (milliCPU === 0) return MIN_SHARES;
  const shares = Math.trunc((milliCPU * SHARES_PER_CPU) / MILLI_CPU_TO_CPU);
  if (shares < MIN_SHARES) return MIN_SHARES;
  if (shares > MAX_SHARES) return MAX_SHARES;
  return shares;
}

/** cm.MilliCPUToQuota: limits -> CFS quota (us); 0 = no limit; at least 1000 us otherwise. */
export function milliCPUToQuota(milliCPU: number, period = QUOTA_PERIOD): number {
  if (milliCPU === 0) return 0;
  const quota = Math.trunc((milliCPU * period) / MILLI_CPU_TO_CPU);
  return quota < MIN_QUOTA_PERIOD ? MIN_QUOTA_PERIOD : quota;
}

/** runc's ConvertCPUSharesToCgroupV2Value: cpu.shares [2, 262144] -> cpu.weight [1, 10000]; 0 stays unset. */
export function sharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  return 1 + Math.trunc(((shares - 2) * 9999) / 262142);
}

/** cgroup v2 cpu.max: "max 100000" without a quota. */
export function cpuMax(quota: number, period = QUOTA_PERIOD): string {
  return `${quota > 0 ? quota : 'max'} ${period}`;
}

/** Quantity.Value(): bytes (or count), rounded up. */
export function valueOf(q: string | number | undefined): number {
  if (q === undefined) return 0;
  return Math.ceil(parseQuantity(q));
}

/** Quantity.MilliValue(). */
export function milliOf(q: string | number | undefined): number {
  if (q === undefined) return 0;
  return milliValue(q);
}

/** The resources admission, cgroups and eviction count: millicores, bytes. */
export interface ResourceAmounts {
  cpuMilli: number;
  memory: number;
  ephemeralStorage: number;
}

const ZERO: ResourceAmounts = { cpuMilli: 0, memory: 0, ephemeralStorage: 0 };

function amounts(list: Record<string, string | number> | undefined): ResourceAmounts {
  return {
    cpuMilli: milliOf(list?.cpu),
    memory: valueOf(list?.memory),
    ephemeralStorage: valueOf(list?.['ephemeral-storage']),
  };
}

function add(a: ResourceAmounts, b: ResourceAmounts): ResourceAmounts {
  return { cpuMilli: a.cpuMilli + b.cpuMilli, memory: a.memory + b.memory, ephemeralStorage: a.ephemeralStorage + b.ephemeralStorage };
}

function max(a: ResourceAmounts, b: ResourceAmounts): ResourceAmounts {
  return { cpuMilli: Math.max(a.cpuMilli, b.cpuMilli), memory: Math.max(a.memory, b.memory), ephemeralStorage: Math.max(a.ephemeralStorage, b.ephemeralStorage) };
}

/** A container's requests, defaulted from its limits as the API server does. */
export function containerRequests(c: Container): Record<string, string | number> {
  return { ...(c.resources?.limits ?? {}), ...(c.resources?.requests ?? {}) };
}

/**
 * component-helpers resource.PodRequests/PodLimits: app containers and sidecars add up; a
 * plain init container runs alone beside the sidecars started before it, so the pod needs
 * the largest of those moments; then the pod overhead.
 */
function aggregate(pod: Pod, pick: (c: Container) => Record<string, string | number> | undefined, onContainer?: (c: Container) => void): ResourceAmounts {
  let sum = ZERO;
  for (const c of pod.spec.containers) {
    onContainer?.(c);
    sum = add(sum, amounts(pick(c)));
  }
  let sidecars = ZERO;
  let inits = ZERO;
  for (const c of pod.spec.initContainers ?? []) {
    onContainer?.(c);
    const own = amounts(pick(c));
    let use: ResourceAmounts;
    if (isSidecar(c)) {
      sum = add(sum, own);
      sidecars = add(sidecars, own);
      use = sidecars;
    } else {
      use = add(own, sidecars);
    }
    inits = max(inits, use);
  }
  sum = max(sum, inits);
  return add(sum, amounts(pod.spec.overhead));
}

/**
 * Pod-level resources (spec.resources, PodLevelResources): cpu and memory set there stand for
 * the whole pod instead of the sum of its containers; the overhead still comes on top.
 */
function withPodLevel(pod: Pod, sum: ResourceAmounts, list: Record<string, string | number> | undefined): ResourceAmounts {
  if (!list) return sum;
  const overhead = amounts(pod.spec.overhead);
  return {
    ...sum,
    ...(list.cpu !== undefined ? { cpuMilli: milliOf(list.cpu) + overhead.cpuMilli } : {}),
    ...(list.memory !== undefined ? { memory: valueOf(list.memory) + overhead.memory } : {}),
  };
}

/** Pod-level requests, defaulted from pod-level limits as the API server does. */
export function podLevelRequests(pod: Pod): Record<string, string | number> | undefined {
  const r = pod.spec.resources;
  if (!r?.limits && !r?.requests) return undefined;
  const pick = (l: Record<string, string | number> | undefined) => Object.fromEntries(Object.entries(l ?? {}).filter(([k]) => k === 'cpu' || k === 'memory'));
  return { ...pick(r.limits), ...pick(r.requests) };
}

export function podRequests(pod: Pod): ResourceAmounts {
  return withPodLevel(pod, aggregate(pod, containerRequests), podLevelRequests(pod));
}

export function podLimits(pod: Pod): ResourceAmounts & { cpuLimitsDeclared: boolean; memoryLimitsDeclared: boolean } {
  let cpuLimitsDeclared = true;
  let memoryLimitsDeclared = true;
  const sum = aggregate(pod, (c) => c.resources?.limits, (c) => {
    if (milliOf(c.resources?.limits?.cpu) === 0) cpuLimitsDeclared = false;
    if (valueOf(c.resources?.limits?.memory) === 0) memoryLimitsDeclared = false;
  });
  const podLevel = pod.spec.resources?.limits;
  if (podLevel?.cpu !== undefined) cpuLimitsDeclared = true;
  if (podLevel?.memory !== undefined) memoryLimitsDeclared = true;
  return { ...withPodLevel(pod, sum, podLevel), cpuLimitsDeclared, memoryLimitsDeclared };
}

export interface ContainerResourceOptions {
  /** Node memory capacity in bytes (the Burstable OOM score is relative to it). */
  memoryCapacity: number;
  /** podPidsLimit; <= 0 leaves the pids limit unset. */
  podPidsLimit?: number;
  /** cpuCFSQuota (default true): enforce CPU limits with CFS quota. */
  cpuCFSQuota?: boolean;
}

/** qos.GetContainerOOMScoreAdjust. */
export function oomScoreAdj(pod: Pod, c: Container, memoryCapacity: number): number {
  if ((pod.spec.priority ?? 0) >= SYSTEM_NODE_CRITICAL_PRIORITY) return GUARANTEED_OOM_SCORE_ADJ;
  const qos = qosClass(pod);
  if (qos === 'Guaranteed') return GUARANTEED_OOM_SCORE_ADJ;
  if (qos === 'BestEffort') return BESTEFFORT_OOM_SCORE_ADJ;
  let memoryRequest = valueOf(containerRequests(c).memory);
  // A sidecar must outlive the containers it serves: it takes the score of the most
  // protected app container when that one asks for more memory (KEP-753).
  if (isSidecar(c)) {
    for (const app of pod.spec.containers) memoryRequest = Math.max(memoryRequest, valueOf(containerRequests(app).memory));
  }
  if (memoryCapacity <= 0) return BESTEFFORT_OOM_SCORE_ADJ - 1;
  const adj = 1000 - Math.trunc((1000 * memoryRequest) / memoryCapacity);
  // A Guaranteed pod using all of memory can get a score of 3: Burstable stays above it,
  // and below BestEffort.
  if (adj < 1000 + GUARANTEED_OOM_SCORE_ADJ) return 1000 + GUARANTEED_OOM_SCORE_ADJ;
  if (adj === BESTEFFORT_OOM_SCORE_ADJ) return adj - 1;
  return adj;
}

/**
 * kuberuntime's calculateLinuxResources + generateLinuxContainerConfig: cpu shares from the
 * request (the limit when only a limit is set), CFS quota from the limit, memory limit with
 * swap equal to it (swap is off: NoSwap), OOM score per QoS, and the pids limit.
 */
export function containerResources(pod: Pod, c: Container, opts: ContainerResourceOptions): LinuxContainerResources {
  const cpuRequest = milliOf(c.resources?.requests?.cpu);
  const cpuLimit = milliOf(c.resources?.limits?.cpu);
  const memLimit = valueOf(c.resources?.limits?.memory);
  const out: LinuxContainerResources = {
    cpuShares: milliCPUToShares(cpuRequest === 0 && cpuLimit !== 0 ? cpuLimit : cpuRequest),
    oomScoreAdj: oomScoreAdj(pod, c, opts.memoryCapacity),
  };
  if (opts.cpuCFSQuota !== false) {
    out.cpuPeriod = QUOTA_PERIOD;
    out.cpuQuota = milliCPUToQuota(cpuLimit);
  }
  if (memLimit !== 0) {
    out.memoryLimitInBytes = memLimit;
    out.memorySwapLimitInBytes = memLimit;
  }
  if (opts.podPidsLimit && opts.podPidsLimit > 0) out.pidsLimit = opts.podPidsLimit;
  return out;
}

/** What a cgroup (a pod's, or a QoS level's) is given; unset fields are left alone. */
export interface CgroupResources {
  cpuShares?: number;
  cpuQuota?: number;
  cpuPeriod?: number;
  /** Bytes: memory.limit_in_bytes (v1), memory.max (v2). */
  memoryLimit?: number;
  pidsLimit?: number;
}

/** cm.ResourceConfigForPod: what the pod<uid> cgroup gets. */
export function podCgroupResources(pod: Pod, opts: { podPidsLimit?: number; cpuCFSQuota?: boolean } = {}): CgroupResources {
  const qos = qosClass(pod);
  const reqs = podRequests(pod);
  const limits = podLimits(pod);
  const cpuShares = milliCPUToShares(reqs.cpuMilli);
  const cpuQuota = milliCPUToQuota(limits.cpuMilli);
  const out: CgroupResources = {};
  const enforceCPU = opts.cpuCFSQuota !== false;
  if (qos === 'Guaranteed') {
    out.cpuShares = cpuShares;
    if (enforceCPU) Object.assign(out, { cpuQuota, cpuPeriod: QUOTA_PERIOD });
    out.memoryLimit = limits.memory;
  } else if (qos === 'Burstable') {
    out.cpuShares = cpuShares;
    if (enforceCPU && limits.cpuLimitsDeclared) Object.assign(out, { cpuQuota, cpuPeriod: QUOTA_PERIOD });
    if (limits.memoryLimitsDeclared) out.memoryLimit = limits.memory;
  } else {
    out.cpuShares = MIN_SHARES;
  }
  if (opts.podPidsLimit && opts.podPidsLimit > 0) out.pidsLimit = opts.podPidsLimit;
  return out;
}

/**
 * The QoS level cgroups (qos_container_manager_linux.go setCPUCgroupConfig): besteffort gets
 * the minimum shares, burstable the shares of its pods' requests summed.
 */
export function qosCgroupResources(pods: readonly Pod[]): { burstable: CgroupResources; besteffort: CgroupResources } {
  let burstableMilli = 0;
  for (const p of pods) if (qosClass(p) === 'Burstable') burstableMilli += podRequests(p).cpuMilli;
  return { burstable: { cpuShares: milliCPUToShares(burstableMilli) }, besteffort: { cpuShares: MIN_SHARES } };
}
