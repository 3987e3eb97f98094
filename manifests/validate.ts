// Validation of whole objects: the schema walk (schema.ts) plus the rules that span
// fields, with upstream's messages (pkg/apis/core/validation). Input is the manifest as
// written, before defaulting: absent, '' and 0 where upstream defaults them are accepted.

import type { FieldError } from './errors.js';
import { formatFieldErrorBody, ManifestError } from './errors.js';
import type { KubeObject } from './types.js';
import * as names from './names.js';
import { compareQuantities, isValidQuantity } from './quantity.js';
import { LIFECYCLE_HANDLERS, PROBE_HANDLERS, VOLUME_SOURCES, invalid, isObject, localDescendingPath, schemas, supported, walk } from './schema.js';
import type { ParsedObject } from './parse.js';
import { endpointSliceRules, endpointsRules, serviceRules } from './validate-service.js';

type Obj = Record<string, unknown>;
const objAt = (o: unknown, k: string): Obj | undefined => (isObject(o) && isObject(o[k]) ? o[k] : undefined);
const listAt = (o: unknown, k: string): Obj[] => (isObject(o) && Array.isArray(o[k]) ? o[k].filter(isObject) : []);
const strAt = (o: unknown, k: string): string => (isObject(o) && typeof o[k] === 'string' ? o[k] : '');
const has = (o: Obj | undefined, k: string) => o !== undefined && o[k] !== undefined && o[k] !== null;

interface KindRule {
  apiVersion: string;
  /** Name format: most kinds use DNS-1123 subdomains, Services DNS-1035 labels. */
  name: (v: string) => string[];
  namespaced: boolean;
  /** Cross-field rules beyond the schema. */
  rules?: (obj: Obj, errs: FieldError[]) => void;
}

/** The kinds bosun reads. Add a kind here (and its schema in schema.ts) to support it. */
export const KINDS: Record<string, KindRule> = {
  Pod: { apiVersion: 'v1', name: names.isDNS1123Subdomain, namespaced: true, rules: podRules },
  ConfigMap: { apiVersion: 'v1', name: names.isDNS1123Subdomain, namespaced: true },
  Secret: { apiVersion: 'v1', name: names.isDNS1123Subdomain, namespaced: true },
  Service: { apiVersion: 'v1', name: names.isDNS1035Label, namespaced: true, rules: serviceRules },
  Endpoints: { apiVersion: 'v1', name: names.isDNS1123Subdomain, namespaced: true, rules: endpointsRules },
  EndpointSlice: { apiVersion: 'discovery.k8s.io/v1', name: names.isDNS1123Subdomain, namespaced: true, rules: endpointSliceRules },
};

/** Validates any supported kind; an unsupported kind is one error. */
export function validateObject(obj: KubeObject): FieldError[] {
  const kind = typeof obj.kind === 'string' ? obj.kind : '';
  if (!kind) return [{ field: 'kind', type: 'Required value' }];
  if (!(kind in KINDS)) {
    return [{ field: '', type: 'Unsupported value', value: kind, detail: `kind ${JSON.stringify(kind)} is not supported (supported: ${Object.keys(KINDS).join(', ')})` }];
  }
  return validateAs(kind, obj);
}

/** Validates obj as a core/v1 Pod, strictly: unknown fields are errors. */
export function validatePod(obj: KubeObject): FieldError[] {
  return validateAs('Pod', obj);
}

function validateAs(kind: string, obj: Obj): FieldError[] {
  const rule = KINDS[kind]!;
  const errs: FieldError[] = [];
  if (!obj.apiVersion) errs.push({ field: 'apiVersion', type: 'Required value' });
  else if (obj.apiVersion !== rule.apiVersion) {
    errs.push({ field: 'apiVersion', type: 'Unsupported value', value: obj.apiVersion, detail: supported([rule.apiVersion]) });
  }
  walk(obj, schemas[kind]!, '', errs);
  const meta = objAt(obj, 'metadata');
  const name = strAt(meta, 'name');
  if (!name) errs.push({ field: 'metadata.name', type: 'Required value' });
  else errs.push(...invalid('metadata.name', name, rule.name(name)));
  rule.rules?.(obj, errs);
  return errs;
}

/** Validates a parsed document and names its source in each error. */
export function validateParsed(p: ParsedObject): ManifestError[] {
  const kind = typeof p.object.kind === 'string' ? p.object.kind : undefined;
  const name = p.object.metadata?.name;
  return validateObject(p.object).map((fe) => new ManifestError({
    source: p.source,
    documentIndex: p.index,
    kind,
    name: typeof name === 'string' ? name : undefined,
    field: fe.field || undefined,
    detail: formatFieldErrorBody(fe),
    fieldError: fe,
  }));
}

// --- Pod ------------------------------------------------------------------------------------

type ContainerKind = 'init' | 'app' | 'ephemeral';

function podRules(pod: Obj, errs: FieldError[]): void {
  const spec = objAt(pod, 'spec');
  if (!spec) {
    errs.push({ field: 'spec.containers', type: 'Required value' });
    return;
  }
  const volumes = validateVolumes(listAt(spec, 'volumes'), errs);
  const grace = Number.isInteger(spec.terminationGracePeriodSeconds) ? (spec.terminationGracePeriodSeconds as number) : 30;
  const allNames = new Set<string>();
  // Upstream checks app containers first, so a clash is reported on the init container.
  const groups: [string, ContainerKind][] = [['containers', 'app'], ['initContainers', 'init'], ['ephemeralContainers', 'ephemeral']];
  for (const [key, kind] of groups) {
    listAt(spec, key).forEach((c, i) => validateContainer(c, `spec.${key}[${i}]`, kind, { volumes, allNames, grace, spec }, errs));
  }
  if (spec.dnsPolicy === 'None') {
    const dns = objAt(spec, 'dnsConfig');
    if (!dns) errs.push({ field: 'spec.dnsConfig', type: 'Required value', detail: 'must provide `dnsConfig` when `dnsPolicy` is None' });
    else if (!(Array.isArray(dns.nameservers) && dns.nameservers.length)) {
      errs.push({ field: 'spec.dnsConfig.nameservers', type: 'Required value', detail: 'must provide at least one DNS nameserver when `dnsPolicy` is None' });
    }
  }
  listAt(spec, 'tolerations').forEach((t, i) => validateToleration(t, `spec.tolerations[${i}]`, errs));
  const podResources = objAt(spec, 'resources');
  if (podResources) requestsWithinLimits(podResources, 'spec.resources', errs);
  validateHostPorts(spec, errs);
  validateDNSConfig(spec, errs);
  validateHostAliases(listAt(spec, 'hostAliases'), errs);
  validateGates(spec, errs);
  validateAffinity(objAt(spec, 'affinity'), 'spec.affinity', errs);
  validateTopologySpread(listAt(spec, 'topologySpreadConstraints'), errs);
  validatePodSecurity(spec, errs);
  validateSecurityAnnotations(pod, spec, errs);
  validateObjectNames(spec, errs);
  // ValidatePodCreate: ephemeral containers only ever come through their subresource.
  if (listAt(spec, 'ephemeralContainers').length) errs.push({ field: 'spec.ephemeralContainers', type: 'Forbidden', detail: 'cannot be set on create' });
}

