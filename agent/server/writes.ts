import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readFile, realpath, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import {
  type FieldError, type KubeObject, KINDS, formatFieldError, formatFieldErrorBody, isDNS1123Label, parseManifests, validateObject,
} from '../../manifests/index.js';
import { beforeFirst } from '../../base/index.js';
import { MANAGED_DIR, readManifestText, type SourceFile } from '../sources/file.js';
import { status, type Status } from './api.js';
import { mergePatch, PatchError, strategicMergePatch } from './patch.js';

// kubectl's writes on a standalone node: each object created through the API is one file in
// <manifest-dir>/kubectl/, read back by the file source like any other manifest. A request
// is checked as a dropped file would be (same parser, limits and validation) before its file
// is written, and files written by hand are never changed: the operator's file wins, and
// kubectl is told which file to edit instead.

type Obj = Record<string, unknown>;
type Meta = Record<string, unknown>;

export type WritableResource = 'pods' | 'configmaps' | 'secrets' | 'services';
export const WRITABLE: Record<WritableResource, string> = { pods: 'Pod', configmaps: 'ConfigMap', secrets: 'Secret', services: 'Service' };
export const isWritable = (r: string): r is WritableResource => r in WRITABLE;

export interface Answer {
  code: number;
  body: unknown;
}

export interface WriterDeps {
  manifestDir: string;
  nodeName: string;
  files(): SourceFile[];
  /** Reads the directory again; resolves once the agent has the new state. */
  rescan(): Promise<void>;
  /** The object as GET serves it now (with its resourceVersion), undefined when there is none. */
  served(resource: WritableResource, namespace: string, name: string): Promise<Obj | undefined>;
}

/** Who defines an object: the file, and whether kubectl wrote it. */
export interface Owner {
  file: string;
  managed: boolean;
}

const nsOf = (o: { metadata?: { namespace?: unknown } }) => (typeof o.metadata?.namespace === 'string' && o.metadata.namespace) || 'default';

/** The file that defines kind/namespace/name (pods by the name they run under), if any. */
export function ownerOf(files: SourceFile[], kind: string, namespace: string, name: string): Owner | undefined {
  for (const f of files) {
    const found = kind === 'Pod'
      ? f.pods.some((p) => p.metadata.namespace === namespace && p.metadata.name === name)
      : f.objects.some((o) => o.kind === kind && nsOf(o) === namespace && o.metadata?.name === name);
    if (found) return { file: f.file, managed: f.managed };
  }
  return undefined;
}

/** Where kubectl's copy of an object lives: readable names, hashed when too long for a file name. */
export function managedFileName(kind: string, namespace: string, name: string): string {
  const plain = `${kind.toLowerCase()}_${namespace}_${name}.yaml`;
  if (plain.length <= 200) return plain;
  return `${kind.toLowerCase()}_${namespace}_${createHash('sha256').update(name).digest('hex').slice(0, 32)}.yaml`;
}

/** Path segments checked with upstream's name rules before anything is looked up by them. */
export function badPathNames(kind: string, namespace: string, name?: string): string[] {
  const errs = isDNS1123Label(namespace).map((m) => `namespace ${JSON.stringify(namespace)}: ${m}`);
  if (name !== undefined) errs.push(...KINDS[kind]!.name(name).map((m) => `name ${JSON.stringify(name)}: ${m}`));
  return errs;
}

const CAUSE: Record<string, string> = {
  'Required value': 'FieldValueRequired',
  'Invalid value': 'FieldValueInvalid',
  'Unsupported value': 'FieldValueNotSupported',
  'Duplicate value': 'FieldValueDuplicate',
  'Not found': 'FieldValueNotFound',
  Forbidden: 'FieldValueForbidden',
  'Unknown field': 'FieldValueInvalid',
  'Too long': 'FieldValueTooLong',
  'Too many': 'FieldValueTooMany',
};

/** The API server's 422: `Pod "x" is invalid: field: error`, one cause per field error. */
export function invalid(kind: string, name: string, errs: FieldError[]): Status {
  const lines = errs.map(formatFieldError);
  const message = `${kind} "${name}" is invalid: ${lines.length === 1 ? lines[0] : `[${lines.join(', ')}]`}`;
  return status(422, 'Invalid', message, {
    name,
    kind,
    causes: errs.map((e) => ({ reason: CAUSE[e.type] ?? 'FieldValueInvalid', message: formatFieldErrorBody(e), field: e.field })),
  });
}


