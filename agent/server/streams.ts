// exec, attach and port-forward on an upgraded connection: which protocol the client
// speaks (WebSocket channel protocols v4/v5, the SPDY tunnel over WebSocket, or SPDY/3.1),
// which container or sandbox is the target, then the session itself (channels.ts,
// spdy-exec.ts, portforward.ts).

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { createWebSocketStream, type WebSocket } from 'ws';
import { notFound, status } from './api.js';
import { CHANNEL_PROTOCOLS, EXEC_PROTOCOLS, pickProtocol, PORT_FORWARD_PROTOCOL, serveRemoteCommand, serveWebSocketPortForward, SPDY_TUNNEL_PREFIX, V1 } from './channels.js';
import { servePortForward } from './portforward.js';
import { refuseUpgrade } from './respond.js';
import { forwardPorts, type Route, streamOptions } from './routes.js';
import type { SecureServerDeps } from './deps.js';
import { serveSpdyRemoteCommand, SPDY_REMOTECOMMAND_PROTOCOLS } from './spdy-exec.js';
import { findPod, runningContainer } from './targets.js';

/** What the server lends a stream: the WebSocket handshake and the count of open sessions. */
export interface StreamHost {
  deps: SecureServerDeps;
  /** Completes the WebSocket handshake with this subprotocol. */
  accept(req: IncomingMessage, socket: Duplex, head: Buffer, protocol: string): Promise<WebSocket>;
  /** Counts a session open until it calls its close callback. */
  track(session: { onClose(f: () => void): void }): void;
  /** Counts a session open until the promise settles. */
  during(session: Promise<void>): Promise<void>;
}

type StreamRoute = Extract<Route, { kind: 'stream' }>;

const spdyAccepted = (socket: Duplex, version: string) =>
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${version}\r\n\r\n`);

export async function serveStream(h: StreamHost, r: StreamRoute, url: URL, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  const v = findPod(h.deps.pods(), r.namespace, r.pod, r.uid);
  if (!v) return refuseUpgrade(socket, notFound('pods', r.pod));
  const upgrade = (req.headers.upgrade ?? '').toLowerCase();
  const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (r.stream === 'portforward') {
    const sandbox = h.deps.sandboxOf(v.pod.metadata.uid);
    if (!sandbox) return refuseUpgrade(socket, status(400, 'BadRequest', `pod ${r.pod} has no running sandbox`));
    return portForward(h, (port) => h.deps.runtime.portForward(sandbox, port), upgrade, offered, url, req, socket, head);
  }

  const isSpdy = upgrade === 'spdy/3.1';
  if (upgrade !== 'websocket' && !isSpdy) return refuseUpgrade(socket, status(400, 'BadRequest', `${r.stream} needs a WebSocket upgrade with subprotocol ${EXEC_PROTOCOLS.join(', ')}, or SPDY/3.1`));
  const o = streamOptions(url.searchParams);
  const target = runningContainer(v, r.container ?? o.container);
  if ('kind' in target) return refuseUpgrade(socket, target);
  if (r.stream === 'exec' && o.command.length === 0) return refuseUpgrade(socket, status(400, 'BadRequest', 'command is required: pass it as command=... query parameters'));
  if (!o.stdin && !o.stdout && !o.stderr) return refuseUpgrade(socket, status(400, 'BadRequest', 'you must specify at least 1 of stdin, stdout, stderr'));
  const sopts = { stdin: o.stdin, stdout: o.stdout, stderr: o.stderr && !o.tty, tty: o.tty };
  const open = () => (r.stream === 'exec' ? h.deps.runtime.exec(target.id, o.command, sopts) : h.deps.runtime.attach(target.id, sopts));
  if (isSpdy) {
    // What the API server speaks when it proxies kubectl exec/attach to the node.
    const versions = String(req.headers['x-stream-protocol-version'] ?? '').split(',').map((x) => x.trim()).filter(Boolean);
    const chosen = pickProtocol(versions, SPDY_REMOTECOMMAND_PROTOCOLS);
    if (!chosen) return refuseUpgrade(socket, status(403, 'Forbidden', `no common protocol in [${versions.join(', ')}] (supported: ${SPDY_REMOTECOMMAND_PROTOCOLS.join(', ')})`));
    spdyAccepted(socket, chosen);
    h.track(serveSpdyRemoteCommand(socket, { stdin: o.stdin, stdout: o.stdout, stderr: o.stderr, tty: o.tty, open }, head));
    return;
  }
  // No subprotocol offered: kubelet takes it as channel.k8s.io and answers without one.
  const proto = offered.length ? pickProtocol(offered, EXEC_PROTOCOLS) : '';
  if (proto === undefined) return refuseUpgrade(socket, status(400, 'BadRequest', `no supported WebSocket subprotocol in [${offered.join(', ')}] (supported: ${EXEC_PROTOCOLS.join(', ')})`));
  const ws = await h.accept(req, socket, head, proto);
  await h.during(serveRemoteCommand(ws, { protocol: proto || V1, stdin: o.stdin, stdout: o.stdout, stderr: sopts.stderr, tty: o.tty, open }));
}

async function portForward(
  h: StreamHost, dial: (port: number) => ReturnType<SecureServerDeps['runtime']['portForward']>, upgrade: string, offered: string[],
  url: URL, req: IncomingMessage, socket: Duplex, head: Buffer,
): Promise<void> {
  if (upgrade !== 'websocket') {
    // SPDY/3.1 on the upgraded connection (kubectl before 1.31, or with websockets off).
    if (upgrade !== 'spdy/3.1') return refuseUpgrade(socket, status(400, 'BadRequest', 'unsupported upgrade protocol'));
    const versions = String(req.headers['x-stream-protocol-version'] ?? '').split(',').map((s) => s.trim());
    if (!versions.includes(PORT_FORWARD_PROTOCOL)) return refuseUpgrade(socket, status(403, 'Forbidden', `no common protocol: ${PORT_FORWARD_PROTOCOL} required`));
    spdyAccepted(socket, PORT_FORWARD_PROTOCOL);
    h.track(servePortForward(socket, { dial }, head));
    return;
  }
  const tunnel = pickProtocol(offered, [SPDY_TUNNEL_PREFIX + PORT_FORWARD_PROTOCOL]);
  if (tunnel) {
    const stream = createWebSocketStream(await h.accept(req, socket, head, tunnel));
    stream.on('error', () => undefined);
    h.track(servePortForward(stream, { dial }));
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
  await h.during(serveWebSocketPortForward(await h.accept(req, socket, head, proto), ports, dial));
}
