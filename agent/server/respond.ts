// Plain HTTP answers of the kubelet port: JSON bodies with the API server's headers, a
// Status on a socket that asked for an upgrade, a bounded request body.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { status, type Status } from './api.js';

export const JSON_TYPE = 'application/json';

export function send(res: ServerResponse, code: number, body: unknown, contentType = JSON_TYPE): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(code, { 'content-type': contentType, 'cache-control': 'no-cache, private', 'x-content-type-options': 'nosniff' }).end(text);
}

export const sendStatus = (res: ServerResponse, st: Status) => send(res, st.code ?? 500, st);

/** A raw HTTP answer on an upgrade socket (before any WebSocket handshake). */
export function refuseUpgrade(socket: Duplex, st: Status): void {
  const body = JSON.stringify(st);
  const reason = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed' }[st.code ?? 500] ?? 'Error';
  if (!socket.destroyed) socket.end(`HTTP/1.1 ${st.code} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

export const UNAUTHORIZED = status(401, 'Unauthorized', 'Unauthorized');
export const NOT_FOUND = status(404, 'NotFound', 'the server could not find the requested resource');

export function readBody(req: IncomingMessage, max: number): Promise<string> {
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