const conflictWithFile = (resource: string, name: string, file: string): Status =>
  status(409, 'Conflict', `${resource} "${name}" is defined by the hand-written manifest ${file}: edit or remove that file instead (kubectl may change only what it wrote, in ${MANAGED_DIR}/)`, { name, kind: resource });

const notFound = (resource: string, name: string): Status => status(404, 'NotFound', `${resource} "${name}" not found`, { name, kind: resource });

/** What the server sets: never taken from a request, never written to a file. */
const SERVER_META = ['resourceVersion', 'uid', 'creationTimestamp', 'selfLink', 'generation', 'managedFields', 'deletionTimestamp', 'deletionGracePeriodSeconds'];
const AGENT_ANNOTATIONS = /^kubernetes\.io\/config\.(hash|seen|source|mirror)$/;

/** The object as its file holds it: server-set fields dropped, identity kept from the old file. */
export function toStored(obj: Obj, namespace: string, keep: { uid: string; creationTimestamp: string }): Obj {
  const meta: Meta = { ...((obj.metadata as Meta | undefined) ?? {}) };
  for (const k of SERVER_META) delete meta[k];
  const ann = meta.annotations as Record<string, string> | undefined;
  if (ann) {
    const kept = Object.fromEntries(Object.entries(ann).filter(([k]) => !AGENT_ANNOTATIONS.test(k)));
    if (Object.keys(kept).length) meta.annotations = kept;
    else delete meta.annotations;
  }
  const out: Obj = { ...obj, metadata: { ...meta, namespace, uid: keep.uid, creationTimestamp: keep.creationTimestamp } };
  delete out.status;
  if (out.kind === 'Secret' && out.stringData && typeof out.stringData === 'object') {
    // As the API server stores it: stringData folded into data.
    const data = { ...((out.data as Record<string, string> | undefined) ?? {}) };
    for (const [k, v] of Object.entries(out.stringData as Record<string, unknown>)) data[k] = Buffer.from(String(v), 'utf8').toString('base64');
    out.data = data;
    delete out.stringData;
  }
  return out;
}

/**
 * The file's text: YAML that reads back as the same object. Manifests are read with YAML
 * 1.1's scalars (as kubelet's go-yaml does), where a bare `yes` or `0644` is not a string,
 * so the text is written for 1.1 and checked; JSON (also YAML) when it would not round-trip.
 */
export function manifestText(obj: Obj): string {
  const yaml = stringify(obj, { version: '1.1' });
  const back = parseManifests(yaml, 'check');
  if (!back.errors.length && back.objects.length === 1 && JSON.stringify(back.objects[0]!.object) === JSON.stringify(obj)) return yaml;
  return `${JSON.stringify(obj, null, 2)}\n`;
}

export class ManifestWriter {
  constructor(private readonly d: WriterDeps) {}

  private get managedDir(): string {
    return join(this.d.manifestDir, MANAGED_DIR);
  }

  /** One object from a request body, parsed as a manifest file is (limits, duplicate keys, depth). */
  private parse(text: string, resource: WritableResource): { obj: Obj } | { err: Status } {
    const r = parseManifests(text, 'request body');
    if (r.errors.length) return { err: status(400, 'BadRequest', r.errors.map((e) => e.message).join('; ')) };
    if (r.objects.length !== 1) return { err: status(400, 'BadRequest', `the request body must hold one object, not ${r.objects.length}`) };
    const o = r.objects[0]!.object as Obj;
    const kind = WRITABLE[resource];
    if (o.kind !== undefined && o.kind !== kind) return { err: status(400, 'BadRequest', `the kind in the body (${String(o.kind)}) does not match the resource (${resource}: ${kind})`) };
    return { obj: o };
  }

  /** Checks an object as a dropped file is checked, with the API server's 422 when it fails. */
  private validate(obj: Obj, file: string): Status | undefined {
    const kind = String(obj.kind);
    const name = String((obj.metadata as Meta).name ?? '');
    const errs = validateObject(obj as KubeObject);
    if (errs.length) return invalid(kind, name, errs);
    // And the very text to be written through the file source's own reader: what it would
    // refuse is refused here.
    const r = readManifestText(manifestText(obj), file, this.d.nodeName, () => new Date(0), 'file', true);
    if (r.messages.length) return status(422, 'Invalid', `${kind} "${name}" is invalid: ${r.messages.join('; ')}`, { name, kind });
    return undefined;
  }

