// A data-driven schema of the API objects bosun accepts. One generic walker checks JSON
// types, unknown fields (like `kubectl apply --validate=strict`), required fields, enums,
// ranges and single-field formats; rules that span fields live in validate.ts.

import type { FieldError } from './errors.js';
import { QUANTITY_FORMAT_MESSAGE, compareQuantities, isValidQuantity } from './quantity.js';
import * as names from './names.js';

type Check = (value: never, path: string) => FieldError[];

export interface Node {
  t: 'string' | 'int' | 'bool' | 'intOrString' | 'quantity' | 'object' | 'array' | 'map' | 'any';
  /** object: the known fields; any other key is an unknown field. */
  fields?: Record<string, Node>;
  /** array/map: the element schema. */
  of?: Node;
  /** Missing, null, '' and [] are all "Required value", as upstream's len()==0 checks. */
  required?: boolean;
  /** Allowed string values, in the order the message lists them. '' means "defaulted". */
  enum?: readonly string[];
  min?: number;
  max?: number;
  /** Runs only when the value has the right JSON type. */
  check?: Check;
}

type Opts = Omit<Node, 't' | 'fields' | 'of'>;
const str = (o: Opts = {}): Node => ({ t: 'string', ...o });
const int = (o: Opts = {}): Node => ({ t: 'int', ...o });
const bool: Node = { t: 'bool' };
const quantity = (o: Opts = {}): Node => ({ t: 'quantity', ...o });
const intOrString = (o: Opts = {}): Node => ({ t: 'intOrString', ...o });
const arr = (of: Node, o: Opts = {}): Node => ({ t: 'array', of, ...o });
const mapOf = (of: Node, o: Opts = {}): Node => ({ t: 'map', of, ...o });
const obj = (fields: Record<string, Node>, o: Opts = {}): Node => ({ t: 'object', fields, ...o });
const req = (n: Node): Node => ({ ...n, required: true });
/** Accepted as is: parts of the API bosun does not act on (affinity, status, ...). */
export const ANY: Node = { t: 'any' };

export const invalid = (field: string, value: unknown, msgs: string[]): FieldError[] =>
  msgs.map((detail) => ({ field, type: 'Invalid value', value, detail }));
const fmt = (f: (v: string) => string[]): Check => ((v: string, p: string) => invalid(p, v, f(v))) as Check;

export const supported = (values: readonly string[]) => 'supported values: ' + values.map((v) => JSON.stringify(v)).join(', ');

function rangeMessage(min?: number, max?: number): string {
  if (min !== undefined && max !== undefined) return `must be between ${min} and ${max}, inclusive`;
  if (min !== undefined) return min === 1 ? 'must be greater than 0' : `must be greater than or equal to ${min}`;
  return `must be less than or equal to ${max}`;
}

// --- single-field formats ---------------------------------------------------------------

const dnsLabel = fmt(names.isDNS1123Label);
const envVarName = fmt(names.isEnvVarName);
const configKey = fmt(names.isConfigMapKey);
const headerName = fmt(names.isHTTPHeaderName);

/** A named or numbered port: httpGet.port, tcpSocket.port. */
const portNumOrName = ((v: number | string, p: string) =>
  invalid(p, v, typeof v === 'number' ? names.isValidPortNum(v) : names.isValidPortName(v))) as Check;
/** hostPort: 0 means "no host port". */
const optionalPort = ((v: number, p: string) => (v === 0 ? [] : invalid(p, v, names.isValidPortNum(v)))) as Check;
const containerPort = ((v: number, p: string): FieldError[] =>
  v === 0 ? [{ field: p, type: 'Required value' }] : invalid(p, v, names.isValidPortNum(v))) as Check;

const fileMode = ((v: number, p: string) =>
  v >= 0 && v <= 0o777 ? [] : invalid(p, v, ['must be a number between 0 and 0777 (octal), both inclusive'])) as Check;

export function localDescendingPath(v: string): string[] {
  const errs: string[] = [];
  if (v.startsWith('/')) errs.push('must be a relative path');
  if (v.split('/').includes('..')) errs.push("must not contain '..'");
  return errs;
}
const descendingPath = fmt(localDescendingPath);
/** Paths inside configMap/secret/downwardAPI volumes: also no leading '..' (kubelet's atomic-writer dirs). */
const nonReservedPath = fmt((v) => {
  const errs = localDescendingPath(v);
  if (v.startsWith('..') && !v.startsWith('../')) errs.push("must not start with '..'");
  return errs;
});
const absolutePath = fmt((v) => (v.startsWith('/') ? [] : ['must be an absolute path']));

