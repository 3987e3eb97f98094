// Hundreds of probes must not leave TIME_WAIT sockets behind on the probing side (ports
// and conntrack entries run out at scale). Counted with `ss` for each listener's port; a
// baseline that closes politely (FIN first) shows what the count looks like otherwise.
// Only 127.0.0.1 is contacted.

import { execFile } from 'node:child_process';
import { get } from 'node:http';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { grpcProbe, httpGetProbe, tcpSocketProbe, type ProbeResult } from '../../probes/index.js';
import { selfSignedCert, startGrpcHealth, startHttp, startHttps, startTcp, type Listening } from '../support/probes-servers.js';

const execFileP = promisify(execFile);
const LOCAL = '127.0.0.1';
const N = 500;
const CONCURRENCY = 50;
const open: Listening[] = [];

afterAll(async () => {
  await Promise.all(open.map((s) => s.close()));
});

/** TIME_WAIT sockets whose peer is the listener (the prober's) and whose local end is (the server's). */
async function timeWait(port: number): Promise<{ probing: number; serving: number }> {
  const count = async (dir: 'dport' | 'sport') => {
    const { stdout } = await execFileP('ss', ['-Htan', 'state', 'time-wait', dir, '=', `:${port}`]);
    return stdout.split('\n').filter((l) => l.trim() !== '').length;
  };
  return { probing: await count('dport'), serving: await count('sport') };
}

async function repeat<T>(n: number, fn: () => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) {
        next++;
        out.push(await fn());
      }
    }),
  );
  return out;
}

async function measure(name: string, port: number, n: number, fn: () => Promise<ProbeResult | void>) {
  const before = await timeWait(port);
  const t0 = Date.now();
  const results = await repeat(n, fn);
  const ms = Date.now() - t0;
  await new Promise((r) => setTimeout(r, 200));
  const after = await timeWait(port);
  const line = { name, n, ms, before, after };
  console.log(`TIME_WAIT ${JSON.stringify(line)}`);
  return { results, before, after };
}

describe('connection hygiene', () => {
  it(`${N} TCP probes leave no TIME_WAIT pile on the probing side`, async () => {
    const server = await startTcp();
    open.push(server);
    const { results, before, after } = await measure('tcpSocket', server.port, N, () =>
      tcpSocketProbe({ port: server.port, host: LOCAL }, { timeoutMs: 2000 }),
    );
    expect(results.every((r) => r?.result === 'Success')).toBe(true);
    expect(server.accepted()).toBe(N);
    expect(before.probing).toBe(0);
    expect(after.probing).toBeLessThan(50);
  });

  it(`${N} HTTP probes leave no TIME_WAIT pile on the probing side`, async () => {
    const server = await startHttp((_req, res) => res.end('ok'));
    open.push(server);
    const { results, before, after } = await measure('httpGet', server.port, N, () =>
      httpGetProbe({ port: server.port, host: LOCAL, path: '/healthz' }, { timeoutMs: 2000 }),
    );
    expect(results.every((r) => r?.result === 'Success')).toBe(true);
    expect(before.probing).toBe(0);
    expect(after.probing).toBeLessThan(50);
    // Resetting before Node's FIN spares the server (the pod) its TIME_WAIT sockets too.
    expect(after.serving).toBeLessThan(50);
  });

  it(`${N} HTTPS probes leave no TIME_WAIT pile on the probing side`, async () => {
    const server = await startHttps((_req, res) => res.end('ok'), await selfSignedCert());
    open.push(server);
    const { results, after } = await measure('httpGet HTTPS', server.port, N, () =>
      httpGetProbe({ port: server.port, host: LOCAL, path: '/healthz', scheme: 'HTTPS' }, { timeoutMs: 5000 }),
    );
    expect(results.every((r) => r?.result === 'Success')).toBe(true);
    expect(after.probing).toBeLessThan(50);
  });

  it('baseline: the same number of politely closed connections does pile up (the count is meaningful)', async () => {
    const server = await startTcp();
    open.push(server);
    const { after } = await measure('baseline FIN close', server.port, N, () => {
      return new Promise<void>((resolve, reject) => {
        const s = connect({ host: LOCAL, port: server.port }, () => s.end());
        s.on('close', () => resolve());
        s.on('error', reject);
        s.resume();
      });
    });
    expect(after.probing + after.serving).toBeGreaterThan(N / 2);
  });

  it('for the record: plain node http.get with agent:false, and gRPC probes (grpc-js closes with FIN)', async () => {
    const server = await startHttp((_req, res) => res.end('ok'));
    open.push(server);
    await measure('baseline http.get agent:false', server.port, N, () => {
      return new Promise<void>((resolve, reject) => {
        get({ host: LOCAL, port: server.port, path: '/', agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve());
        }).on('error', reject);
      });
    });
    const grpc = await startGrpcHealth({ '': 1 });
    open.push(grpc);
    const { results } = await measure('grpc', grpc.port, 100, () => grpcProbe({ port: grpc.port }, { podIP: LOCAL, timeoutMs: 2000 }));
    expect(results.every((r) => r?.result === 'Success')).toBe(true);
  });
});
