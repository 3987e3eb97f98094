import type { Container, Pod } from '../../manifests/index.js';
import { parseQuantity } from '../../manifests/index.js';

export type QOSClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

const COMPUTE = ['cpu', 'memory'] as const;

function nonZero(list: Record<string, string | number> | undefined, name: string): number | undefined {
  const v = list?.[name];
  if (v === undefined) return undefined;
  const q = parseQuantity(v);
  return q > 0 ? q : undefined;
}

// pkg/apis/core/v1/helper/qos: Guaranteed when every container (init included) has cpu and
// memory limits equal to its requests (requests default to limits), BestEffort when no
// container asks for or limits cpu or memory, Burstable otherwise.
export function qosClass(pod: Pod): QOSClass {
  const podLevel = pod.spec.resources;
  if (podLevel?.limits || podLevel?.requests) return podLevelQOS(podLevel.requests, podLevel.limits);
  const all: Container[] = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
  const requests = new Map<string, number>();
  const limits = new Map<string, number>();
  let guaranteed = true;
  for (const c of all) {
    for (const r of COMPUTE) {
      const req = nonZero(c.resources?.requests, r);
      const lim = nonZero(c.resources?.limits, r);
      if (req !== undefined) requests.set(r, (requests.get(r) ?? 0) + req);
      if (lim !== undefined) limits.set(r, (limits.get(r) ?? 0) + lim);
    }
    if (!COMPUTE.every((r) => nonZero(c.resources?.limits, r) !== undefined)) guaranteed = false;
  }
  if (requests.size === 0 && limits.size === 0) return 'BestEffort';
  if (guaranteed) {
    for (const r of COMPUTE) {
      const req = requests.get(r);
      if (req !== undefined && req !== limits.get(r)) return 'Burstable';
    }
    // Limits without requests count as Guaranteed only once requests are defaulted from
    // them (the API server and the static pod source do that): upstream compares the counts.
    if (requests.size === limits.size) return 'Guaranteed';
  }
  return 'Burstable';
}

/**
 * With pod-level resources the class comes from them alone (GetPodQOS with PodLevelResources):
 * Guaranteed when cpu and memory limits are set and requests (defaulted from limits) equal them.
 */
function podLevelQOS(requests: Record<string, string | number> | undefined, limits: Record<string, string | number> | undefined): QOSClass {
  const req = (r: string) => nonZero(requests, r) ?? nonZero(limits, r);
  if (COMPUTE.every((r) => req(r) === undefined && nonZero(limits, r) === undefined)) return 'BestEffort';
  return COMPUTE.every((r) => nonZero(limits, r) !== undefined && req(r) === nonZero(limits, r)) ? 'Guaranteed' : 'Burstable';
}
