import { matchGroups } from '../../base/index.js';
import type { Container, EnvVar, KeySelector, Pod, ResourceFieldSelector } from '../../manifests/index.js';
import { milliValue, parseQuantity } from '../../manifests/index.js';
import type { ObjectLookup } from '../objects/store.js';

// A container's environment as kubelet builds it (kubelet_pods.go makeEnvironmentVariables):
// Service variables first, then envFrom in order, then env in order; each later source
// wins, and $(VAR) in a value refers to what is defined before it. Resolved once, at start.

export interface EnvContext {
  objects: ObjectLookup;
  podIP: string;
  hostIP: string;
  /** Node allocatable, the value of limits.* when a container sets no limit. */
  node: { cpuMilli: number; memoryBytes: number; ephemeralBytes: number };
  /** Service environment variables for the pod's namespace (enableServiceLinks). */
  serviceEnv: Record<string, string>;
}

/** Why a container cannot be configured: CreateContainerConfigError with this message. */
export class ContainerConfigError extends Error {}

/**
 * The kernel refuses one argv or environment string over MAX_ARG_STRLEN (32 pages, 128 KiB)
 * and the whole of them over ARG_MAX (a quarter of the 8 MiB default stack): a container
 * asking for more could never start. Checked while expanding, so `$(A)$(A)` doubling up
 * through twenty variables stops at the limit instead of building 268 MB first.
 */
export const MAX_EXPANDED_BYTES = 128 * 1024;
export const MAX_ENVIRONMENT_BYTES = 2 * 1024 * 1024;

/** Thrown by expand(): the caller names the field; the value itself is never quoted (it may hold a secret). */
export class ExpansionTooLong extends ContainerConfigError {
  constructor(limit: number) {
    super(`expands to more than ${limit} bytes, the kernel's limit for one argument or variable`);
  }
}

export function resolveEnv(pod: Pod, c: Container, ctx: EnvContext): { key: string; value: string }[] {
  const env = new Map<string, string>();
  if (pod.spec.enableServiceLinks !== false) for (const [k, v] of Object.entries(ctx.serviceEnv)) env.set(k, v);
  for (const from of c.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    const kind = from.configMapRef ? 'configmap' : 'secret';
    const name = ref?.name ?? '';
    const data = from.configMapRef ? ctx.objects.configMap(pod.metadata.namespace, name) : ctx.objects.secret(pod.metadata.namespace, name);
    if (!data) {
      if (ref?.optional) continue;
      throw new ContainerConfigError(`${kind} "${name}" not found`);
    }
    for (const [k, v] of Object.entries(data)) {
      // Keys that are not valid variable names are skipped, as upstream does (with an event).
      const key = (from.prefix ?? '') + k;
      if (/^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(key)) env.set(key, v.toString('utf8'));
    }
  }
  (c.env ?? []).forEach((e, i) => {
    let v: string | undefined;
    try {
      v = e.valueFrom ? valueFrom(pod, c, e, ctx) : expand(e.value ?? '', env);
    } catch (err) {
      if (err instanceof ExpansionTooLong) throw new ContainerConfigError(`env[${i}] (${e.name}): ${err.message}`);
      throw err;
    }
    if (v !== undefined) env.set(e.name, v);
  });
  let total = 0;
  for (const [k, v] of env) total += Buffer.byteLength(k) + Buffer.byteLength(v) + 2;
  if (total > MAX_ENVIRONMENT_BYTES) throw new ContainerConfigError(`the environment of container "${c.name}" is ${total} bytes, more than the kernel accepts (${MAX_ENVIRONMENT_BYTES})`);
  return [...env].map(([key, value]) => ({ key, value }));
}

/** $(VAR) expansion (third_party/forked/golang/expansion): $$ escapes, unknown stays as is. */
export function expand(input: string, env: ReadonlyMap<string, string>, limit = MAX_EXPANDED_BYTES): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    // UTF-16 units: a lower bound of the bytes, and cheap to check on every step.
    if (out.length > limit) throw new ExpansionTooLong(limit);
    const ch = input[i];
    if (ch !== '$' || i + 1 >= input.length) {
      out += ch;
      continue;
    }
    const next = input[i + 1];
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const close = input.indexOf(')', i + 2);
      if (close < 0) {
        out += input.slice(i);
        break;
      }
      const name = input.slice(i + 2, close);
      const value = env.get(name);
      if (value !== undefined && out.length + value.length > limit) throw new ExpansionTooLong(limit);
      out += value ?? `$(${name})`;
      i = close;
    } else {
      out += ch;
    }
  }
  if (Buffer.byteLength(out) > limit) throw new ExpansionTooLong(limit);
  return out;
}

