// The event stream's framing and failure reporting, against a fake engine on a unix
// socket: the real engine's stream cannot be made to end on demand without restarting
// dockerd, which other tests share.

import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDockerRuntime, type RuntimeEvent } from '../../cri/index.js';
import { sleep } from '../support/common.js';

let dir: string;
let socketPath: string;
let server: Server;
let eventsQuery: URLSearchParams | undefined;
let eventsResponse: ServerResponse | undefined;

function event(action: string, id: string, uid?: string): string {
  return JSON.stringify({
    Type: 'container',
    Action: action,
    status: action,
    id,
    Actor: { ID: id, Attributes: { 'io.kubernetes.docker.type': 'container', ...(uid ? { 'io.kubernetes.pod.uid': uid } : {}) } },
    time: 1,
  });
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bosun-fake-docker-'));
  socketPath = join(dir, 'docker.sock');
  eventsQuery = undefined;
  eventsResponse = undefined;
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/_ping') return void res.end('OK');
    if (url.pathname === '/networks/bosun') {
      res.setHeader('content-type', 'application/json');
      return void res.end(
        JSON.stringify({
          Name: 'bosun',
          Driver: 'bridge',
          IPAM: { Config: [{ Subnet: '10.244.0.0/16' }] },
          Options: { 'com.docker.network.bridge.name': 'bosun0' },
        }),
      );
    }
    if (url.pathname === '/events') {
      eventsQuery = url.searchParams;
      eventsResponse = res;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      return;
    }
    res.statusCode = 404;
    res.end(JSON.stringify({ message: `fake engine: no ${url.pathname}` }));
  });
  await new Promise<void>((r) => server.listen(socketPath, r));
});

afterEach(async () => {
  eventsResponse?.destroy();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await rm(dir, { recursive: true, force: true });
});

describe('Docker event subscription', () => {
  it('maps lifecycle events split across chunks, filters server-side, and reports the end of the stream', async () => {
    const rt = await createDockerRuntime({ socketPath });
    const events: RuntimeEvent[] = [];
    const errors: Error[] = [];
    rt.subscribe(
      (e) => events.push(e),
      (e) => errors.push(e),
    );
    for (let i = 0; i < 50 && !eventsResponse; i++) await sleep(20);
    expect(eventsResponse).toBeDefined();
    const filters = JSON.parse(eventsQuery?.get('filters') ?? '{}') as Record<string, string[]>;
    expect(filters).toEqual({ type: ['container'], label: ['io.kubernetes.docker.type'] });

    const text = [
      event('create', 'c1', 'uid-1'),
      event('start', 'c1', 'uid-1'),
      event('exec_start: sh -c true', 'c1', 'uid-1'),
      event('die', 'c1', 'uid-1'),
      event('destroy', 'c1'),
    ].join('\n') + '\n';
    const cut = Math.floor(text.length / 2) + 3;
    eventsResponse!.write(text.slice(0, cut));
    await sleep(30);
    eventsResponse!.write(text.slice(cut));
    await sleep(50);
    expect(events).toEqual([
      { id: 'c1', type: 'created', podUid: 'uid-1' },
      { id: 'c1', type: 'started', podUid: 'uid-1' },
      { id: 'c1', type: 'stopped', podUid: 'uid-1' },
      { id: 'c1', type: 'deleted' },
    ]);
    expect(errors).toEqual([]);

    eventsResponse!.end();
    for (let i = 0; i < 50 && errors.length === 0; i++) await sleep(20);
    expect(errors).toHaveLength(1);
    await rt.close();
  });

  it('does not report an error after unsubscribing', async () => {
    const rt = await createDockerRuntime({ socketPath });
    const errors: Error[] = [];
    const unsubscribe = rt.subscribe(
      () => undefined,
      (e) => errors.push(e),
    );
    for (let i = 0; i < 50 && !eventsResponse; i++) await sleep(20);
    unsubscribe();
    eventsResponse?.end();
    await sleep(100);
    expect(errors).toEqual([]);
    await rt.close();
  });

  it('reports a subscription the engine refuses', async () => {
    server.removeAllListeners('request');
    server.on('request', (req, res) => {
      if (req.url === '/_ping') return void res.end('OK');
      if (req.url?.startsWith('/networks/')) {
        return void res.end(JSON.stringify({ Driver: 'bridge', IPAM: { Config: [{ Subnet: '10.244.0.0/16' }] } }));
      }
      res.statusCode = 500;
      res.end(JSON.stringify({ message: 'events unavailable' }));
    });
    const rt = await createDockerRuntime({ socketPath });
    const err = await new Promise<Error>((resolve) => rt.subscribe(() => undefined, resolve));
    expect(err.message).toContain('events unavailable');
    await rt.close();
  });
});
