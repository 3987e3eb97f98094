// The kubelet port's plain (not upgraded) requests: one handler per route kind, in a table
// the compiler checks is complete. Each handler gets its route, already parsed, and the
// request; what it decides lives in api.ts, logs.ts, stats.ts, writes.ts and resources.ts.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { beforeFirst } from '../../base/index.js';
import { MAX_MANIFEST_BYTES } from '../../manifests/index.js';
import {
  apiGroupList, apiResourceList, apiVersions, list, matches, notFound, parseFieldSelector, parseLabelSelector, readOnly, SelectorError, status, table, versionInfo,
  wantsTable, type IncludeObject,
} from './api.js';
import { V4, V5 } from './channels.js';
import { healthz } from './healthz.js';
import { parseLogQuery, pickLog, streamLog } from './logs.js';
import { coreV1, openAPIIndex } from './openapi.js';
import { podList } from './readonly.js';
import { RESOURCES } from './resources.js';
import { JSON_TYPE, NOT_FOUND, readBody, send, sendStatus } from './respond.js';
import type { Core, Route } from './routes.js';
import type { SecureServerDeps } from './deps.js';
import { onlyCpuAndMemory, resourceMetrics } from './stats.js';
import { findPod, runningContainer } from './targets.js';
import type { ChangeFeed, Served } from './watch.js';
import { isWritable, type ManifestWriter, type WritableResource } from './writes.js';

/** What the handlers share: the agent, and the server's watch feed and manifest writer. */
export interface Context {
  deps: SecureServerDeps;
  feed: ChangeFeed;
  /** Standalone mode only. */
  writer?: ManifestWriter;
}

export interface Request {
  url: URL;
  q: URLSearchParams;
  req: IncomingMessage;
  res: ServerResponse;
}

type Handler<K extends Route['kind']> = (cx: Context, r: Extract<Route, { kind: K }>, x: Request) => void | Promise<void>;