/** command or args, expanded; `field` names them in an error. */
export function expandAll(args: string[] | undefined, env: { key: string; value: string }[], field = 'args'): string[] | undefined {
  if (!args) return undefined;
  const m = new Map(env.map((e) => [e.key, e.value]));
  let total = 0;
  return args.map((a, i) => {
    let v: string;
    try {
      v = expand(a, m);
    } catch (err) {
      if (err instanceof ExpansionTooLong) throw new ContainerConfigError(`${field}[${i}]: ${err.message}`);
      throw err;
    }
    total += Buffer.byteLength(v) + 1;
    if (total > MAX_ENVIRONMENT_BYTES) throw new ContainerConfigError(`${field}: more than ${MAX_ENVIRONMENT_BYTES} bytes after expansion, more than the kernel accepts`);
    return v;
  });
}

function valueFrom(pod: Pod, c: Container, e: EnvVar, ctx: EnvContext): string | undefined {
  const f = e.valueFrom!;
  if (f.fieldRef) return fieldValue(pod, f.fieldRef.fieldPath, ctx);
  if (f.resourceFieldRef) return resourceValue(pod, c, f.resourceFieldRef, ctx);
  if (f.configMapKeyRef) return keyValue(pod, 'ConfigMap', f.configMapKeyRef, ctx);
  if (f.secretKeyRef) return keyValue(pod, 'Secret', f.secretKeyRef, ctx);
  return undefined;
}

function keyValue(pod: Pod, kind: 'ConfigMap' | 'Secret', ref: KeySelector, ctx: EnvContext): string | undefined {
  const ns = pod.metadata.namespace;
  const data = kind === 'ConfigMap' ? ctx.objects.configMap(ns, ref.name ?? '') : ctx.objects.secret(ns, ref.name ?? '');
  if (!data) {
    if (ref.optional) return undefined;
    throw new ContainerConfigError(`${kind.toLowerCase()} "${ref.name ?? ''}" not found`);
  }
  const v = data[ref.key];
  if (v === undefined) {
    if (ref.optional) return undefined;
    throw new ContainerConfigError(`couldn't find key ${ref.key} in ${kind} ${ns}/${ref.name ?? ''}`);
  }
  return v.toString('utf8');
}

/** The downward API's field paths (pkg/apis/core/validation validEnvDownwardAPIFieldPathExpressions). */
export function fieldValue(pod: Pod, path: string, ctx: Pick<EnvContext, 'podIP' | 'hostIP'>): string {
  const m = matchGroups(/^metadata\.(labels|annotations)\['(.+)'\]$/, path, 2);
  if (m) return (m[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations)?.[m[2]] ?? '';
  switch (path) {
    case 'metadata.name': return pod.metadata.name;
    case 'metadata.namespace': return pod.metadata.namespace;
    case 'metadata.uid': return pod.metadata.uid;
    case 'metadata.labels': return formatMap(pod.metadata.labels);
    case 'metadata.annotations': return formatMap(pod.metadata.annotations);
    case 'spec.nodeName': return pod.spec.nodeName ?? '';
    case 'spec.serviceAccountName': return pod.spec.serviceAccountName ?? '';
    case 'status.podIP': case 'status.podIPs': return ctx.podIP;
    case 'status.hostIP': case 'status.hostIPs': return ctx.hostIP;
    default: throw new ContainerConfigError(`unsupported fieldPath "${path}"`);
  }
}

/** The labels/annotations file format of the downward API: sorted `key="value"` lines. */
export function formatMap(m: Record<string, string> | undefined): string {
  return Object.keys(m ?? {}).sort().map((k) => `${k}=${JSON.stringify(m![k])}`).join('\n');
}

/** resourceFieldRef: values in units of the divisor, rounded up (kubelet's ExtractContainerResourceValue). */
export function resourceValue(pod: Pod, c: Container, ref: ResourceFieldSelector, ctx: Pick<EnvContext, 'node'>): string {
  const target = ref.containerName ? [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find((x) => x.name === ref.containerName) : c;
  if (!target) throw new ContainerConfigError(`resourceFieldRef: container "${ref.containerName}" not found`);
  const [kind, res] = ref.resource.split('.') as ['limits' | 'requests', string];
  const raw = target.resources?.[kind]?.[res];
  // The API server serializes an unset divisor as "0"; a zero divisor means 1, as upstream's
  // ExtractContainerResourceValue has it.
  const divisor = ref.divisor === undefined || parseQuantity(ref.divisor) === 0 ? '1' : ref.divisor;
  if (res === 'cpu') {
    const milli = raw !== undefined ? milliValue(raw) : kind === 'limits' ? ctx.node.cpuMilli : 0;
    return String(Math.ceil(milli / milliValue(divisor)));
  }
  if (!['memory', 'ephemeral-storage'].includes(res) && !res.startsWith('hugepages-')) throw new ContainerConfigError(`unsupported resource "${ref.resource}"`);
  const fallback = res === 'memory' ? ctx.node.memoryBytes : res === 'ephemeral-storage' ? ctx.node.ephemeralBytes : 0;
  const value = raw !== undefined ? parseQuantity(raw) : kind === 'limits' ? fallback : 0;
  return String(Math.ceil(value / parseQuantity(divisor)));
}
