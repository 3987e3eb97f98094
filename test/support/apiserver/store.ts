import { randomUUID } from 'node:crypto';

// The in-memory state of the test API server: objects by resource, one global
// resourceVersion counter (as etcd's revision), an event history watches replay from, and a
// compaction point below which a resourceVersion is "too old" (410 Gone).

export type Obj = Record<string, unknown> & { metadata: Meta };
export interface Meta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  generateName?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [k: string]: unknown;
}

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ResourceDef {
  group: string;
  version: string;
  name: string;
  kind: string;
  namespaced: boolean;
  shortNames?: string[];
  subresources?: string[];
}

export const RESOURCES: ResourceDef[] = [
  { group: '', version: 'v1', name: 'pods', kind: 'Pod', namespaced: true, shortNames: ['po'], subresources: ['status'] },
  { group: '', version: 'v1', name: 'nodes', kind: 'Node', namespaced: false, shortNames: ['no'], subresources: ['status'] },
  { group: '', version: 'v1', name: 'namespaces', kind: 'Namespace', namespaced: false, shortNames: ['ns'] },
  { group: '', version: 'v1', name: 'events', kind: 'Event', namespaced: true, shortNames: ['ev'] },
  { group: '', version: 'v1', name: 'configmaps', kind: 'ConfigMap', namespaced: true, shortNames: ['cm'] },
  { group: '', version: 'v1', name: 'secrets', kind: 'Secret', namespaced: true },
  { group: '', version: 'v1', name: 'services', kind: 'Service', namespaced: true, shortNames: ['svc'] },
  { group: 'coordination.k8s.io', version: 'v1', name: 'leases', kind: 'Lease', namespaced: true },
  { group: 'discovery.k8s.io', version: 'v1', name: 'endpointslices', kind: 'EndpointSlice', namespaced: true },
];

export function apiVersionOf(r: ResourceDef): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

export interface HistoryEntry {
  rv: number;
  resource: string;
  type: EventType;
  object: Obj;
}

export class ApiError extends Error {
  constructor(readonly code: number, readonly reason: string, message: string) {
    super(message);
  }
}

export class Store {
  rv = 1;
  /** Oldest resourceVersion a watch may start from; older ones get 410 Gone. */
  compactedRV = 1;
  readonly objects = new Map<string, Map<string, Obj>>();
  history: HistoryEntry[] = [];
  readonly listeners = new Set<(e: HistoryEntry) => void>();
  /** Every write, for tests: resource, verb, name, content type. */
  readonly writes: { resource: string; verb: string; name: string; contentType?: string; sub?: string }[] = [];

  constructor() {
    for (const r of RESOURCES) this.objects.set(r.name, new Map());
  }

  private map(resource: string): Map<string, Obj> {
    const m = this.objects.get(resource);
    if (!m) throw new ApiError(404, 'NotFound', `the server could not find the requested resource (${resource})`);
    return m;
  }

  key(ns: string | undefined, name: string): string {
    return ns ? `${ns}/${name}` : name;
  }

  get(resource: string, ns: string | undefined, name: string): Obj | undefined {
    return this.map(resource).get(this.key(ns, name));
  }

  list(resource: string): Obj[] {
    return [...this.map(resource).values()];
  }

  private emit(resource: string, type: EventType, object: Obj): void {
    const e = { rv: Number(object.metadata.resourceVersion), resource, type, object: structuredClone(object) };
    this.history.push(e);
    for (const l of this.listeners) l(e);
  }

  create(r: ResourceDef, ns: string | undefined, obj: Obj): Obj {
    const m = this.map(r.name);
    const meta = obj.metadata ?? ({} as Meta);
    if (!meta.name && meta.generateName) meta.name = meta.generateName + Math.random().toString(36).slice(2, 7);
    if (!meta.name) throw new ApiError(422, 'Invalid', `${r.kind} "" is invalid: metadata.name: Required value: name or generateName is required`);
    if (r.namespaced) meta.namespace = ns ?? meta.namespace ?? 'default';
    else delete meta.namespace;
    const k = this.key(meta.namespace, meta.name);
    if (m.has(k)) throw new ApiError(409, 'AlreadyExists', `${r.name} "${meta.name}" already exists`);
    meta.uid = randomUUID();
    meta.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    meta.resourceVersion = String(++this.rv);
    delete meta.deletionTimestamp;
    const out = { ...obj, apiVersion: apiVersionOf(r), kind: r.kind, metadata: meta } as Obj;
    if (r.name === 'pods' && !out.status) out.status = { phase: 'Pending', qosClass: 'BestEffort' };
    m.set(k, out);
    this.emit(r.name, 'ADDED', out);
    return out;
  }

  /** Replaces an existing object; `expectRV` set: 409 Conflict unless it is the current one. */
  update(r: ResourceDef, obj: Obj, expectRV?: string): Obj {
    const m = this.map(r.name);
    const k = this.key(obj.metadata.namespace, obj.metadata.name);
    const cur = m.get(k);
    if (!cur) throw new ApiError(404, 'NotFound', `${r.name} "${obj.metadata.name}" not found`);
    if (expectRV && expectRV !== cur.metadata.resourceVersion) {
      throw new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${r.name} "${obj.metadata.name}": the object has been modified; please apply your changes to the latest version and try again`);
    }
    if (obj.metadata.uid && obj.metadata.uid !== cur.metadata.uid) {
      throw new ApiError(409, 'Conflict', `Precondition failed: UID in precondition: ${obj.metadata.uid}, UID in object meta: ${cur.metadata.uid}`);
    }
    const meta = { ...obj.metadata, uid: cur.metadata.uid, creationTimestamp: cur.metadata.creationTimestamp, resourceVersion: String(++this.rv) };
    if (cur.metadata.deletionTimestamp) {
      meta.deletionTimestamp = cur.metadata.deletionTimestamp;
      meta.deletionGracePeriodSeconds = cur.metadata.deletionGracePeriodSeconds;
    }
    const out = { ...obj, apiVersion: cur.apiVersion, kind: cur.kind, metadata: meta } as Obj;
    m.set(k, out);
    this.emit(r.name, 'MODIFIED', out);
    return out;
  }

  remove(r: ResourceDef, ns: string | undefined, name: string): Obj {
    const m = this.map(r.name);
    const k = this.key(ns, name);
    const cur = m.get(k);
    if (!cur) throw new ApiError(404, 'NotFound', `${r.name} "${name}" not found`);
    m.delete(k);
    const out = { ...cur, metadata: { ...cur.metadata, resourceVersion: String(++this.rv) } };
    this.emit(r.name, 'DELETED', out);
    return out;
  }

  /** Forgets the history: every resourceVersion before now is "too old". */
  compact(): void {
    this.compactedRV = this.rv;
    this.history = [];
  }
}
