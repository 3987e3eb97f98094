import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { createWebSocketStream, WebSocketServer, type WebSocket } from 'ws';
import type { Runtime } from '../../cri/index.js';
import type { Pod } from '../../manifests/index.js';
import type { CoreEvent } from '../events.js';
import type { Logger } from '../log.js';
import type { PodView } from '../pods/manager.js';
import { createHash } from 'node:crypto';
import { MAX_MANIFEST_BYTES, type KubeObject } from '../../manifests/index.js';
import type { SourceFile } from '../sources/file.js';
import {
  apiGroupList, apiResourceList, apiVersions, configMapRow, CONFIGMAP_COLUMNS, eventField, eventRow, EVENT_COLUMNS, EVENT_FIELDS, list, matches, namespaceRow,
  NAMESPACE_COLUMNS, namespaces, nodeRow, NODE_COLUMNS, notFound, parseFieldSelector, parseLabelSelector, podField, podRow, POD_COLUMNS, POD_FIELDS, readOnly,
  secretRow, SECRET_COLUMNS, SelectorError, serviceRow, SERVICE_COLUMNS, status, table, versionInfo, wantsTable, type IncludeObject, type NodeObject, type Status,
  type TableRow,
} from './api.js';
import { coreV1, openAPIIndex } from './openapi.js';
import { ChangeFeed, type Served } from './watch.js';
import { isWritable, ManifestWriter, type WritableResource } from './writes.js';
import type { Authenticator, User } from './auth.js';
import { forbiddenMessage, requestAttributes, type WebhookAuth } from './webhook.js';
import { serveSpdyRemoteCommand, SPDY_REMOTECOMMAND_PROTOCOLS } from './spdy-exec.js';
import { CHANNEL_PROTOCOLS, PORT_FORWARD_PROTOCOL, serveRemoteCommand, serveWebSocketPortForward, SPDY_TUNNEL_PREFIX, pickProtocol, V4, V5 } from './channels.js';
import type { StatsCollector } from './collect.js';
import { parseLogQuery, pickLog, streamLog } from './logs.js';
import { servePortForward } from './portforward.js';
import { podList } from './readonly.js';
import { healthz } from './healthz.js';
import { forwardPorts, route, streamOptions, type Core, type Route } from './routes.js';
import { resourceMetrics } from './stats.js';

// The kubelet port: HTTPS, every request authenticated (bearer token or client
// certificate), kubelet's endpoints and the core-API slice kubectl needs, exec/attach/
// port-forward over WebSocket (and SPDY for port-forward). Decisions live in routes.ts,
// api.ts, channels.ts; this file only moves bytes.

export interface SecureServerDeps {
  nodeName: string;
  manifestDir: string;
  podLogsDir: string;
  log: Logger;
  runtime: Pick<Runtime, 'exec' | 'attach' | 'portForward' | 'execSync'>;
  pods(): PodView[];
  /** Pods the runtime runs, from the pod cache (kubelet's /runningpods). */
  runningPods(): Pod[];
  sandboxOf(uid: string): string | undefined;
  events(): CoreEvent[];
  healthy(): boolean;
  /** Why the container runtime is not ready (agent/runtime/health.ts), undefined while it is. */
  runtimeDown?(): string | undefined;
  metrics(which: 'all' | 'probes'): Promise<{ contentType: string; body: string }>;
  stats: Pick<StatsCollector, 'summary'>;
  node(): Promise<NodeObject>;
  configz(): object;
  /** The manifest directory's valid files: ConfigMaps, Secrets and Services to serve, and who wrote what. */
  sourceFiles?(): SourceFile[];
  /**
   * Standalone mode: kubectl's writes become files in the manifest directory (writes.ts).
   * Absent in cluster mode, where the API server owns the pods.
   */
  writes?: { rescan(): Promise<void> };
  /** Cluster mode: TokenReview for unknown bearer tokens, SubjectAccessReview for every request. */
  webhook?: { auth: WebhookAuth; tokens: boolean; authorize: boolean };
}