export const HANDLERS: { [K in Route['kind']]: Handler<K> } = {
  healthz: ({ deps }, r, { q, res }) => {
    const h = healthz(deps.healthy, deps.runtimeDown, r.check, q.has('verbose'));
    send(res, h.status, h.body, 'text/plain');
  },
  pods: ({ deps }, _r, { res }) => send(res, 200, podList(deps.pods())),
  runningpods: ({ deps }, _r, { res }) => send(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata: {}, items: deps.runningPods() }),
  metrics: async ({ deps }, r, { res }) => {
    if (r.which === 'resource') {
      let m;
      try {
        const { summary, errors } = await deps.stats.summary();
        m = await resourceMetrics(summary, errors.length > 0 && !(summary as { pods: unknown[] }).pods.length);
      } catch (err) {
        deps.log.warn({ err: (err as Error).message }, 'resource metrics');
        m = await resourceMetrics({}, true);
      }
      return send(res, 200, m.body, m.contentType);
    }
    const m = await deps.metrics(r.which);
    send(res, 200, m.body, m.contentType);
  },
  stats: async ({ deps }, _r, { q, res }) => {
    const { summary } = await deps.stats.summary();
    send(res, 200, ['true', '1'].includes(q.get('only_cpu_and_memory') ?? '') ? onlyCpuAndMemory(summary) : summary);
  },
  configz: ({ deps }, _r, { res }) => send(res, 200, { kubeletconfig: deps.configz() }),
  containerLogs: (cx, r, x) => serveLogs(cx, r.namespace, r.pod, r.container, x),
  podLog: (cx, r, x) => serveLogs(cx, r.namespace, r.pod, undefined, x),
  run: async ({ deps }, r, { q, req, res }) => {
    const v = findPod(deps.pods(), r.namespace, r.pod, r.uid);
    if (!v) return sendStatus(res, notFound('pods', r.pod));
    const target = runningContainer(v, r.container);
    if ('kind' in target) return sendStatus(res, target);
    const body = await readBody(req, 64 * 1024);
    const form = new URLSearchParams(body);
    const cmd = (q.get('cmd') ?? form.get('cmd') ?? '').trim().split(/\s+/).filter(Boolean);
    if (!cmd.length) return sendStatus(res, status(400, 'BadRequest', 'cmd is required'));
    const out = await deps.runtime.execSync(target.id, cmd, 300_000);
    send(res, 200, Buffer.concat([out.stdout, out.stderr]).toString('utf8'), 'text/plain; charset=utf-8');
  },
  stream: (_cx, r, { res }) =>
    sendStatus(res, status(400, 'BadRequest', `${r.stream} needs a connection upgrade (WebSocket with ${V5} or ${V4}${r.stream === 'portforward' ? ', or SPDY/3.1' : ''})`)),
  version: (_cx, _r, { res }) => send(res, 200, versionInfo()),
  discovery: (_cx, r, { req, res }) =>
    send(res, 200, r.doc === 'api' ? apiVersions(`${req.socket.localAddress}:${req.socket.localPort}`) : r.doc === 'api/v1' ? apiResourceList() : apiGroupList()),
  openapi: (_cx, r, { res }) => {
    if (r.doc === 'v3') return send(res, 200, openAPIIndex());
    if (r.doc === 'v3/api/v1') {
      const d = coreV1();
      res.setHeader('etag', `"${d.hash}"`);
      return send(res, 200, d.doc);
    }
    send(res, 404, status(404, 'NotFound', 'only the OpenAPI v3 documents (/openapi/v3) are served here'));
  },
  list: (cx, r, x) => (['true', '1'].includes(x.q.get('watch') ?? '') ? serveWatch(cx, r.resource, r.namespace, x) : serveList(cx, r.resource, r.namespace, x)),
  get: (cx, r, x) => serveGet(cx, r.resource, r.namespace, r.name, x),
  write: serveWrite,
  badMethod: (_cx, r, { res }) => {
    res.setHeader('allow', r.allow);
    sendStatus(res, status(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`));
  },
  notFound: (_cx, _r, { res }) => sendStatus(res, NOT_FOUND),
};

/** Calls the route's handler. */
export async function handle<K extends Route['kind']>(cx: Context, r: Extract<Route, { kind: K }>, x: Request): Promise<void> {
  const h: Handler<K> = HANDLERS[r.kind as K];
  await h(cx, r, x);
}

/** The feed's object of that name (and namespace), if served. */
export async function served(feed: ChangeFeed, resource: Core, namespace: string | undefined, name: string): Promise<Served | undefined> {
  return (await feed.sync(resource)).items.find((o) => o.metadata.name === name && (!namespace || o.metadata.namespace === namespace));
}

async function serveLogs({ deps }: Context, ns: string, name: string, container: string | undefined, { q, res }: Request): Promise<void> {
  const lq = parseLogQuery(q);
  if ('kind' in lq) return sendStatus(res, lq);
  if (container) lq.container = container;
  const v = findPod(deps.pods(), ns, name);
  if (!v) return sendStatus(res, notFound('pods', name));
  const pick = pickLog(v.pod, v.status, lq, deps.podLogsDir);
  if ('kind' in pick) return sendStatus(res, pick);
  res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-cache, private', 'x-content-type-options': 'nosniff' });
  res.flushHeaders();
  const ac = new AbortController();
  const onClose = () => ac.abort();
  res.once('close', onClose);
  const uid = v.pod.metadata.uid;
  const running = () => {
    const now = deps.pods().find((p) => p.pod.metadata.uid === uid);
    const st = [...(now?.status.initContainerStatuses ?? []), ...(now?.status.containerStatuses ?? []), ...(now?.status.ephemeralContainerStatuses ?? [])].find((s) => s.name === pick.container);
    return !!st && st.restartCount === pick.attempt && !!st.state.running;
  };
  try {
    await streamLog(pick.path, lq, res, running, ac.signal);
  } finally {
    res.off('close', onClose);
    res.end();
  }
}

/** The request's label and field selectors as one match function, or undefined once a 400 naming the bad one is sent. */
function selection(resource: Core, namespace: string | undefined, q: URLSearchParams, res: ServerResponse): ((x: Served) => boolean) | undefined {
  const rs = RESOURCES[resource];
  let labels;
  let fields;
  try {
    const ls = q.get('labelSelector');
    const fs = q.get('fieldSelector');
    labels = ls ? parseLabelSelector(ls) : [];
    fields = fs ? parseFieldSelector(fs, rs.fields, resource) : [];
  } catch (err) {
    if (!(err instanceof SelectorError)) throw err;
    sendStatus(res, status(400, 'BadRequest', err.message));
    return undefined;
  }
  return (x) => (!namespace || x.metadata.namespace === namespace) && matches(labels, (k) => x.metadata.labels?.[k]) && matches(fields, (k) => rs.field(x, k));
}

const includeObject = (q: URLSearchParams) => (q.get('includeObject') as IncludeObject | null) ?? 'Metadata';
const tableType = (tv: string) => `application/json;as=Table;v=${tv};g=meta.k8s.io`;

async function serveList({ feed }: Context, resource: Core, namespace: string | undefined, { q, req, res }: Request): Promise<void> {
  const rs = RESOURCES[resource];
  const match = selection(resource, namespace, q, res);
  if (!match) return;
  const synced = await feed.sync(resource);
  const items = synced.items.filter(match);
  const tv = wantsTable(req.headers.accept);
  if (tv) {
    const now = Date.now();
    const inc = includeObject(q);
    return send(res, 200, table(rs.columns, items.map((x) => rs.row(x, now, inc)), tv, synced.rv), tableType(tv));
  }
  send(res, 200, list(rs.kind, items, synced.rv));
}

/**
 * A watch: chunked JSON lines of {type, object} (Tables when asked for), from the
 * resourceVersion asked for, or the current state as ADDED events first.
 */
async function serveWatch({ feed }: Context, resource: Core, namespace: string | undefined, { q, req, res }: Request): Promise<void> {
  const rs = RESOURCES[resource];
  const match = selection(resource, namespace, q, res);
  if (!match) return;
  const tv = wantsTable(req.headers.accept);
  const inc = includeObject(q);
  res.writeHead(200, { 'content-type': tv ? tableType(tv) : JSON_TYPE, 'cache-control': 'no-cache, private', 'x-content-type-options': 'nosniff' });
  res.flushHeaders();
  const emit = (type: string, x: Served) => {
    const object = tv ? table(rs.columns, [rs.row(x, Date.now(), inc)], tv, x.metadata.resourceVersion) : x;
    res.write(`${JSON.stringify({ type, object })}\n`);
  };
  const key = (x: Served) => `${x.metadata.namespace ?? ''}/${x.metadata.name ?? ''}`;
  const shown = new Set<string>();
  const tell = (type: 'ADDED' | 'MODIFIED' | 'DELETED', x: Served) => {
    const k = key(x);
    if (type === 'DELETED') {
      if (shown.delete(k) || match(x)) emit('DELETED', x);
    } else if (match(x)) {
      emit(shown.has(k) ? 'MODIFIED' : 'ADDED', x);
      shown.add(k);
    } else if (shown.delete(k)) emit('DELETED', x);
  };
  const { items, rv } = await feed.sync(resource);
  const from = q.get('resourceVersion') ?? '';
  const since = Number(from);
  if (q.get('sendInitialEvents') === 'true' || from === '' || from === '0' || !Number.isInteger(since)) {
    for (const x of items) if (match(x)) tell('ADDED', x);
    if (q.get('sendInitialEvents') === 'true') {
      res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { kind: rs.kind, apiVersion: 'v1', metadata: { resourceVersion: rv, annotations: { 'k8s.io/initial-events-end': 'true' } } } })}\n`);
    }
  } else {
    // The client has what matched at `since`; tell it what changed after.
    for (const x of items) if (match(x) && Number(x.metadata.resourceVersion) <= since) shown.add(key(x));
    for (const c of feed.since(resource, since)) tell(c.type === 'DELETED' ? 'DELETED' : 'MODIFIED', c.object);
  }
  const unsubscribe = feed.subscribe(resource, (c) => tell(c.type, c.object));
  const timeout = Number(q.get('timeoutSeconds'));
  await new Promise<void>((resolve) => {
    const timer = Number.isFinite(timeout) && timeout > 0 ? setTimeout(resolve, timeout * 1000) : undefined;
    res.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  unsubscribe();
  res.end();
}

async function serveGet({ feed }: Context, resource: Core, namespace: string | undefined, name: string, { q, req, res }: Request): Promise<void> {
  const rs = RESOURCES[resource];
  const x = await served(feed, resource, namespace, name);
  if (!x) return sendStatus(res, notFound(resource, name));
  const tv = wantsTable(req.headers.accept);
  if (tv) return send(res, 200, table(rs.columns, [rs.row(x, Date.now(), includeObject(q))], tv), tableType(tv));
  send(res, 200, x);
}

async function serveWrite({ deps, writer }: Context, r: Extract<Route, { kind: 'write' }>, { q, req, res }: Request): Promise<void> {
  if (!writer || !r.verb || !r.namespace || !isWritable(r.resource)) {
    req.resume();
    return sendStatus(res, readOnly(req.method ?? 'POST', deps.manifestDir, !deps.writes));
  }
  let text = '';
  try {
    text = await readBody(req, MAX_MANIFEST_BYTES);
  } catch {
    return sendStatus(res, status(413, 'RequestEntityTooLarge', `the request body is larger than ${MAX_MANIFEST_BYTES} bytes, the limit of a manifest`));
  }
  const resource: WritableResource = r.resource;
  // Bodies are JSON or YAML; a client that sent CBOR or protobuf (kubectl 1.36's
  // generators, e.g. `create configmap`) is told so with the API server's 415.
  const type = beforeFirst(String(req.headers['content-type'] ?? ''), ';').trim().toLowerCase();
  if (r.verb !== 'patch' && r.verb !== 'delete' && type && !['application/json', 'application/yaml', '*/*'].includes(type)) {
    return sendStatus(res, status(415, 'UnsupportedMediaType', `the body of the request was in an unknown format (${type}) - accepted media types include: application/json, application/yaml`));
  }
  const dryRun = q.getAll('dryRun').includes('All');
  const a = r.verb === 'create' ? await writer.create(resource, r.namespace, text, dryRun)
    : r.verb === 'update' ? await writer.replace(resource, r.namespace, r.name!, text, dryRun)
    : r.verb === 'patch' ? await writer.patch(resource, r.namespace, r.name!, text, String(req.headers['content-type'] ?? ''), dryRun)
    : await writer.remove(resource, r.namespace, r.name!, dryRun);
  if (a.code < 300) deps.log.info({ verb: r.verb, resource, namespace: r.namespace, name: r.name ?? (a.body as { metadata?: { name?: string } }).metadata?.name, dryRun }, 'kubelet API: written to the manifest directory');
  send(res, a.code, a.body);
}