/** At most one of keys may be set; returns how many are. */
function countOneOf(o: Obj, keys: readonly string[], path: string, errs: FieldError[], tooMany: string): number {
  let n = 0;
  for (const k of keys) {
    if (!has(o, k)) continue;
    if (++n > 1) errs.push({ field: `${path}.${k}`, type: 'Forbidden', detail: tooMany });
  }
  return n;
}

function validateVolumes(volumes: Obj[], errs: FieldError[]): Set<string> {
  const seen = new Set<string>();
  volumes.forEach((v, i) => {
    const path = `spec.volumes[${i}]`;
    const name = strAt(v, 'name');
    if (name && seen.has(name)) errs.push({ field: `${path}.name`, type: 'Duplicate value', value: name });
    seen.add(name);
    // None at all is allowed: upstream defaults such a volume to emptyDir.
    countOneOf(v, VOLUME_SOURCES, path, errs, 'may not specify more than 1 volume type');
    const sources = listAt(objAt(v, 'projected'), 'sources');
    sources.forEach((s, j) => {
      const p = `${path}.projected.sources[${j}]`;
      const n = countOneOf(s, ['secret', 'configMap', 'downwardAPI', 'serviceAccountToken', 'clusterTrustBundle', 'podCertificate'], p, errs, 'may not specify more than 1 volume type per source');
      if (n === 0) errs.push({ field: p, type: 'Required value', detail: 'must specify one volume type per source' });
    });
    const downwardItems = [
      ...listAt(objAt(v, 'downwardAPI'), 'items').map((it, j) => [it, `${path}.downwardAPI.items[${j}]`] as const),
      ...sources.flatMap((s, j) => listAt(objAt(s, 'downwardAPI'), 'items').map((it, k) => [it, `${path}.projected.sources[${j}].downwardAPI.items[${k}]`] as const)),
    ];
    for (const [item, p] of downwardItems) validateDownwardAPIFile(item, p, errs);
  });
  return seen;
}

const ENV_FIELD_PATHS = ['metadata.name', 'metadata.namespace', 'metadata.uid', 'spec.nodeName', 'spec.serviceAccountName', 'status.hostIP', 'status.hostIPs', 'status.podIP', 'status.podIPs'];
const VOLUME_FIELD_PATHS = ['metadata.annotations', 'metadata.labels', 'metadata.name', 'metadata.namespace', 'metadata.uid'];
const RESOURCE_FIELD_PATHS = ['limits.cpu', 'limits.ephemeral-storage', 'limits.memory', 'requests.cpu', 'requests.ephemeral-storage', 'requests.memory'];

function validateFieldRef(ref: Obj, allowed: string[], path: string, errs: FieldError[]): void {
  const fp = strAt(ref, 'fieldPath');
  if (!fp) return; // the schema reports it missing
  const sub = /^(metadata\.(?:labels|annotations))\['(.*)'\]$/.exec(fp);
  if (sub) {
    const key = sub[1] === 'metadata.labels' ? sub[2]! : sub[2]!.toLowerCase();
    errs.push(...invalid(`${path}.fieldPath`, sub[2], names.isQualifiedName(key)));
  } else if (!allowed.includes(fp)) {
    errs.push({ field: `${path}.fieldPath`, type: 'Unsupported value', value: fp, detail: supported(allowed) });
  }
}

function validateResourceFieldRef(ref: Obj, path: string, errs: FieldError[], needContainer: boolean): void {
  const r = strAt(ref, 'resource');
  if (needContainer && !strAt(ref, 'containerName')) errs.push({ field: `${path}.containerName`, type: 'Required value' });
  if (r && !RESOURCE_FIELD_PATHS.includes(r) && !/^(limits|requests)\.hugepages-/.test(r)) {
    errs.push({ field: `${path}.resource`, type: 'Unsupported value', value: r, detail: supported(RESOURCE_FIELD_PATHS) });
  }
}

function validateDownwardAPIFile(item: Obj, path: string, errs: FieldError[]): void {
  const fieldRef = objAt(item, 'fieldRef');
  const resRef = objAt(item, 'resourceFieldRef');
  if (fieldRef) validateFieldRef(fieldRef, VOLUME_FIELD_PATHS, `${path}.fieldRef`, errs);
  if (resRef) validateResourceFieldRef(resRef, `${path}.resourceFieldRef`, errs, true);
  if (fieldRef && resRef) errs.push({ field: path, type: 'Invalid value', value: 'resource', detail: 'fieldRef and resourceFieldRef can not be specified simultaneously' });
  if (!fieldRef && !resRef) errs.push({ field: path, type: 'Required value', detail: 'one of fieldRef and resourceFieldRef is required' });
}

interface PodContext { volumes: Set<string>; allNames: Set<string>; grace: number; spec: Obj }

const NOT_FOR_PLAIN_INIT = 'may not be set for init containers without restartPolicy=Always';
const NOT_FOR_EPHEMERAL = 'cannot be set for an Ephemeral Container';

