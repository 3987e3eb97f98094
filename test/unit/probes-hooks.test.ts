import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Container, Pod } from '../../manifests/index.js';
import { KUBE_VERSION } from '../../agent/vocab/index.js';
import { runHook, type HookTarget } from '../../probes/index.js';
import { closedPort, selfSignedCert, startHttp, startHttps, type Listening } from '../support/probes-servers.js';
import { execRuntime } from '../support/probes-fakes.js';

const LOCAL = '127.0.0.1';
let http: Listening;
let refused: number;
const seen: IncomingMessage[] = [];

beforeAll(async () => {
  http = await startHttp((req, res) => {
    seen.push(req);
    res.writeHead(req.url === '/fail' ? 500 : 200).end();
  });
  refused = await closedPort();
});
afterAll(() => http?.close());

const pod: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'prod', uid: 'u-1' }, spec: { containers: [] } };
const container: Container = { name: 'app' };
const target = (podIP: string | undefined = LOCAL): HookTarget => ({ pod, container, containerId: 'cid', podIP });

describe('exec hooks', () => {
  it('succeed on exit 0', async () => {
    const rt = execRuntime({ stdout: 'done' });
    expect(await runHook({ exec: { command: ['sh', '-c', 'touch /ready'] } }, target(), { runtime: rt, kubeVersion: KUBE_VERSION }, { timeoutMs: 5000 })).toEqual({
      ok: true,
      message: '',
    });
    expect(rt.calls).toEqual([['cid', ['sh', '-c', 'touch /ready'], 5000]]);
  });

  it('fail with kubelet’s message on a non-zero exit', async () => {
    const r = await runHook({ exec: { command: ['sh', '-c', 'exit 3'] } }, target(), { runtime: execRuntime({ stdout: 'out', stderr: 'bad', exitCode: 3 }), kubeVersion: KUBE_VERSION });
    expect(r).toEqual({
      ok: false,
      error: "command 'sh -c exit 3' exited with 3: bad",
      message:
        'Exec lifecycle hook ([sh -c exit 3]) for Container "app" in Pod "web_prod(u-1)" failed - error: ' +
        "command 'sh -c exit 3' exited with 3: bad, message: \"outbad\"",
    });
  });

  it('fail on timeout and on runtime errors', async () => {
    expect((await runHook({ exec: { command: ['sleep', '9'] } }, target(), { runtime: execRuntime({ timedOut: true, exitCode: -1 }), kubeVersion: KUBE_VERSION }, { timeoutMs: 10 })).error).toBe(
      'command "sleep 9" timed out',
    );
    const r = await runHook({ exec: { command: ['x'] } }, target(), { runtime: execRuntime(new Error('exec in container cid: not found')), kubeVersion: KUBE_VERSION });
    expect(r).toMatchObject({ ok: false, error: 'exec in container cid: not found' });
    expect(r.message).toMatch(/^Exec lifecycle hook \(\[x\]\) for Container "app" in Pod "web_prod\(u-1\)" failed - error: exec in container cid: not found, message: ""$/);
  });

  it('are unbounded without a timeout, within what setTimeout accepts', async () => {
    const rt = execRuntime({});
    await runHook({ exec: { command: ['true'] } }, target(), { runtime: rt, kubeVersion: KUBE_VERSION });
    expect(rt.calls[0]?.[2]).toBe(0x7fffffff);
  });
});

