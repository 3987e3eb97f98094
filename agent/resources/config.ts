import { ConfigError } from '../config-error.js';
import { validateReservation } from './node.js';
import type { Threshold } from './thresholds.js';
import { DEFAULT_EVICTION_HARD, parseKeyValueFlag, parseThresholdFlag, parseThresholds, ThresholdError } from './thresholds.js';

// The resource part of the agent's configuration, with KubeletConfiguration's field names
// and kubelet's flag names; agent/config.ts merges it into AgentConfig.

export interface ResourceConfig {
  /** Must match the engine's (docker info CgroupDriver). */
  cgroupDriver: 'cgroupfs' | 'systemd';
  /** Where kubepods is made ("/" or a path; a slice with systemd). */
  cgroupRoot: string;
  /** Pod and QoS cgroups; off: containers go where the engine puts them. */
  cgroupsPerQOS: boolean;
  /** Enforce CPU limits with CFS quota. */
  cpuCFSQuota: boolean;
  /** Pids per pod (pod cgroup pids.max, and each container's); -1: no limit. */
  podPidsLimit: number;
  maxPods: number;
  kubeReserved: Record<string, string>;
  systemReserved: Record<string, string>;
  /** signal -> quantity or percentage; replaces all the defaults when set. */
  evictionHard: Record<string, string>;
  evictionSoft: Record<string, string>;
  /** signal -> ms. */
  evictionSoftGracePeriodMs: Record<string, number>;
  evictionPressureTransitionPeriodMs: number;
  evictionMaxPodGracePeriod: number;
  /** bosun's own: kubelet checks every 10 s, fixed. */
  evictionMonitoringPeriodMs: number;
  imageGCHighThresholdPercent: number;
  imageGCLowThresholdPercent: number;
  imageMinimumGCAgeMs: number;
  /** bosun's own: kubelet collects images every 5 min, fixed. */
  imageGCPeriodMs: number;
}

export const RESOURCE_DEFAULTS: ResourceConfig = {
  cgroupDriver: 'cgroupfs',
  cgroupRoot: '/',
  cgroupsPerQOS: true,
  cpuCFSQuota: true,
  podPidsLimit: -1,
  maxPods: 110,
  kubeReserved: {},
  systemReserved: {},
  evictionHard: { ...DEFAULT_EVICTION_HARD },
  evictionSoft: {},
  evictionSoftGracePeriodMs: {},
  evictionPressureTransitionPeriodMs: 5 * 60_000,
  evictionMaxPodGracePeriod: 0,
  evictionMonitoringPeriodMs: 10_000,
  imageGCHighThresholdPercent: 85,
  imageGCLowThresholdPercent: 80,
  imageMinimumGCAgeMs: 2 * 60_000,
  imageGCPeriodMs: 5 * 60_000,
};

type Conv = (v: unknown, field: string) => unknown;

/** Go durations ("20s", "1m30s", "500ms"); numbers are seconds. */
export function duration(v: unknown, field: string): number {
  if (typeof v === 'number') return v * 1000;
  const s = String(v).trim();
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0;
  let consumed = '';
  for (let m = re.exec(s); m; m = re.exec(s)) {
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    consumed += m[0];
  }
  if (!s || consumed !== s) throw new ConfigError(`${field}: Invalid value: "${s}": a duration like "20s", "1m" or "500ms"`);
  return total;
}

function driver(v: unknown, field: string): ResourceConfig['cgroupDriver'] {
  if (v === 'cgroupfs' || v === 'systemd') return v;
  throw new ConfigError(`${field}: Unsupported value: ${JSON.stringify(v)}: supported values: "cgroupfs", "systemd"`);
}

function bool(v: unknown, field: string): boolean {
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === 'false') return v === 'true';
  throw new ConfigError(`${field}: Invalid value: ${JSON.stringify(v)}: must be true or false`);
}

