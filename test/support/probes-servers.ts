// Real servers on 127.0.0.1 for the probe handlers to talk to.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Server as GrpcServer, ServerCredentials, status as grpcStatus, type ServiceError, type sendUnaryData } from '@grpc/grpc-js';
import {
  HEALTH_CHECK_METHOD, decodeHealthCheckRequest, decodeHealthCheckResponse, encodeHealthCheckRequest, encodeHealthCheckResponse,
} from '../../probes/handlers/index.js';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface Listening {
  port: number;
  close(): Promise<void>;
}

function portOf(server: { address(): string | AddressInfo | null }): number {
  return (server.address() as AddressInfo).port;
}

async function listen(server: HttpServer | TcpServer): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return portOf(server);
}

function closer(server: HttpServer | TcpServer, sockets: Set<Socket>): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
}

function track(server: HttpServer | TcpServer): Set<Socket> {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  return sockets;
}

export async function startHttp(handler: Handler): Promise<Listening> {
  const server = createHttpServer(handler);
  const sockets = track(server);
  return { port: await listen(server), close: closer(server, sockets) };
}

/** A self-signed certificate made with openssl for this test run only. */
export async function selfSignedCert(): Promise<{ key: Buffer; cert: Buffer }> {
  const dir = await mkdtemp(join(tmpdir(), 'bosun-probes-tls-'));
  try {
    await promisify(execFile)('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=probe-test.invalid', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ]);
    return { key: await readFile(join(dir, 'key.pem')), cert: await readFile(join(dir, 'cert.pem')) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function startHttps(handler: Handler, tls: { key: Buffer; cert: Buffer }): Promise<Listening> {
  const server = createHttpsServer(tls, handler);
  server.on('tlsClientError', () => undefined);
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  return { port: await listen(server), close: closer(server, sockets) };
}

export async function startTcp(): Promise<Listening & { accepted: () => number }> {
  let accepted = 0;
  const server = createTcpServer((s) => {
    accepted++;
    s.on('error', () => undefined);
  });
  const sockets = track(server);
  return { port: await listen(server), close: closer(server, sockets), accepted: () => accepted };
}

/** A port nothing listens on (it was just released). */
export async function closedPort(): Promise<number> {
  const server = createTcpServer();
  const port = await listen(server);
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

export interface GrpcHealth extends Listening {
  userAgents: string[];
  /** The service name of each Check, in order. */
  services: string[];
}

/**
 * grpc.health.v1.Health/Check answering from a table: a status number, 'hang' (never
 * answers), or an error code. Without a table the server has no health service at all.
 */
export async function startGrpcHealth(table?: Record<string, number | 'hang' | { code: grpcStatus }>, host = '127.0.0.1'): Promise<GrpcHealth> {
  const server = new GrpcServer();
  const userAgents: string[] = [];
  const services: string[] = [];
  if (table) {
    server.addService(
      {
        Check: {
          path: HEALTH_CHECK_METHOD,
          requestStream: false,
          responseStream: false,
          requestSerialize: encodeHealthCheckRequest,
          requestDeserialize: decodeHealthCheckRequest,
          responseSerialize: encodeHealthCheckResponse,
          responseDeserialize: decodeHealthCheckResponse,
        },
      },
      {
        Check: (
          call: { request: { service: string }; metadata: { get(k: string): unknown[] } },
          cb: sendUnaryData<{ status: number }>,
        ) => {
          userAgents.push(String(call.metadata.get('user-agent')[0] ?? ''));
          services.push(call.request.service);
          const answer = table[call.request.service];
          if (answer === undefined) {
            cb({ code: grpcStatus.NOT_FOUND, details: `unknown service ${call.request.service}` } as ServiceError, null);
          } else if (answer === 'hang') {
            // never answers
          } else if (typeof answer === 'object') {
            cb({ code: answer.code, details: 'scripted error' } as ServiceError, null);
          } else {
            cb(null, { status: answer });
          }
        },
      },
    );
  }
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:0`, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    port,
    userAgents,
    services,
    close: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };
}
