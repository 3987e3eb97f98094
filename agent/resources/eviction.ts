import type { Pod } from '../../manifests/index.js';
import type { QOSClass } from '../vocab/index.js';
import { qosClass } from '../vocab/index.js';
import { formatBinarySI } from './format.js';
import type { NodeConditionType, Signal, Threshold } from './thresholds.js';
import { SIGNAL_CONDITION, SIGNAL_RESOURCE, thresholdQuantity } from './thresholds.js';

// The eviction manager's decisions (pkg/kubelet/eviction/eviction_manager.go synchronize and
// helpers.go), as pure functions over observations and a small state carried from one
// check to the next. The loop that observes and evicts is in eviction-manager.ts.

/** One signal as observed: what is left and what there is in all. */
export interface SignalObservation {
  available: number;
  capacity: number;
}

export type Observations = Partial<Record<Signal, SignalObservation>>;

export interface EvictionState {
  /** When each threshold (by key) was first seen crossed, while it stays crossed. */
  firstObservedAt: Readonly<Record<string, number>>;
  /** When each pressure condition was last seen caused by a crossed threshold. */
  conditionLastObservedAt: Readonly<Partial<Record<NodeConditionType, number>>>;
}

export const EMPTY_STATE: EvictionState = { firstObservedAt: {}, conditionLastObservedAt: {} };

export function thresholdKey(t: Threshold): string {
  return `${t.signal}/${t.hard ? 'hard' : 'soft'}`;
}

/** thresholdsMet: thresholds whose signal is observed below them (an unobserved signal never is). */
export function thresholdsMet(thresholds: readonly Threshold[], observations: Observations): Threshold[] {
  return thresholds.filter((t) => {
    const o = observations[t.signal];
    if (!o) return false;
    return o.available < thresholdQuantity(t.value, o.capacity);
  });
}

export interface Evaluation {
  state: EvictionState;
  /** Crossed now, grace periods aside. */
  met: Threshold[];
  /** Reported node conditions: caused now, or within the transition period. */
  conditions: Set<NodeConditionType>;
  /** Crossed for at least their grace period: what eviction acts on, memory first. */
  actionable: Threshold[];
}

/**
 * One check: conditions go up as soon as a threshold is crossed (a soft one too) and stay up
 * for `transitionMs` after the last time it was; evictions wait for the grace periods.
 * (minimum-reclaim is not modelled: a threshold is resolved once it is no longer crossed.)
 */
export function evaluate(thresholds: readonly Threshold[], observations: Observations, prev: EvictionState, now: number, transitionMs: number): Evaluation {
  const met = thresholdsMet(thresholds, observations);
  const firstObservedAt: Record<string, number> = {};
  for (const t of met) firstObservedAt[thresholdKey(t)] = prev.firstObservedAt[thresholdKey(t)] ?? now;
  const lastSeen: Partial<Record<NodeConditionType, number>> = { ...prev.conditionLastObservedAt };
  for (const t of met) lastSeen[SIGNAL_CONDITION[t.signal]] = now;
  const conditions = new Set<NodeConditionType>();
  for (const [type, at] of Object.entries(lastSeen) as [NodeConditionType, number][]) {
    if (now - at < transitionMs || at === now) conditions.add(type);
    else delete lastSeen[type];
  }
  const actionable = met
    .filter((t) => now - firstObservedAt[thresholdKey(t)]! >= t.gracePeriodMs)
    // byEvictionPriority: memory before everything else, then as configured.
    .sort((a, b) => Number(b.signal === 'memory.available') - Number(a.signal === 'memory.available'));
  return { state: { firstObservedAt, conditionLastObservedAt: lastSeen }, met, conditions, actionable };
}

/** A candidate for eviction with its use of the resource being reclaimed. */
export interface PodUsage {
  pod: Pod;
  /** Use of the resource (bytes, pids, inodes). */
  usage: number;
  /** What the pod requests of it (0 when it cannot ask for it: pids, inodes). */
  request: number;
}

const QOS_RANK: Record<QOSClass, number> = { BestEffort: 0, Burstable: 1, Guaranteed: 2 };

/**
 * Victims in order: BestEffort pods first, then Burstable, then Guaranteed; within a class
 * the pod using the most above its request first, then the one using most. (Upstream's
 * current rank — exceeds requests, then priority, then usage over requests — puts pods in
 * the same order when no priorities are set and Guaranteed pods stay within their requests.)
 */
export function rankForEviction<T extends PodUsage>(pods: readonly T[]): T[] {
  return [...pods].sort((a, b) =>
    QOS_RANK[qosClass(a.pod)] - QOS_RANK[qosClass(b.pod)] ||
    (b.usage - b.request) - (a.usage - a.request) ||
    b.usage - a.usage);
}

const COUNTED = new Set(['pids', 'inodes']);

/** DecimalSI canonical form of a count: "12345", "2k", "1M". */
function formatDecimalSI(n: number): string {
  const suffixes = ['', 'k', 'M', 'G', 'T', 'P', 'E'];
  let v = Math.trunc(n);
  if (v === 0) return '0';
  let k = 0;
  while (k < suffixes.length - 1 && v % 1000 === 0) {
    v /= 1000;
    k++;
  }
  return `${v}${suffixes[k]}`;
}

function formatAmount(resource: string, n: number): string {
  return COUNTED.has(resource) ? formatDecimalSI(n) : formatBinarySI(n);
}

/**
 * evictionMessage: "The node was low on resource: memory. Threshold quantity: 100Mi,
 * available: 80Mi. Container app was using 1Gi, request is 0, has larger consumption of
 * memory. " (upstream's trailing space included).
 */
export function evictionMessage(threshold: Threshold, observation: SignalObservation | undefined, containers: readonly { name: string; usage?: number; request: number }[] = []): string {
  const resource = SIGNAL_RESOURCE[threshold.signal];
  let message = `The node was low on resource: ${resource}. `;
  if (observation) {
    const quantity = 'quantity' in threshold.value ? threshold.value.text : formatAmount(resource, thresholdQuantity(threshold.value, observation.capacity));
    message += `Threshold quantity: ${quantity}, available: ${formatAmount(resource, observation.available)}. `;
  }
  for (const c of containers) {
    if (c.usage !== undefined && c.usage > c.request) {
      message += `Container ${c.name} was using ${formatAmount(resource, c.usage)}, request is ${formatAmount(resource, c.request)}, has larger consumption of ${resource}. `;
    }
  }
  return message;
}

/** The eviction manager's admission (Admit): what pressure refuses, or undefined. */
export function pressureAdmission(pod: Pod, conditions: ReadonlySet<NodeConditionType>): { reason: string; message: string } | undefined {
  if (conditions.size === 0) return undefined;
  // Critical pods (system-cluster-critical and above) are admitted whatever the pressure.
  if ((pod.spec.priority ?? 0) >= 2_000_000_000) return undefined;
  if (conditions.size === 1 && conditions.has('MemoryPressure')) {
    if (qosClass(pod) !== 'BestEffort') return undefined;
    const tolerates = (pod.spec.tolerations ?? []).some((t) =>
      (t.operator === 'Exists' && !t.key) ||
      (t.key === 'node.kubernetes.io/memory-pressure' && (!t.effect || t.effect === 'NoSchedule')));
    if (tolerates) return undefined;
  }
  const order: NodeConditionType[] = ['MemoryPressure', 'DiskPressure', 'PIDPressure'];
  return { reason: 'Evicted', message: `The node had condition: [${order.filter((c) => conditions.has(c)).join(' ')}]. ` };
}
