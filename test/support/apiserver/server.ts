import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { beforeFirst, type Groups, matchGroups } from '../../../base/index.js';
import { jsonPatch, mergePatch, strategicMergePatch } from './patch.js';
import { ApiError, apiVersionOf, RESOURCES, Store, type HistoryEntry, type Obj, type ResourceDef } from './store.js';

// A Kubernetes API server for tests: HTTPS on 127.0.0.1 (a self-signed certificate; kubectl
// never sends a bearer token over plain HTTP) with a bearer token, an
// in-memory store with resourceVersions, list/watch with the real wire format (chunked
// JSON lines, BOOKMARK, ERROR 410 in the stream), subresource status, graceful pod deletion,
// discovery good enough for the real kubectl, and knobs to make life hard for clients:
// watch output split at awkward byte boundaries, compaction, outages.

export interface Knobs {
  /** Watch output written in pieces of 1..n bytes (0: whole events). */
  splitWatchBytes: number;
  /** BOOKMARK period for watches that allow them (ms). */
  bookmarkMs: number;
  /** A too-old resourceVersion on watch: HTTP 410 instead of an in-stream ERROR event. */
  expiredAsHttp410: boolean;
  /** Watches end after this long (ms), as the server's timeout does (0: never). */
  watchTimeoutMs: number;
}

interface Watcher {
  resource: string;
  ns?: string;
  match: (o: Obj) => boolean;
  res: ServerResponse;
  queue: string[];
  writing: boolean;
  bookmarks: boolean;
  lastRV: number;
  close: () => void;
}

export interface RequestRecord {
  method: string;
  path: string;
  query: string;
  contentType?: string;
  userAgent?: string;
}

export class TestApiServer {
  readonly store = new Store();
  readonly token = 'test-token-' + Math.random().toString(36).slice(2);
  knobs: Knobs = { splitWatchBytes: 0, bookmarkMs: 1000, expiredAsHttp410: false, watchTimeoutMs: 0 };
  port = 0;
  readonly requests: RequestRecord[] = [];
  private server?: Server;
  private sockets = new Set<Socket>();
  private watchers = new Set<Watcher>();
  private bookmarkTimer?: NodeJS.Timeout;

  constructor() {
    this.store.listeners.add((e) => this.fanout(e));
  }

