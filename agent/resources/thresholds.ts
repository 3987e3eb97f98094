import { matchGroups } from '../../base/index.js';
import { isValidQuantity, parseQuantity } from '../../manifests/index.js';

// Eviction thresholds as kubelet takes them (pkg/kubelet/eviction/api, helpers.go
// ParseThresholdConfig): "memory.available<100Mi" on the command line, a map
// {"memory.available": "100Mi"} in the config file; a value is a quantity or a percentage of
// the signal's capacity. Pure.

export const SIGNALS = [
  'memory.available',
  'nodefs.available',
  'nodefs.inodesFree',
  'imagefs.available',
  'imagefs.inodesFree',
  'pid.available',
] as const;

export type Signal = (typeof SIGNALS)[number];

export type NodeConditionType = 'MemoryPressure' | 'DiskPressure' | 'PIDPressure';

/** The resource a signal is about (signalToResource): what an eviction message names. */
export const SIGNAL_RESOURCE: Record<Signal, string> = {
  'memory.available': 'memory',
  'nodefs.available': 'ephemeral-storage',
  'nodefs.inodesFree': 'inodes',
  'imagefs.available': 'ephemeral-storage',
  'imagefs.inodesFree': 'inodes',
  'pid.available': 'pids',
};

/** signalToNodeCondition. */
export const SIGNAL_CONDITION: Record<Signal, NodeConditionType> = {
  'memory.available': 'MemoryPressure',
  'nodefs.available': 'DiskPressure',
  'nodefs.inodesFree': 'DiskPressure',
  'imagefs.available': 'DiskPressure',
  'imagefs.inodesFree': 'DiskPressure',
  'pid.available': 'PIDPressure',
};

export type ThresholdValue = { quantity: number; text: string } | { percentage: number; text: string };

export interface Threshold {
  signal: Signal;
  /** Only "<" exists (LessThan). */
  value: ThresholdValue;
  /** 0 for hard thresholds. */
  gracePeriodMs: number;
  hard: boolean;
}

/**
 * Upstream's DefaultEvictionHard (defaults_linux.go) plus pid.available<10%, which the node
 * reference lists. Setting evictionHard replaces all of these: the signals it does not name
 * are not watched (kubelet's documented behaviour).
 */
export const DEFAULT_EVICTION_HARD: Readonly<Record<string, string>> = {
  'memory.available': '100Mi',
  'nodefs.available': '10%',
  'nodefs.inodesFree': '5%',
  'imagefs.available': '15%',
  'imagefs.inodesFree': '5%',
  'pid.available': '10%',
};

export class ThresholdError extends Error {}

function isSignal(s: string): s is Signal {
  return (SIGNALS as readonly string[]).includes(s);
}

export function parseThresholdValue(signal: string, v: string): ThresholdValue {
  const text = v.trim();
  if (text.endsWith('%')) {
    const p = Number(text.slice(0, -1));
    if (!Number.isFinite(p) || p < 0 || p > 100 || text.length === 1) throw new ThresholdError(`eviction percentage threshold ${signal} must be >= 0% and <= 100%: ${text}`);
    return { percentage: p / 100, text };
  }
  if (!isValidQuantity(text)) throw new ThresholdError(`invalid eviction threshold ${signal}: ${JSON.stringify(v)} is not a quantity or a percentage`);
  const q = parseQuantity(text);
  if (q < 0) throw new ThresholdError(`eviction threshold ${signal} must be positive: ${text}`);
  return { quantity: q, text };
}

/** "memory.available<100Mi,nodefs.available<10%" (the flags) -> map form. */
export function parseThresholdFlag(s: string, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of s.split(',').map((x) => x.trim()).filter(Boolean)) {
    const m = matchGroups(/^([A-Za-z.]+)\s*(<|>|<=|>=|=)\s*(.+)$/, part, 3);
    if (!m) throw new ThresholdError(`${flag}: invalid eviction threshold ${JSON.stringify(part)}: expected <signal><<value>`);
    if (m[2] !== '<') throw new ThresholdError(`${flag}: invalid operator ${JSON.stringify(m[2])} in ${JSON.stringify(part)}: only "<" is supported`);
    out[m[1]] = m[3];
  }
  return out;
}

/** "memory.available=1m30s,..." (--eviction-soft-grace-period) -> map form. */
export function parseKeyValueFlag(s: string, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of s.split(',').map((x) => x.trim()).filter(Boolean)) {
    const i = part.indexOf('=');
    if (i <= 0) throw new ThresholdError(`${flag}: invalid entry ${JSON.stringify(part)}: expected key=value`);
    out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

/**
 * ParseThresholdConfig: hard thresholds, soft thresholds each with a grace period (a soft
 * threshold without one is an error, and so is a grace period without a threshold).
 */
export function parseThresholds(
  hard: Readonly<Record<string, string>>,
  soft: Readonly<Record<string, string>>,
  softGraceMs: Readonly<Record<string, number>>,
): Threshold[] {
  const out: Threshold[] = [];
  for (const [signal, v] of Object.entries(hard)) {
    if (!isSignal(signal)) throw new ThresholdError(`unsupported eviction signal ${JSON.stringify(signal)} (supported: ${SIGNALS.join(', ')})`);
    const value = parseThresholdValue(signal, v);
    // A zero threshold is "not watched" (how a user turns one default off).
    if (('quantity' in value && value.quantity === 0) || ('percentage' in value && value.percentage === 0)) continue;
    out.push({ signal, value, gracePeriodMs: 0, hard: true });
  }
  for (const signal of Object.keys(softGraceMs)) {
    if (!(signal in soft)) throw new ThresholdError(`eviction soft grace period for ${signal} has no eviction soft threshold`);
  }
  for (const [signal, v] of Object.entries(soft)) {
    if (!isSignal(signal)) throw new ThresholdError(`unsupported eviction signal ${JSON.stringify(signal)} (supported: ${SIGNALS.join(', ')})`);
    const grace = softGraceMs[signal];
    if (grace === undefined || grace <= 0) throw new ThresholdError(`eviction soft threshold ${signal} needs a positive grace period (evictionSoftGracePeriod)`);
    out.push({ signal, value: parseThresholdValue(signal, v), gracePeriodMs: grace, hard: false });
  }
  return out;
}

/** GetThresholdQuantity: the threshold in the signal's unit, given the signal's capacity. */
export function thresholdQuantity(value: ThresholdValue, capacity: number): number {
  return 'quantity' in value ? value.quantity : Math.trunc(capacity * value.percentage);
}

/** The part of a resource the hard thresholds hold back from pods (hardEvictionReservation). */
export function hardEvictionReservation(thresholds: readonly Threshold[], capacity: { memory: number; ephemeralStorage: number }): { memory: number; ephemeralStorage: number } {
  const out = { memory: 0, ephemeralStorage: 0 };
  for (const t of thresholds) {
    if (!t.hard) continue;
    if (t.signal === 'memory.available') out.memory += thresholdQuantity(t.value, capacity.memory);
    if (t.signal === 'nodefs.available') out.ephemeralStorage += thresholdQuantity(t.value, capacity.ephemeralStorage);
  }
  return out;
}
