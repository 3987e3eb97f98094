import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import { matchGroups } from '../../base/index.js';
import { status, type Status } from './api.js';
import type { Authenticator, User } from './auth.js';
import { type Context, handle, served } from './handlers.js';
import { healthz } from './healthz.js';
import type { SecureServerDeps } from './deps.js';
import { RESOURCES } from './resources.js';
import { NOT_FOUND, refuseUpgrade, send, sendStatus, UNAUTHORIZED } from './respond.js';
import { type Core, route } from './routes.js';
import { serveStream, type StreamHost } from './streams.js';
import { ChangeFeed } from './watch.js';
import { forbiddenMessage, requestAttributes } from './webhook.js';
import { ManifestWriter } from './writes.js';

export type { SecureServerDeps } from './deps.js';
export { UNAUTHORIZED } from './respond.js';

// The kubelet port: HTTPS, every request authenticated (bearer token or client
// certificate), kubelet's endpoints and the core-API slice kubectl needs, exec/attach/
// port-forward over WebSocket (and SPDY). This file is the transport: TLS, who is asking,
// the connections to close; a request goes to its route's handler (handlers.ts), an
// upgrade to the stream handlers (streams.ts).

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

/** Who is asking, and whether they may: the user, or the Status to refuse with. */
async function admit(deps: SecureServerDeps, tls: TlsOptions, auth: Authenticator, req: IncomingMessage, path: string): Promise<{ user: User } | { refuse: Status }> {
  const sock = req.socket as TLSSocket;
  const peer = tls.ca && typeof sock.getPeerCertificate === 'function' ? sock.getPeerCertificate() : undefined;
  const hasPeer = !!peer && Object.keys(peer).length > 0;
  let who = auth.authenticate(req.headers.authorization, hasPeer ? peer : undefined, !!sock.authorized);
  const wh = deps.webhook;
  if (!who.ok && wh?.tokens) {
    const m = matchGroups(/^Bearer\s+(\S+)\s*$/i, req.headers.authorization ?? '', 1);
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
}

export function startSecureServer(deps: SecureServerDeps, tls: TlsOptions, auth: Authenticator, port: number, address: string): Promise<SecureServer> {
  const sockets = new Set<Socket>();
  let openSessions = 0;
  // The subprotocol is chosen before the handshake (streams.ts) and handed over on the request.
  const chosen = new WeakMap<IncomingMessage, string>();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 16 << 20, handleProtocols: (_offered, req) => chosen.get(req) ?? false });

  const feed = new ChangeFeed((r) => RESOURCES[r as Core].read(deps));
  const writer = deps.writes ? new ManifestWriter({
    manifestDir: deps.manifestDir,
    nodeName: deps.nodeName,
    files: () => deps.sourceFiles?.() ?? [],
    rescan: deps.writes.rescan,
    served: async (resource, namespace, name) => (await served(feed, resource, namespace, name)) as Record<string, unknown> | undefined,
  }) : undefined;
  const cx: Context = { deps, feed, ...(writer ? { writer } : {}) };
  const host: StreamHost = {
    deps,
    accept: (req: IncomingMessage, socket: Duplex, head: Buffer, protocol: string) => {
      chosen.set(req, protocol);
      return new Promise<WebSocket>((resolve) => wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('error', () => undefined);
        resolve(ws);
      }));
    },
    track: (session) => {
      openSessions++;
      session.onClose(() => openSessions--);
    },
    during: (session) => {
      openSessions++;
      return session.finally(() => openSessions--);
    },
  };

  const server = createHttpsServer({ cert: tls.cert, key: tls.key, ...(tls.ca ? { ca: tls.ca, requestCert: true, rejectUnauthorized: false } : {}) }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://localhost');
    admit(deps, tls, auth, req, url.pathname).then((a) => {
      if ('refuse' in a) return sendStatus(res, a.refuse);
      deps.log.debug({ user: a.user.name, method: req.method, path: url.pathname }, 'kubelet API request');
      handle(cx, route(req.method ?? 'GET', url.pathname), { url, q: url.searchParams, req, res }).catch((err: Error) => {
        deps.log.warn({ err: err.message, path: url.pathname }, 'kubelet API: request failed');
        sendStatus(res, status(500, 'InternalError', err.message));
      });
    }, (err: Error) => sendStatus(res, status(500, 'InternalError', `Authorization error: ${err.message}`)));
  });
  const remember = (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };
  server.on('connection', remember);
  server.on('secureConnection', remember);
  server.on('tlsClientError', () => undefined);

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    const url = new URL(req.url ?? '/', 'https://localhost');
    admit(deps, tls, auth, req, url.pathname).then((a) => {
      if ('refuse' in a) return refuseUpgrade(socket, a.refuse);
      const r = route(req.method ?? 'GET', url.pathname);
      if (r.kind !== 'stream') return refuseUpgrade(socket, r.kind === 'notFound' ? NOT_FOUND : status(400, 'BadRequest', 'this endpoint does not take an upgrade'));
      deps.log.debug({ path: url.pathname, upgrade: req.headers.upgrade }, 'kubelet API stream');
      serveStream(host, r, url, req, socket, head).catch((err: Error) => refuseUpgrade(socket, status(500, 'InternalError', err.message)));
    }, (err: Error) => refuseUpgrade(socket, status(500, 'InternalError', `Authorization error: ${err.message}`)));
  });

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
