// Probe handlers against real servers on 127.0.0.1 (and a fake exec runtime; the real
// engine's exec is covered by test/integration/probes-exec.test.ts).

import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Container, Pod } from '../../manifests/index.js';
import { KUBE_VERSION } from '../../agent/vocab/index.js';
import { ProbeError, execProbe, grpcProbe, httpGetProbe, kubeUserAgent, runProbeHandler, tcpSocketProbe } from '../../probes/index.js';
import {
  decodeHealthCheckRequest, decodeHealthCheckResponse, encodeHealthCheckRequest, encodeHealthCheckResponse,
} from '../../probes/handlers/index.js';
import { closedPort, selfSignedCert, startGrpcHealth, startHttp, startHttps, startTcp, type GrpcHealth, type Listening } from '../support/probes-servers.js';
import { execRuntime } from '../support/probes-fakes.js';

const LOCAL = '127.0.0.1';
let http: Listening;
let https: Listening;
let tcp: Listening;
let refused: number;
let grpc: GrpcHealth;
let grpcBare: Listening;
const seen: IncomingMessage[] = [];
let loopHits = 0;

function routes(req: IncomingMessage, res: ServerResponse): void {
  seen.push(req);
  const url = new URL(req.url ?? '/', 'http://x');
  switch (url.pathname) {
    case '/ok':
      res.end('fine');
      return;
    case '/fail':
      res.writeHead(500).end('secret detail');
      return;
    case '/relative':
      res.writeHead(302, { Location: '/ok' }).end();
      return;
    case '/absolute':
      res.writeHead(301, { Location: `http://${LOCAL}:${http.port}/ok` }).end();
      return;
    case '/to-fail':
      res.writeHead(307, { Location: '/fail' }).end();
      return;
    case '/elsewhere':
      // Another host name: kubelet does not follow it (so nothing dials "localhost").
      res.writeHead(302, { Location: `http://localhost:${http.port}/ok` }).end('moved away');
      return;
    case '/no-location':
      res.writeHead(302).end('nowhere');
      return;
    case '/loop':
      loopHits++;
      res.writeHead(302, { Location: '/loop' }).end();
      return;
    case '/big':
      res.end('x'.repeat(1024 * 1024));
      return;
    case '/headers':
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(req.headers));
      return;
    case '/slow':
      return; // never answers
    default:
      res.writeHead(404).end();
  }
}

beforeAll(async () => {
  http = await startHttp(routes);
  https = await startHttps(routes, await selfSignedCert());
  tcp = await startTcp();
  refused = await closedPort();
  grpc = await startGrpcHealth({ '': 1, down: 2, unknown: 0, hang: 'hang', odd: 7 });
  grpcBare = await startGrpcHealth();
});

afterAll(async () => {
  await Promise.all([http, https, tcp, grpc, grpcBare].map((s) => s?.close()));
});

/** What the agent passes: kube-probe/ and the release it reports (agent/vocab KUBE_VERSION). */
const UA = kubeUserAgent('probe', KUBE_VERSION);
const get = (path: string, extra: Record<string, unknown> = {}, timeoutMs = 2000) =>
  httpGetProbe({ path, port: http.port, host: LOCAL, ...extra }, { timeoutMs, userAgent: UA });