const labels = ((m: Record<string, unknown>, p: string) =>
  Object.entries(m).flatMap(([k, v]) => [
    ...invalid(p, k, names.isQualifiedName(k)),
    ...(typeof v === 'string' ? invalid(p, v, names.isValidLabelValue(v)) : []),
  ])) as Check;

const ANNOTATIONS_MAX_BYTES = 256 * 1024;
const annotations = ((m: Record<string, unknown>, p: string): FieldError[] => {
  const errs = Object.keys(m).flatMap((k) => invalid(p, k, names.isQualifiedName(k.toLowerCase())));
  const size = Object.entries(m).reduce((n, [k, v]) => n + Buffer.byteLength(k) + (typeof v === 'string' ? Buffer.byteLength(v) : 0), 0);
  if (size > ANNOTATIONS_MAX_BYTES) errs.push({ field: p, type: 'Too long', detail: `may not be more than ${ANNOTATIONS_MAX_BYTES} bytes` });
  return errs;
}) as Check;

const STANDARD_CONTAINER_RESOURCES = ['cpu', 'memory', 'ephemeral-storage'];
/** Keys of requests/limits: cpu, memory, ephemeral-storage, hugepages-*, or domain/name. */
const resourceNames = ((m: Record<string, unknown>, p: string) =>
  Object.keys(m).flatMap((k) => {
    const path = `${p}[${k}]`;
    const qn = invalid(path, k, names.isQualifiedName(k));
    if (qn.length) return qn;
    if (!k.includes('/') && !STANDARD_CONTAINER_RESOURCES.includes(k) && !k.startsWith('hugepages-')) {
      return invalid(path, k, ['must be a standard resource for containers']);
    }
    return [];
  })) as Check;

const configKeys = ((m: Record<string, unknown>, p: string) =>
  Object.keys(m).flatMap((k) => invalid(`${p}[${k}]`, k, names.isConfigMapKey(k)))) as Check;

// --- core/v1 ------------------------------------------------------------------------------

const localObjectReference = obj({ name: str() });

export const objectMeta = obj({
  name: str(),
  generateName: str(),
  namespace: str({ check: dnsLabel }),
  selfLink: str(),
  uid: str(),
  resourceVersion: str(),
  generation: int(),
  creationTimestamp: str(),
  deletionTimestamp: str(),
  deletionGracePeriodSeconds: int(),
  labels: mapOf(str(), { check: labels }),
  annotations: mapOf(str(), { check: annotations }),
  ownerReferences: arr(obj({
    apiVersion: req(str()), kind: req(str()), name: req(str()), uid: req(str()),
    controller: bool, blockOwnerDeletion: bool,
  })),
  finalizers: arr(str()),
  managedFields: arr(ANY),
});

const objectFieldSelector = obj({ apiVersion: str(), fieldPath: req(str()) });
const resourceFieldSelector = obj({ containerName: str(), resource: req(str()), divisor: quantity() });
const keySelector = obj({ name: req(str()), key: req(str({ check: configKey })), optional: bool });

const envVar = obj({
  name: req(str({ check: envVarName })),
  value: str(),
  valueFrom: obj({
    fieldRef: objectFieldSelector,
    resourceFieldRef: resourceFieldSelector,
    configMapKeyRef: keySelector,
    secretKeyRef: keySelector,
    fileKeyRef: obj({ volumeName: req(str()), path: req(str()), key: req(str()), optional: bool }),
  }),
});

const envFromSource = obj({
  prefix: str({ check: envVarName }),
  configMapRef: obj({ name: req(str()), optional: bool }),
  secretRef: obj({ name: req(str()), optional: bool }),
});

const resourceList = mapOf(quantity({ min: 0 }), { check: resourceNames });
export const resourceRequirements = obj({
  limits: resourceList,
  requests: resourceList,
  claims: arr(obj({ name: req(str()), request: str() })),
});

const httpGetAction = obj({
  path: str(),
  port: req(intOrString({ check: portNumOrName })),
  host: str(),
  scheme: str({ enum: ['HTTP', 'HTTPS'] }),
  httpHeaders: arr(obj({ name: req(str({ check: headerName })), value: str() })),
});
const tcpSocketAction = obj({ port: req(intOrString({ check: portNumOrName })), host: str() });
const execAction = obj({ command: req(arr(str())) });

export const PROBE_HANDLERS = ['exec', 'httpGet', 'tcpSocket', 'grpc'] as const;
export const LIFECYCLE_HANDLERS = ['exec', 'httpGet', 'tcpSocket', 'sleep'] as const;

