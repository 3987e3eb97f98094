import { ConfigError } from '../config-error.js';
import type { AgentConfig } from '../settings/index.js';
import type { Threshold } from './thresholds.js';
import { parseThresholds, ThresholdError } from './thresholds.js';

// Checks of the resource settings (their rows are in agent/settings/table.ts).

/** The settings the resource manager reads. */
export type ResourceConfig = Pick<AgentConfig,
  | 'cgroupDriver' | 'cgroupRoot' | 'cgroupsPerQOS' | 'cpuCFSQuota' | 'podPidsLimit' | 'maxPods' | 'kubeReserved' | 'systemReserved'
  | 'evictionHard' | 'evictionSoft' | 'evictionSoftGracePeriodMs' | 'evictionPressureTransitionPeriodMs' | 'evictionMaxPodGracePeriod' | 'evictionMonitoringPeriodMs'
  | 'imageGCHighThresholdPercent' | 'imageGCLowThresholdPercent' | 'imageMinimumGCAgeMs' | 'imageGCPeriodMs'>;

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