  readonly tls = servingPair();

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return !!this.server;
  }

  async start(port = this.port): Promise<void> {
    const server = createServer({ cert: this.tls.cert, key: this.tls.key }, (req, res) => void this.handle(req, res));
    server.on('secureConnection', (s) => {
      this.sockets.add(s);
      s.setNoDelay(true);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    const a = server.address();
    this.port = typeof a === 'object' && a ? a.port : port;
    this.server = server;
    this.bookmarkTimer = setInterval(() => this.bookmarks(), this.knobs.bookmarkMs);
  }

  /** An outage: the listener closes and every connection (watches included) is cut. */
  async stop(): Promise<void> {
    clearInterval(this.bookmarkTimer);
    const s = this.server;
    this.server = undefined;
    for (const w of this.watchers) w.close();
    for (const sock of this.sockets) sock.destroy();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  /** A kubeconfig for this server (bearer token). */
  writeKubeconfig(path: string, opts: { token?: string; namespace?: string } = {}): void {
    writeFileSync(path, [
      'apiVersion: v1', 'kind: Config',
      'clusters:', '- name: test', '  cluster:', `    server: ${this.url}`, `    certificate-authority-data: ${this.tls.cert.toString('base64')}`,
      'users:', '- name: node', '  user:', `    token: ${opts.token ?? this.token}`,
      'contexts:', '- name: test', '  context:', '    cluster: test', '    user: node', `    namespace: ${opts.namespace ?? 'default'}`,
      'current-context: test', '',
    ].join('\n'));
  }

  /** Ends every watch on `resource` with an in-stream ERROR 410 Gone. */
  expireWatches(resource = 'pods'): void {
    for (const w of [...this.watchers]) {
      if (w.resource !== resource) continue;
      this.send(w, { type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${w.lastRV} (${this.store.rv})`) });
      this.endAfterQueue(w);
    }
  }

  /** Forgets the history (watches from an older resourceVersion get 410). */
  compact(): void {
    this.store.compact();
  }

  watchCount(resource?: string): number {
    return [...this.watchers].filter((w) => !resource || w.resource === resource).length;
  }

  // ---- objects, for tests ----
  get(resource: string, ns: string | undefined, name: string): Obj | undefined {
    const o = this.store.get(resource, ns, name);
    return o ? structuredClone(o) : undefined;
  }

  list(resource: string): Obj[] {
    return structuredClone(this.store.list(resource));
  }

  create(resource: string, obj: Record<string, unknown>): Obj {
    const r = def(resource);
    const o = obj as Obj;
    return structuredClone(this.store.create(r, o.metadata?.namespace ?? (r.namespaced ? 'default' : undefined), structuredClone(o)));
  }

  update(resource: string, obj: Obj): Obj {
    return structuredClone(this.store.update(def(resource), structuredClone(obj)));
  }

  /** Deletes as a DELETE request would (pods on a node: graceful). */
  delete(resource: string, ns: string | undefined, name: string, gracePeriodSeconds?: number): Obj {
    return structuredClone(this.deleteObject(def(resource), ns, name, gracePeriodSeconds));
  }

  // ---- HTTP ----
  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push({ method: req.method ?? '', path: url.pathname, query: url.search, contentType: req.headers['content-type'], userAgent: req.headers['user-agent'] });
    try {
      if (req.headers.authorization !== `Bearer ${this.token}`) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
      const body = await readBody(req);
      await this.route(req, res, url, body);
    } catch (err) {
      const e = err instanceof ApiError ? err : new ApiError(500, 'InternalError', (err as Error).message);
      if (!res.headersSent) json(res, e.code, status(e.code, e.reason, e.message));
      else res.end();
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse, url: URL, body: string): Promise<void> {
    const p = url.pathname.replace(/\/+$/, '');
    const method = req.method ?? 'GET';
    if (p === '/version') return json(res, 200, { major: '1', minor: '31', gitVersion: 'v1.31.0-bosun-test', platform: 'linux/amd64' });
    if (p === '/healthz' || p === '/readyz' || p === '/livez') return text(res, 200, 'ok');
    if (p === '/api') return json(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${this.port}` }] });
    if (p === '/apis') return json(res, 200, this.groupList());
    if (p === '/api/v1') return json(res, 200, this.resourceList('', 'v1'));
    const gv = matchGroups(/^\/apis\/([^/]+)\/([^/]+)$/, p, 2);
    if (gv) return json(res, 200, this.resourceList(gv[1], gv[2]));
    const g = matchGroups(/^\/apis\/([^/]+)$/, p, 1);
    if (g) {
      const grp = this.groupList().groups.find((x) => x.name === g[1]);
      if (!grp) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      return json(res, 200, { kind: 'APIGroup', apiVersion: 'v1', ...grp });
    }
    // kubectl's validation asks whether the server validates fields itself (fieldValidation
    // on PATCH): say yes, and kubectl sends fieldValidation=Strict instead of needing schemas.
    if (p === '/openapi/v3') return json(res, 200, { paths: Object.fromEntries(gvs().map((gv) => [gv.path, { serverRelativeURL: `/openapi/v3/${gv.path}` }])) });
    const oa = matchGroups(/^\/openapi\/v3\/(.+)$/, p, 1);
    if (oa) return json(res, 200, openapiDoc(oa[1]));
    if (p.startsWith('/openapi')) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');

    // /api/v1/... or /apis/<group>/<version>/...
    const m = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))\/(.*)$/.exec(p);
    if (!m || m[4] === undefined) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    const group = m[2] ?? '';
    const version = m[1] ?? m[3];
    let parts = m[4].split('/').map(decodeURIComponent);
    let watchPath = false;
    if (parts[0] === 'watch') {
      watchPath = true;
      parts = parts.slice(1);
    }
    let ns: string | undefined;
    if (parts[0] === 'namespaces' && parts.length >= 3) {
      ns = parts[1];
      parts = parts.slice(2);
    }
    const [resource, name, sub] = parts;
    const r = RESOURCES.find((x) => x.group === group && x.version === version && x.name === resource);
    if (!r) throw new ApiError(404, 'NotFound', `the server could not find the requested resource (${resource})`);
    if (sub && !r.subresources?.includes(sub)) throw new ApiError(404, 'NotFound', `the server could not find the requested resource (${resource}/${sub})`);
    const q = url.searchParams;
    const ct = beforeFirst(req.headers['content-type'] ?? '', ';').trim();

    if (!name) {
      if (method === 'GET' && (watchPath || q.get('watch') === 'true' || q.get('watch') === '1')) return this.watch(r, ns, q, req, res);
      if (method === 'GET') return this.listHttp(r, ns, q, req, res);
      if (method === 'POST') {
        const obj = parseBody(body, ct) as Obj;
        this.store.writes.push({ resource: r.name, verb: 'create', name: obj.metadata?.name ?? '', contentType: ct });
        // NodeRestriction, as the real server runs it: a mirror pod must name its Node as controller owner.
        const meta = obj.metadata as { annotations?: Record<string, string>; ownerReferences?: { kind?: string; controller?: boolean }[] } | undefined;
        if (r.name === 'pods' && meta?.annotations?.['kubernetes.io/config.mirror'] !== undefined && !(meta.ownerReferences?.length === 1 && meta.ownerReferences[0]?.kind === 'Node' && meta.ownerReferences[0]?.controller)) {
          throw new ApiError(403, 'Forbidden', 'pods is forbidden: node can only create pods with a controller owner reference set to itself');
        }
        if (q.get('dryRun')) return json(res, 201, obj);
        return json(res, 201, this.store.create(r, ns, obj));
      }
      throw new ApiError(405, 'MethodNotAllowed', `${method} is not allowed on a collection`);
    }
    const cur = this.store.get(r.name, ns, name);
    switch (method) {
      case 'GET':
        if (!cur) throw notFound(r, name);
        return this.respondObject(req, res, r, cur);
      case 'PUT': {
        const obj = parseBody(body, ct) as Obj;
        this.store.writes.push({ resource: r.name, verb: 'update', name, contentType: ct, ...(sub ? { sub } : {}) });
        if (!cur) throw notFound(r, name);
        const next = sub === 'status' ? { ...cur, status: obj.status, metadata: { ...cur.metadata, ...(obj.metadata?.uid ? { uid: obj.metadata.uid } : {}) } } : { ...obj, ...(cur.status !== undefined && r.subresources?.includes('status') ? { status: cur.status } : {}) };
        return json(res, 200, this.store.update(r, next as Obj, obj.metadata?.resourceVersion));
      }
      case 'PATCH': {
        this.store.writes.push({ resource: r.name, verb: 'patch', name, contentType: ct, ...(sub ? { sub } : {}) });
        let patched: Obj;
        const base = cur ?? (ct === 'application/apply-patch+yaml' ? undefined : (() => { throw notFound(r, name); })());
        const patch = ct === 'application/apply-patch+yaml' ? parseYaml(body) : JSON.parse(body || '{}');
        if (ct === 'application/merge-patch+json' || ct === 'application/apply-patch+yaml') patched = mergePatch(base ?? {}, patch) as Obj;
        else if (ct === 'application/strategic-merge-patch+json') patched = strategicMergePatch(base, patch) as Obj;
        else if (ct === 'application/json-patch+json') patched = jsonPatch(base, patch) as Obj;
        else throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`);
        if (!base) return json(res, 201, this.store.create(r, ns, { ...patched, metadata: { ...patched.metadata, name } }));
        const precondUid = (patch as { metadata?: { uid?: string } })?.metadata?.uid;
        const precondRV = (patch as { metadata?: { resourceVersion?: string } })?.metadata?.resourceVersion;
        let next: Obj;
        if (sub === 'status') next = { ...base, status: patched.status } as Obj;
        else next = { ...patched, ...(r.subresources?.includes('status') && base.status !== undefined ? { status: base.status } : {}) } as Obj;
        next.metadata = sub === 'status' ? { ...base.metadata } : { ...patched.metadata, name: base.metadata.name, namespace: base.metadata.namespace };
        if (precondUid) next.metadata.uid = precondUid;
        if (JSON.stringify(next) === JSON.stringify({ ...base, metadata: { ...base.metadata } }) && !precondRV) return json(res, 200, base);
        return json(res, 200, this.store.update(r, next, precondRV));
      }
      case 'DELETE': {
        const opts = body ? (JSON.parse(body) as { gracePeriodSeconds?: number; preconditions?: { uid?: string; resourceVersion?: string } }) : {};
        const grace = q.has('gracePeriodSeconds') ? Number(q.get('gracePeriodSeconds')) : opts.gracePeriodSeconds;
        this.store.writes.push({ resource: r.name, verb: `delete:${grace ?? ''}`, name });
        if (!cur) throw notFound(r, name);
        if (opts.preconditions?.uid && opts.preconditions.uid !== cur.metadata.uid) {
          throw new ApiError(409, 'Conflict', `Precondition failed: UID in precondition: ${opts.preconditions.uid}, UID in object meta: ${cur.metadata.uid}`);
        }
        return json(res, 200, this.deleteObject(r, ns, name, grace));
      }
      default:
        throw new ApiError(405, 'MethodNotAllowed', `${method} not allowed`);
    }
  }

  /**
   * Pods bound to a node go through graceful deletion, as the API server's BeforeDelete
   * (apiserver registry/rest/delete.go) and the pod strategy's CheckGracefulDelete do it:
   * deletionTimestamp and deletionGracePeriodSeconds are set (the request's grace, else the
   * pod's terminationGracePeriodSeconds, else 30; a negative one counts as 1), and the node's
   * agent removes the pod (grace 0) once it has stopped. A second delete may only shorten
   * the grace: the deadline moves by the difference; a longer or equal one changes nothing.
   * Grace 0, an unbound pod or a finished one go at once, and so does everything else.
   */
  private deleteObject(r: ResourceDef, ns: string | undefined, name: string, grace?: number): Obj {
    const cur = this.store.get(r.name, ns, name);
    if (!cur) throw notFound(r, name);
    if (r.name !== 'pods') return this.store.remove(r, ns, name);
    const asked = grace !== undefined && grace < 0 ? 1 : grace;
    const meta = cur.metadata;
    let g: number;
    let deadline: number;
    if (meta.deletionTimestamp) {
      const pending = meta.deletionGracePeriodSeconds ?? 0;
      if (pending <= 0) return this.store.remove(r, ns, name);
      if (asked === undefined || asked >= pending) return cur;
      g = asked;
      deadline = Date.parse(meta.deletionTimestamp) - pending * 1000 + g * 1000;
    } else {
      const spec = cur.spec as { nodeName?: string; terminationGracePeriodSeconds?: number } | undefined;
      const phase = (cur.status as { phase?: string } | undefined)?.phase;
      g = asked ?? spec?.terminationGracePeriodSeconds ?? 30;
      if (!spec?.nodeName || phase === 'Succeeded' || phase === 'Failed') g = 0;
      if (g < 0) g = 1;
      deadline = Date.now() + g * 1000;
    }
    if (g === 0) return this.store.remove(r, ns, name);
    const next = structuredClone(cur);
    next.metadata.deletionTimestamp = new Date(deadline).toISOString().replace(/\.\d+Z$/, 'Z');
    next.metadata.deletionGracePeriodSeconds = g;
    // update() keeps an existing deletionTimestamp: set it on the stored object first.
    meta.deletionTimestamp = next.metadata.deletionTimestamp;
    meta.deletionGracePeriodSeconds = g;
    return this.store.update(r, next);
  }

  private filter(r: ResourceDef, ns: string | undefined, q: URLSearchParams): (o: Obj) => boolean {
    const fields = parseFieldSelector(q.get('fieldSelector') ?? '');
    const labels = parseLabelSelector(q.get('labelSelector') ?? '');
    return (o) => (!ns || !r.namespaced || o.metadata.namespace === ns) && fields(o) && labels(o.metadata.labels ?? {});
  }

  private listHttp(r: ResourceDef, ns: string | undefined, q: URLSearchParams, req: IncomingMessage, res: ServerResponse): void {
    const rv = q.get('resourceVersion');
    if (rv && q.get('resourceVersionMatch') === 'Exact' && Number(rv) < this.store.compactedRV) throw new ApiError(410, 'Expired', `too old resource version: ${rv} (${this.store.compactedRV})`);
    const match = this.filter(r, ns, q);
    const items = this.store.list(r.name).filter(match).sort((a, b) => this.store.key(a.metadata.namespace, a.metadata.name).localeCompare(this.store.key(b.metadata.namespace, b.metadata.name)));
    if (wantsTable(req)) return json(res, 200, table(r, items, String(this.store.rv)));
    json(res, 200, {
      kind: `${r.kind}List`, apiVersion: apiVersionOf(r), metadata: { resourceVersion: String(this.store.rv) },
      // List items carry no kind and apiVersion, as from the real server.
      items: items.map((o) => { const { kind: _k, apiVersion: _a, ...rest } = o; return rest; }),
    });
  }

  private respondObject(req: IncomingMessage, res: ServerResponse, r: ResourceDef, o: Obj): void {
    if (wantsTable(req)) return json(res, 200, table(r, [o], o.metadata.resourceVersion ?? ''));
    json(res, 200, o);
  }

  private watch(r: ResourceDef, ns: string | undefined, q: URLSearchParams, req: IncomingMessage, res: ServerResponse): void {
    const rvParam = q.get('resourceVersion') ?? '';
    const from = rvParam === '' || rvParam === '0' ? undefined : Number(rvParam);
    if (from !== undefined && from < this.store.compactedRV && this.knobs.expiredAsHttp410) {
      throw new ApiError(410, 'Expired', `too old resource version: ${from} (${this.store.compactedRV})`);
    }
    const asTable = wantsTable(req);
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'cache-control': 'no-cache, private' });
    res.flushHeaders();
    const w: Watcher = {
      resource: r.name, ns, match: this.filter(r, ns, q), res, queue: [], writing: false,
      bookmarks: q.get('allowWatchBookmarks') === 'true', lastRV: from ?? this.store.rv,
      close: () => {
        this.watchers.delete(w);
        clearTimeout(timer);
        if (!res.writableEnded) res.end();
      },
    };
    const timeoutSec = Number(q.get('timeoutSeconds') ?? 0);
    const ms = Math.min(...[timeoutSec * 1000, this.knobs.watchTimeoutMs].filter((x) => x > 0), 30 * 60_000);
    const timer = setTimeout(() => this.endAfterQueue(w), ms);
    res.on('close', () => w.close());
    if (from !== undefined && from < this.store.compactedRV) {
      // As the real server: 200, then an ERROR event with a 410 Status, then the end.
      this.send(w, { type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${from} (${this.store.compactedRV})`) });
      this.endAfterQueue(w);
      return;
    }
    this.watchers.add(w);
    const conv = (o: Obj) => (asTable ? table(r, [o], o.metadata.resourceVersion ?? '', true) : o);
    if (from === undefined) {
      // No resourceVersion: the current state as ADDED events, then changes.
      for (const o of this.store.list(r.name)) if (w.match(o)) this.send(w, { type: 'ADDED', object: conv(o) });
    } else {
      for (const e of this.store.history) if (e.resource === r.name && e.rv > from && w.match(e.object)) this.send(w, { type: e.type, object: conv(e.object) });
    }
    (w as Watcher & { conv?: typeof conv }).conv = conv;
  }

  private fanout(e: HistoryEntry): void {
    for (const w of this.watchers) {
      if (w.resource !== e.resource || !w.match(e.object)) continue;
      const conv = (w as Watcher & { conv?: (o: Obj) => unknown }).conv ?? ((o: Obj) => o);
      this.send(w, { type: e.type, object: conv(e.object) });
      w.lastRV = e.rv;
    }
  }

  private bookmarks(): void {
    for (const w of this.watchers) {
      if (!w.bookmarks) continue;
      const r = def(w.resource);
      this.send(w, { type: 'BOOKMARK', object: { kind: r.kind, apiVersion: apiVersionOf(r), metadata: { resourceVersion: String(this.store.rv) } } });
    }
  }

  private send(w: Watcher, event: unknown): void {
    w.queue.push(JSON.stringify(event) + '\n');
    void this.drain(w);
  }

  private endAfterQueue(w: Watcher): void {
    this.watchers.delete(w);
    w.queue.push('');
    void this.drain(w);
  }

  /** Writes queued events, split into small pieces at arbitrary bytes when the knob says so. */
  private async drain(w: Watcher): Promise<void> {
    if (w.writing) return;
    w.writing = true;
    try {
      while (w.queue.length) {
        const text = w.queue.join('');
        const ending = w.queue.includes('');
        w.queue = [];
        if (w.res.writableEnded || w.res.destroyed) return;
        const buf = Buffer.from(text);
        const n = this.knobs.splitWatchBytes;
        if (n <= 0) w.res.write(buf);
        else {
          for (let i = 0; i < buf.length;) {
            const size = 1 + Math.floor(Math.random() * n);
            w.res.write(buf.subarray(i, i + size));
            i += size;
            await new Promise((r) => setTimeout(r, 1));
            if (w.res.destroyed) return;
          }
        }
        if (ending) {
          w.close();
          return;
        }
      }
    } finally {
      w.writing = false;
    }
  }

  // ---- discovery ----
  private groupList(): { kind: string; apiVersion: string; groups: { name: string; versions: { groupVersion: string; version: string }[]; preferredVersion: { groupVersion: string; version: string } }[] } {
    const byGroupVersion = new Map<string, { name: string; version: string }>();
    for (const r of RESOURCES) if (r.group) byGroupVersion.set(`${r.group}/${r.version}`, { name: r.group, version: r.version });
    const groups = [...byGroupVersion].map(([gv, { name, version }]) => {
      const v = { groupVersion: gv, version };
      return { name, versions: [v], preferredVersion: v };
    });
    return { kind: 'APIGroupList', apiVersion: 'v1', groups };
  }

  private resourceList(group: string, version: string): unknown {
    const rs = RESOURCES.filter((r) => r.group === group && r.version === version);
    if (!rs.length) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    const verbs = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
    return {
      kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version,
      resources: rs.flatMap((r) => [
        { name: r.name, singularName: r.kind.toLowerCase(), namespaced: r.namespaced, kind: r.kind, verbs, ...(r.shortNames ? { shortNames: r.shortNames } : {}) },
        ...(r.subresources ?? []).map((s) => ({ name: `${r.name}/${s}`, singularName: '', namespaced: r.namespaced, kind: r.kind, verbs: ['get', 'patch', 'update'] })),
      ]),
    };
  }
}

