import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containersOf, freePort, manifest, removeTestContainers, TestAgent } from '../support/agent.js';
import { BUSYBOX as BB } from '../support/common.js';

// The HTTP manifest source (--manifest-url) against a local web server: add, change and
// remove pods through it; the server down or serving garbage leaves the pods alone.
// Needs root and a running Docker engine.

const agent = new TestAgent();

let body = '';
let requests: { etag?: string }[] = [];
let server: Server;
let port = 0;

const pod = (name: string, arg: string) => manifest(name, `  terminationGracePeriodSeconds: 0
  containers:
    - name: c
      image: ${BB}
      command: ["sleep", "${arg}"]
`);

async function serve(): Promise<void> {
  server = createServer((req, res) => {
    requests.push({ etag: req.headers['if-none-match'] });
    if (req.headers['x-token'] !== 'sesame') return void res.writeHead(403).end('no');
    const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"`;
    if (req.headers['if-none-match'] === etag) return void res.writeHead(304).end();
    res.writeHead(200, { etag, 'content-type': 'application/yaml' }).end(body);
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
}

beforeAll(async () => {
  await removeTestContainers();
  port = await freePort();
  body = pod('fromurl', '3600');
  await serve();
  await agent.start(['--manifest-url', `http://127.0.0.1:${port}/pods.yaml`, '--manifest-url-header', 'x-token:sesame', '--http-check-frequency', '1s']);
});

afterAll(async () => {
  await agent.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

describe('manifest URL source', () => {
  it('runs the pods the URL serves, as static pods from http, and asks with If-None-Match', async () => {
    const p = await agent.waitPod('fromurl', (p) => p.status?.phase === 'Running', 'Running');
    expect(p.metadata.annotations?.['kubernetes.io/config.source']).toBe('http');
    await agent.until(async () => requests.some((r) => r.etag), 'a conditional request');
  });

  it('follows a change and an addition, and removes a pod the URL stops serving', async () => {
    const old = (await agent.pod('fromurl'))!;
    body = pod('fromurl', '3601') + '---\n' + pod('second', '3600');
    await agent.waitPod('second', (p) => p.status?.phase === 'Running', 'second Running');
    await agent.waitPod('fromurl', (p) => p.metadata.uid !== old.metadata.uid && p.status?.phase === 'Running', 'fromurl recreated');
    body = pod('fromurl', '3601');
    await agent.until(async () => (await containersOf(agent.nodeName, `second-${agent.nodeName}`)).length === 0, 'second removed');
  });

  it('keeps the pods when the URL serves garbage or goes away, and reports it', async () => {
    const ids = async () => (await containersOf(agent.nodeName)).filter((c) => c.State === 'running').map((c) => c.Id).sort();
    const before = await ids();
    body = 'apiVersion: v1\nkind: Pod\nmetadata: [broken';
    await agent.until(async () => agent.log().includes('manifest URL:'), 'the error reported');
    await new Promise<void>((r) => server.close(() => r()));
    server.closeAllConnections();
    await new Promise((r) => setTimeout(r, 3000));
    expect(agent.log()).toMatch(/manifest URL: cannot reach/);
    expect(await ids()).toEqual(before);
    body = pod('fromurl', '3601');
    await serve();
    await agent.until(async () => agent.log().includes('manifest URL answering again'), 'recovered');
    expect(await ids()).toEqual(before);
  });
});
