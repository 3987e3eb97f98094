import { type Groups, matchGroups } from '../../base/index.js';
import type { Pod } from '../../manifests/index.js';
import type { CoreEvent } from '../events.js';
import { age, podReadyCount, podStatusColumn, restartsColumn } from '../printers.js';
import { KUBE_VERSION } from '../vocab/index.js';

// The slice of the core API a standalone node serves to kubectl (pure): discovery, Status
// objects, the Node object, server-side Tables (what `kubectl get` prints), and field and
// label selectors. Writes of pods, ConfigMaps, Secrets and Services become files in the
// manifest directory (writes.ts); the rest is refused.


export function versionInfo(platform = `linux/${goArch(process.arch)}`): Record<string, string> {
  return {
    ...KUBE_VERSION,
    gitCommit: '',
    gitTreeState: 'clean',
    buildDate: '1970-01-01T00:00:00Z',
    goVersion: `node${process.versions.node}`,
    compiler: 'node',
    platform,
  };
}

export function goArch(a: string): string {
  return ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' } as Record<string, string>)[a] ?? a;
}

interface ApiResource {
  name: string;
  singularName: string;
  namespaced: boolean;
  kind: string;
  verbs: string[];
  shortNames?: string[];
  categories?: string[];
}

const READ = ['get', 'list', 'watch'];
const WRITE = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

export const RESOURCES: ApiResource[] = [
  { name: 'configmaps', singularName: 'configmap', namespaced: true, kind: 'ConfigMap', verbs: WRITE, shortNames: ['cm'] },
  { name: 'events', singularName: 'event', namespaced: true, kind: 'Event', verbs: READ, shortNames: ['ev'] },
  { name: 'namespaces', singularName: 'namespace', namespaced: false, kind: 'Namespace', verbs: READ, shortNames: ['ns'] },
  { name: 'nodes', singularName: 'node', namespaced: false, kind: 'Node', verbs: READ, shortNames: ['no'] },
  { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: WRITE, shortNames: ['po'], categories: ['all'] },
  { name: 'pods/attach', singularName: '', namespaced: true, kind: 'PodAttachOptions', verbs: ['create', 'get'] },
  { name: 'pods/exec', singularName: '', namespaced: true, kind: 'PodExecOptions', verbs: ['create', 'get'] },
  { name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] },
  { name: 'pods/portforward', singularName: '', namespaced: true, kind: 'PodPortForwardOptions', verbs: ['create', 'get'] },
  { name: 'secrets', singularName: 'secret', namespaced: true, kind: 'Secret', verbs: WRITE },
  { name: 'services', singularName: 'service', namespaced: true, kind: 'Service', verbs: WRITE, shortNames: ['svc'], categories: ['all'] },
];

export function apiVersions(serverAddress: string): object {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

export function apiResourceList(): object {
  return { kind: 'APIResourceList', groupVersion: 'v1', resources: RESOURCES };
}

export function apiGroupList(): object {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: [] };
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { name?: string; kind?: string; uid?: string; causes?: { reason: string; message: string; field?: string }[] };
  code?: number;
}

export function status(code: number, reason: string, message: string, details?: Status['details']): Status {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: code < 400 ? 'Success' : 'Failure', message, reason, ...(details ? { details } : {}), code };
}

export const notFound = (resource: string, name: string): Status => status(404, 'NotFound', `${resource} "${name}" not found`, { name, kind: resource });

/** What a write the node does not take answers: in cluster mode all of them, else those of other resources. */
export function readOnly(method: string, manifestDir: string, cluster = false): Status {
  if (cluster) return status(405, 'MethodNotAllowed', `this node belongs to a cluster: ${method === 'DELETE' ? 'delete' : 'write'} through its API server, which owns the pods`);
  return status(405, 'MethodNotAllowed', `standalone node: only pods, configmaps, secrets and services can be written through the API (as files in ${manifestDir}/kubectl); edit the manifest directory (${manifestDir}) for the rest`);
}

// --- selectors ---------------------------------------------------------------------------

type Requirement = { key: string; op: '=' | '!=' | 'in' | 'notin' | 'exists' | '!'; values: string[] };