/** One self-signed pair for 127.0.0.1, made with openssl once per machine and reused. */
function servingPair(): { cert: Buffer; key: Buffer } {
  const dir = join(tmpdir(), 'bosun-test-apiserver-pki');
  const cert = join(dir, 'server.crt');
  const key = join(dir, 'server.key');
  if (!existsSync(cert) || !existsSync(key)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = `${process.pid}`;
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${key}.${tmp}`, '-out', `${cert}.${tmp}`,
      '-days', '3650', '-subj', '/CN=bosun-test-apiserver', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-addext', 'basicConstraints=critical,CA:TRUE'], { stdio: 'ignore' });
    execFileSync('mv', [`${key}.${tmp}`, key]);
    execFileSync('mv', [`${cert}.${tmp}`, cert]);
  }
  return { cert: readFileSync(cert), key: readFileSync(key) };
}

function gvs(): { path: string; group: string; version: string }[] {
  const out = new Map<string, { path: string; group: string; version: string }>();
  for (const r of RESOURCES) out.set(`${r.group}/${r.version}`, { path: r.group ? `apis/${r.group}/${r.version}` : `api/${r.version}`, group: r.group, version: r.version });
  return [...out.values()];
}

function openapiDoc(path: string): unknown {
  const gv = gvs().find((x) => x.path === path);
  if (!gv) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  const paths: Record<string, unknown> = {};
  const schemas: Record<string, unknown> = {};
  for (const r of RESOURCES.filter((x) => x.group === gv.group && x.version === gv.version)) {
    const gvk = { group: r.group, version: r.version, kind: r.kind };
    const base = `/${path}${r.namespaced ? '/namespaces/{namespace}' : ''}/${r.name}/{name}`;
    const op = { parameters: [{ name: 'fieldValidation', in: 'query', schema: { type: 'string' } }], 'x-kubernetes-group-version-kind': gvk, responses: {} };
    paths[base] = { patch: op, put: op };
    paths[`/${path}${r.namespaced ? '/namespaces/{namespace}' : ''}/${r.name}`] = { post: op };
    schemas[`io.k8s.api.${r.group || 'core'}.${r.version}.${r.kind}`] = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, 'x-kubernetes-group-version-kind': [gvk] };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.31.0' }, paths, components: { schemas } };
}

function def(resource: string): ResourceDef {
  const r = RESOURCES.find((x) => x.name === resource);
  if (!r) throw new Error(`unknown resource ${resource}`);
  return r;
}

function notFound(r: ResourceDef, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${r.name}${r.group ? `.${r.group}` : ''} "${name}" not found`);
}