function int(min: number, max = Number.MAX_SAFE_INTEGER): Conv {
  return (v, field) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${field}: Invalid value: ${JSON.stringify(v)}: must be an integer from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ''}`);
    return n;
  };
}

/** A map in the file; "k=v,k2=v2" on the command line. */
function stringMap(v: unknown, field: string): Record<string, string> {
  if (typeof v === 'string') {
    try {
      return parseKeyValueFlag(v, field);
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
  }
  if (v === null || v === undefined) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(`${field}: Invalid value: expected a map`);
  return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, String(x)]));
}

function reservation(v: unknown, field: string): Record<string, string> {
  const m = stringMap(v, field);
  const why = validateReservation(m);
  if (why) throw new ConfigError(`${field}: Invalid value: ${why}`);
  return m;
}

/** A threshold map in the file; "memory.available<100Mi,..." on the command line. */
function thresholdMap(v: unknown, field: string): Record<string, string> {
  try {
    return typeof v === 'string' ? parseThresholdFlag(v, field) : stringMap(v, field);
  } catch (err) {
    if (err instanceof ThresholdError) throw new ConfigError(err.message);
    throw err;
  }
}

function durationMap(v: unknown, field: string): Record<string, number> {
  return Object.fromEntries(Object.entries(stringMap(v, field)).map(([k, d]) => [k, duration(d, `${field}.${k}`)]));
}

const percent = int(0, 100);

/** KubeletConfiguration field -> [our field, converter]. */
export const RESOURCE_FILE_FIELDS: Record<string, [keyof ResourceConfig, Conv]> = {
  cgroupDriver: ['cgroupDriver', driver],
  cgroupRoot: ['cgroupRoot', (v) => String(v)],
  cgroupsPerQOS: ['cgroupsPerQOS', bool],
  cpuCFSQuota: ['cpuCFSQuota', bool],
  podPidsLimit: ['podPidsLimit', int(-1)],
  maxPods: ['maxPods', int(1)],
  kubeReserved: ['kubeReserved', reservation],
  systemReserved: ['systemReserved', reservation],
  evictionHard: ['evictionHard', thresholdMap],
  evictionSoft: ['evictionSoft', thresholdMap],
  evictionSoftGracePeriod: ['evictionSoftGracePeriodMs', durationMap],
  evictionPressureTransitionPeriod: ['evictionPressureTransitionPeriodMs', duration],
  evictionMaxPodGracePeriod: ['evictionMaxPodGracePeriod', int(0)],
  evictionMonitoringPeriod: ['evictionMonitoringPeriodMs', duration],
  imageGCHighThresholdPercent: ['imageGCHighThresholdPercent', percent],
  imageGCLowThresholdPercent: ['imageGCLowThresholdPercent', percent],
  imageMinimumGCAge: ['imageMinimumGCAgeMs', duration],
  imageGCPeriod: ['imageGCPeriodMs', duration],
};

/** kubelet's flag names. */
export const RESOURCE_FLAGS = {
  'cgroup-driver': ['cgroupDriver', (v: unknown) => driver(v, '--cgroup-driver')],
  'cgroup-root': ['cgroupRoot', String],
  'cgroups-per-qos': ['cgroupsPerQOS', (v: unknown) => bool(v, '--cgroups-per-qos')],
  'cpu-cfs-quota': ['cpuCFSQuota', (v: unknown) => bool(v, '--cpu-cfs-quota')],
  'pod-max-pids': ['podPidsLimit', (v: unknown) => int(-1)(v, '--pod-max-pids')],
  'max-pods': ['maxPods', (v: unknown) => int(1)(v, '--max-pods')],
  'kube-reserved': ['kubeReserved', (v: unknown) => reservation(v, '--kube-reserved')],
  'system-reserved': ['systemReserved', (v: unknown) => reservation(v, '--system-reserved')],
  'eviction-hard': ['evictionHard', (v: unknown) => thresholdMap(v, '--eviction-hard')],
  'eviction-soft': ['evictionSoft', (v: unknown) => thresholdMap(v, '--eviction-soft')],
  'eviction-soft-grace-period': ['evictionSoftGracePeriodMs', (v: unknown) => durationMap(v, '--eviction-soft-grace-period')],
  'eviction-pressure-transition-period': ['evictionPressureTransitionPeriodMs', (v: unknown) => duration(v, '--eviction-pressure-transition-period')],
  'eviction-max-pod-grace-period': ['evictionMaxPodGracePeriod', (v: unknown) => int(0)(v, '--eviction-max-pod-grace-period')],
  'eviction-monitoring-period': ['evictionMonitoringPeriodMs', (v: unknown) => duration(v, '--eviction-monitoring-period')],
  'image-gc-high-threshold': ['imageGCHighThresholdPercent', (v: unknown) => percent(v, '--image-gc-high-threshold')],
  'image-gc-low-threshold': ['imageGCLowThresholdPercent', (v: unknown) => percent(v, '--image-gc-low-threshold')],
  'minimum-image-ttl-duration': ['imageMinimumGCAgeMs', (v: unknown) => duration(v, '--minimum-image-ttl-duration')],
} as const satisfies Record<string, [keyof ResourceConfig, (v: unknown) => unknown]>;

/** The thresholds the config asks for (hard and soft), or ConfigError. */
export function evictionThresholds(c: ResourceConfig): Threshold[] {
  try {
    return parseThresholds(c.evictionHard, c.evictionSoft, c.evictionSoftGracePeriodMs);
  } catch (err) {
    if (err instanceof ThresholdError) throw new ConfigError(err.message);
    throw err;
  }
}

/** Checks across fields, after defaults, file and flags are merged. */
export function validateResourceConfig(c: ResourceConfig): void {
  if (c.imageGCLowThresholdPercent >= c.imageGCHighThresholdPercent && c.imageGCHighThresholdPercent < 100) {
    throw new ConfigError(`imageGCLowThresholdPercent (${c.imageGCLowThresholdPercent}) must be less than imageGCHighThresholdPercent (${c.imageGCHighThresholdPercent})`);
  }
  if (c.cgroupDriver === 'systemd' && c.cgroupRoot !== '/' && !c.cgroupRoot.endsWith('.slice')) {
    throw new ConfigError(`--cgroup-root: Invalid value: "${c.cgroupRoot}": with the systemd cgroup driver it must be "/" or a slice ("foo.slice")`);
  }
  if (c.evictionMonitoringPeriodMs < 100) throw new ConfigError(`evictionMonitoringPeriod: Invalid value: must be at least 100ms`);
  evictionThresholds(c);
}