  /** The managed directory must be itself, not a link to somewhere else: checked after resolution. */
  private async checkDir(): Promise<void> {
    const want = join(await realpath(this.d.manifestDir), MANAGED_DIR);
    const got = await realpath(this.managedDir);
    if (got !== want) throw new Error(`${this.managedDir} resolves to ${got}, outside the manifest directory: refusing to write there`);
  }

  private async store(obj: Obj, file: string, dryRun: boolean): Promise<void> {
    if (dryRun) return;
    await mkdir(this.managedDir, { recursive: true, mode: 0o755 });
    await this.checkDir();
    // Written beside its final name and renamed: the file source never reads half a file.
    const tmp = join(this.managedDir, `.${randomBytes(6).toString('hex')}.tmp`);
    await writeFile(tmp, `# Written through the kubelet API (kubectl). Change it with kubectl, or move it out of ${MANAGED_DIR}/ to own it by hand.\n${manifestText(obj)}`, { mode: 0o600 });
    await rename(tmp, file);
    await this.d.rescan();
  }

  private async stored(file: string): Promise<Obj | undefined> {
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    const r = parseManifests(text, file);
    return r.objects.length === 1 ? (r.objects[0]!.object as Obj) : undefined;
  }

  private async answer(code: number, resource: WritableResource, namespace: string, name: string, fallback: Obj): Promise<Answer> {
    return { code, body: (await this.d.served(resource, namespace, name)) ?? fallback };
  }