const probe = obj({
  exec: execAction,
  httpGet: httpGetAction,
  tcpSocket: tcpSocketAction,
  grpc: obj({ port: req(int({ min: 1, max: 65535 })), service: str() }),
  // 0 is "unset" and gets defaulted, as upstream's SetDefaults_Probe.
  initialDelaySeconds: int({ min: 0 }),
  timeoutSeconds: int({ min: 0 }),
  periodSeconds: int({ min: 0 }),
  successThreshold: int({ min: 0 }),
  failureThreshold: int({ min: 0 }),
  terminationGracePeriodSeconds: int(),
});

const lifecycleHandler = obj({
  exec: execAction,
  httpGet: httpGetAction,
  tcpSocket: tcpSocketAction,
  sleep: obj({ seconds: req(int()) }),
});

const seLinuxOptions = obj({ user: str(), role: str(), type: str(), level: str() });
const windowsOptions = obj({ gmsaCredentialSpecName: str(), gmsaCredentialSpec: str(), runAsUserName: str(), hostProcess: bool });
const profile = obj({ type: req(str({ enum: ['RuntimeDefault', 'Unconfined', 'Localhost'] })), localhostProfile: str({ check: descendingPath }) });
const id = int({ min: 0, max: 2147483647 });

const securityContext = obj({
  capabilities: obj({ add: arr(str()), drop: arr(str()) }),
  privileged: bool,
  seLinuxOptions,
  windowsOptions,
  runAsUser: id,
  runAsGroup: id,
  runAsNonRoot: bool,
  readOnlyRootFilesystem: bool,
  allowPrivilegeEscalation: bool,
  procMount: str({ enum: ['Default', 'Unmasked'] }),
  seccompProfile: profile,
  appArmorProfile: profile,
});

const podSecurityContext = obj({
  seLinuxOptions,
  windowsOptions,
  runAsUser: id,
  runAsGroup: id,
  runAsNonRoot: bool,
  supplementalGroups: arr(id),
  supplementalGroupsPolicy: str({ enum: ['Merge', 'Strict'] }),
  fsGroup: id,
  fsGroupChangePolicy: str({ enum: ['OnRootMismatch', 'Always'] }),
  sysctls: arr(obj({ name: req(str()), value: str() })),
  seccompProfile: profile,
  appArmorProfile: profile,
  seLinuxChangePolicy: str({ enum: ['MountOption', 'Recursive'] }),
});

const containerFields: Record<string, Node> = {
  name: req(str({ check: dnsLabel })),
  image: str(),
  command: arr(str()),
  args: arr(str()),
  workingDir: str(),
  ports: arr(obj({
    name: str(),
    hostPort: int({ check: optionalPort }),
    containerPort: req(int({ check: containerPort })),
    protocol: str({ enum: ['SCTP', 'TCP', 'UDP'] }),
    hostIP: str(),
  })),
  envFrom: arr(envFromSource),
  env: arr(envVar),
  resources: resourceRequirements,
  resizePolicy: arr(obj({ resourceName: req(str()), restartPolicy: req(str({ enum: ['NotRequired', 'RestartContainer'] })) })),
  restartPolicy: str(),
  restartPolicyRules: arr(ANY),
  volumeMounts: arr(obj({
    name: req(str()),
    readOnly: bool,
    recursiveReadOnly: str({ enum: ['Disabled', 'Enabled', 'IfPossible'] }),
    mountPath: req(str({ check: absolutePath })),
    subPath: str({ check: descendingPath }),
    mountPropagation: str({ enum: ['Bidirectional', 'HostToContainer', 'None'] }),
    subPathExpr: str({ check: descendingPath }),
  })),
  volumeDevices: arr(obj({ name: req(str()), devicePath: req(str()) })),
  livenessProbe: probe,
  readinessProbe: probe,
  startupProbe: probe,
  lifecycle: obj({ postStart: lifecycleHandler, preStop: lifecycleHandler, stopSignal: str() }),
  terminationMessagePath: str(),
  terminationMessagePolicy: str({ enum: ['File', 'FallbackToLogsOnError'] }),
  imagePullPolicy: str({ enum: ['Always', 'IfNotPresent', 'Never'] }),
  securityContext,
  stdin: bool,
  stdinOnce: bool,
  tty: bool,
};
const container = obj(containerFields);
const ephemeralContainer = obj({ ...containerFields, targetContainerName: str() });