/** Label selector syntax: `a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x)`. */
export function parseLabelSelector(s: string): Requirement[] {
  const out: Requirement[] = [];
  // Split on commas outside parentheses.
  let depth = 0;
  let cur = '';
  const parts: string[] = [];
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  for (const raw of parts) {
    const p = raw.trim();
    if (!p) continue;
    let m: Groups<3> | undefined;
    let not: Groups<1> | undefined;
    if ((m = matchGroups(/^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/, p, 3))) out.push({ key: m[1], op: m[2] as 'in' | 'notin', values: m[3].split(',').map((v) => v.trim()) });
    else if ((m = matchGroups(/^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/, p, 3))) out.push({ key: m[1], op: m[2] === '!=' ? '!=' : '=', values: [m[3]] });
    else if ((not = matchGroups(/^!\s*(\S+)$/, p, 1))) out.push({ key: not[1], op: '!', values: [] });
    else if (/^[^\s=!(),]+$/.test(p)) out.push({ key: p, op: 'exists', values: [] });
    else throw new SelectorError(`unable to parse requirement: ${JSON.stringify(p)}`);
  }
  return out;
}

export class SelectorError extends Error {}

export function matches(reqs: Requirement[], get: (key: string) => string | undefined): boolean {
  return reqs.every((r) => {
    const v = get(r.key);
    switch (r.op) {
      case '=':
        return v === r.values[0];
      case '!=':
        return v !== r.values[0];
      case 'in':
        return v !== undefined && r.values.includes(v);
      case 'notin':
        return v === undefined || !r.values.includes(v);
      case 'exists':
        return v !== undefined;
      case '!':
        return v === undefined;
    }
    return false;
  });
}

/** Field selectors support only equality (`=`, `==`, `!=`), as the API server's do. */
export function parseFieldSelector(s: string, supported: string[], resource: string): Requirement[] {
  const reqs = parseLabelSelector(s);
  for (const r of reqs) {
    if (r.op !== '=' && r.op !== '!=') throw new SelectorError(`invalid field selector: ${JSON.stringify(s)}`);
    if (!supported.includes(r.key)) throw new SelectorError(`field label not supported: ${r.key} (${resource} support ${supported.join(', ')})`);
  }
  return reqs;
}

export const POD_FIELDS = ['metadata.name', 'metadata.namespace', 'spec.nodeName', 'spec.restartPolicy', 'status.phase', 'status.podIP'];
export const EVENT_FIELDS = ['involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid', 'involvedObject.apiVersion', 'involvedObject.fieldPath', 'reason', 'reportingComponent', 'source', 'type', 'metadata.name', 'metadata.namespace'];

export function podField(p: Pod, key: string): string | undefined {
  switch (key) {
    case 'metadata.name':
      return p.metadata.name;
    case 'metadata.namespace':
      return p.metadata.namespace;
    case 'spec.nodeName':
      return p.spec.nodeName ?? '';
    case 'spec.restartPolicy':
      return p.spec.restartPolicy ?? 'Always';
    case 'status.phase':
      return p.status?.phase ?? '';
    case 'status.podIP':
      return p.status?.podIP ?? '';
  }
  return undefined;
}

export function eventField(e: CoreEvent, key: string): string | undefined {
  if (key.startsWith('involvedObject.')) return String((e.involvedObject as Record<string, unknown>)[key.slice('involvedObject.'.length)] ?? '');
  switch (key) {
    case 'reason':
      return e.reason;
    case 'type':
      return e.type;
    case 'reportingComponent':
      return e.reportingComponent;
    case 'source':
      return e.source.component;
    case 'metadata.name':
      return e.metadata.name;
    case 'metadata.namespace':
      return e.metadata.namespace;
  }
  return undefined;
}

// --- lists and tables ------------------------------------------------------------------

export function list(kind: string, items: unknown[], resourceVersion = '1'): object {
  return { kind: `${kind}List`, apiVersion: 'v1', metadata: { resourceVersion }, items };
}

/** True when the client asked for a Table (kubectl get): `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`. */
export function wantsTable(accept: string | undefined): 'v1' | 'v1beta1' | undefined {
  for (const part of (accept ?? '').split(',')) {
    const params = Object.fromEntries(part.split(';').slice(1).map((kv) => kv.trim().split('=').map((x) => x.trim()) as [string, string]));
    if (params.as === 'Table' && params.g === 'meta.k8s.io' && (params.v === 'v1' || params.v === 'v1beta1')) return params.v;
    // A client that lists plain JSON first prefers it.
    if (part.trim().startsWith('application/json') && !params.as) return undefined;
  }
  return undefined;
}

