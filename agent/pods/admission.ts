import type { Pod } from '../../manifests/index.js';
import { SysctlAllowlist } from './security.js';

// Pod admission (kubelet's admit handlers, pkg/kubelet/lifecycle/predicate.go and
// pkg/kubelet/sysctl): a pod new to this node is checked against the pods already admitted
// before anything of it is created. A refused pod is Failed for good with the check's reason
// and "Pod was rejected: <message>"; pods already running are never re-checked. Pure.
//
// Checks run in kubelet's order and the first refusal wins. To add one (resources, maxPods),
// add a function to CHECKS and what it needs to AdmissionContext.

export type AdmitResult = { ok: true } | { ok: false; reason: string; message: string };

export interface AdmissionContext {
  /** allowedUnsafeSysctls from the config: names, or prefixes ending in "*". */
  allowedUnsafeSysctls?: readonly string[];
}

type Check = (pod: Pod, others: readonly Pod[], ctx: AdmissionContext) => AdmitResult;

const OK: AdmitResult = { ok: true };

/** pkg/kubelet/sysctl patternAllowlist.Admit. */
function sysctls(pod: Pod, _others: readonly Pod[], ctx: AdmissionContext): AdmitResult {
  const list = pod.spec.securityContext?.sysctls ?? [];
  if (list.length === 0) return OK;
  const allow = new SysctlAllowlist(ctx.allowedUnsafeSysctls ?? []);
  for (const s of list) {
    const why = allow.check(s.name, !!pod.spec.hostNetwork, !!pod.spec.hostIPC);
    if (why) return { ok: false, reason: 'SysctlForbidden', message: `forbidden sysctl: ${why}` };
  }
  return OK;
}

export interface HostPort {
  protocol: string;
  ip: string;
  port: number;
}

/** The host ports a pod asks for (containers and init containers; hostPort 0 asks for none). */
export function podHostPorts(pod: Pod): HostPort[] {
  const out: HostPort[] = [];
  for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
    for (const p of c.ports ?? []) {
      if (!p.hostPort) continue;
      out.push({ protocol: p.protocol ?? 'TCP', ip: p.hostIP || '0.0.0.0', port: p.hostPort });
    }
  }
  return out;
}

/** The scheduler's HostPortInfo: 0.0.0.0 conflicts with every address of the same protocol and port. */
export function portsConflict(a: HostPort, b: HostPort): boolean {
  if (a.protocol !== b.protocol || a.port !== b.port) return false;
  return a.ip === b.ip || a.ip === '0.0.0.0' || b.ip === '0.0.0.0';
}

/** The NodePorts predicate of generalFilter. */
function nodePorts(pod: Pod, others: readonly Pod[]): AdmitResult {
  const wanted = podHostPorts(pod);
  if (wanted.length === 0) return OK;
  const used = others.flatMap(podHostPorts);
  if (wanted.some((w) => used.some((u) => portsConflict(w, u)))) {
    return { ok: false, reason: 'NodePorts', message: "Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports" };
  }
  return OK;
}

/** In kubelet's order: the sysctl allowlist handler comes before the predicate handler. */
export const CHECKS: readonly Check[] = [sysctls, nodePorts];

/**
 * Decides whether `pod` may run here, given the other pods this agent has admitted and
 * that have not finished (pods that ended hold no ports).
 */
export function admitPod(pod: Pod, otherPods: readonly Pod[], ctx: AdmissionContext = {}): AdmitResult {
  for (const check of CHECKS) {
    const r = check(pod, otherPods, ctx);
    if (!r.ok) return r;
  }
  return OK;
}
