import type { Pod } from '../../manifests/index.js';

// kubelet's activeDeadlineHandler (pkg/kubelet/active_deadline.go): a pod that has been
// active on the node for activeDeadlineSeconds since its startTime is killed and ends Failed.

export const DEADLINE_EXCEEDED = { reason: 'DeadlineExceeded', message: 'Pod was active on the node longer than the specified deadline' } as const;

/** Past the deadline: kubelet's reason and message; undefined while within it, or without a deadline or a start time. */
export function pastActiveDeadline(pod: Pod, startTime: string | undefined, now: number): { reason: string; message: string } | undefined {
  const seconds = pod.spec.activeDeadlineSeconds;
  if (seconds === undefined || !startTime) return undefined;
  const start = Date.parse(startTime);
  if (!Number.isFinite(start)) return undefined;
  return now - start >= seconds * 1000 ? { ...DEADLINE_EXCEEDED } : undefined;
}
