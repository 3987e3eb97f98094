import { createHash } from 'node:crypto';
import { SCHEMAS, type SchemaNode } from '../../manifests/index.js';
import { PATCH_META, type PatchMeta } from './patch.js';
import { WRITABLE } from './writes.js';

// The OpenAPI v3 documents kubectl reads (pure): /openapi/v3 (the index) and
// /openapi/v3/api/v1. kubectl looks there for two things: whether a PATCH of a kind takes
// the fieldValidation parameter (then the server validates, as bosun does, strictly), and
// each field's patch strategy and merge key, from which `kubectl apply` and `kubectl edit`
// compute strategic merge patches. The schemas are generated from manifests/schema.ts (the
// fields bosun accepts) and patch.ts (upstream's patchStrategy/patchMergeKey tags), so
// the document, the validation and the patching cannot drift apart.

type Schema = Record<string, unknown>;

const PRESERVE: Schema = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };

const str = (extra: Schema = {}): Schema => ({ type: 'string', ...extra });
const arr = (items: Schema, extra: Schema = {}): Schema => ({ type: 'array', items, ...extra });
const map = (v: Schema): Schema => ({ type: 'object', additionalProperties: v });
const intOrString: Schema = { 'x-kubernetes-int-or-string': true };
const int: Schema = { type: 'integer', format: 'int32' };
const bool: Schema = { type: 'boolean' };

/** core/v1 ServiceSpec's fields (bosun validates Services in validate-service.ts, not from a schema). */
const SERVICE_SPEC: Schema = {
  type: 'object',
  properties: {
    ports: arr({ type: 'object', required: ['port'], properties: { name: str(), protocol: str(), appProtocol: str(), port: int, targetPort: intOrString, nodePort: int } }),
    selector: map(str()),
    clusterIP: str(),
    clusterIPs: arr(str()),
    type: str(),
    externalIPs: arr(str()),
    sessionAffinity: str(),
    loadBalancerIP: str(),
    loadBalancerSourceRanges: arr(str()),
    externalName: str(),
    externalTrafficPolicy: str(),
    healthCheckNodePort: int,
    publishNotReadyAddresses: bool,
    sessionAffinityConfig: { type: 'object', properties: { clientIP: { type: 'object', properties: { timeoutSeconds: int } } } },
    ipFamilies: arr(str()),
    ipFamilyPolicy: str(),
    allocateLoadBalancerNodePorts: bool,
    loadBalancerClass: str(),
    internalTrafficPolicy: str(),
    trafficDistribution: str(),
  },
};

/** One schema node of manifests/schema.ts as OpenAPI, with the patch facts of its fields. */
export function toOpenAPI(n: SchemaNode, meta: PatchMeta | undefined): Schema {
  switch (n.t) {
    case 'string':
      return n.enum ? str({ enum: n.enum.filter((e) => e !== '') }) : str();
    case 'int':
      return { type: 'integer', format: 'int64' };
    case 'bool':
      return bool;
    case 'intOrString':
    case 'quantity':
      return intOrString;
    case 'any':
      return PRESERVE;
    case 'map':
      return map(toOpenAPI(n.of!, undefined));
    case 'array':
      return arr(toOpenAPI(n.of!, meta));
    case 'object': {
      const properties: Record<string, Schema> = {};
      const required: string[] = [];
      for (const [k, f] of Object.entries(n.fields ?? {})) {
        const fm = meta?.[k];
        const s = toOpenAPI(f, fm?.sub);
        if (fm?.strategy) s['x-kubernetes-patch-strategy'] = fm.strategy;
        if (fm?.key) s['x-kubernetes-patch-merge-key'] = fm.key;
        properties[k] = s;
        if (f.required) required.push(k);
      }
      return { type: 'object', properties, ...(required.length ? { required } : {}) };
    }
  }
}

