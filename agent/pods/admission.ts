import { hasLength } from '../../base/index.js';
import type { Pod } from '../../manifests/index.js';
import { podRequests } from '../resources/compute.js';
import { pressureAdmission } from '../resources/eviction.js';
import type { NodeAmounts } from '../resources/node.js';
import type { NodeConditionType } from '../resources/thresholds.js';
import { SysctlAllowlist } from '../vocab/index.js';
import { type NodeFeatures, unsupportedField } from './fields.js';

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
  /** Node allocatable: pods whose requests do not fit are refused (OutOfcpu, OutOfmemory, OutOfpods). */
  allocatable?: NodeAmounts;
  /** Pressure conditions the eviction manager reports now. */
  nodeConditions?: ReadonlySet<NodeConditionType>;
  /** This node's name and labels: nodeSelector and required node affinity are matched against them. */
  node?: { name: string; labels: Readonly<Record<string, string>> };
  /** What the host and engine support (AppArmor, SELinux, stop signals); unset: no field check. */
  features?: NodeFeatures;
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

/** The eviction manager's admit handler: no BestEffort pod under memory pressure, no pod under other pressure. */
function pressure(pod: Pod, _others: readonly Pod[], ctx: AdmissionContext): AdmitResult {
  const r = ctx.nodeConditions ? pressureAdmission(pod, ctx.nodeConditions) : undefined;
  return r ? { ok: false, ...r } : OK;
}

/**
 * The noderesources Fits predicate of generalFilter: the pod count against maxPods, then each
 * requested resource against allocatable minus what the admitted pods request. The first
 * insufficient resource is the reason (OutOf<resource>), with InsufficientResourceError's message.
 */
/**
 * Each admission sums the requests of every pod admitted before it, so admitting N pods
 * parses N^2/2 quantities; a pod object never changes once a source built it (an edit is a
 * new object), so its sum is worked out once.
 */
const requestCache = new WeakMap<Pod, ReturnType<typeof podRequests>>();
function requestsOf(pod: Pod): ReturnType<typeof podRequests> {
  let r = requestCache.get(pod);
  if (!r) requestCache.set(pod, (r = podRequests(pod)));
  return r;
}

function resources(pod: Pod, others: readonly Pod[], ctx: AdmissionContext): AdmitResult {
  const a = ctx.allocatable;
  if (!a) return OK;
  const insufficient = (name: string, requested: number, used: number, capacity: number): AdmitResult => ({
    ok: false,
    reason: `OutOf${name}`,
    message: `Node didn't have enough resource: ${name}, requested: ${requested}, used: ${used}, capacity: ${capacity}`,
  });
  if (others.length + 1 > a.pods) return insufficient('pods', 1, others.length, a.pods);
  const req = podRequests(pod);
  if (req.cpuMilli === 0 && req.memory === 0 && req.ephemeralStorage === 0) return OK;
  const used = { cpuMilli: 0, memory: 0, ephemeralStorage: 0 };
  for (const o of others) {
    const r = requestsOf(o);
    used.cpuMilli += r.cpuMilli;
    used.memory += r.memory;
    used.ephemeralStorage += r.ephemeralStorage;
  }
  if (req.cpuMilli > 0 && req.cpuMilli > a.cpuMilli - used.cpuMilli) return insufficient('cpu', req.cpuMilli, used.cpuMilli, a.cpuMilli);
  if (req.memory > 0 && req.memory > a.memory - used.memory) return insufficient('memory', req.memory, used.memory, a.memory);
  if (req.ephemeralStorage > 0 && req.ephemeralStorage > a.ephemeralStorage - used.ephemeralStorage) {
    return insufficient('ephemeral-storage', req.ephemeralStorage, used.ephemeralStorage, a.ephemeralStorage);
  }
  return OK;
}

interface Requirement { key: string; operator: string; values?: string[] }
interface Term { matchExpressions?: Requirement[]; matchFields?: Requirement[] }

/** One node selector requirement (component-helpers nodeaffinity): In, NotIn, Exists, DoesNotExist, Gt, Lt. */
function requirementMatches(r: Requirement, value: string | undefined): boolean {
  const values = r.values ?? [];
  switch (r.operator) {
    case 'In': return value !== undefined && values.includes(value);
    case 'NotIn': return value === undefined || !values.includes(value);
    case 'Exists': return value !== undefined;
    case 'DoesNotExist': return value === undefined;
    case 'Gt':
    case 'Lt': {
      // Both sides must be integers; anything else matches nothing.
      if (value === undefined || !hasLength(values, 1) || !/^-?\d+$/.test(value) || !/^-?\d+$/.test(values[0])) return false;
      return r.operator === 'Gt' ? BigInt(value) > BigInt(values[0]) : BigInt(value) < BigInt(values[0]);
    }
    default: return false;
  }
}

/** A term matches when all of its requirements do; a term with none matches nothing. */
function termMatches(t: Term, node: { name: string; labels: Readonly<Record<string, string>> }): boolean {
  const exprs = t.matchExpressions ?? [];
  const fields = t.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false;
  return exprs.every((r) => requirementMatches(r, node.labels[r.key])) &&
    fields.every((r) => r.key === 'metadata.name' && requirementMatches(r, node.name));
}

/** The pod's nodeSelector and required node affinity against this node (the scheduler's RequiredNodeAffinity). */
export function nodeAffinityMatches(pod: Pod, node: { name: string; labels: Readonly<Record<string, string>> }): boolean {
  for (const [k, v] of Object.entries(pod.spec.nodeSelector ?? {})) if (node.labels[k] !== v) return false;
  const required = (pod.spec.affinity as { nodeAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms?: Term[] } } } | undefined)
    ?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (!required) return true;
  return (required.nodeSelectorTerms ?? []).some((t) => termMatches(t, node));
}

/** The NodeAffinity predicate of generalFilter: static pods are checked too. */
function nodeAffinity(pod: Pod, _others: readonly Pod[], ctx: AdmissionContext): AdmitResult {
  if (!ctx.node || nodeAffinityMatches(pod, ctx.node)) return OK;
  return { ok: false, reason: 'NodeAffinity', message: "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector" };
}

/** Fields this node cannot honour (fields.ts): refused rather than dropped. */
function podFields(pod: Pod, _others: readonly Pod[], ctx: AdmissionContext): AdmitResult {
  const r = ctx.features ? unsupportedField(pod, ctx.features) : undefined;
  return r ? { ok: false, ...r } : OK;
}

/**
 * In kubelet's order: the eviction manager's handler, the sysctl allowlist, the handlers for
 * what the node supports (AppArmor, OS, ...), then the predicate handler (resources, node
 * affinity, host ports, as generalFilter runs them).
 */
export const CHECKS: readonly Check[] = [pressure, sysctls, podFields, resources, nodeAffinity, nodePorts];

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