describe('httpGet', () => {
  it('is Success for 2xx, with the body as output', async () => {
    expect(await get('/ok')).toEqual({ result: 'Success', output: 'fine' });
  });

  it('is Failure for 500 and keeps the body out of the message', async () => {
    expect(await get('/fail')).toEqual({ result: 'Failure', output: 'HTTP probe failed with statuscode: 500' });
  });

  it('follows redirects to the same host, relative or absolute', async () => {
    expect(await get('/relative')).toEqual({ result: 'Success', output: 'fine' });
    expect(await get('/absolute')).toEqual({ result: 'Success', output: 'fine' });
    expect(await get('/to-fail')).toEqual({ result: 'Failure', output: 'HTTP probe failed with statuscode: 500' });
  });

  it('does not follow a redirect to another host: a Warning, as kubelet', async () => {
    const before = seen.length;
    expect(await get('/elsewhere')).toEqual({ result: 'Warning', output: 'Probe terminated redirects, Response body: moved away' });
    expect(seen.length - before).toBe(1);
    expect(await get('/no-location')).toEqual({ result: 'Warning', output: 'Probe terminated redirects, Response body: nowhere' });
  });

  it('gives up after 10 requests in a redirect loop', async () => {
    loopHits = 0;
    expect(await get('/loop')).toEqual({
      result: 'Failure',
      output: `Get "http://${LOCAL}:${http.port}/loop": stopped after 10 redirects`,
    });
    expect(loopHits).toBe(10);
  });

  it('reads at most 10 KiB of the body', async () => {
    const r = await get('/big');
    expect(r.result).toBe('Success');
    expect(r.output).toHaveLength(10 * 1024);
  });

  it('sends kubelet headers, user headers, a Host override and no keep-alive', async () => {
    const r = await get('/headers', {
      httpHeaders: [
        { name: 'X-Custom', value: 'a' },
        { name: 'x-custom', value: 'b' },
        { name: 'Host', value: 'probe.example' },
      ],
    });
    const h = JSON.parse(r.output) as Record<string, string>;
    expect(h).toMatchObject({
      'user-agent': `kube-probe/${KUBE_VERSION.major}.${KUBE_VERSION.minor}`,
      accept: '*/*',
      connection: 'close',
      'x-custom': 'a, b',
      host: 'probe.example',
    });
    const d = JSON.parse((await get('/headers')).output) as Record<string, string>;
    expect(d.host).toBe(`${LOCAL}:${http.port}`);
    const own = JSON.parse((await get('/headers', { httpHeaders: [{ name: 'user-agent', value: 'mine' }, { name: 'Accept', value: '' }] })).output);
    expect(own['user-agent']).toBe('mine');
    expect(own).not.toHaveProperty('accept');
    // The handler holds no version of its own: without the agent's, no User-Agent at all.
    const bare = JSON.parse((await httpGetProbe({ path: '/headers', port: http.port, host: LOCAL }, { timeoutMs: 2000 })).output);
    expect(bare).not.toHaveProperty('user-agent');
  });

  it('dials the pod IP when there is no host, and resolves named ports', async () => {
    const container: Container = { name: 'app', ports: [{ name: 'web', containerPort: http.port }] };
    expect(await httpGetProbe({ path: '/ok', port: 'web' }, { container, podIP: LOCAL, timeoutMs: 1000 })).toEqual({ result: 'Success', output: 'fine' });
    expect(await httpGetProbe({ path: 'ok', port: String(http.port) }, { container, podIP: LOCAL, timeoutMs: 1000 })).toMatchObject({ result: 'Success' });
  });

  it('rejects an unknown port name or a missing address: the probe cannot run', async () => {
    const container: Container = { name: 'app', ports: [{ name: 'web', containerPort: http.port }] };
    await expect(httpGetProbe({ port: 'admin' }, { container, podIP: LOCAL, timeoutMs: 1000 })).rejects.toThrow(ProbeError);
    await expect(httpGetProbe({ port: 'admin' }, { container, podIP: LOCAL, timeoutMs: 1000 })).rejects.toThrow('port admin not found in container "app"');
    await expect(httpGetProbe({ port: 80 }, { timeoutMs: 1000 })).rejects.toThrow(ProbeError);
    await expect(httpGetProbe({ port: 70000, host: LOCAL }, { timeoutMs: 1000 })).rejects.toThrow('invalid port number: 70000');
  });

  it('fails on a refused connection with Go-like wording', async () => {
    expect(await httpGetProbe({ path: '/healthz', port: refused, host: LOCAL }, { timeoutMs: 1000 })).toEqual({
      result: 'Failure',
      output: `Get "http://${LOCAL}:${refused}/healthz": dial tcp ${LOCAL}:${refused}: connect: connection refused`,
    });
  });

  it('fails when the timeout passes before the answer', async () => {
    const t0 = Date.now();
    const r = await get('/slow', {}, 300);
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(r).toEqual({
      result: 'Failure',
      output: `Get "http://${LOCAL}:${http.port}/slow": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`,
    });
  });

  it('speaks HTTPS without checking the (self-signed) certificate', async () => {
    expect(await httpGetProbe({ path: '/ok', port: https.port, host: LOCAL, scheme: 'HTTPS' }, { timeoutMs: 2000 })).toEqual({
      result: 'Success',
      output: 'fine',
    });
    expect(await httpGetProbe({ path: '/fail', port: https.port, host: LOCAL, scheme: 'HTTPS' }, { timeoutMs: 2000 })).toMatchObject({
      result: 'Failure',
    });
  });

  it('fails HTTP-over-TLS against a plain HTTP port, with Go\'s words for it', async () => {
    const r = await httpGetProbe({ path: '/ok', port: http.port, host: LOCAL, scheme: 'HTTPS' }, { timeoutMs: 2000 });
    expect(r).toEqual({ result: 'Failure', output: `Get "https://${LOCAL}:${http.port}/ok": http: server gave HTTP response to HTTPS client` });
  });
});

