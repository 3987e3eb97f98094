// The patch flavours an API server accepts, as far as the test server needs them.

type J = unknown;

function isObj(v: J): v is Record<string, J> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** RFC 7386 JSON merge patch: objects merge, null deletes, everything else replaces. */
export function mergePatch(target: J, patch: J): J {
  if (!isObj(patch)) return structuredClone(patch);
  const out: Record<string, J> = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

// Lists merged by key in strategic merge patch (patchMergeKey in the Go types).
const MERGE_KEYS: Record<string, string> = {
  conditions: 'type',
  containerStatuses: 'name',
  initContainerStatuses: 'name',
  ephemeralContainerStatuses: 'name',
  containers: 'name',
  initContainers: 'name',
  addresses: 'type',
  taints: 'key',
  volumes: 'name',
  env: 'name',
  ports: 'containerPort',
  ownerReferences: 'uid',
  podIPs: 'ip',
  hostIPs: 'ip',
  images: '',
};

/**
 * Strategic merge patch, approximately: as a merge patch, except lists with a merge key are
 * merged item by item (items with `$patch: delete` removed), and `$setElementOrder/...`
 * and `$retainKeys` directives are dropped.
 */
export function strategicMergePatch(target: J, patch: J, field = ''): J {
  if (Array.isArray(patch)) {
    const key = MERGE_KEYS[field];
    if (!key || !Array.isArray(target)) return patch.filter((p) => !(isObj(p) && p.$patch === 'delete')).map((p) => strategicMergePatch(undefined, p));
    const out = target.map((t) => structuredClone(t));
    for (const p of patch) {
      if (!isObj(p)) continue;
      const i = out.findIndex((t) => isObj(t) && t[key] === p[key]);
      if (p.$patch === 'delete') {
        if (i >= 0) out.splice(i, 1);
      } else if (i >= 0) out[i] = strategicMergePatch(out[i], p);
      else out.push(strategicMergePatch(undefined, p));
    }
    return out;
  }
  if (!isObj(patch)) return structuredClone(patch);
  const out: Record<string, J> = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$')) continue;
    if (v === null) delete out[k];
    else out[k] = strategicMergePatch(out[k], v, k);
  }
  return out;
}

/** RFC 6902 JSON patch: add, replace, remove, test. */
export function jsonPatch(target: J, ops: J): J {
  if (!Array.isArray(ops)) throw new Error('a JSON patch is a list of operations');
  const doc = structuredClone(target) as Record<string, J>;
  for (const op of ops as { op: string; path: string; value?: J }[]) {
    const parts = op.path.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = parts.pop()!;
    let cur: J = doc;
    for (const p of parts) cur = (cur as Record<string, J>)[p];
    if (!isObj(cur) && !Array.isArray(cur)) throw new Error(`path ${op.path} does not exist`);
    const c = cur as Record<string, J> & J[];
    if (op.op === 'remove') {
      if (Array.isArray(c)) c.splice(Number(last), 1);
      else delete c[last];
    } else if (op.op === 'add' || op.op === 'replace') {
      if (Array.isArray(c) && op.op === 'add') c.splice(last === '-' ? c.length : Number(last), 0, op.value);
      else c[last] = op.value;
    } else if (op.op === 'test') {
      if (JSON.stringify(c[last]) !== JSON.stringify(op.value)) throw new Error(`test failed at ${op.path}`);
    } else throw new Error(`unsupported op ${op.op}`);
  }
  return doc;
}