const keyToPath = obj({ key: req(str()), path: req(str({ check: nonReservedPath })), mode: int({ check: fileMode }) });
const downwardAPIFile = obj({
  path: req(str({ check: nonReservedPath })),
  fieldRef: objectFieldSelector,
  resourceFieldRef: resourceFieldSelector,
  mode: int({ check: fileMode }),
});
const defaultMode = int({ check: fileMode });

export const HOST_PATH_TYPES = ['', 'BlockDevice', 'CharDevice', 'Directory', 'DirectoryOrCreate', 'File', 'FileOrCreate', 'Socket'];

/** Every volume source of core/v1; the ones bosun can mount are described deeply. */
const volumeSources: Record<string, Node> = {
  hostPath: obj({ path: req(str()), type: str({ enum: HOST_PATH_TYPES }) }),
  emptyDir: obj({ medium: str(), sizeLimit: quantity({ min: 0 }) }),
  secret: obj({ secretName: req(str()), items: arr(keyToPath), defaultMode, optional: bool }),
  configMap: obj({ name: req(str()), items: arr(keyToPath), defaultMode, optional: bool }),
  downwardAPI: obj({ items: arr(downwardAPIFile), defaultMode }),
  projected: obj({
    sources: arr(obj({
      secret: obj({ name: req(str()), items: arr(keyToPath), optional: bool }),
      configMap: obj({ name: req(str()), items: arr(keyToPath), optional: bool }),
      downwardAPI: obj({ items: arr(downwardAPIFile) }),
      serviceAccountToken: obj({ audience: str(), expirationSeconds: int(), path: req(str({ check: nonReservedPath })) }),
      clusterTrustBundle: obj({ name: str(), signerName: str(), labelSelector: ANY, optional: bool, path: req(str({ check: nonReservedPath })) }),
      podCertificate: ANY,
    })),
    defaultMode,
  }),
  persistentVolumeClaim: obj({ claimName: req(str()), readOnly: bool }),
  nfs: obj({ server: req(str()), path: req(str()), readOnly: bool }),
  csi: obj({ driver: req(str()), readOnly: bool, fsType: str(), volumeAttributes: mapOf(str()), nodePublishSecretRef: localObjectReference }),
  image: obj({ reference: str(), pullPolicy: str({ enum: ['Always', 'IfNotPresent', 'Never'] }) }),
  ephemeral: obj({ volumeClaimTemplate: ANY }),
  // Cloud and legacy in-tree sources: accepted by name only.
  gcePersistentDisk: ANY, awsElasticBlockStore: ANY, gitRepo: ANY, iscsi: ANY, glusterfs: ANY,
  rbd: ANY, flexVolume: ANY, cinder: ANY, cephfs: ANY, flocker: ANY, fc: ANY, azureFile: ANY,
  vsphereVolume: ANY, quobyte: ANY, azureDisk: ANY, photonPersistentDisk: ANY, portworxVolume: ANY,
  scaleIO: ANY, storageos: ANY,
};
export const VOLUME_SOURCES = Object.keys(volumeSources);
const volume = obj({ name: req(str({ check: dnsLabel })), ...volumeSources });

const toleration = obj({
  key: str(),
  operator: str({ enum: ['Equal', 'Exists'] }),
  value: str(),
  effect: str({ enum: ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] }),
  tolerationSeconds: int(),
});

export const podSpec = obj({
  volumes: arr(volume),
  initContainers: arr(container),
  containers: req(arr(container)),
  ephemeralContainers: arr(ephemeralContainer),
  restartPolicy: str({ enum: ['Always', 'OnFailure', 'Never'] }),
  terminationGracePeriodSeconds: int({ min: 0 }),
  activeDeadlineSeconds: int({ min: 1, max: 2147483647 }),
  dnsPolicy: str({ enum: ['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None'] }),
  nodeSelector: mapOf(str()),
  serviceAccountName: str(),
  serviceAccount: str(),
  automountServiceAccountToken: bool,
  nodeName: str(),
  hostNetwork: bool,
  hostPID: bool,
  hostIPC: bool,
  shareProcessNamespace: bool,
  securityContext: podSecurityContext,
  imagePullSecrets: arr(localObjectReference),
  hostname: str({ check: dnsLabel }),
  subdomain: str({ check: dnsLabel }),
  affinity: ANY,
  schedulerName: str(),
  tolerations: arr(toleration),
  hostAliases: arr(obj({ ip: req(str()), hostnames: arr(str()) })),
  priorityClassName: str(),
  priority: int(),
  dnsConfig: obj({ nameservers: arr(str()), searches: arr(str()), options: arr(obj({ name: str(), value: str() })) }),
  readinessGates: arr(obj({ conditionType: req(str()) })),
  runtimeClassName: str(),
  enableServiceLinks: bool,
  preemptionPolicy: str({ enum: ['Never', 'PreemptLowerPriority'] }),
  overhead: resourceList,
  topologySpreadConstraints: arr(ANY),
  setHostnameAsFQDN: bool,
  os: obj({ name: req(str({ enum: ['linux', 'windows'] })) }),
  hostUsers: bool,
  schedulingGates: arr(obj({ name: req(str()) })),
  resourceClaims: arr(obj({ name: req(str()), resourceClaimName: str(), resourceClaimTemplateName: str() })),
  resources: resourceRequirements,
  hostnameOverride: str(),
});

