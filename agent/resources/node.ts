import { milliValue, parseQuantity } from '../../manifests/index.js';
import type { CgroupResources } from './compute.js';
import { milliCPUToShares } from './compute.js';
import { formatBinarySI, formatMilli } from './format.js';
import type { NodeConditionType, Threshold } from './thresholds.js';
import { hardEvictionReservation } from './thresholds.js';
import { rfc3339 } from '../vocab/index.js';

// Node capacity and allocatable (kubelet's container manager, node_container_manager_linux.go
// and the node status setters): capacity from the machine, allocatable = capacity minus
// kubeReserved, systemReserved and the hard eviction thresholds. Pure.

export interface MachineInfo {
  cpuCores: number;
  memoryBytes: number;
  /** The filesystem of the agent's root dir (nodefs): capacity in bytes. */
  ephemeralStorageBytes: number;
}

/** What the config reserves; names as KubeletConfiguration (cpu, memory, ephemeral-storage, pid). */
export type Reservation = Readonly<Record<string, string>>;

export interface NodeResourceConfig {
  maxPods: number;
  kubeReserved: Reservation;
  systemReserved: Reservation;
  thresholds: readonly Threshold[];
}

/** Numbers for admission and cgroups: millicores, bytes, pod count. */
export interface NodeAmounts {
  cpuMilli: number;
  memory: number;
  ephemeralStorage: number;
  pods: number;
}

export interface NodeResources {
  capacity: NodeAmounts;
  allocatable: NodeAmounts;
  /** capacity - kubeReserved - systemReserved, without the eviction thresholds: kubepods' limits. */
  enforced: NodeAmounts;
}

/** Checks a kubeReserved/systemReserved map; returns the message of what is wrong. */
export function validateReservation(r: Record<string, unknown>): string | undefined {
  for (const [k, v] of Object.entries(r)) {
    if (!['cpu', 'memory', 'ephemeral-storage', 'pid'].includes(k)) return `unsupported resource ${JSON.stringify(k)} (supported: cpu, memory, ephemeral-storage, pid)`;
    try {
      if (parseQuantity(String(v)) < 0) return `${k}: must be positive`;
    } catch {
      return `${k}: ${JSON.stringify(v)} is not a quantity`;
    }
  }
  return undefined;
}

function reserved(r: Reservation): { cpuMilli: number; memory: number; ephemeralStorage: number } {
  return {
    cpuMilli: r.cpu ? milliValue(r.cpu) : 0,
    memory: r.memory ? Math.ceil(parseQuantity(r.memory)) : 0,
    ephemeralStorage: r['ephemeral-storage'] ? Math.ceil(parseQuantity(r['ephemeral-storage'])) : 0,
  };
}

export function nodeResources(m: MachineInfo, cfg: NodeResourceConfig): NodeResources {
  const capacity: NodeAmounts = {
    cpuMilli: m.cpuCores * 1000,
    memory: m.memoryBytes,
    ephemeralStorage: m.ephemeralStorageBytes,
    pods: cfg.maxPods,
  };
  const kube = reserved(cfg.kubeReserved);
  const sys = reserved(cfg.systemReserved);
  const hard = hardEvictionReservation(cfg.thresholds, capacity);
  const sub = (a: number, ...b: number[]) => Math.max(0, b.reduce((x, y) => x - y, a));
  const enforced: NodeAmounts = {
    cpuMilli: sub(capacity.cpuMilli, kube.cpuMilli, sys.cpuMilli),
    memory: sub(capacity.memory, kube.memory, sys.memory),
    ephemeralStorage: sub(capacity.ephemeralStorage, kube.ephemeralStorage, sys.ephemeralStorage),
    pods: capacity.pods,
  };
  const allocatable: NodeAmounts = {
    cpuMilli: enforced.cpuMilli,
    memory: sub(enforced.memory, hard.memory),
    ephemeralStorage: sub(enforced.ephemeralStorage, hard.ephemeralStorage),
    pods: capacity.pods,
  };
  return { capacity, allocatable, enforced };
}

/** What the kubepods cgroup gets (enforceNodeAllocatable: pods). */
export function kubepodsResources(r: NodeResources): CgroupResources {
  return { cpuShares: milliCPUToShares(r.enforced.cpuMilli), memoryLimit: r.enforced.memory };
}

export function resourceList(a: NodeAmounts): Record<string, string> {
  return {
    cpu: formatMilli(a.cpuMilli),
    'ephemeral-storage': formatBinarySI(a.ephemeralStorage),
    memory: formatBinarySI(a.memory),
    pods: String(a.pods),
  };
}

export interface NodeCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  lastHeartbeatTime: string;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

const CONDITION_TEXT: Record<NodeConditionType, { on: [string, string]; off: [string, string] }> = {
  MemoryPressure: { on: ['KubeletHasInsufficientMemory', 'kubelet has insufficient memory available'], off: ['KubeletHasSufficientMemory', 'kubelet has sufficient memory available'] },
  DiskPressure: { on: ['KubeletHasDiskPressure', 'kubelet has disk pressure'], off: ['KubeletHasNoDiskPressure', 'kubelet has no disk pressure'] },
  PIDPressure: { on: ['KubeletHasInsufficientPID', 'kubelet has insufficient PID available'], off: ['KubeletHasSufficientPID', 'kubelet has sufficient PID available'] },
};

/**
 * The node status fields this part of the agent owns: capacity, allocatable and the pressure
 * conditions (setters.go MemoryPressureCondition & co), with transition times kept from
 * `previous`.
 */
export function nodeStatusFields(r: NodeResources, pressure: ReadonlySet<NodeConditionType>, now: number, previous: readonly NodeCondition[] = []): { capacity: Record<string, string>; allocatable: Record<string, string>; conditions: NodeCondition[] } {
  const conditions = (Object.keys(CONDITION_TEXT) as NodeConditionType[]).map((type) => {
    const on = pressure.has(type);
    const status = on ? 'True' : 'False';
    const [reason, message] = on ? CONDITION_TEXT[type].on : CONDITION_TEXT[type].off;
    const prev = previous.find((c) => c.type === type);
    return {
      type,
      status,
      lastHeartbeatTime: rfc3339(now),
      lastTransitionTime: prev && prev.status === status ? prev.lastTransitionTime : rfc3339(now),
      reason,
      message,
    } satisfies NodeCondition;
  });
  return { capacity: resourceList(r.capacity), allocatable: resourceList(r.allocatable), conditions };
}
