// Patches as the API server applies them (pure): JSON merge patch (RFC 7386) and strategic
// merge patch, whose list semantics come from the Go types' patchStrategy/patchMergeKey
// tags. The same table feeds the OpenAPI document (openapi.ts), so that what kubectl
// computes a patch from and what the server applies it with never disagree.

type Obj = Record<string, unknown>;

/** How a field merges: a list merged by a key, a primitive list merged as a set, or (absent) replaced. */
export interface FieldPatch {
  strategy?: 'merge' | 'merge,retainKeys';
  /** The merge key of a list of objects; absent for a set of primitives. */
  key?: string;
  /** The element (list) or value (object) type's own fields. */
  sub?: PatchMeta;
}
export type PatchMeta = Record<string, FieldPatch>;

// From k8s.io/api/core/v1 types.go struct tags (facts, not code).
const CONTAINER: PatchMeta = {
  ports: { strategy: 'merge', key: 'containerPort' },
  env: { strategy: 'merge', key: 'name' },
  volumeMounts: { strategy: 'merge', key: 'mountPath' },
  volumeDevices: { strategy: 'merge', key: 'devicePath' },
};
const POD_SPEC: PatchMeta = {
  volumes: { strategy: 'merge,retainKeys', key: 'name' },
  initContainers: { strategy: 'merge', key: 'name', sub: CONTAINER },
  containers: { strategy: 'merge', key: 'name', sub: CONTAINER },
  ephemeralContainers: { strategy: 'merge', key: 'name', sub: CONTAINER },
  imagePullSecrets: { strategy: 'merge', key: 'name' },
  hostAliases: { strategy: 'merge', key: 'ip' },
  schedulingGates: { strategy: 'merge', key: 'name' },
  resourceClaims: { strategy: 'merge,retainKeys', key: 'name' },
};
export const OBJECT_META: PatchMeta = {
  finalizers: { strategy: 'merge' },
  ownerReferences: { strategy: 'merge', key: 'uid' },
};
const SERVICE_SPEC: PatchMeta = {
  ports: { strategy: 'merge', key: 'port' },
};

export const PATCH_META: Record<string, PatchMeta> = {
  Pod: { metadata: { sub: OBJECT_META }, spec: { sub: POD_SPEC } },
  ConfigMap: { metadata: { sub: OBJECT_META } },
  Secret: { metadata: { sub: OBJECT_META } },
  Service: { metadata: { sub: OBJECT_META }, spec: { sub: SERVICE_SPEC } },
};

export class PatchError extends Error {}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const clone = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));

/** RFC 7386: objects merge, null deletes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObj(patch)) return clone(patch);
  const out: Obj = isObj(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** Drops the $-directives from a value that is inserted rather than merged. */
function strip(v: unknown): unknown {
  if (Array.isArray(v)) return v.filter((e) => !(isObj(e) && '$patch' in e && Object.keys(e).length === 1)).map(strip);
  if (!isObj(v)) return clone(v);
  const out: Obj = {};
  for (const [k, x] of Object.entries(v)) if (!k.startsWith('$') && x !== null) out[k] = strip(x);
  return out;
}

/** A strategic merge patch applied to an object of the given kind. */
export function strategicMergePatch(original: Obj, patch: unknown, kind: string): Obj {
  if (!isObj(patch)) throw new PatchError('a strategic merge patch must be a JSON object');
  return mergeMap(original, patch, PATCH_META[kind]) ?? {};
}

function mergeMap(original: Obj, patch: Obj, meta: PatchMeta | undefined): Obj | undefined {
  const directive = patch.$patch;
  if (directive === 'delete') return undefined;
  if (directive === 'replace') return strip(patch) as Obj;
  if (directive !== undefined && directive !== 'merge') throw new PatchError(`unknown patch directive: ${JSON.stringify(directive)}`);
  const out = clone(original);
  const retain = patch.$retainKeys;
  if (retain !== undefined) {
    if (!Array.isArray(retain)) throw new PatchError('$retainKeys must be a list');
    for (const k of Object.keys(out)) if (!retain.includes(k) && !(k in patch)) delete out[k];
  }
  const orders: [string, unknown[]][] = [];
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys') continue;
    if (k.startsWith('$setElementOrder/')) {
      if (!Array.isArray(v)) throw new PatchError(`${k} must be a list`);
      orders.push([k.slice('$setElementOrder/'.length), v]);
      continue;
    }
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      if (!Array.isArray(v)) throw new PatchError(`${k} must be a list`);
      if (Array.isArray(out[field])) out[field] = (out[field] as unknown[]).filter((x) => !v.includes(x));
      continue;
    }
    if (k.startsWith('$')) throw new PatchError(`unknown patch directive: ${k}`);
    const fm = meta?.[k];
    if (v === null) delete out[k];
    else if (isObj(v)) {
      const merged = mergeMap(isObj(out[k]) ? (out[k] as Obj) : {}, v, fm?.sub);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    } else if (Array.isArray(v)) {
      out[k] = fm?.strategy ? mergeList(Array.isArray(out[k]) ? (out[k] as unknown[]) : [], v, fm) : strip(v);
    } else out[k] = v;
  }
  for (const [field, order] of orders) if (Array.isArray(out[field])) out[field] = reorder(out[field] as unknown[], order, meta?.[field]?.key);
  return out;
}

function mergeList(original: unknown[], patch: unknown[], fm: FieldPatch): unknown[] {
  if (patch.some((e) => isObj(e) && e.$patch === 'replace')) return strip(patch) as unknown[];
  const key = fm.key;
  if (!key) {
    const out = clone(original);
    for (const e of patch) if (!out.some((x) => JSON.stringify(x) === JSON.stringify(e))) out.push(clone(e));
    return out;
  }
  const out = clone(original);
  for (const e of patch) {
    if (!isObj(e)) throw new PatchError(`a list merged by ${key} must hold objects`);
    if (!(key in e)) throw new PatchError(`map: ${JSON.stringify(strip(e))} does not contain declared merge key: ${key}`);
    const i = out.findIndex((x) => isObj(x) && x[key] === e[key]);
    if (e.$patch === 'delete') {
      if (i >= 0) out.splice(i, 1);
      continue;
    }
    if (i >= 0) out[i] = mergeMap(out[i] as Obj, e, fm.sub) ?? out[i];
    else out.push(strip(mergeMap({}, e, fm.sub)));
  }
  return out;
}

/** $setElementOrder: the listed elements first, in that order, then the rest as they were. */
function reorder(list: unknown[], order: unknown[], key: string | undefined): unknown[] {
  const id = (x: unknown) => JSON.stringify(key && isObj(x) ? x[key] : x);
  const rank = new Map(order.map((o, i) => [id(o), i]));
  const ranked = list.filter((x) => rank.has(id(x))).sort((a, b) => rank.get(id(a))! - rank.get(id(b))!);
  return [...ranked, ...list.filter((x) => !rank.has(id(x)))];
}
