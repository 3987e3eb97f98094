// The core-API resources this node serves (a registry, one entry per resource): where the
// objects come from, how kubectl's table prints them, and which fields a fieldSelector may
// name. Each entry is typed with its own object; the list, get and watch handlers see them
// through `Resource`, over the feed's objects.

import { createHash } from 'node:crypto';
import type { KubeObject } from '../../manifests/index.js';
import type { CoreEvent } from '../events.js';
import type { PodView } from '../pods/manager.js';
import type { SourceFile } from '../sources/file.js';
import {
  type Column, configMapRow, CONFIGMAP_COLUMNS, eventField, eventRow, EVENT_COLUMNS, EVENT_FIELDS, type IncludeObject, namespaceRow, NAMESPACE_COLUMNS, namespaces,
  type NodeObject, nodeRow, NODE_COLUMNS, podField, podRow, POD_COLUMNS, POD_FIELDS, secretRow, SECRET_COLUMNS, serviceRow, SERVICE_COLUMNS, type TableRow,
} from './api.js';
import type { Core } from './routes.js';
import type { Served } from './watch.js';

/** Where the served objects come from. */
export interface ObjectSources {
  pods(): PodView[];
  events(): CoreEvent[];
  node(): Promise<NodeObject>;
  /** The manifest directory's valid files: ConfigMaps, Secrets and Services. */
  sourceFiles?(): SourceFile[];
}

/** A resource over the objects the feed holds for it. */
export interface Resource {
  kind: string;
  columns: Column[];
  /** What a fieldSelector may name. */
  fields: string[];
  field(o: Served, key: string): string | undefined;
  row(o: Served, now: number, include: IncludeObject): TableRow;
  /** Every object, all namespaces. */
  read(src: ObjectSources): Promise<Served[]>;
}

interface Entry<T extends Served> {
  kind: string;
  columns: Column[];
  fields: string[];
  field(o: T, key: string): string | undefined;
  row(o: T, now: number, include: IncludeObject): TableRow;
  read(src: ObjectSources): T[] | Promise<T[]>;
}

// The feed of a resource holds only what that resource's read() returned (with the feed's
// resourceVersion set), so its objects are the entry's own type.
function entry<T extends Served>(e: Entry<T>): Resource {
  return {
    kind: e.kind,
    columns: e.columns,
    fields: e.fields,
    field: (o, key) => e.field(o as T, key),
    row: (o, now, include) => e.row(o as T, now, include),
    read: async (src) => e.read(src),
  };
}

type FileObject = { metadata: { name?: string; namespace?: string; uid?: string; creationTimestamp?: string } } & Record<string, unknown>;

const META_FIELDS = ['metadata.name', 'metadata.namespace'];
const metaField = (o: FileObject, k: string) => (k === 'metadata.name' ? o.metadata.name : k === 'metadata.namespace' ? o.metadata.namespace : undefined);
const byName = (a: { metadata: { namespace?: string; name?: string } }, b: { metadata: { namespace?: string; name?: string } }) =>
  `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`);

export const RESOURCES: Record<Core, Resource> = {
  pods: entry({
    kind: 'Pod', columns: POD_COLUMNS, fields: POD_FIELDS, field: podField, row: podRow,
    read: (src) => src.pods().map(({ pod, status }) => ({ ...pod, status })).sort(byName),
  }),
  events: entry({ kind: 'Event', columns: EVENT_COLUMNS, fields: EVENT_FIELDS, field: eventField, row: eventRow, read: (src) => src.events() }),
  nodes: entry({
    kind: 'Node', columns: NODE_COLUMNS, fields: ['metadata.name'], row: nodeRow,
    field: (n: NodeObject, k) => (k === 'metadata.name' ? n.metadata.name : undefined),
    read: async (src) => [await src.node()],
  }),
  configmaps: entry({ kind: 'ConfigMap', columns: CONFIGMAP_COLUMNS, fields: META_FIELDS, field: metaField, row: configMapRow, read: (src) => fileObjects(src, 'ConfigMap') }),
  secrets: entry({
    kind: 'Secret', columns: SECRET_COLUMNS, fields: [...META_FIELDS, 'type'], row: secretRow,
    field: (o: FileObject, k) => (k === 'type' ? (typeof o.type === 'string' ? o.type : 'Opaque') : metaField(o, k)),
    read: (src) => fileObjects(src, 'Secret'),
  }),
  services: entry({ kind: 'Service', columns: SERVICE_COLUMNS, fields: META_FIELDS, field: metaField, row: serviceRow, read: (src) => fileObjects(src, 'Service') }),
  namespaces: entry({
    kind: 'Namespace', columns: NAMESPACE_COLUMNS, fields: ['metadata.name', 'status.phase'], row: namespaceRow,
    field: (n, k) => (k === 'metadata.name' ? n.metadata.name : k === 'status.phase' ? 'Active' : undefined),
    read: async (src) => namespaces(src.pods().map((v) => v.pod), (await src.node()).metadata.creationTimestamp),
  }),
};

/** A file's objects of one kind as the API would serve them: namespaced, with a uid that stays while the file does. */
function fileObjects(src: ObjectSources, kind: string): FileObject[] {
  return (src.sourceFiles?.() ?? []).flatMap((f) => f.objects.filter((o) => o.kind === kind).map((o) => {
    const namespace = (typeof o.metadata?.namespace === 'string' && o.metadata.namespace) || 'default';
    const uid = typeof o.metadata?.uid === 'string' ? o.metadata.uid : stableUID(`${f.file}/${kind}/${namespace}/${String(o.metadata?.name)}`);
    return servedObject(o, { ...o.metadata, namespace, uid });
  }));
}

/** A UUID-shaped id from a name: the same object in the same file keeps it across restarts. */
function stableUID(s: string): string {
  const h = createHash('sha256').update(s).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** A manifest object as the API serves it: a Secret's stringData folded into data, as the API server stores it. */
function servedObject(o: KubeObject, metadata: FileObject['metadata']): FileObject {
  const out: FileObject = { ...o, metadata };
  if (o.kind === 'Secret' && o.stringData && typeof o.stringData === 'object') {
    const data = { ...((o.data as Record<string, string> | undefined) ?? {}) };
    for (const [k, v] of Object.entries(o.stringData as Record<string, unknown>)) data[k] = Buffer.from(String(v), 'utf8').toString('base64');
    out.data = data;
    delete out.stringData;
  }
  return out;
}