export interface TlsOptions {
  cert: Buffer;
  key: Buffer;
  /** Client CA: when given, client certificates are asked for and verified against it. */
  ca?: Buffer;
}

export interface SecureServer {
  server: HttpsServer;
  /** Open exec/attach/port-forward sessions. */
  sessions(): number;
  close(): Promise<void>;
}

const JSON_TYPE = 'application/json';

function send(res: ServerResponse, code: number, body: unknown, contentType = JSON_TYPE): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(code, { 'content-type': contentType, 'cache-control': 'no-cache, private', 'x-content-type-options': 'nosniff' }).end(text);
}

const sendStatus = (res: ServerResponse, st: Status) => send(res, st.code ?? 500, st);

/** A raw HTTP answer on an upgrade socket (before any WebSocket handshake). */
function refuseUpgrade(socket: Duplex, st: Status): void {
  const body = JSON.stringify(st);
  const reason = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed' }[st.code ?? 500] ?? 'Error';
  if (!socket.destroyed) socket.end(`HTTP/1.1 ${st.code} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

export const UNAUTHORIZED = status(401, 'Unauthorized', 'Unauthorized');

export function startSecureServer(deps: SecureServerDeps, tls: TlsOptions, auth: Authenticator, port: number, address: string): Promise<SecureServer> {
  const sockets = new Set<Socket>();
  let openSessions = 0;
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: 16 << 20,
    handleProtocols: (_offered, req) => (req as IncomingMessage & { protocol?: string }).protocol ?? false,
  });

  const authenticate = (req: IncomingMessage) => {
    const sock = req.socket as TLSSocket;
    const peer = tls.ca && typeof sock.getPeerCertificate === 'function' ? sock.getPeerCertificate() : undefined;
    const hasPeer = !!peer && Object.keys(peer).length > 0;
    return auth.authenticate(req.headers.authorization, hasPeer ? peer : undefined, !!sock.authorized);
  };

  /** Who is asking, and whether they may: the user, or the Status to refuse with. */
  const admit = async (req: IncomingMessage, path: string): Promise<{ user: User } | { refuse: Status }> => {
    let who = authenticate(req);
    const wh = deps.webhook;
    if (!who.ok && wh?.tokens) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
      const user = m ? await wh.auth.reviewToken(m[1]) : undefined;
      if (user) who = { ok: true, user };
    }
    if (!who.ok) {
      deps.log.debug({ path, reason: who.reason }, 'kubelet API: unauthenticated request');
      return { refuse: UNAUTHORIZED };
    }
    if (wh?.authorize) {
      const { attrs, fallback } = requestAttributes(req.method ?? 'GET', path, deps.nodeName);
      const ok = (await wh.auth.allowed(who.user, attrs)) || (!!fallback && (await wh.auth.allowed(who.user, fallback)));
      if (!ok) return { refuse: status(403, 'Forbidden', forbiddenMessage(who.user, attrs)) };
    }
    return { user: who.user };
  };

  const feed = new ChangeFeed(async (r) => (await objects(r as Core, undefined)).items as Served[]);
  const served = async (resource: Core, namespace: string | undefined, name: string) =>
    (await feed.sync(resource)).items.find((o) => o.metadata.name === name && (!namespace || o.metadata.namespace === namespace)) as Record<string, unknown> | undefined;
  const writer = deps.writes ? new ManifestWriter({
    manifestDir: deps.manifestDir,
    nodeName: deps.nodeName,
    files: () => deps.sourceFiles?.() ?? [],
    rescan: deps.writes.rescan,
    served,
  }) : undefined;

  const server = createHttpsServer({ cert: tls.cert, key: tls.key, ...(tls.ca ? { ca: tls.ca, requestCert: true, rejectUnauthorized: false } : {}) }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://localhost');
    admit(req, url.pathname).then((a) => {
      if ('refuse' in a) return sendStatus(res, a.refuse);
      return serve(a.user, url, req, res);
    }, (err: Error) => sendStatus(res, status(500, 'InternalError', `Authorization error: ${err.message}`)));
  });

  function serve(user: User, url: URL, req: IncomingMessage, res: ServerResponse): void {
    const r = route(req.method ?? 'GET', url.pathname);
    deps.log.debug({ user: user.name, method: req.method, path: url.pathname }, 'kubelet API request');
    handle(r, url, req, res).catch((err: Error) => {
      deps.log.warn({ err: err.message, path: url.pathname }, 'kubelet API: request failed');
      sendStatus(res, status(500, 'InternalError', err.message));
    });
  }
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('secureConnection', (s: TLSSocket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('tlsClientError', () => undefined);

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    const url = new URL(req.url ?? '/', 'https://localhost');
    admit(req, url.pathname).then((a) => {
      if ('refuse' in a) refuseUpgrade(socket, a.refuse);
      else upgraded(url, req, socket, head);
    }, (err: Error) => refuseUpgrade(socket, status(500, 'InternalError', `Authorization error: ${err.message}`)));
  });

  function upgraded(url: URL, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const r = route(req.method ?? 'GET', url.pathname);
    if (r.kind !== 'stream') {
      refuseUpgrade(socket, r.kind === 'notFound' ? status(404, 'NotFound', 'the server could not find the requested resource') : status(400, 'BadRequest', 'this endpoint does not take an upgrade'));
      return;
    }
    deps.log.debug({ path: url.pathname, upgrade: req.headers.upgrade }, 'kubelet API stream');
    upgrade(r, url, req, socket, head).catch((err: Error) => refuseUpgrade(socket, status(500, 'InternalError', err.message)));
  }

  // ---------------------------------------------------------------- targets

  const findPod = (namespace: string, name: string, uid?: string): PodView | undefined =>
    deps.pods().find((v) => v.pod.metadata.namespace === namespace && v.pod.metadata.name === name && (!uid || v.pod.metadata.uid === uid));

  const runningContainer = (v: PodView, name: string | undefined): { id: string } | Status => {
    const p = v.pod;
    const names = [...(p.spec.initContainers ?? []).map((c) => c.name), ...p.spec.containers.map((c) => c.name)];
    let c = name;
    if (!c) {
      const def = p.metadata.annotations?.['kubectl.kubernetes.io/default-container'];
      if (def && names.includes(def)) c = def;
      else if (p.spec.containers.length === 1) c = p.spec.containers[0].name;
      else return status(400, 'BadRequest', `a container name must be specified for pod ${p.metadata.name}, choose one of: [${names.join(' ')}]`);
    }
    if (!names.includes(c)) return status(400, 'BadRequest', `container ${c} is not valid for pod ${p.metadata.name}`);
    const st = [...(v.status.initContainerStatuses ?? []), ...(v.status.containerStatuses ?? [])].find((s) => s.name === c);
    if (!st?.state.running || !st.containerID) return status(400, 'BadRequest', `container ${c} is not running in pod ${p.metadata.name}`);
    return { id: st.containerID.replace(/^[a-z]+:\/\//, '') };
  };

  // ---------------------------------------------------------------- streams

  async function upgrade(r: Extract<Route, { kind: 'stream' }>, url: URL, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const v = findPod(r.namespace, r.pod, r.uid);
    if (!v) return refuseUpgrade(socket, notFound('pods', r.pod));
    const isWs = (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
    const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);

    if (r.stream === 'portforward') {
      const sandbox = deps.sandboxOf(v.pod.metadata.uid);
      if (!sandbox) return refuseUpgrade(socket, status(400, 'BadRequest', `pod ${r.pod} has no running sandbox`));
      const dial = (port: number) => deps.runtime.portForward(sandbox, port);
      if (!isWs) {
        // SPDY/3.1 on the upgraded connection (kubectl before 1.31, or with websockets off).
        if ((req.headers.upgrade ?? '').toLowerCase() !== 'spdy/3.1') return refuseUpgrade(socket, status(400, 'BadRequest', 'unsupported upgrade protocol'));
        const versions = String(req.headers['x-stream-protocol-version'] ?? '').split(',').map((s) => s.trim());
        if (!versions.includes(PORT_FORWARD_PROTOCOL)) return refuseUpgrade(socket, status(403, 'Forbidden', `no common protocol: ${PORT_FORWARD_PROTOCOL} required`));
        socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${PORT_FORWARD_PROTOCOL}\r\n\r\n`);
        track(servePortForward(socket, { dial }, head));
        return;
      }
      const tunnel = pickProtocol(offered, [SPDY_TUNNEL_PREFIX + PORT_FORWARD_PROTOCOL]);
      if (tunnel) {
        const ws = await accept(req, socket, head, tunnel);
        const stream = createWebSocketStream(ws);
        stream.on('error', () => undefined);
        track(servePortForward(stream, { dial }));
        return;
      }
      let ports: number[];
      try {
        ports = forwardPorts(url.searchParams);
      } catch (err) {
        return refuseUpgrade(socket, status(400, 'BadRequest', (err as Error).message));
      }
      if (!ports.length) return refuseUpgrade(socket, status(400, 'BadRequest', 'query parameter "ports" is required'));
      const proto = offered.length ? pickProtocol(offered, CHANNEL_PROTOCOLS) : '';
      if (proto === undefined) return refuseUpgrade(socket, status(400, 'BadRequest', `no supported WebSocket subprotocol in [${offered.join(', ')}] (supported: ${CHANNEL_PROTOCOLS.join(', ')}, ${SPDY_TUNNEL_PREFIX}${PORT_FORWARD_PROTOCOL})`));
      const ws = await accept(req, socket, head, proto);
      openSessions++;
      await serveWebSocketPortForward(ws, ports, dial).finally(() => openSessions--);
      return;
    }

    const isSpdy = (req.headers.upgrade ?? '').toLowerCase() === 'spdy/3.1';
    if (!isWs && !isSpdy) return refuseUpgrade(socket, status(400, 'BadRequest', `${r.stream} needs a WebSocket upgrade with subprotocol ${V5} or ${V4}, or SPDY/3.1`));
    const o = streamOptions(url.searchParams);
    const target = runningContainer(v, r.container ?? o.container);
    if ('kind' in target) return refuseUpgrade(socket, target);
    if (r.stream === 'exec' && o.command.length === 0) return refuseUpgrade(socket, status(400, 'BadRequest', 'command is required: pass it as command=... query parameters'));
    if (!o.stdin && !o.stdout && !o.stderr) return refuseUpgrade(socket, status(400, 'BadRequest', 'you must specify at least 1 of stdin, stdout, stderr'));
    const sopts = { stdin: o.stdin, stdout: o.stdout, stderr: o.stderr && !o.tty, tty: o.tty };
    const open = () => (r.stream === 'exec' ? deps.runtime.exec(target.id, o.command, sopts) : deps.runtime.attach(target.id, sopts));
    if (isSpdy) {
      // What the API server speaks when it proxies kubectl exec/attach to the node.
      const versions = String(req.headers['x-stream-protocol-version'] ?? '').split(',').map((x) => x.trim()).filter(Boolean);
      const chosen = pickProtocol(versions, SPDY_REMOTECOMMAND_PROTOCOLS);
      if (!chosen) return refuseUpgrade(socket, status(403, 'Forbidden', `no common protocol in [${versions.join(', ')}] (supported: ${SPDY_REMOTECOMMAND_PROTOCOLS.join(', ')})`));
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${chosen}\r\n\r\n`);
      track(serveSpdyRemoteCommand(socket, { stdin: o.stdin, stdout: o.stdout, stderr: o.stderr, tty: o.tty, open }, head));
      return;
    }
    const proto = pickProtocol(offered, CHANNEL_PROTOCOLS);
    if (!proto) return refuseUpgrade(socket, status(400, 'BadRequest', `no supported WebSocket subprotocol in [${offered.join(', ')}] (supported: ${CHANNEL_PROTOCOLS.join(', ')})`));
    const ws = await accept(req, socket, head, proto);
    openSessions++;
    await serveRemoteCommand(ws, {
      protocol: proto,
      stdin: o.stdin,
      tty: o.tty,
      open,
    }).finally(() => openSessions--);
  }

  function track(session: { onClose(f: () => void): void }): void {
    openSessions++;
    session.onClose(() => openSessions--);
  }

  function accept(req: IncomingMessage, socket: Duplex, head: Buffer, protocol: string): Promise<WebSocket> {
    (req as IncomingMessage & { protocol?: string }).protocol = protocol;
    return new Promise((resolve) => wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => undefined);
      resolve(ws);
    }));
  }

  // ---------------------------------------------------------------- plain requests

  async function handle(r: Route, url: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const q = url.searchParams;
    switch (r.kind) {
      case 'healthz': {
        const h = healthz(deps.healthy, deps.runtimeDown, r.check, q.has('verbose'));
        return send(res, h.status, h.body, 'text/plain');
      }
      case 'pods':
        return send(res, 200, podList(deps.pods()));
      case 'runningpods':
        return send(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata: {}, items: deps.runningPods() });
      case 'metrics': {
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
        return send(res, 200, m.body, m.contentType);
      }
      case 'stats': {
        const { summary } = await deps.stats.summary();
        if (['true', '1'].includes(q.get('only_cpu_and_memory') ?? '')) {
          const s = summary as { node: Record<string, unknown>; pods: Record<string, unknown>[] };
          const keep = (o: Record<string, unknown>, keys: string[]) => Object.fromEntries(Object.entries(o).filter(([k]) => keys.includes(k)));
          return send(res, 200, {
            node: keep(s.node, ['nodeName', 'startTime', 'cpu', 'memory', 'systemContainers']),
            pods: s.pods.map((p) => ({ ...keep(p, ['podRef', 'startTime', 'cpu', 'memory']), containers: (p.containers as Record<string, unknown>[]).map((c) => keep(c, ['name', 'startTime', 'cpu', 'memory'])) })),
          });
        }
        return send(res, 200, summary);
      }
      case 'configz':
        return send(res, 200, { kubeletconfig: deps.configz() });
      case 'containerLogs':
        return serveLogs(r.namespace, r.pod, r.container, q, req, res);
      case 'podLog':
        return serveLogs(r.namespace, r.pod, undefined, q, req, res);
      case 'run': {
        const v = findPod(r.namespace, r.pod, r.uid);
        if (!v) return sendStatus(res, notFound('pods', r.pod));
        const target = runningContainer(v, r.container);
        if ('kind' in target) return sendStatus(res, target);
        const body = await readBody(req, 64 * 1024);
        const form = new URLSearchParams(body);
        const cmd = (q.get('cmd') ?? form.get('cmd') ?? '').trim().split(/\s+/).filter(Boolean);
        if (!cmd.length) return sendStatus(res, status(400, 'BadRequest', 'cmd is required'));
        const out = await deps.runtime.execSync(target.id, cmd, 300_000);
        return send(res, 200, Buffer.concat([out.stdout, out.stderr]).toString('utf8'), 'text/plain; charset=utf-8');
      }
      case 'stream':
        return sendStatus(res, status(400, 'BadRequest', `${r.stream} needs a connection upgrade (WebSocket with ${V5} or ${V4}${r.stream === 'portforward' ? ', or SPDY/3.1' : ''})`));
      case 'version':
        return send(res, 200, versionInfo());
      case 'discovery':
        return send(res, 200, r.doc === 'api' ? apiVersions(`${req.socket.localAddress}:${req.socket.localPort}`) : r.doc === 'api/v1' ? apiResourceList() : apiGroupList());
      case 'openapi':
        if (r.doc === 'v3') return send(res, 200, openAPIIndex());
        if (r.doc === 'v3/api/v1') {
          const d = coreV1();
          res.setHeader('etag', `"${d.hash}"`);
          return send(res, 200, d.doc);
        }
        return send(res, 404, status(404, 'NotFound', 'only the OpenAPI v3 documents (/openapi/v3) are served here'));
      case 'list':
        return serveList(r.resource, r.namespace, q, req, res);
      case 'get':
        return serveGet(r.resource, r.namespace, r.name, q, req, res);
      case 'write':
        return serveWrite(r, q, req, res);
      case 'badMethod':
        res.setHeader('allow', r.allow);
        return sendStatus(res, status(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`));
      case 'notFound':
        return sendStatus(res, status(404, 'NotFound', 'the server could not find the requested resource'));
    }
  }

  async function serveLogs(ns: string, name: string, container: string | undefined, q: URLSearchParams, _req: IncomingMessage, res: ServerResponse): Promise<void> {
    const lq = parseLogQuery(q);
    if ('kind' in lq) return sendStatus(res, lq);
    if (container) lq.container = container;
    const v = findPod(ns, name);
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
      const st = [...(now?.status.initContainerStatuses ?? []), ...(now?.status.containerStatuses ?? [])].find((s) => s.name === pick.container);
      return !!st && st.restartCount === pick.attempt && !!st.state.running;
    };
    try {
      await streamLog(pick.path, lq, res, running, ac.signal);
    } finally {
      res.off('close', onClose);
      res.end();
    }
  }

  function selectors(q: URLSearchParams, fields: string[], resource: string) {
    const ls = q.get('labelSelector');
    const fs = q.get('fieldSelector');
    return { labels: ls ? parseLabelSelector(ls) : [], fields: fs ? parseFieldSelector(fs, fields, resource) : [] };
  }

  async function objects(resource: Core, namespace: string | undefined): Promise<{ items: { metadata: { name?: string; namespace?: string; labels?: Record<string, string> } }[]; row: (o: never, now: number, inc: IncludeObject) => TableRow; columns: typeof POD_COLUMNS; kind: string; fields: string[]; field: (o: never, k: string) => string | undefined }> {
    const inNs = <T extends { metadata: { namespace?: string } }>(xs: T[]) => (namespace ? xs.filter((x) => x.metadata.namespace === namespace) : xs);
    switch (resource) {
      case 'pods': {
        const pods = inNs(deps.pods().map(({ pod, status: st }) => ({ ...pod, status: st }))).sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
        return { items: pods, row: podRow as never, columns: POD_COLUMNS, kind: 'Pod', fields: POD_FIELDS, field: podField as never };
      }
      case 'events':
        return { items: inNs(deps.events()), row: eventRow as never, columns: EVENT_COLUMNS, kind: 'Event', fields: EVENT_FIELDS, field: eventField as never };
      case 'nodes':
        return { items: [await deps.node()], row: nodeRow as never, columns: NODE_COLUMNS, kind: 'Node', fields: ['metadata.name'], field: ((n: NodeObject, k: string) => (k === 'metadata.name' ? n.metadata.name : undefined)) as never };
      case 'configmaps':
        return { items: inNs(fileObjects('ConfigMap')), row: configMapRow as never, columns: CONFIGMAP_COLUMNS, kind: 'ConfigMap', fields: ['metadata.name', 'metadata.namespace'], field: metaField as never };
      case 'secrets':
        return { items: inNs(fileObjects('Secret')), row: secretRow as never, columns: SECRET_COLUMNS, kind: 'Secret', fields: ['metadata.name', 'metadata.namespace', 'type'], field: ((o: { type?: string; metadata: Record<string, string> }, k: string) => (k === 'type' ? (o.type ?? 'Opaque') : metaField(o, k))) as never };
      case 'services':
        return { items: inNs(fileObjects('Service')), row: serviceRow as never, columns: SERVICE_COLUMNS, kind: 'Service', fields: ['metadata.name', 'metadata.namespace'], field: metaField as never };
      case 'namespaces': {
        const created = (await deps.node()).metadata.creationTimestamp;
        return { items: namespaces(deps.pods().map((v) => v.pod), created), row: namespaceRow as never, columns: NAMESPACE_COLUMNS, kind: 'Namespace', fields: ['metadata.name', 'status.phase'], field: ((n: { metadata: { name: string } }, k: string) => (k === 'metadata.name' ? n.metadata.name : k === 'status.phase' ? 'Active' : undefined)) as never };
      }
    }
  }

  /** A file's objects of one kind as the API would serve them: namespaced, with a uid that stays while the file does. */
  function fileObjects(kind: string): { metadata: Record<string, string> }[] {
    return (deps.sourceFiles?.() ?? []).flatMap((f) => f.objects.filter((o) => o.kind === kind).map((o) => {
      const namespace = (typeof o.metadata?.namespace === 'string' && o.metadata.namespace) || 'default';
      const uid = typeof o.metadata?.uid === 'string' ? o.metadata.uid : stableUID(`${f.file}/${kind}/${namespace}/${String(o.metadata?.name)}`);
      return servedObject(o, { ...o.metadata, namespace, uid });
    }));
  }

  /** The request's label and field selectors, or undefined once a 400 naming the bad one is sent. */
  function selectorsOr400(q: URLSearchParams, fields: Parameters<typeof selectors>[1], resource: Core, res: ServerResponse): ReturnType<typeof selectors> | undefined {
    try {
      return selectors(q, fields, resource);
    } catch (err) {
      if (!(err instanceof SelectorError)) throw err;
      sendStatus(res, status(400, 'BadRequest', err.message));
      return undefined;
    }
  }

  async function serveList(resource: Core, namespace: string | undefined, q: URLSearchParams, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (['true', '1'].includes(q.get('watch') ?? '')) return serveWatch(resource, namespace, q, req, res);
    const o = await objects(resource, namespace);
    const sel = selectorsOr400(q, o.fields, resource, res);
    if (!sel) return;
    const synced = await feed.sync(resource);
    const all = synced.items.filter((x) => !namespace || x.metadata.namespace === namespace);
    const items = all.filter((x) => matches(sel.labels, (k) => x.metadata.labels?.[k]) && matches(sel.fields, (k) => o.field(x as never, k)));
    const tv = wantsTable(req.headers.accept);
    if (tv) {
      const now = Date.now();
      const inc = (q.get('includeObject') as IncludeObject | null) ?? 'Metadata';
      return send(res, 200, table(o.columns, items.map((x) => o.row(x as never, now, inc)), tv, synced.rv), `application/json;as=Table;v=${tv};g=meta.k8s.io`);
    }
    return send(res, 200, list(o.kind, items, synced.rv));
  }

  /**
   * A watch: chunked JSON lines of {type, object} (Tables when asked for), from the
   * resourceVersion asked for, or the current state as ADDED events first.
   */
  async function serveWatch(resource: Core, namespace: string | undefined, q: URLSearchParams, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const o = await objects(resource, namespace);
    const sel = selectorsOr400(q, o.fields, resource, res);
    if (!sel) return;
    const match = (x: Served) => (!namespace || x.metadata.namespace === namespace) && matches(sel.labels, (k) => x.metadata.labels?.[k]) && matches(sel.fields, (k) => o.field(x as never, k));
    const tv = wantsTable(req.headers.accept);
    const inc = (q.get('includeObject') as IncludeObject | null) ?? 'Metadata';
    res.writeHead(200, { 'content-type': tv ? `application/json;as=Table;v=${tv};g=meta.k8s.io` : JSON_TYPE, 'cache-control': 'no-cache, private', 'x-content-type-options': 'nosniff' });
    res.flushHeaders();
    const emit = (type: string, x: Served) => {
      const object = tv ? table(o.columns, [o.row(x as never, Date.now(), inc)], tv, x.metadata.resourceVersion) : x;
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
        res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { kind: o.kind, apiVersion: 'v1', metadata: { resourceVersion: rv, annotations: { 'k8s.io/initial-events-end': 'true' } } } })}\n`);
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

  async function serveWrite(r: Extract<Route, { kind: 'write' }>, q: URLSearchParams, req: IncomingMessage, res: ServerResponse): Promise<void> {
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
    const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (r.verb !== 'patch' && r.verb !== 'delete' && type && !['application/json', 'application/yaml', '*/*'].includes(type)) {
      return sendStatus(res, status(415, 'UnsupportedMediaType', `the body of the request was in an unknown format (${type}) - accepted media types include: application/json, application/yaml`));
    }
    const dryRun = q.getAll('dryRun').includes('All');
    const a = r.verb === 'create' ? await writer.create(resource, r.namespace, text, dryRun)
      : r.verb === 'update' ? await writer.replace(resource, r.namespace, r.name!, text, dryRun)
      : r.verb === 'patch' ? await writer.patch(resource, r.namespace, r.name!, text, String(req.headers['content-type'] ?? ''), dryRun)
      : await writer.remove(resource, r.namespace, r.name!, dryRun);
    if (a.code < 300) deps.log.info({ verb: r.verb, resource, namespace: r.namespace, name: r.name ?? (a.body as { metadata?: { name?: string } }).metadata?.name, dryRun }, 'kubelet API: written to the manifest directory');
    return send(res, a.code, a.body);
  }

  async function serveGet(resource: Core, namespace: string | undefined, name: string, q: URLSearchParams, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const o = await objects(resource, namespace);
    const x = await served(resource, namespace, name) as typeof o.items[number] | undefined;
    if (!x) return sendStatus(res, notFound(resource, name));
    const tv = wantsTable(req.headers.accept);
    if (tv) {
      const inc = (q.get('includeObject') as IncludeObject | null) ?? 'Metadata';
      return send(res, 200, table(o.columns, [o.row(x as never, Date.now(), inc)], tv), `application/json;as=Table;v=${tv};g=meta.k8s.io`);
    }
    return send(res, 200, x);
  }

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => {
      server.off('error', reject);
      resolve({
        server,
        sessions: () => openSessions,
        close: () => new Promise<void>((r) => {
          feed.stop();
          server.close(() => r());
          for (const c of wss.clients) c.terminate();
          for (const s of sockets) s.destroy();
        }),
      });
    });
  });
}

const metaField = (o: { metadata: Record<string, string> }, k: string) => (k === 'metadata.name' ? o.metadata.name : k === 'metadata.namespace' ? o.metadata.namespace : undefined);

/** A UUID-shaped id from a name: the same object in the same file keeps it across restarts. */
function stableUID(s: string): string {
  const h = createHash('sha256').update(s).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** A manifest object as the API serves it: a Secret's stringData folded into data, as the API server stores it. */
function servedObject(o: KubeObject, metadata: object): { metadata: Record<string, string> } {
  const out = { ...o, metadata } as Record<string, unknown>;
  if (o.kind === 'Secret' && o.stringData && typeof o.stringData === 'object') {
    const data = { ...((o.data as Record<string, string> | undefined) ?? {}) };
    for (const [k, v] of Object.entries(o.stringData as Record<string, unknown>)) data[k] = Buffer.from(String(v), 'utf8').toString('base64');
    out.data = data;
    delete out.stringData;
  }
  return out as { metadata: Record<string, string> };
}

function readBody(req: IncomingMessage, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > max) {
        reject(new Error('request body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });
}

/** kubelet's healthz port: plain HTTP /healthz on 127.0.0.1:10248, nothing else. */
export function startHealthzServer(healthy: () => boolean, port: number, address: string, runtimeDown?: () => string | undefined): Promise<HttpServer> {
  const server = createHttpServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const m = /^\/healthz(?:\/([a-z]+))?$/.exec(url.pathname);
    if (!m) return send(res, 404, '404 page not found\n', 'text/plain');
    const h = healthz(healthy, runtimeDown, m[1], url.searchParams.has('verbose'));
    send(res, h.status, h.body, 'text/plain');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