  async create(resource: WritableResource, namespace: string, text: string, dryRun: boolean): Promise<Answer> {
    const kind = WRITABLE[resource];
    const parsed = this.parse(text, resource);
    if ('err' in parsed) return fail(parsed.err);
    const obj = { apiVersion: 'v1', kind, ...parsed.obj } as Obj;
    const meta = { ...((obj.metadata as Meta | undefined) ?? {}) };
    obj.metadata = meta;
    if (meta.namespace !== undefined && meta.namespace !== '' && meta.namespace !== namespace) {
      return fail(status(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request'));
    }
    if (!meta.name && typeof meta.generateName === 'string' && meta.generateName) meta.name = `${meta.generateName}${randomBytes(4).toString('hex').slice(0, 5)}`;
    const name = typeof meta.name === 'string' ? meta.name : '';
    const pathErrs = badPathNames(kind, namespace);
    if (pathErrs.length) return fail(status(400, 'BadRequest', pathErrs.join('; ')));
    const stored = toStored(obj, namespace, { uid: randomUUID(), creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z') });
    const file = join(this.managedDir, managedFileName(kind, namespace, name || 'unnamed'));
    const bad = this.validate(stored, file);
    if (bad) return fail(bad);
    const owner = ownerOf(this.d.files(), kind, namespace, name);
    if (owner && !owner.managed) return fail(conflictWithFile(resource, name, owner.file));
    if (owner) return fail(status(409, 'AlreadyExists', `${resource} "${name}" already exists`, { name, kind: resource }));
    await this.store(stored, file, dryRun);
    return dryRun ? { code: 201, body: stored } : this.answer(201, resource, namespace, name, stored);
  }

  /** The file kubectl may change for namespace/name, or the answer that it may not. */
  private target(resource: WritableResource, namespace: string, name: string): Owner | Status {
    const kind = WRITABLE[resource];
    const pathErrs = badPathNames(kind, namespace, name);
    if (pathErrs.length) return notFound(resource, name);
    const owner = ownerOf(this.d.files(), kind, namespace, name);
    if (!owner) return notFound(resource, name);
    if (!owner.managed) return conflictWithFile(resource, name, owner.file);
    return owner;
  }

  async replace(resource: WritableResource, namespace: string, name: string, text: string, dryRun: boolean): Promise<Answer> {
    const parsed = this.parse(text, resource);
    if ('err' in parsed) return fail(parsed.err);
    return this.update(resource, namespace, name, parsed.obj, dryRun);
  }

  private async update(resource: WritableResource, namespace: string, name: string, obj: Obj, dryRun: boolean): Promise<Answer> {
    const kind = WRITABLE[resource];
    const t = this.target(resource, namespace, name);
    if ('kind' in t) return fail(t);
    const meta = (obj.metadata as Meta | undefined) ?? {};
    if (meta.name !== undefined && meta.name !== name) return fail(status(400, 'BadRequest', `the name of the object (${String(meta.name)}) does not match the name on the URL (${name})`));
    if (meta.namespace !== undefined && meta.namespace !== '' && meta.namespace !== namespace) {
      return fail(status(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request'));
    }
    const rv = meta.resourceVersion;
    if (rv !== undefined && rv !== '') {
      const current = await this.d.served(resource, namespace, name);
      const now = (current?.metadata as Meta | undefined)?.resourceVersion;
      if (now !== rv) return fail(status(409, 'Conflict', `Operation cannot be fulfilled on ${resource} "${name}": the object has been modified; please apply your changes to the latest version and try again`, { name, kind: resource }));
    }
    const old = await this.stored(t.file);
    const oldMeta = (old?.metadata as Meta | undefined) ?? {};
    const keep = {
      uid: typeof oldMeta.uid === 'string' ? oldMeta.uid : randomUUID(),
      creationTimestamp: typeof oldMeta.creationTimestamp === 'string' ? oldMeta.creationTimestamp : new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    };
    const stored = toStored({ apiVersion: 'v1', ...obj, kind, metadata: { ...meta, name } }, namespace, keep);
    const bad = this.validate(stored, t.file);
    if (bad) return fail(bad);
    await this.store(stored, t.file, dryRun);
    return dryRun ? { code: 200, body: stored } : this.answer(200, resource, namespace, name, stored);
  }

  async patch(resource: WritableResource, namespace: string, name: string, text: string, contentType: string, dryRun: boolean): Promise<Answer> {
    const kind = WRITABLE[resource];
    const type = beforeFirst(contentType, ';').trim().toLowerCase();
    if (type === 'application/apply-patch+yaml') {
      // Server-side apply: creates what is missing; otherwise the applied fields are merged in.
      const parsed = this.parse(text, resource);
      if ('err' in parsed) return fail(parsed.err);
      const cfg = parsed.obj;
      const pathErrs = badPathNames(kind, namespace, name);
      if (pathErrs.length) return fail(status(400, 'BadRequest', pathErrs.join('; ')));
      const owner = ownerOf(this.d.files(), kind, namespace, name);
      if (!owner) {
        const meta = (cfg.metadata as Meta | undefined) ?? {};
        if (meta.name !== undefined && meta.name !== name) return fail(status(400, 'BadRequest', `the name of the object (${String(meta.name)}) does not match the name on the URL (${name})`));
        return this.create(resource, namespace, JSON.stringify({ ...cfg, metadata: { ...meta, name } }), dryRun);
      }
      if (!owner.managed) return fail(conflictWithFile(resource, name, owner.file));
      const base = (await this.stored(owner.file)) ?? {};
      return this.update(resource, namespace, name, strategicMergePatch(base, cfg, kind), dryRun);
    }
    if (type !== 'application/strategic-merge-patch+json' && type !== 'application/merge-patch+json') {
      return fail(status(415, 'UnsupportedMediaType', `the body of the request was in an unknown format (${type}) - accepted media types include: application/strategic-merge-patch+json, application/merge-patch+json, application/apply-patch+yaml`));
    }
    const t = this.target(resource, namespace, name);
    if ('kind' in t) return fail(t);
    let patch: unknown;
    try {
      patch = JSON.parse(text);
    } catch (err) {
      return fail(status(400, 'BadRequest', `the patch is not JSON: ${(err as Error).message}`));
    }
    const base = (await this.stored(t.file)) ?? {};
    let next: Obj;
    try {
      next = type === 'application/strategic-merge-patch+json' ? strategicMergePatch(base, patch, kind) : mergePatch(base, patch) as Obj;
    } catch (err) {
      if (err instanceof PatchError) return fail(status(400, 'BadRequest', err.message));
      throw err;
    }
    // A patch that sets resourceVersion is a precondition; the stored file has none of its own.
    return this.update(resource, namespace, name, next, dryRun);
  }

  async remove(resource: WritableResource, namespace: string, name: string, dryRun: boolean): Promise<Answer> {
    const t = this.target(resource, namespace, name);
    if ('kind' in t) return fail(t);
    const before = await this.d.served(resource, namespace, name);
    if (!dryRun) {
      await this.checkDir();
      await unlink(t.file);
      await this.d.rescan();
    }
    if (resource === 'pods' && before) {
      // A pod is deleted gracefully: it stays until its containers have stopped.
      const meta = before.metadata as Meta;
      return { code: 200, body: { ...before, metadata: { ...meta, deletionTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z') } } };
    }
    const uid = (before?.metadata as Meta | undefined)?.uid;
    return { code: 200, body: status(200, 'Success', '', { name, kind: resource, ...(typeof uid === 'string' ? { uid } : {}) } as Status['details']) };
  }
}

function fail(st: Status): Answer {
  return { code: st.code ?? 500, body: st };
}