const schemaName = (kind: string) => `io.k8s.api.core.v1.${kind}`;
const gvk = (kind: string) => ({ group: '', version: 'v1', kind });

function kindSchema(kind: string): Schema {
  const s = toOpenAPI(SCHEMAS[kind]!, PATCH_META[kind]);
  if (kind === 'Service') {
    const spec = structuredClone(SERVICE_SPEC) as { properties: Record<string, Schema> };
    Object.assign(spec.properties.ports!, { 'x-kubernetes-patch-strategy': 'merge', 'x-kubernetes-patch-merge-key': 'port' });
    (s.properties as Record<string, Schema>).spec = spec;
  }
  return { ...s, 'x-kubernetes-group-version-kind': [gvk(kind)] };
}

const query = (name: string): Schema => ({ name, in: 'query', schema: { type: 'string' }, uniqueItems: true });
const WRITE_PARAMS = [query('dryRun'), query('fieldManager'), query('fieldValidation')];
const ref = (kind: string) => ({ $ref: `#/components/schemas/${schemaName(kind)}` });
const body = (kind: string, types: string[]) => ({ content: Object.fromEntries(types.map((t) => [t, { schema: ref(kind) }])), required: true });
const ok = (kind: string) => ({ 200: { description: 'OK', content: { 'application/json': { schema: ref(kind) } } } });

function op(kind: string, action: string, extra: Schema = {}): Schema {
  return { operationId: `${action}CoreV1Namespaced${kind}`, 'x-kubernetes-action': action, 'x-kubernetes-group-version-kind': gvk(kind), responses: ok(kind), ...extra };
}

/** /openapi/v3/api/v1: the core kinds kubectl may read and write here. */
export function coreV1Document(): object {
  const schemas: Record<string, Schema> = {};
  const paths: Record<string, Schema> = {};
  const nsParam = { name: 'namespace', in: 'path', required: true, schema: { type: 'string' } };
  const nameParam = { name: 'name', in: 'path', required: true, schema: { type: 'string' } };
  for (const [resource, kind] of Object.entries(WRITABLE)) {
    schemas[schemaName(kind)] = kindSchema(kind);
    paths[`/api/v1/namespaces/{namespace}/${resource}`] = {
      parameters: [nsParam],
      get: op(kind, 'list', { parameters: [query('labelSelector'), query('fieldSelector'), query('watch'), query('resourceVersion')] }),
      post: op(kind, 'post', { parameters: WRITE_PARAMS, requestBody: body(kind, ['application/json', 'application/yaml']) }),
    };
    paths[`/api/v1/namespaces/{namespace}/${resource}/{name}`] = {
      parameters: [nsParam, nameParam],
      get: op(kind, 'get'),
      put: op(kind, 'put', { parameters: WRITE_PARAMS, requestBody: body(kind, ['application/json', 'application/yaml']) }),
      patch: op(kind, 'patch', {
        parameters: [...WRITE_PARAMS, query('force')],
        requestBody: body(kind, ['application/apply-patch+yaml', 'application/merge-patch+json', 'application/strategic-merge-patch+json']),
      }),
      delete: op(kind, 'delete', { parameters: [query('dryRun'), query('gracePeriodSeconds'), query('propagationPolicy')] }),
    };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes (bosun standalone node)', version: 'v1' }, paths, components: { schemas } };
}

let cached: { doc: string; hash: string } | undefined;

/** The core/v1 document as served, with the hash its index entry names. */
export function coreV1(): { doc: string; hash: string } {
  if (!cached) {
    const doc = JSON.stringify(coreV1Document());
    cached = { doc, hash: createHash('sha512').update(doc).digest('hex').slice(0, 128).toUpperCase() };
  }
  return cached;
}

/** /openapi/v3: where each group-version's document is. */
export function openAPIIndex(): object {
  return { paths: { 'api/v1': { serverRelativeURL: `/openapi/v3/api/v1?hash=${coreV1().hash}` } } };
}