describe('httpGet on the bare socket: framing and malformed answers (canned bytes)', () => {
  // A server that answers every connection with the bytes its path asks for, in pieces.
  const canned: Record<string, { parts: string[]; end?: boolean }> = {
    '/chunked': { parts: ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nfi', 'ne\r\n3;ext=1\r\n an\r\n2\r\nd!\r\n0\r\nX-Trailer: t\r\n\r\n'] },
    '/close-delimited': { parts: ['HTTP/1.0 200 OK\r\n\r\nuntil', ' the end'], end: true },
    '/continue': { parts: ['HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'] },
    '/bare-lf': { parts: ['HTTP/1.1 302 Found\nLocation: /elsewhere-lf\nContent-Length: 5\n\nmoved'] },
    '/split-head': { parts: ['HTTP/1.1 20', '4 No Content\r', '\n\r', '\n'] },
    '/truncated': { parts: ['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort'], end: true },
    '/truncated-chunk': { parts: ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc'], end: true },
    '/bad-status': { parts: ['HTTP/1.1 2x0 OK\r\n\r\n'] },
    '/not-http': { parts: ['SSH-2.0-OpenSSH_9.2\r\n\r\n'] },
    '/bad-length': { parts: ['HTTP/1.1 200 OK\r\nContent-Length: 12, 13\r\n\r\n'] },
    '/gzip': { parts: ['HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n'] },
    '/silent-close': { parts: [], end: true },
    '/half-head': { parts: ['HTTP/1.1 200 OK\r\nContent-'], end: true },
  };
  let server: Server;
  let port = 0;
  const requests: string[] = [];
  beforeAll(async () => {
    server = createServer((sock) => {
      let got = '';
      sock.on('error', () => undefined);
      sock.on('data', (d) => {
        got += d.toString('latin1');
        if (!got.includes('\r\n\r\n')) return;
        requests.push(got);
        const path = got.split(' ')[1]!;
        const c = canned[path] ?? { parts: ['HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'] };
        let i = 0;
        const next = () => {
          if (i < c.parts.length) {
            sock.write(c.parts[i++]!);
            setTimeout(next, 10);
          } else if (c.end) sock.end();
        };
        next();
      });
    });
    await new Promise<void>((r) => server.listen(0, LOCAL, () => r()));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  const raw = (path: string, extra: Record<string, unknown> = {}) => httpGetProbe({ path, port, host: LOCAL, ...extra }, { timeoutMs: 2000, userAgent: UA });
  const url = (path: string) => `Get "http://${LOCAL}:${port}${path}": `;

  it('reads chunked, close-delimited and 1xx-preceded answers, heads in pieces and with bare LF', async () => {
    expect(await raw('/chunked')).toEqual({ result: 'Success', output: 'fine and!' });
    expect(await raw('/close-delimited')).toEqual({ result: 'Success', output: 'until the end' });
    expect(await raw('/continue')).toEqual({ result: 'Success', output: 'ok' });
    expect(await raw('/split-head')).toEqual({ result: 'Success', output: '' });
    // Followed to the same host (a 404 there).
    expect(await raw('/bare-lf')).toEqual({ result: 'Failure', output: 'HTTP probe failed with statuscode: 404' });
  });

  it('words a short body, a malformed answer or a silent close as Go does', async () => {
    expect(await raw('/truncated')).toEqual({ result: 'Failure', output: `${url('/truncated')}unexpected EOF` });
    expect(await raw('/truncated-chunk')).toEqual({ result: 'Failure', output: `${url('/truncated-chunk')}unexpected EOF` });
    expect(await raw('/bad-status')).toEqual({ result: 'Failure', output: `${url('/bad-status')}malformed HTTP status code "2x0"` });
    expect(await raw('/not-http')).toEqual({ result: 'Failure', output: `${url('/not-http')}malformed HTTP response "SSH-2.0-OpenSSH_9.2"` });
    expect(await raw('/bad-length')).toEqual({ result: 'Failure', output: `${url('/bad-length')}bad Content-Length "12, 13"` });
    expect(await raw('/gzip')).toEqual({ result: 'Failure', output: `${url('/gzip')}unsupported transfer encoding: "gzip"` });
    expect(await raw('/silent-close')).toEqual({ result: 'Failure', output: `${url('/silent-close')}EOF` });
    expect(await raw('/half-head')).toEqual({ result: 'Failure', output: `${url('/half-head')}unexpected EOF` });
  });

  it('sends Host and User-Agent first, the rest sorted, as Go; refuses a header value that would split the request', async () => {
    requests.length = 0;
    await raw('/chunked', { httpHeaders: [{ name: 'X-A', value: '1' }] });
    expect(requests[0]).toBe(`GET /chunked HTTP/1.1\r\nHost: ${LOCAL}:${port}\r\nUser-Agent: ${UA}\r\nAccept: */*\r\nConnection: close\r\nX-A: 1\r\n\r\n`);
    requests.length = 0;
    expect(await raw('/chunked', { httpHeaders: [{ name: 'X-A', value: '1\r\nX-Injected: 2' }] })).toEqual({
      result: 'Failure', output: `${url('/chunked')}net/http: invalid header field value for "X-A"`,
    });
    expect(requests).toEqual([]);
  });
});

describe('tcpSocket', () => {
  it('is Success when the connection is accepted', async () => {
    expect(await tcpSocketProbe({ port: tcp.port, host: LOCAL }, { timeoutMs: 1000 })).toEqual({ result: 'Success', output: '' });
  });

  it('is Failure on a closed port', async () => {
    expect(await tcpSocketProbe({ port: refused }, { podIP: LOCAL, timeoutMs: 1000 })).toEqual({
      result: 'Failure',
      output: `dial tcp ${LOCAL}:${refused}: connect: connection refused`,
    });
  });

  it('resolves named ports and rejects unknown ones', async () => {
    const container: Container = { name: 'db', ports: [{ name: 'pg', containerPort: tcp.port }] };
    expect(await tcpSocketProbe({ port: 'pg' }, { container, podIP: LOCAL, timeoutMs: 1000 })).toMatchObject({ result: 'Success' });
    await expect(tcpSocketProbe({ port: 'mysql' }, { container, podIP: LOCAL, timeoutMs: 1000 })).rejects.toThrow(ProbeError);
  });
});

describe('grpc', () => {
  it('is Success on SERVING', async () => {
    expect(await grpcProbe({ port: grpc.port }, { podIP: LOCAL, timeoutMs: 2000, userAgent: UA })).toEqual({ result: 'Success', output: 'service healthy' });
    expect(grpc.userAgents.at(-1)?.startsWith(`${UA} `)).toBe(true);
  });

  it('is Failure on NOT_SERVING and other statuses, naming them', async () => {
    expect(await grpcProbe({ port: grpc.port, service: 'down' }, { podIP: LOCAL, timeoutMs: 2000 })).toEqual({
      result: 'Failure',
      output: 'service unhealthy (responded with "NOT_SERVING")',
    });
    expect(await grpcProbe({ port: grpc.port, service: 'unknown' }, { podIP: LOCAL, timeoutMs: 2000 })).toMatchObject({
      output: 'service unhealthy (responded with "UNKNOWN")',
    });
    expect(await grpcProbe({ port: grpc.port, service: 'odd' }, { podIP: LOCAL, timeoutMs: 2000 })).toMatchObject({
      output: 'service unhealthy (responded with "7")',
    });
  });

  it('is Failure on an RPC error, with the code as Go names it', async () => {
    expect(await grpcProbe({ port: grpc.port, service: 'nope' }, { podIP: LOCAL, timeoutMs: 2000 })).toEqual({
      result: 'Failure',
      output: 'error: health rpc probe failed: rpc error: code = NotFound desc = unknown service nope',
    });
  });

  it('is Failure when the server has no health service', async () => {
    expect(await grpcProbe({ port: grpcBare.port }, { podIP: LOCAL, timeoutMs: 2000 })).toMatchObject({
      result: 'Failure',
      output: expect.stringMatching(/^error: this server does not implement the grpc health protocol \(grpc\.health\.v1\.Health\): /),
    });
  });

  it('is Failure on timeout and on a closed port', async () => {
    const t0 = Date.now();
    expect(await grpcProbe({ port: grpc.port, service: 'hang' }, { podIP: LOCAL, timeoutMs: 1000 })).toEqual({
      result: 'Failure',
      output: 'timeout: health rpc did not complete within 1s',
    });
    expect(Date.now() - t0).toBeLessThan(2500);
  });

  it('dials a closed port until the timeout and reports a connect timeout, as kubelet dials with WithBlock', async () => {
    expect(await grpcProbe({ port: refused }, { podIP: LOCAL, timeoutMs: 1000 })).toEqual({
      result: 'Failure',
      output: `timeout: failed to connect service "${LOCAL}:${refused}" within 1s: context deadline exceeded`,
    });
  });

  it('sends the service name as given, and only the named service answers', async () => {
    const named = await startGrpcHealth({ svc: 1 });
    try {
      expect(await grpcProbe({ port: named.port, service: 'svc' }, { podIP: LOCAL, timeoutMs: 2000 })).toMatchObject({ result: 'Success' });
      expect(named.services.at(-1)).toBe('svc');
      expect(await grpcProbe({ port: named.port }, { podIP: LOCAL, timeoutMs: 2000 })).toEqual({
        result: 'Failure',
        output: 'error: health rpc probe failed: rpc error: code = NotFound desc = unknown service ',
      });
      expect(named.services.at(-1)).toBe('');
    } finally {
      await named.close();
    }
  });

  it('encodes and decodes the two health messages', () => {
    expect(encodeHealthCheckRequest({ service: '' })).toHaveLength(0);
    expect([...encodeHealthCheckRequest({ service: 'ab' })]).toEqual([0x0a, 2, 0x61, 0x62]);
    expect(decodeHealthCheckRequest(encodeHealthCheckRequest({ service: 'x'.repeat(300) })).service).toHaveLength(300);
    expect(decodeHealthCheckResponse(encodeHealthCheckResponse({ status: 2 }))).toEqual({ status: 2 });
    // Unknown fields (here a string field 2 and a fixed32 field 3) are skipped.
    expect(decodeHealthCheckResponse(Buffer.from([0x12, 1, 0x41, 0x08, 1, 0x1d, 0, 0, 0, 0]))).toEqual({ status: 1 });
  });
});

describe('exec (fake runtime)', () => {
  it('passes the probe timeout and maps exit codes', async () => {
    const ok = execRuntime({ stdout: 'up' });
    expect(await execProbe(ok, 'cid', ['cat', '/tmp/ok'], 3000)).toEqual({ result: 'Success', output: 'up' });
    expect(ok.calls).toEqual([['cid', ['cat', '/tmp/ok'], 3000]]);
    expect(await execProbe(execRuntime({ stdout: 'out\n', stderr: 'err\n', exitCode: 2 }), 'cid', ['x'], 1000)).toEqual({
      result: 'Failure',
      output: 'out\nerr\n',
    });
  });

  it('reports a timeout as a Failure and caps output at 10 KiB', async () => {
    expect(await execProbe(execRuntime({ timedOut: true, exitCode: -1 }), 'cid', ['sleep', '5'], 1000)).toEqual({
      result: 'Failure',
      output: 'command "sleep 5" timed out',
    });
    expect((await execProbe(execRuntime({ stdout: 'y'.repeat(50_000), exitCode: 1 }), 'cid', ['x'], 1000)).output).toHaveLength(10 * 1024);
  });

  it('rejects when the runtime cannot exec at all', async () => {
    await expect(execProbe(execRuntime(new Error('container gone')), 'cid', ['x'], 1000)).rejects.toThrow('container gone');
  });
});

describe('runProbeHandler', () => {
  it('dispatches on the handler, sends kube-probe/<major>.<minor> of the release it is given, and refuses a probe without one', async () => {
    const pod: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns', uid: 'u' }, spec: { containers: [] } };
    const target = { pod, container: { name: 'c' }, containerId: 'cid', podIP: LOCAL };
    const deps = { runtime: { execSync: () => Promise.reject(new Error('unused')) }, kubeVersion: { major: '1', minor: '99' } };
    expect(await runProbeHandler({ tcpSocket: { port: tcp.port } }, target, deps, 1000)).toMatchObject({ result: 'Success' });
    expect(await runProbeHandler({ httpGet: { port: http.port, path: '/ok' } }, target, deps, 1000)).toMatchObject({ result: 'Success' });
    expect(await runProbeHandler({ grpc: { port: grpc.port } }, target, deps, 1000)).toMatchObject({ result: 'Success' });
    expect(grpc.userAgents.at(-1)?.startsWith('kube-probe/1.99 ')).toBe(true);
    const headers = JSON.parse((await runProbeHandler({ httpGet: { port: http.port, path: '/headers' } }, target, deps, 1000)).output) as Record<string, string>;
    expect(headers['user-agent']).toBe('kube-probe/1.99');
    await expect(runProbeHandler({}, target, deps, 1000)).rejects.toThrow('missing probe handler for p_ns(u):c');
  });
});