export interface Column {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

const col = (name: string, description: string, priority = 0, format = ''): Column => ({ name, type: 'string', format, description, priority });

export const POD_COLUMNS: Column[] = [
  col('Name', 'Name must be unique within a namespace.', 0, 'name'),
  col('Ready', 'The aggregate readiness state of this pod for accepting traffic.'),
  col('Status', 'The aggregate status of the containers in this pod.'),
  col('Restarts', 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.'),
  col('Age', 'CreationTimestamp is a timestamp representing the server time when this object was created.'),
  col('IP', 'podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.', 1),
  col('Node', 'NodeName indicates in which node this pod is scheduled.', 1),
  col('Nominated Node', 'nominatedNodeName is set only when this pod preempts other pods on the node.', 1),
  col('Readiness Gates', 'If specified, all readiness gates will be evaluated for pod readiness.', 1),
];

export const EVENT_COLUMNS: Column[] = [
  col('Last Seen', 'The time at which the most recent occurrence of this event was recorded.'),
  col('Type', 'Type of this event (Normal, Warning), new types could be added in the future.'),
  col('Reason', 'This should be a short, machine understandable string that gives the reason for the transition into the object\'s current status.'),
  col('Object', 'The object that this event is about.'),
  col('Subobject', 'The field of the object that this event is about.', 1),
  col('Source', 'The component reporting this event.', 1),
  col('Message', 'A human-readable description of the status of this operation.'),
  col('First Seen', 'The time at which the event was first recorded.', 1),
  col('Count', 'The number of times this event has occurred.', 1),
  col('Name', 'Name must be unique within a namespace.', 1, 'name'),
];

export const NODE_COLUMNS: Column[] = [
  col('Name', 'Name must be unique within a namespace.', 0, 'name'),
  col('Status', 'The status of the node'),
  col('Roles', 'The roles of the node'),
  col('Age', 'CreationTimestamp is a timestamp representing the server time when this object was created.'),
  col('Version', 'Kubelet Version reported by the node.'),
  col('Internal-IP', 'List of addresses reachable to the node. Queried from cloud provider, if available.', 1),
  col('External-IP', 'List of addresses reachable to the node. Queried from cloud provider, if available.', 1),
  col('OS-Image', 'OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).', 1),
  col('Kernel-Version', 'Kernel Version reported by the node from \'uname -r\' (e.g. 3.16.0-0.bpo.4-amd64).', 1),
  col('Container-Runtime', 'ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).', 1),
];

export const CONFIGMAP_COLUMNS: Column[] = [
  col('Name', 'Name must be unique within a namespace.', 0, 'name'),
  col('Data', 'The number of keys.'),
  col('Age', 'CreationTimestamp is a timestamp representing the server time when this object was created.'),
];

export const SECRET_COLUMNS: Column[] = [
  col('Name', 'Name must be unique within a namespace.', 0, 'name'),
  col('Type', 'Used to facilitate programmatic handling of secret data.'),
  col('Data', 'The number of keys.'),
  col('Age', 'CreationTimestamp is a timestamp representing the server time when this object was created.'),
];

export const SERVICE_COLUMNS: Column[] = [
  col('Name', 'Name must be unique within a namespace.', 0, 'name'),
  col('Type', 'type determines how the Service is exposed.'),
  col('Cluster-IP', 'clusterIP is the IP address of the service.'),
  col('External-IP', 'externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.'),
  col('Port(s)', 'The list of ports that are exposed by this service.'),
  col('Age', 'CreationTimestamp is a timestamp representing the server time when this object was created.'),
  col('Selector', 'Route service traffic to pods with label keys and values matching this selector.', 1),
];

type Plain = { metadata: { name?: string; creationTimestamp?: string } } & Record<string, unknown>;
const count = (...maps: unknown[]) => maps.reduce<number>((n, m) => n + (m && typeof m === 'object' ? Object.keys(m).length : 0), 0);

export function configMapRow(o: Plain, now: number, include: IncludeObject): TableRow {
  return { cells: [o.metadata.name ?? '', count(o.data, o.binaryData), since(now, o.metadata.creationTimestamp)], object: rowObject(o, include) };
}

export function secretRow(o: Plain, now: number, include: IncludeObject): TableRow {
  return { cells: [o.metadata.name ?? '', typeof o.type === 'string' ? o.type : 'Opaque', count(o.data, o.stringData), since(now, o.metadata.creationTimestamp)], object: rowObject(o, include) };
}

export function serviceRow(o: Plain, now: number, include: IncludeObject): TableRow {
  const spec = (o.spec ?? {}) as { type?: string; clusterIP?: string; externalIPs?: string[]; ports?: { port: number; protocol?: string; nodePort?: number }[]; selector?: Record<string, string> };
  const ports = (spec.ports ?? []).map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`).join(',');
  const selector = Object.entries(spec.selector ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
  return {
    cells: [o.metadata.name ?? '', spec.type ?? 'ClusterIP', spec.clusterIP || '<none>', spec.externalIPs?.length ? spec.externalIPs.join(',') : '<none>', ports || '<none>', since(now, o.metadata.creationTimestamp), selector || '<none>'],
    object: rowObject(o, include),
  };
}

export const NAMESPACE_COLUMNS: Column[] = [
  col('Name', 'Name must be unique within a namespace.', 0, 'name'),
  col('Status', 'The status of the namespace'),
  col('Age', 'CreationTimestamp is a timestamp representing the server time when this object was created.'),
];

export type IncludeObject = 'None' | 'Metadata' | 'Object';

export interface TableRow {
  cells: (string | number)[];
  object?: unknown;
}

export function table(columns: Column[], rows: TableRow[], version: 'v1' | 'v1beta1' = 'v1', resourceVersion = '1'): object {
  return { kind: 'Table', apiVersion: `meta.k8s.io/${version}`, metadata: { resourceVersion }, columnDefinitions: columns, rows };
}

function rowObject(obj: { apiVersion?: string; kind?: string; metadata: object }, include: IncludeObject): unknown {
  if (include === 'None') return undefined;
  if (include === 'Object') return obj;
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata };
}

const since = (now: number, t: string | undefined) => (t && Number.isFinite(Date.parse(t)) ? age(now - Date.parse(t)) : '<unknown>');

export function podRow(p: Pod, now: number, include: IncludeObject): TableRow {
  const gates = p.spec.readinessGates ?? [];
  const gatesTrue = gates.filter((g) => p.status?.conditions?.some((c) => c.type === g.conditionType && c.status === 'True')).length;
  return {
    cells: [
      p.metadata.name,
      podReadyCount(p),
      podStatusColumn(p),
      restartsColumn(p, now),
      since(now, p.metadata.creationTimestamp ?? p.status?.startTime),
      p.status?.podIP ?? '<none>',
      p.spec.nodeName ?? '<none>',
      '<none>',
      gates.length ? `${gatesTrue}/${gates.length}` : '<none>',
    ],
    object: rowObject(p, include),
  };
}

export function eventRow(e: CoreEvent, now: number, include: IncludeObject): TableRow {
  return {
    cells: [
      since(now, e.lastTimestamp),
      e.type,
      e.reason,
      `${e.involvedObject.kind.toLowerCase()}/${e.involvedObject.name}`,
      e.involvedObject.fieldPath ?? '',
      `${e.source.component}, ${e.source.host}`,
      e.message,
      since(now, e.firstTimestamp),
      e.count,
      e.metadata.name,
    ],
    object: rowObject(e, include),
  };
}

export interface NodeFacts {
  name: string;
  uid: string;
  createdAt: string;
  address: string;
  hostname: string;
  podCIDR: string;
  unschedulable: boolean;
  cpus: number;
  memoryBytes: number;
  ephemeralBytes: number;
  maxPods: number;
  machineID: string;
  systemUUID: string;
  bootID: string;
  kernelVersion: string;
  osImage: string;
  containerRuntimeVersion: string;
  arch: string;
  port: number;
  ready: boolean;
  readyMessage: string;
  heartbeat: string;
}

export interface NodeObject {
  apiVersion: 'v1';
  kind: 'Node';
  metadata: { name: string; uid: string; creationTimestamp: string; resourceVersion: string; labels: Record<string, string>; annotations: Record<string, string> };
  spec: { podCIDR: string; podCIDRs: string[]; unschedulable?: boolean; taints?: { key: string; effect: string; timeAdded?: string }[] };
  status: Record<string, unknown>;
}

/** The labels kubelet puts on its Node (what nodeSelector and node affinity see). */
export function standardNodeLabels(hostname: string, arch: string): Record<string, string> {
  return {
    'beta.kubernetes.io/arch': arch,
    'beta.kubernetes.io/os': 'linux',
    'kubernetes.io/arch': arch,
    'kubernetes.io/hostname': hostname,
    'kubernetes.io/os': 'linux',
  };
}

export function nodeObject(f: NodeFacts): NodeObject {
  const ki = (b: number) => `${Math.floor(b / 1024)}Ki`;
  const resources = { cpu: String(f.cpus), memory: ki(f.memoryBytes), pods: String(f.maxPods), 'ephemeral-storage': ki(f.ephemeralBytes) };
  const cond = (type: string, st: string, reason: string, message: string) => ({ type, status: st, lastHeartbeatTime: f.heartbeat, lastTransitionTime: f.createdAt, reason, message });
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: f.name,
      uid: f.uid,
      creationTimestamp: f.createdAt,
      resourceVersion: '1',
      labels: standardNodeLabels(f.hostname, f.arch),
      annotations: { 'node.alpha.kubernetes.io/ttl': '0', 'bosun.io/standalone': 'true' },
    },
    spec: {
      podCIDR: f.podCIDR,
      podCIDRs: [f.podCIDR],
      ...(f.unschedulable ? { unschedulable: true, taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule', timeAdded: f.heartbeat }] } : {}),
    },
    status: {
      capacity: resources,
      allocatable: resources,
      conditions: [
        cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
        cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
        cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
        f.ready ? cond('Ready', 'True', 'KubeletReady', f.readyMessage) : cond('Ready', 'False', 'KubeletNotReady', f.readyMessage),
      ],
      addresses: [{ type: 'InternalIP', address: f.address }, { type: 'Hostname', address: f.hostname }],
      daemonEndpoints: { kubeletEndpoint: { Port: f.port } },
      nodeInfo: {
        machineID: f.machineID,
        systemUUID: f.systemUUID,
        bootID: f.bootID,
        kernelVersion: f.kernelVersion,
        osImage: f.osImage,
        containerRuntimeVersion: f.containerRuntimeVersion,
        kubeletVersion: KUBE_VERSION.gitVersion,
        kubeProxyVersion: KUBE_VERSION.gitVersion,
        operatingSystem: 'linux',
        architecture: f.arch,
      },
    },
  };
}

export function nodeRow(n: NodeObject, now: number, include: IncludeObject): TableRow {
  const st = n.status as { conditions: { type: string; status: string }[]; addresses: { type: string; address: string }[]; nodeInfo: { kubeletVersion: string; osImage: string; kernelVersion: string; containerRuntimeVersion: string } };
  const ready = st.conditions.find((c) => c.type === 'Ready')?.status === 'True';
  return {
    cells: [
      n.metadata.name,
      `${ready ? 'Ready' : 'NotReady'}${n.spec.unschedulable ? ',SchedulingDisabled' : ''}`,
      '<none>',
      since(now, n.metadata.creationTimestamp),
      st.nodeInfo.kubeletVersion,
      st.addresses.find((a) => a.type === 'InternalIP')?.address ?? '<none>',
      '<none>',
      st.nodeInfo.osImage,
      st.nodeInfo.kernelVersion,
      st.nodeInfo.containerRuntimeVersion,
    ],
    object: rowObject(n, include),
  };
}

export interface NamespaceObject {
  apiVersion: 'v1';
  kind: 'Namespace';
  metadata: { name: string; creationTimestamp: string; labels: Record<string, string> };
  spec: { finalizers: string[] };
  status: { phase: 'Active' };
}

/** The namespaces this node's pods use, plus default (a standalone node has no Namespace objects). */
export function namespaces(pods: Pod[], createdAt: string): NamespaceObject[] {
  const names = [...new Set(['default', ...pods.map((p) => p.metadata.namespace)])].sort();
  return names.map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, creationTimestamp: createdAt, labels: { 'kubernetes.io/metadata.name': name } }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } }));
}

export function namespaceRow(n: NamespaceObject, now: number, include: IncludeObject): TableRow {
  return { cells: [n.metadata.name, n.status.phase, since(now, n.metadata.creationTimestamp)], object: rowObject(n, include) };
}