const topLevel = (fields: Record<string, Node>) =>
  obj({ apiVersion: str(), kind: str(), metadata: objectMeta, ...fields });

export const schemas: Record<string, Node> = {
  Pod: topLevel({ spec: podSpec, status: ANY }),
  ConfigMap: topLevel({ data: mapOf(str(), { check: configKeys }), binaryData: mapOf(str(), { check: configKeys }), immutable: bool }),
  Secret: topLevel({ data: mapOf(str(), { check: configKeys }), stringData: mapOf(str(), { check: configKeys }), type: str(), immutable: bool }),
  Service: topLevel({ spec: ANY, status: ANY }),
  Endpoints: topLevel({ subsets: arr(ANY) }),
  EndpointSlice: topLevel({ addressType: req(str({ enum: ['IPv4', 'IPv6', 'FQDN'] })), endpoints: arr(ANY), ports: arr(ANY) }),
};

// --- the walker ---------------------------------------------------------------------------

export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const isMissing = (v: unknown) => v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0);

const TYPE_MESSAGES: Record<Node['t'], string> = {
  string: 'must be a string',
  int: 'must be an integer',
  bool: 'must be a boolean',
  intOrString: 'must be an integer or a string',
  quantity: QUANTITY_FORMAT_MESSAGE,
  object: 'must be an object',
  map: 'must be an object',
  array: 'must be an array',
  any: '',
};

function hasType(v: unknown, t: Node['t']): boolean {
  switch (t) {
    case 'string': return typeof v === 'string';
    case 'int': return Number.isInteger(v);
    case 'bool': return typeof v === 'boolean';
    case 'intOrString': return typeof v === 'string' || Number.isInteger(v);
    case 'quantity': return isValidQuantity(v);
    case 'object': case 'map': return isObject(v);
    case 'array': return Array.isArray(v);
    case 'any': return true;
  }
}

/** Appends to errs every problem the schema alone can find in value at path. */
export function walk(value: unknown, node: Node, path: string, errs: FieldError[]): void {
  if (!hasType(value, node.t)) {
    errs.push({ field: path, type: 'Invalid value', value, detail: TYPE_MESSAGES[node.t] });
    return;
  }
  if (node.enum && value !== '' && !node.enum.includes(value as string)) {
    errs.push({ field: path, type: 'Unsupported value', value, detail: supported(node.enum) });
  }
  if ((node.min !== undefined || node.max !== undefined) && !rangeOk(value as number | string, node)) {
    errs.push({ field: path, type: 'Invalid value', value, detail: rangeMessage(node.min, node.max) });
  }
  if (node.t === 'object') {
    const o = value as Record<string, unknown>;
    for (const [k, v] of Object.entries(o)) {
      const child = node.fields![k];
      const p = path ? `${path}.${k}` : k;
      if (!child) errs.push({ field: p, type: 'Unknown field' });
      else if (!(child.required ? isMissing(v) : v === null || v === undefined)) walk(v, child, p, errs);
    }
    for (const [k, child] of Object.entries(node.fields!)) {
      if (child.required && isMissing(o[k])) errs.push({ field: path ? `${path}.${k}` : k, type: 'Required value' });
    }
  } else if (node.t === 'map') {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) walk(v, node.of!, `${path}[${k}]`, errs);
  } else if (node.t === 'array') {
    (value as unknown[]).forEach((v, i) => walk(v, node.of!, `${path}[${i}]`, errs));
  }
  if (node.check) errs.push(...(node.check as (v: unknown, p: string) => FieldError[])(value, path));
}

function rangeOk(v: number | string, { min, max }: Node): boolean {
  if (typeof v === 'string') return min === undefined || compareQuantities(v, min) >= 0; // quantities: only min is used
  return (min === undefined || v >= min) && (max === undefined || v <= max);
}