function validateContainer(c: Obj, path: string, kind: ContainerKind, ctx: PodContext, errs: FieldError[]): void {
  const name = strAt(c, 'name');
  if (name) {
    if (ctx.allNames.has(name)) errs.push({ field: `${path}.name`, type: 'Duplicate value', value: name });
    ctx.allNames.add(name);
  }
  const image = c.image;
  if (image === undefined || image === null || image === '') errs.push({ field: `${path}.image`, type: 'Required value' });
  else if (typeof image === 'string' && image.trim() !== image) {
    errs.push({ field: `${path}.image`, type: 'Invalid value', value: image, detail: 'must not have leading or trailing whitespace' });
  }

  const sidecar = kind === 'init' && c.restartPolicy === 'Always';
  if (has(c, 'restartPolicy') && typeof c.restartPolicy === 'string') {
    if (kind === 'init') {
      if (c.restartPolicy !== 'Always') errs.push({ field: `${path}.restartPolicy`, type: 'Unsupported value', value: c.restartPolicy, detail: supported(['Always']) });
    } else {
      errs.push({ field: `${path}.restartPolicy`, type: 'Forbidden', detail: 'may not be set for non-init containers' });
    }
  }
  if (kind === 'ephemeral') {
    for (const k of ['ports', 'livenessProbe', 'readinessProbe', 'startupProbe', 'lifecycle', 'resources', 'resizePolicy']) {
      if (has(c, k)) errs.push({ field: `${path}.${k}`, type: 'Forbidden', detail: NOT_FOR_EPHEMERAL });
    }
  } else if (kind === 'init' && !sidecar) {
    for (const k of ['lifecycle', 'livenessProbe', 'readinessProbe', 'startupProbe']) {
      if (has(c, k)) errs.push({ field: `${path}.${k}`, type: 'Forbidden', detail: NOT_FOR_PLAIN_INIT });
    }
  }

  validatePorts(listAt(c, 'ports'), `${path}.ports`, ctx.spec.hostNetwork === true, errs);
  validateEnv(c, path, errs);
  const resources = objAt(c, 'resources');
  if (resources) requestsWithinLimits(resources, `${path}.resources`, errs);
  validateVolumeMounts(c, path, ctx.volumes, errs);

  for (const probeKind of ['livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
    const probe = objAt(c, probeKind);
    if (probe) validateProbe(probe, `${path}.${probeKind}`, probeKind, errs);
  }
  const lifecycle = objAt(c, 'lifecycle');
  for (const hook of ['postStart', 'preStop'] as const) {
    const h = objAt(lifecycle, hook);
    if (!h) continue;
    validateHandler(h, LIFECYCLE_HANDLERS, `${path}.lifecycle.${hook}`, errs);
    const sleep = objAt(h, 'sleep');
    if (sleep && Number.isInteger(sleep.seconds) && ((sleep.seconds as number) < 0 || (sleep.seconds as number) > ctx.grace)) {
      errs.push({ field: `${path}.lifecycle.${hook}.sleep`, type: 'Invalid value', value: sleep.seconds, detail: `must be non-negative and less than or equal to terminationGracePeriodSeconds (${ctx.grace})` });
    }
  }

  if (kind !== 'ephemeral') validateResizePolicy(listAt(c, 'resizePolicy'), `${path}.resizePolicy`, strAt(ctx.spec, 'restartPolicy') || 'Always', errs);
  const sc = objAt(c, 'securityContext');
  validateProfile(objAt(sc, 'seccompProfile'), `${path}.securityContext.seccompProfile`, 'seccomp', errs);
  validateProfile(objAt(sc, 'appArmorProfile'), `${path}.securityContext.appArmorProfile`, 'AppArmor', errs);
  if (sc?.procMount === 'Unmasked' && ctx.spec.hostUsers !== false) {
    errs.push({ field: `${path}.securityContext.procMount`, type: 'Invalid value', value: 'Unmasked', detail: '`hostUsers` must be false to use `Unmasked`' });
  }
  if (sc && has(sc, 'windowsOptions') && strAt(objAt(ctx.spec, 'os'), 'name') === 'linux') {
    errs.push({ field: `${path}.securityContext.windowsOptions`, type: 'Forbidden', detail: 'windows options cannot be set for a linux pod' });
  }
  if (sc?.privileged === true && sc.allowPrivilegeEscalation === false) {
    errs.push({ field: `${path}.securityContext`, type: 'Invalid value', detail: 'cannot set `allowPrivilegeEscalation` to false and `privileged` to true' });
  }
  listAt(c, 'volumeMounts').forEach((m, i) => {
    if (m.mountPropagation === 'Bidirectional' && sc?.privileged !== true) {
      errs.push({ field: `${path}.volumeMounts[${i}].mountPropagation`, type: 'Forbidden', detail: 'Bidirectional mount propagation is available only to privileged containers' });
    }
  });
}

function validatePorts(ports: Obj[], path: string, hostNetwork: boolean, errs: FieldError[]): void {
  const seen = new Set<string>();
  ports.forEach((p, i) => {
    const name = strAt(p, 'name');
    const namePath = `${path}[${i}].name`;
    const msgs = name ? names.isValidPortName(name) : [];
    errs.push(...invalid(namePath, name, msgs));
    if (name && !msgs.length) {
      if (seen.has(name)) errs.push({ field: namePath, type: 'Duplicate value', value: name });
      seen.add(name);
    }
    // With hostNetwork the container port is the host port; upstream defaults hostPort to it.
    if (hostNetwork && Number.isInteger(p.hostPort) && p.hostPort !== 0 && p.hostPort !== p.containerPort) {
      errs.push({ field: `${path}[${i}].hostPort`, type: 'Invalid value', value: p.hostPort, detail: 'must match `containerPort` when `hostNetwork` is true' });
    }
  });
}

function validateEnv(c: Obj, path: string, errs: FieldError[]): void {
  listAt(c, 'env').forEach((ev, i) => {
    const from = objAt(ev, 'valueFrom');
    if (!from) return;
    const p = `${path}.env[${i}].valueFrom`;
    const n = ['fieldRef', 'resourceFieldRef', 'configMapKeyRef', 'secretKeyRef', 'fileKeyRef'].filter((k) => has(from, k)).length;
    if (n === 0) errs.push({ field: p, type: 'Invalid value', value: '', detail: 'must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`' });
    else if (strAt(ev, 'value')) errs.push({ field: p, type: 'Invalid value', value: '', detail: 'may not be specified when `value` is not empty' });
    else if (n > 1) errs.push({ field: p, type: 'Invalid value', value: '', detail: 'may not have more than one field specified at a time' });
    const fieldRef = objAt(from, 'fieldRef');
    if (fieldRef) validateFieldRef(fieldRef, ENV_FIELD_PATHS, `${p}.fieldRef`, errs);
    const resRef = objAt(from, 'resourceFieldRef');
    if (resRef) validateResourceFieldRef(resRef, `${p}.resourceFieldRef`, errs, false);
  });
  listAt(c, 'envFrom').forEach((ef, i) => {
    const p = `${path}.envFrom[${i}]`;
    const n = ['configMapRef', 'secretRef'].filter((k) => has(ef, k)).length;
    if (n === 0) errs.push({ field: p, type: 'Invalid value', value: '', detail: 'must specify one of: `configMapRef` or `secretRef`' });
    else if (n > 1) errs.push({ field: p, type: 'Invalid value', value: '', detail: 'may not have more than one field specified at a time' });
  });
}

function requestsWithinLimits(res: Obj, path: string, errs: FieldError[]): void {
  const limits = objAt(res, 'limits') ?? {};
  for (const [k, q] of Object.entries(objAt(res, 'requests') ?? {})) {
    const lim = limits[k];
    if (isValidQuantity(q) && isValidQuantity(lim) && compareQuantities(q, lim) > 0) {
      errs.push({ field: `${path}.requests`, type: 'Invalid value', value: String(q), detail: `must be less than or equal to ${k} limit of ${String(lim)}` });
    }
  }
}

function validateVolumeMounts(c: Obj, path: string, volumes: Set<string>, errs: FieldError[]): void {
  const mountPaths = new Set<string>();
  listAt(c, 'volumeMounts').forEach((m, i) => {
    const p = `${path}.volumeMounts[${i}]`;
    const name = strAt(m, 'name');
    if (name && !volumes.has(name)) errs.push({ field: `${p}.name`, type: 'Not found', value: name });
    const mp = strAt(m, 'mountPath');
    if (mp && mountPaths.has(mp)) errs.push({ field: `${p}.mountPath`, type: 'Invalid value', value: mp, detail: 'must be unique' });
    mountPaths.add(mp);
    if (strAt(m, 'subPath') && strAt(m, 'subPathExpr')) {
      errs.push({ field: `${p}.subPathExpr`, type: 'Invalid value', value: m.subPathExpr, detail: 'subPathExpr and subPath are mutually exclusive' });
    }
  });
}

/** Exactly one handler (exec, httpGet, ...) in a probe or lifecycle hook. */
function validateHandler(h: Obj, handlers: readonly string[], path: string, errs: FieldError[]): void {
  if (countOneOf(h, handlers, path, errs, 'may not specify more than 1 handler type') === 0) {
    errs.push({ field: path, type: 'Required value', detail: 'must specify a handler type' });
  }
}

function validateProbe(probe: Obj, path: string, kind: 'livenessProbe' | 'readinessProbe' | 'startupProbe', errs: FieldError[]): void {
  validateHandler(probe, PROBE_HANDLERS, path, errs);
  const st = probe.successThreshold;
  // 0 is defaulted to 1; anything else would let a failing container count as healthy.
  if (kind !== 'readinessProbe' && Number.isInteger(st) && st !== 0 && st !== 1) {
    errs.push({ field: `${path}.successThreshold`, type: 'Invalid value', value: st, detail: 'must be 1' });
  }
  const tgps = probe.terminationGracePeriodSeconds;
  if (Number.isInteger(tgps)) {
    if (kind === 'readinessProbe') errs.push({ field: `${path}.terminationGracePeriodSeconds`, type: 'Invalid value', value: tgps, detail: 'must not be set for readinessProbes' });
    else if ((tgps as number) <= 0) errs.push({ field: `${path}.terminationGracePeriodSeconds`, type: 'Invalid value', value: tgps, detail: 'must be greater than 0' });
  }
}

function validateToleration(t: Obj, path: string, errs: FieldError[]): void {
  const key = strAt(t, 'key');
  const op = strAt(t, 'operator');
  if (key) errs.push(...invalid(`${path}.key`, key, names.isQualifiedName(key)));
  if (!key && op !== 'Exists') {
    errs.push({ field: `${path}.operator`, type: 'Invalid value', value: op, detail: 'operator must be Exists when `key` is empty, which means "match all values and all keys"' });
  }
  if (has(t, 'tolerationSeconds') && t.effect !== 'NoExecute') {
    errs.push({ field: `${path}.effect`, type: 'Invalid value', value: strAt(t, 'effect'), detail: "effect must be 'NoExecute' when `tolerationSeconds` is set" });
  }
  const value = strAt(t, 'value');
  if (op === 'Exists' && value) errs.push({ field: `${path}.operator`, type: 'Invalid value', value, detail: "value must be empty when `operator` is 'Exists'" });
  if (op !== 'Exists') {
    const msgs = names.isValidLabelValue(value);
    if (msgs.length) errs.push({ field: `${path}.operator`, type: 'Invalid value', value, detail: msgs.join(';') });
  }
}

// --- pod spec rules beyond the containers (ValidatePodSpec, ValidatePodCreate) -------------

/** Two containers may not claim the same protocol/hostIP/hostPort; init containers run one at a time. */
function validateHostPorts(spec: Obj, errs: FieldError[]): void {
  const check = (containers: Obj[], base: string, offset: number) => {
    const seen = new Set<string>();
    containers.forEach((c, i) => listAt(c, 'ports').forEach((p, j) => {
      if (!Number.isInteger(p.hostPort) || p.hostPort === 0) return;
      const key = `${strAt(p, 'protocol') || 'TCP'}/${strAt(p, 'hostIP')}/${String(p.hostPort)}`;
      if (seen.has(key)) errs.push({ field: `${base}[${i + offset}].ports[${j}].hostPort`, type: 'Duplicate value', value: key });
      seen.add(key);
    }));
  };
  check(listAt(spec, 'containers'), 'spec.containers', 0);
  listAt(spec, 'initContainers').forEach((c, i) => check([c], 'spec.initContainers', i));
}

const MAX_DNS_NAMESERVERS = 3;
const MAX_DNS_SEARCH_PATHS = 32;
const MAX_DNS_SEARCH_CHARS = 2048;

function validateDNSConfig(spec: Obj, errs: FieldError[]): void {
  const dns = objAt(spec, 'dnsConfig');
  if (!dns) return;
  const p = 'spec.dnsConfig';
  const nameservers = Array.isArray(dns.nameservers) ? dns.nameservers : [];
  if (nameservers.length > MAX_DNS_NAMESERVERS) {
    errs.push({ field: `${p}.nameservers`, type: 'Invalid value', value: nameservers, detail: `must not have more than ${MAX_DNS_NAMESERVERS} nameservers` });
  }
  nameservers.forEach((ns, i) => { if (typeof ns === 'string') errs.push(...invalid(`${p}.nameservers[${i}]`, ns, names.isValidIP(ns))); });
  const searches = Array.isArray(dns.searches) ? dns.searches.filter((x): x is string => typeof x === 'string') : [];
  if (searches.length > MAX_DNS_SEARCH_PATHS) {
    errs.push({ field: `${p}.searches`, type: 'Invalid value', value: searches, detail: `must not have more than ${MAX_DNS_SEARCH_PATHS} search paths` });
  }
  if (searches.join(' ').length > MAX_DNS_SEARCH_CHARS) {
    errs.push({ field: `${p}.searches`, type: 'Invalid value', value: searches, detail: `must not have more than ${MAX_DNS_SEARCH_CHARS} characters (including spaces) in the search list` });
  }
  searches.forEach((s, i) => {
    if (s === '.') return; // the root domain: allowed since RelaxedDNSSearchValidation
    const trimmed = s.endsWith('.') ? s.slice(0, -1) : s;
    errs.push(...invalid(`${p}.searches[${i}]`, trimmed, names.isDNS1123SubdomainWithUnderscore(trimmed)));
  });
  listAt(dns, 'options').forEach((o, i) => {
    if (!strAt(o, 'name')) errs.push({ field: `${p}.options[${i}]`, type: 'Required value', detail: 'must not be empty' });
  });
}

function validateHostAliases(aliases: Obj[], errs: FieldError[]): void {
  aliases.forEach((a, i) => {
    const ip = strAt(a, 'ip');
    if (ip) errs.push(...invalid(`spec.hostAliases[${i}].ip`, ip, names.isValidIP(ip)));
    (Array.isArray(a.hostnames) ? a.hostnames : []).forEach((h, j) => {
      if (typeof h === 'string') errs.push(...invalid(`spec.hostAliases[${i}].hostnames[${j}]`, h, names.isDNS1123Subdomain(h)));
    });
  });
}

function validateGates(spec: Obj, errs: FieldError[]): void {
  listAt(spec, 'readinessGates').forEach((g, i) => {
    const t = strAt(g, 'conditionType');
    if (t) errs.push(...invalid(`spec.readinessGates[${i}].conditionType`, t, names.isQualifiedName(t)));
  });
  const gates = listAt(spec, 'schedulingGates');
  const seen = new Set<string>();
  gates.forEach((g, i) => {
    const n = strAt(g, 'name');
    if (n) errs.push(...invalid(`spec.schedulingGates[${i}]`, n, names.isQualifiedName(n)));
    if (seen.has(n)) errs.push({ field: `spec.schedulingGates[${i}]`, type: 'Duplicate value', value: n });
    seen.add(n);
  });
  // A static pod is bound to this node from the start: a gate could never be cleared.
  if (gates.length) errs.push({ field: 'spec.nodeName', type: 'Forbidden', detail: 'cannot be set until all schedulingGates have been cleared' });
}

const stringsAt = (o: unknown, k: string): string[] => (isObject(o) && Array.isArray(o[k]) ? o[k].filter((x): x is string => typeof x === 'string') : []);

/** A label key (ValidateLabelName). */
function labelKey(key: string, path: string, errs: FieldError[]): void {
  errs.push(...invalid(path, key, names.isQualifiedName(key)));
}

function validateNodeSelectorRequirement(r: Obj, path: string, checkValues: boolean, errs: FieldError[]): void {
  const op = strAt(r, 'operator');
  const values = stringsAt(r, 'values');
  if (op === 'In' || op === 'NotIn') {
    if (!values.length) errs.push({ field: `${path}.values`, type: 'Required value', detail: "must be specified when `operator` is 'In' or 'NotIn'" });
  } else if (op === 'Exists' || op === 'DoesNotExist') {
    if (values.length) errs.push({ field: `${path}.values`, type: 'Forbidden', detail: "may not be specified when `operator` is 'Exists' or 'DoesNotExist'" });
  } else if (op === 'Gt' || op === 'Lt') {
    if (values.length !== 1) errs.push({ field: `${path}.values`, type: 'Required value', detail: "must be specified single value when `operator` is 'Lt' or 'Gt'" });
  } else {
    errs.push({ field: `${path}.operator`, type: 'Invalid value', value: op, detail: 'not a valid selector operator' });
  }
  labelKey(strAt(r, 'key'), `${path}.key`, errs);
  if (checkValues) values.forEach((v, i) => errs.push(...invalid(`${path}.values[${i}]`, v, names.isValidLabelValue(v))));
}

function validateNodeSelectorTerm(term: Obj | undefined, path: string, checkValues: boolean, errs: FieldError[]): void {
  listAt(term, 'matchExpressions').forEach((r, j) => validateNodeSelectorRequirement(r, `${path}.matchExpressions[${j}]`, checkValues, errs));
  listAt(term, 'matchFields').forEach((r, j) => {
    const p = `${path}.matchFields[${j}]`;
    const op = strAt(r, 'operator');
    const values = stringsAt(r, 'values');
    if (op === 'In' || op === 'NotIn') {
      if (values.length !== 1) errs.push({ field: `${p}.values`, type: 'Required value', detail: "must be only one value when `operator` is 'In' or 'NotIn' for node field selector" });
    } else {
      errs.push({ field: `${p}.operator`, type: 'Invalid value', value: op, detail: 'not a valid selector operator' });
    }
    if (strAt(r, 'key') !== 'metadata.name') errs.push({ field: `${p}.key`, type: 'Invalid value', value: strAt(r, 'key'), detail: 'not a valid field selector key' });
    else values.forEach((v, i) => errs.push(...invalid(`${p}.values[${i}]`, v, names.isDNS1123Subdomain(v))));
  });
}

/** metav1 LabelSelector (ValidateLabelSelector). */
function validateLabelSelector(sel: Obj | undefined, path: string, errs: FieldError[]): void {
  if (!sel) return;
  listAt(sel, 'matchExpressions').forEach((r, i) => {
    const p = `${path}.matchExpressions[${i}]`;
    const op = strAt(r, 'operator');
    const values = stringsAt(r, 'values');
    if (op === 'In' || op === 'NotIn') {
      if (!values.length) errs.push({ field: `${p}.values`, type: 'Required value', detail: "must be specified when `operator` is 'In' or 'NotIn'" });
    } else if (op === 'Exists' || op === 'DoesNotExist') {
      if (values.length) errs.push({ field: `${p}.values`, type: 'Forbidden', detail: "may not be specified when `operator` is 'Exists' or 'DoesNotExist'" });
    } else {
      errs.push({ field: `${p}.operator`, type: 'Invalid value', value: op, detail: 'not a valid selector operator' });
    }
    labelKey(strAt(r, 'key'), `${p}.key`, errs);
    values.forEach((v, j) => errs.push(...invalid(`${p}.values[${j}]`, v, names.isValidLabelValue(v))));
  });
  const ml = objAt(sel, 'matchLabels');
  for (const [k, v] of Object.entries(ml ?? {})) {
    errs.push(...invalid(`${path}.matchLabels`, k, names.isQualifiedName(k)));
    if (typeof v === 'string') errs.push(...invalid(`${path}.matchLabels`, v, names.isValidLabelValue(v)));
  }
}

function validatePodAffinityTerm(t: Obj, path: string, errs: FieldError[]): void {
  const sel = objAt(t, 'labelSelector');
  validateLabelSelector(sel, `${path}.labelSelector`, errs);
  validateLabelSelector(objAt(t, 'namespaceSelector'), `${path}.namespaceSelector`, errs);
  for (const ns of stringsAt(t, 'namespaces')) errs.push(...invalid(`${path}.namespace`, ns, names.isDNS1123Label(ns)));
  const match = stringsAt(t, 'matchLabelKeys');
  const mismatch = stringsAt(t, 'mismatchLabelKeys');
  for (const [k, keys] of [['matchLabelKeys', match], ['mismatchLabelKeys', mismatch]] as const) {
    if (!keys.length) continue;
    if (!sel) {
      errs.push({ field: `${path}.${k}`, type: 'Forbidden', detail: 'must not be specified when labelSelector is not set' });
      continue;
    }
    keys.forEach((key, i) => labelKey(key, `${path}.${k}[${i}]`, errs));
  }
  // (A key in both matchLabelKeys and labelSelector is fine as written: the API server merges
  // the keys into the selector itself before it checks them.)
  match.forEach((key, i) => {
    if (mismatch.includes(key)) errs.push({ field: `${path}.matchLabelKeys[${i}]`, type: 'Invalid value', value: key, detail: 'exists in both matchLabelKeys and mismatchLabelKeys' });
  });
  const tk = strAt(t, 'topologyKey');
  if (!tk) errs.push({ field: `${path}.topologyKey`, type: 'Required value', detail: 'can not be empty' });
  labelKey(tk, `${path}.topologyKey`, errs);
}

const weightOk = (w: unknown) => Number.isInteger(w) && (w as number) >= 1 && (w as number) <= 100;

function validateAffinity(a: Obj | undefined, path: string, errs: FieldError[]): void {
  if (!a) return;
  const na = objAt(a, 'nodeAffinity');
  const required = objAt(na, 'requiredDuringSchedulingIgnoredDuringExecution');
  if (required) {
    const terms = listAt(required, 'nodeSelectorTerms');
    const p = `${path}.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms`;
    if (!terms.length) errs.push({ field: p, type: 'Required value', detail: 'must have at least one node selector term' });
    terms.forEach((t, i) => validateNodeSelectorTerm(t, `${p}[${i}]`, true, errs));
  }
  listAt(na, 'preferredDuringSchedulingIgnoredDuringExecution').forEach((t, i) => {
    const p = `${path}.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[${i}]`;
    if (!weightOk(t.weight)) errs.push({ field: `${p}.weight`, type: 'Invalid value', value: t.weight ?? 0, detail: 'must be in the range 1-100' });
    // Preferred terms may name label values that match nothing: one node may still satisfy them.
    validateNodeSelectorTerm(objAt(t, 'preference'), `${p}.preference`, false, errs);
  });
  for (const k of ['podAffinity', 'podAntiAffinity']) {
    const pa = objAt(a, k);
    listAt(pa, 'requiredDuringSchedulingIgnoredDuringExecution').forEach((t, i) => validatePodAffinityTerm(t, `${path}.${k}.requiredDuringSchedulingIgnoredDuringExecution[${i}]`, errs));
    listAt(pa, 'preferredDuringSchedulingIgnoredDuringExecution').forEach((t, i) => {
      const p = `${path}.${k}.preferredDuringSchedulingIgnoredDuringExecution[${i}]`;
      if (!weightOk(t.weight)) errs.push({ field: `${p}.weight`, type: 'Invalid value', value: t.weight ?? 0, detail: 'must be in the range 1-100' });
      validatePodAffinityTerm(objAt(t, 'podAffinityTerm') ?? {}, `${p}.podAffinityTerm`, errs);
    });
  }
}

function validateTopologySpread(constraints: Obj[], errs: FieldError[]): void {
  constraints.forEach((c, i) => {
    const p = `spec.topologySpreadConstraints[${i}]`;
    const skew = Number.isInteger(c.maxSkew) ? (c.maxSkew as number) : 0;
    if (skew <= 0) errs.push({ field: `${p}.maxSkew`, type: 'Invalid value', value: skew, detail: 'must be greater than zero' });
    if (!strAt(c, 'topologyKey')) errs.push({ field: `${p}.topologyKey`, type: 'Required value', detail: 'can not be empty' });
    const when = strAt(c, 'whenUnsatisfiable');
    if (when !== 'DoNotSchedule' && when !== 'ScheduleAnyway') {
      errs.push({ field: `${p}.whenUnsatisfiable`, type: 'Unsupported value', value: when, detail: supported(['DoNotSchedule', 'ScheduleAnyway']) });
    }
    const dup = constraints.slice(i + 1).some((o) => strAt(o, 'topologyKey') === strAt(c, 'topologyKey') && strAt(o, 'whenUnsatisfiable') === when);
    if (dup) errs.push({ field: `${p}.{topologyKey, whenUnsatisfiable}`, type: 'Duplicate value', value: `{${strAt(c, 'topologyKey')}, ${when}}` });
    if (Number.isInteger(c.minDomains)) {
      if ((c.minDomains as number) <= 0) errs.push({ field: `${p}.minDomains`, type: 'Invalid value', value: c.minDomains, detail: 'must be greater than zero' });
      if (when !== 'DoNotSchedule') errs.push({ field: `${p}.minDomains`, type: 'Invalid value', value: c.minDomains, detail: `can only use minDomains if whenUnsatisfiable=DoNotSchedule, not ${when}` });
    }
    for (const k of ['nodeAffinityPolicy', 'nodeTaintsPolicy']) {
      const v = c[k];
      if (typeof v === 'string' && v !== 'Honor' && v !== 'Ignore') errs.push({ field: `${p}.${k}`, type: 'Unsupported value', value: v, detail: supported(['Honor', 'Ignore']) });
    }
    const sel = objAt(c, 'labelSelector');
    const keys = stringsAt(c, 'matchLabelKeys');
    if (keys.length) {
      if (!sel) errs.push({ field: `${p}.matchLabelKeys`, type: 'Forbidden', detail: 'must not be specified when labelSelector is not set' });
      keys.forEach((k, j) => labelKey(k, `${p}.matchLabelKeys[${j}]`, errs));
    }
    validateLabelSelector(sel, `${p}.labelSelector`, errs);
  });
}

function validateResizePolicy(policies: Obj[], path: string, podRestartPolicy: string, errs: FieldError[]): void {
  const seen = new Set<string>();
  policies.forEach((pol, i) => {
    const name = strAt(pol, 'resourceName');
    const restart = strAt(pol, 'restartPolicy');
    if (seen.has(name)) errs.push({ field: `${path}[${i}]`, type: 'Duplicate value', value: name });
    seen.add(name);
    if (!name) errs.push({ field: path, type: 'Required value' });
    else if (name !== 'cpu' && name !== 'memory') errs.push({ field: path, type: 'Unsupported value', value: name, detail: supported(['cpu', 'memory']) });
    if (!restart) errs.push({ field: path, type: 'Required value' });
    else if (restart !== 'NotRequired' && restart !== 'RestartContainer') errs.push({ field: path, type: 'Unsupported value', value: restart, detail: supported(['NotRequired', 'RestartContainer']) });
    if (podRestartPolicy === 'Never' && restart !== 'NotRequired') {
      errs.push({ field: path, type: 'Invalid value', value: restart, detail: "must be 'NotRequired' when `restartPolicy` is 'Never'" });
    }
  });
}

/** seccompProfile / appArmorProfile: a Localhost profile names its file, the others none. */
function validateProfile(p: Obj | undefined, path: string, what: 'seccomp' | 'AppArmor', errs: FieldError[]): void {
  if (!p) return;
  const type = strAt(p, 'type');
  const lp = p.localhostProfile;
  if (type === 'Localhost') {
    if (typeof lp !== 'string' || (what === 'AppArmor' && lp === '')) {
      errs.push({ field: `${path}.localhostProfile`, type: 'Required value', detail: `must be set when ${what} type is Localhost` });
    } else if (what === 'seccomp') {
      errs.push(...invalid(`${path}.localhostProfile`, lp, localDescendingPath(lp)));
    } else if (lp.trim() !== lp) {
      errs.push({ field: `${path}.localhostProfile`, type: 'Invalid value', value: lp, detail: 'must not be padded with whitespace' });
    } else if (lp.length > 4095) {
      errs.push({ field: `${path}.localhostProfile`, type: 'Too long', detail: 'may not be more than 4095 bytes' });
    }
  } else if (lp !== undefined && lp !== null && (type === 'RuntimeDefault' || type === 'Unconfined')) {
    errs.push({ field: `${path}.localhostProfile`, type: 'Invalid value', value: lp, detail: `can only be set when ${what} type is Localhost` });
  }
}

// The deprecated seccomp and AppArmor annotations (ValidatePodSpecificAnnotations) and their
// agreement with the fields (validateSeccompAnnotationsAndFields,
// validateAppArmorAnnotationsAndFieldsMatchOnCreate): a pod may carry both, but they must say
// the same thing. Upstream's paths differ: seccomp keys are a Child, AppArmor keys a Key.
const SECCOMP_POD = 'seccomp.security.alpha.kubernetes.io/pod';
const SECCOMP_CONTAINER = 'container.seccomp.security.alpha.kubernetes.io/';
const APPARMOR_CONTAINER = 'container.apparmor.security.beta.kubernetes.io/';
const LOCALHOST = 'localhost/';
const MUST_MATCH = (what: string) => `${what} type in annotation and field must match`;

function validateSecurityAnnotations(pod: Obj, spec: Obj, errs: FieldError[]): void {
  const raw = objAt(objAt(pod, 'metadata'), 'annotations') ?? {};
  const ann = new Map(Object.entries(raw).filter((e): e is [string, string] => typeof e[1] === 'string'));
  const containers: [Obj, string][] = [];
  for (const key of ['initContainers', 'containers', 'ephemeralContainers']) listAt(spec, key).forEach((c, i) => containers.push([c, `spec.${key}[${i}]`]));
  const containerNames = new Set(containers.map(([c]) => strAt(c, 'name')));

  for (const [k, v] of ann) {
    if (k === SECCOMP_POD || k.startsWith(SECCOMP_CONTAINER)) {
      const path = `metadata.annotations.${k}`;
      if (v === 'runtime/default' || v === 'docker/default' || v === 'unconfined') continue;
      if (v.startsWith(LOCALHOST)) errs.push(...invalid(path, v.slice(LOCALHOST.length), localDescendingPath(v.slice(LOCALHOST.length))));
      else errs.push({ field: path, type: 'Invalid value', value: v, detail: 'must be a valid seccomp profile' });
    } else if (k.startsWith(APPARMOR_CONTAINER)) {
      const path = `metadata.annotations[${k}]`;
      const container = k.slice(APPARMOR_CONTAINER.length);
      if (!containerNames.has(container)) errs.push({ field: path, type: 'Invalid value', value: container, detail: 'container not found' });
      if (v !== '' && v !== 'runtime/default' && v !== 'unconfined' && !v.startsWith(LOCALHOST)) {
        errs.push({ field: path, type: 'Invalid value', value: v, detail: `invalid AppArmor profile name: ${JSON.stringify(v)}` });
      }
    }
  }

  const seccompMatch = (value: string, profile: Obj | undefined, path: string) => {
    const type = strAt(profile, 'type');
    const ok = type === 'Unconfined' ? value === 'unconfined'
      : type === 'RuntimeDefault' ? value === 'runtime/default' || value === 'docker/default'
      : type === 'Localhost' ? value.startsWith(LOCALHOST) : true;
    if (!ok) errs.push({ field: `${path}.type`, type: 'Forbidden', detail: MUST_MATCH('seccomp') });
    else if (type === 'Localhost' && profile!.localhostProfile !== value.slice(LOCALHOST.length)) {
      errs.push({ field: `${path}.localhostProfile`, type: 'Forbidden', detail: 'seccomp profile in annotation and field must match' });
    }
  };
  const podSc = objAt(spec, 'securityContext');
  const podSeccomp = objAt(podSc, 'seccompProfile');
  if (podSeccomp && ann.has(SECCOMP_POD)) seccompMatch(ann.get(SECCOMP_POD)!, podSeccomp, 'spec.securityContext.seccompProfile');
  const podAppArmor = objAt(podSc, 'appArmorProfile');
  for (const [c, path] of containers) {
    const sc = objAt(c, 'securityContext');
    const name = strAt(c, 'name');
    const seccomp = objAt(sc, 'seccompProfile');
    if (seccomp && ann.has(SECCOMP_CONTAINER + name)) seccompMatch(ann.get(SECCOMP_CONTAINER + name)!, seccomp, `${path}.securityContext.seccompProfile`);
    // AppArmor compares the container's effective profile (its own, else the pod's), and
    // reports it at the container's path even when the profile is the pod's.
    const appArmor = objAt(sc, 'appArmorProfile') ?? podAppArmor;
    const value = ann.get(APPARMOR_CONTAINER + name);
    if (!appArmor || value === undefined) continue;
    const type = strAt(appArmor, 'type');
    const p = `${path}.securityContext.appArmorProfile`;
    const ok = type === 'Unconfined' ? value === 'unconfined'
      : type === 'RuntimeDefault' ? value === 'runtime/default'
      : type === 'Localhost' ? value.startsWith(LOCALHOST) : true;
    if (!ok) errs.push({ field: `${p}.type`, type: 'Forbidden', detail: MUST_MATCH('apparmor') });
    else if (type === 'Localhost' && appArmor.localhostProfile !== value.slice(LOCALHOST.length)) {
      errs.push({ field: `${p}.localhostProfile`, type: 'Forbidden', detail: 'apparmor profile in annotation and field must match' });
    }
  }
}

const NET_SYSCTL = /^net[./]/;
const IPC_SYSCTL = /^(kernel[./](shm|msg)|kernel[./]sem$|fs[./]mqueue[./])/;

function validatePodSecurity(spec: Obj, errs: FieldError[]): void {
  const sc = objAt(spec, 'securityContext');
  const p = 'spec.securityContext';
  if (sc) {
    const sysctlNames = new Set<string>();
    listAt(sc, 'sysctls').forEach((s, i) => {
      const name = strAt(s, 'name');
      const np = `${p}.sysctls[${i}].name`;
      if (!name) return; // the schema reports it missing
      const bad = names.isValidSysctlName(name);
      if (bad.length) errs.push(...invalid(np, name, bad));
      else if (sysctlNames.has(name)) errs.push({ field: np, type: 'Duplicate value', value: name });
      if (spec.hostNetwork === true && NET_SYSCTL.test(name)) errs.push({ field: np, type: 'Invalid value', value: name, detail: "may not be specified when 'hostNetwork' is true" });
      else if (spec.hostIPC === true && IPC_SYSCTL.test(name)) errs.push({ field: np, type: 'Invalid value', value: name, detail: "may not be specified when 'hostIPC' is true" });
      sysctlNames.add(name);
    });
    validateProfile(objAt(sc, 'seccompProfile'), `${p}.seccompProfile`, 'seccomp', errs);
    validateProfile(objAt(sc, 'appArmorProfile'), `${p}.appArmorProfile`, 'AppArmor', errs);
    if (has(sc, 'windowsOptions') && strAt(objAt(spec, 'os'), 'name') === 'linux') {
      errs.push({ field: `${p}.windowsOptions`, type: 'Forbidden', detail: 'windows options cannot be set for a linux pod' });
    }
  }
  if (spec.shareProcessNamespace === true && spec.hostPID === true) {
    errs.push({ field: `${p}.shareProcessNamespace`, type: 'Invalid value', value: true, detail: 'ShareProcessNamespace and HostPID cannot both be enabled' });
  }
  // User namespaces cannot be combined with the host's other namespaces. (Upstream spells
  // two of these paths with capitals, from its internal field names; kept for parity.)
  if (spec.hostUsers === false) {
    const why = 'when `pod.Spec.HostUsers` is false';
    if (spec.hostNetwork === true) errs.push({ field: 'spec.hostNetwork', type: 'Forbidden', detail: why });
    if (spec.hostPID === true) errs.push({ field: 'spec.HostPID', type: 'Forbidden', detail: why });
    if (spec.hostIPC === true) errs.push({ field: 'spec.HostIPC', type: 'Forbidden', detail: why });
  }
}

/** Names that refer to other objects: the formats of the objects they name. */
function validateObjectNames(spec: Obj, errs: FieldError[]): void {
  // (nodeName is not checked: a static pod's is replaced by this node's.)
  for (const k of ['serviceAccountName', 'priorityClassName', 'runtimeClassName']) {
    const v = spec[k];
    if (typeof v === 'string' && (v || k === 'runtimeClassName')) errs.push(...invalid(`spec.${k}`, v, names.isDNS1123Subdomain(v)));
  }
  listAt(spec, 'volumes').forEach((v, i) => {
    const hp = strAt(objAt(v, 'hostPath'), 'path');
    if (hp && hp.split('/').includes('..')) errs.push({ field: `spec.volumes[${i}].hostPath.path`, type: 'Invalid value', value: hp, detail: "must not contain '..'" });
  });
}

/**
 * kubelet validates a static pod after naming it `<name>-<node>`: a name valid alone may be
 * too long with the suffix.
 */
export function validateStaticPodName(name: string, nodeName: string): FieldError[] {
  const full = `${name}-${nodeName.toLowerCase()}`;
  return invalid('metadata.name', full, names.isDNS1123Subdomain(full));
}