describe('httpGet hooks', () => {
  const rt = execRuntime(new Error('unused'));

  it('call the pod IP with kubelet’s lifecycle user agent; any HTTP answer is success, as in kubelet', async () => {
    seen.length = 0;
    expect(await runHook({ httpGet: { path: '/fail', port: http.port } }, target(), { runtime: rt, kubeVersion: KUBE_VERSION })).toEqual({ ok: true, message: '' });
    expect(seen[0]?.headers['user-agent']).toBe(`kube-lifecycle/${KUBE_VERSION.major}.${KUBE_VERSION.minor}`);
    expect(seen[0]?.url).toBe('/fail');
  });

  it('fail when the request fails, with kubelet’s message', async () => {
    const r = await runHook({ httpGet: { path: '/stop', port: refused, host: LOCAL } }, target(undefined), { runtime: rt, kubeVersion: KUBE_VERSION });
    expect(r).toEqual({
      ok: false,
      error: `Get "http://${LOCAL}:${refused}/stop": dial tcp ${LOCAL}:${refused}: connect: connection refused`,
      message: `HTTP lifecycle hook (/stop) for Container "app" in Pod "web_prod(u-1)" failed - error: Get "http://${LOCAL}:${refused}/stop": dial tcp ${LOCAL}:${refused}: connect: connection refused`,
    });
  });

  it('over HTTPS check no certificate (a self-signed one is fine)', async () => {
    const https = await startHttps((req, res) => res.writeHead(200).end(req.url), await selfSignedCert());
    try {
      expect(await runHook({ httpGet: { scheme: 'HTTPS', path: '/tls', port: https.port } }, target(), { runtime: rt, kubeVersion: KUBE_VERSION })).toEqual({ ok: true, message: '' });
    } finally {
      await https.close();
    }
  });

  it('over HTTPS answered by a plain HTTP server: sent again over HTTP without Authorization, with a LifecycleHTTPFallback warning', async () => {
    seen.length = 0;
    const headers = [{ name: 'Authorization', value: 'Bearer s3cret' }, { name: 'X-Hook', value: 'yes' }];
    const r = await runHook({ httpGet: { scheme: 'HTTPS', path: '/plain', port: http.port, httpHeaders: headers } }, target(), { runtime: rt, kubeVersion: KUBE_VERSION });
    expect(r).toEqual({
      ok: true,
      message: '',
      warning: { reason: 'LifecycleHTTPFallback', message: `request to HTTPS lifecycle hook ${LOCAL}:${http.port} got HTTP response, retry with HTTP succeeded` },
    });
    const plain = seen.filter((q) => q.url === '/plain');
    expect(plain).toHaveLength(1);
    expect(plain[0]!.headers['x-hook']).toBe('yes');
    expect(plain[0]!.headers.authorization).toBeUndefined();
  });

  it('over HTTPS to a port that refuses: no fallback, the HTTPS error', async () => {
    const r = await runHook({ httpGet: { scheme: 'HTTPS', path: '/x', port: refused } }, target(), { runtime: rt, kubeVersion: KUBE_VERSION });
    expect(r).toMatchObject({ ok: false, error: `Get "https://${LOCAL}:${refused}/x": dial tcp ${LOCAL}:${refused}: connect: connection refused` });
    expect(r.warning).toBeUndefined();
  });

  it('fail without an address or with an unknown port name', async () => {
    expect((await runHook({ httpGet: { path: '/', port: 80 } }, target(undefined), { runtime: rt, kubeVersion: KUBE_VERSION })).ok).toBe(false);
    expect((await runHook({ httpGet: { path: '/', port: 'nope' } }, target(), { runtime: rt, kubeVersion: KUBE_VERSION })).error).toMatch(/port nope not found/);
  });
});

describe('sleep hooks', () => {
  const rt = execRuntime(new Error('unused'));

  it('sleep', async () => {
    const t0 = Date.now();
    expect(await runHook({ sleep: { seconds: 0.2 } }, target(), { runtime: rt, kubeVersion: KUBE_VERSION })).toEqual({ ok: true, message: '' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
  });

  it('end early, as failed, when aborted or when the timeout passes', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const t0 = Date.now();
    expect(await runHook({ sleep: { seconds: 30 } }, target(), { runtime: rt, kubeVersion: KUBE_VERSION }, { signal: ac.signal })).toEqual({
      ok: false,
      error: 'container terminated before sleep hook finished',
      message: 'Sleep lifecycle hook (30) for Container "app" in Pod "web_prod(u-1)" failed - error: container terminated before sleep hook finished',
    });
    expect((await runHook({ sleep: { seconds: 30 } }, target(), { runtime: rt, kubeVersion: KUBE_VERSION }, { timeoutMs: 50 })).ok).toBe(false);
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});

describe('unsupported handlers', () => {
  it('fail tcpSocket hooks at runtime, as the API documents and kubelet does', async () => {
    expect(await runHook({ tcpSocket: { port: 80 } }, target(), { runtime: execRuntime({}), kubeVersion: KUBE_VERSION })).toEqual({
      ok: false,
      error: 'invalid handler: tcpSocket is not supported as a lifecycle handler',
      message: 'Cannot run handler: invalid handler: tcpSocket is not supported as a lifecycle handler',
    });
    expect((await runHook({}, target(), { runtime: execRuntime({}), kubeVersion: KUBE_VERSION })).message).toBe('Cannot run handler: invalid handler: no action set');
  });
});