export function status(code: number, reason: string, message: string): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function json(res: ServerResponse, code: number, body: unknown): void {
  const b = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b) });
  res.end(b);
}

function text(res: ServerResponse, code: number, body: string): void {
  res.writeHead(code, { 'content-type': 'text/plain' });
  res.end(body);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseBody(body: string, ct: string): unknown {
  if (ct.includes('yaml')) return parseYaml(body);
  try {
    return JSON.parse(body);
  } catch (err) {
    throw new ApiError(400, 'BadRequest', `the body of the request was not JSON: ${(err as Error).message}`);
  }
}

function path(o: unknown, dotted: string): unknown {
  let cur = o;
  for (const p of dotted.split('.')) cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[p] : undefined;
  return cur;
}

export function parseFieldSelector(s: string): (o: Obj) => boolean {
  const terms = s.split(',').map((t) => t.trim()).filter(Boolean).map((t) => {
    const m = matchGroups(/^([^!=]+)(==|!=|=)(.*)$/, t, 3);
    if (!m) throw new ApiError(400, 'BadRequest', `invalid field selector: ${t}`);
    return { field: m[1], neg: m[2] === '!=', value: m[3] };
  });
  return (o) => terms.every((t) => (String(path(o, t.field) ?? '') === t.value) !== t.neg);
}

export function parseLabelSelector(s: string): (labels: Record<string, string>) => boolean {
  const terms: ((l: Record<string, string>) => boolean)[] = [];
  for (const t of s.match(/[^,(]+(\([^)]*\))?/g) ?? []) {
    const term = t.trim();
    if (!term) continue;
    let m: Groups<3> | undefined;
    if ((m = matchGroups(/^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/, term, 3))) {
      const [, k, op, vs] = m;
      const set = vs.split(',').map((v) => v.trim());
      terms.push((l) => {
        const x = l[k];
        return op === 'in' ? x !== undefined && set.includes(x) : x === undefined || !set.includes(x);
      });
    } else if ((m = matchGroups(/^([^!=]+)(==|!=|=)(.*)$/, term, 3))) {
      const [, k, op, v] = m;
      terms.push((l) => (op === '!=' ? l[k.trim()] !== v.trim() : l[k.trim()] === v.trim()));
    } else if (term.startsWith('!')) terms.push((l) => !(term.slice(1) in l));
    else terms.push((l) => term in l);
  }
  return (l) => terms.every((f) => f(l));
}

function wantsTable(req: IncomingMessage): boolean {
  const accept = req.headers.accept ?? '';
  return /as=Table/.test(beforeFirst(accept, ','));
}

function age(ts: string | undefined): string {
  if (!ts) return '<unknown>';
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(ts)) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.floor(s / 60)}m` : `${Math.floor(s / 3600)}h`;
}

/** Server-side printing (meta.k8s.io/v1 Table) for `kubectl get`. */
function table(r: ResourceDef, items: Obj[], rv: string, _single = false): unknown {
  const col = (name: string, type = 'string') => ({ name, type, format: name === 'Name' ? 'name' : '', description: '', priority: 0 });
  let columns = [col('Name'), col('Age')];
  let cells = (o: Obj): unknown[] => [o.metadata.name, age(o.metadata.creationTimestamp)];
  if (r.name === 'pods') {
    columns = [col('Name'), col('Ready'), col('Status'), col('Restarts', 'integer'), col('Age'), col('IP'), col('Node')];
    cells = (o) => {
      const st = (o.status ?? {}) as { phase?: string; reason?: string; podIP?: string; containerStatuses?: { ready?: boolean; restartCount?: number; state?: { waiting?: { reason?: string } } }[] };
      const spec = (o.spec ?? {}) as { containers?: unknown[]; nodeName?: string };
      const cs = st.containerStatuses ?? [];
      const waiting = cs.find((c) => c.state?.waiting?.reason)?.state?.waiting?.reason;
      const phase = o.metadata.deletionTimestamp ? 'Terminating' : waiting ?? st.reason ?? st.phase ?? 'Pending';
      return [o.metadata.name, `${cs.filter((c) => c.ready).length}/${spec.containers?.length ?? 0}`, phase, cs.reduce((a, c) => a + (c.restartCount ?? 0), 0), age(o.metadata.creationTimestamp), st.podIP ?? '<none>', spec.nodeName ?? '<none>'];
    };
  } else if (r.name === 'nodes') {
    columns = [col('Name'), col('Status'), col('Roles'), col('Age'), col('Version')];
    cells = (o) => {
      const st = (o.status ?? {}) as { conditions?: { type: string; status: string }[]; nodeInfo?: { kubeletVersion?: string } };
      const ready = st.conditions?.find((c) => c.type === 'Ready');
      return [o.metadata.name, ready?.status === 'True' ? 'Ready' : 'NotReady', '<none>', age(o.metadata.creationTimestamp), st.nodeInfo?.kubeletVersion ?? ''];
    };
  } else if (r.name === 'leases') {
    columns = [col('Name'), col('Holder'), col('Age')];
    cells = (o) => [o.metadata.name, (o.spec as { holderIdentity?: string } | undefined)?.holderIdentity ?? '', age(o.metadata.creationTimestamp)];
  }
  return {
    kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion: rv },
    columnDefinitions: columns,
    rows: items.map((o) => ({ cells: cells(o), object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata } })),
  };
}
