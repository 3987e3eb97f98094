// Upstream's scenarios that need agnhost as the oracle (issue 13, section 3), on the real
// engine, Docker and containerd: the four It()s of kubernetes/kubernetes
// test/e2e/common/node/container_probe.go that probe agnhost's grpc-health-checking server
// (a container and a restartable init container), what kubelet's gRPC prober
// (pkg/probe/grpc) does with a service name and a NOT_SERVING answer, and the HTTPS hooks of
// lifecycle_hook.go against agnhost netexec (no certificate check; kubelet's fallback to
// HTTP when an HTTPS hook gets a plain HTTP answer). The image is upstream's agnhost binary
// built by scripts/cluster/build-e2e.sh, packed by scripts/setup-host.sh
// (localhost/bosun/agnhost:1). Delays are shorter than upstream's (a 5 s initial delay for
// 15 s, probes every 2 s, an observation of 12 probes for 4 minutes); what is asserted is
// what upstream asserts.
//
// | test here                                   | upstream It()                                                                    |
// |---------------------------------------------|----------------------------------------------------------------------------------|
// | not restarted with a gRPC liveness probe    | container_probe.go, Probing container: should *not* be restarted with a GRPC     |
// |                                             | liveness probe                                                                   |
// | restarted with a gRPC liveness probe        | Probing container: should be restarted with a GRPC liveness probe (wrong port)   |
// | sidecar: not restarted / restarted          | Probing restartable init container: the same two                                 |
// | service name, NOT_SERVING                   | (pkg/probe/grpc: the service sent as given, SERVING only; agnhost --service,     |
// |                                             | /make-not-serving and /make-serving)                                             |
// | https hooks at the handler pod              | lifecycle_hook.go: should execute poststart https hook properly; should execute  |
// |                                             | prestop https hook properly (one pod with both; the handler's certificate is     |
// |                                             | made here with openssl, upstream's is agnhost's localhost.crt)                   |
// | https hook answered in plain HTTP           | (lifecycle/handlers.go runHTTPHandler: retried over HTTP, LifecycleHTTPFallback) |

import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContainerdRuntime, type Runtime } from '../../cri/index.js';
import type { Container, Pod, PodSpec } from '../../manifests/index.js';
import { TestAgent } from '../support/agent.js';
import { AGNHOST, BUSYBOX } from '../support/common.js';
import { selfSignedCert } from '../support/probes-servers.js';
import { CONTAINERD_ENDPOINT, containerdAvailable, removeNodePods, requireImage, type RuntimeKind } from '../support/runtime-test-env.js';

const containerdUp = await containerdAvailable();
// Generous: several agents and engines share two cores here. What is asserted is outcome.
const WAIT = 150_000;
const SLOW = { timeout: 240_000 };
/** Probes every 2 s after a 5 s delay; upstream's liveness tests give 5 s of timeout and one failure. */
const PROBE = { initialDelaySeconds: 5, periodSeconds: 2, timeoutSeconds: 5, failureThreshold: 1 };
/** Probes of the "not restarted" tests seen to pass before the test says so (upstream: 4 minutes of them). */
const OBSERVED = 12;

const agnhost = (name: string, extra: Partial<Container> = {}, args: string[] = []): Container => ({
  name,
  image: AGNHOST,
  imagePullPolicy: 'Never',
  command: ['/agnhost', 'grpc-health-checking', ...args],
  ports: [{ containerPort: 5000 }, { containerPort: 8080 }],
  ...extra,
});
const main: Container = { name: 'main', image: BUSYBOX, imagePullPolicy: 'Never', command: ['sleep', '3600'] };

describe.each([
  ['docker' as RuntimeKind, true],
  ['containerd' as RuntimeKind, containerdUp],
])('agnhost scenarios on %s', (kind, up) => {
  const agent = new TestAgent();
  let rt: Runtime | undefined;

  /** What a container of one of this agent's pods wrote: its CRI log files (the test agent keeps them in its directory). */
  const logsOf = async (pod: string, container: string): Promise<string> => {
    const root = join(agent.dir, 'pod-logs');
    const dir = readdirSync(root).find((d) => d.startsWith(`default_${pod}-${agent.nodeName}_`));
    if (!dir) return '';
    const files = readdirSync(join(root, dir, container)).filter((f) => f.endsWith('.log'));
    return files.map((f) => readFileSync(join(root, dir, container, f), 'utf8')).join('');
  };

  function drop(name: string, spec: Partial<PodSpec> & { containers: Container[] }): void {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { terminationGracePeriodSeconds: 1, ...spec } } as unknown as Pod;
    agent.write(`${name}.json`, JSON.stringify(pod));
  }

  type Ev = { reason: string; message: string; involvedObject: { name: string } };
  const events = async (pod: string): Promise<Ev[]> => {
    const list = (await (await fetch(`http://127.0.0.1:${agent.port}/events`)).json()) as { items: Ev[] };
    return list.items.filter((e) => e.involvedObject.name === `${pod}-${agent.nodeName}`);
  };
  /** prober_probe_total of one container of one pod, by probe type and result. */
  const probeCount = async (pod: string, container: string, type: string, result: string): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${agent.port}/metrics/probes`)).text();
    let n = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith('prober_probe_total{')) continue;
      const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
      if (labels.pod === `${pod}-${agent.nodeName}` && labels.container === container && labels.probe_type === type && labels.result === result) n += Number(line.split(' ').at(-1));
    }
    return n;
  };
  const statusOf = (p: Pod, name: string) => [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])].find((s) => s.name === name);
  const podReady = (p: Pod) => p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';

  beforeAll(async () => {
    if (!up) return;
    await requireImage(kind, AGNHOST, 'scripts/setup-host.sh builds it from the agnhost binary of scripts/cluster/build-e2e.sh (and imports it into containerd with --containerd)');
    if (kind === 'containerd') rt = await createContainerdRuntime();
    await agent.start(kind === 'containerd' ? ['--container-runtime-endpoint', CONTAINERD_ENDPOINT] : []);
    // Names follow upstream's (test-grpc-<uuid>, test-grpc-sidecar-<uuid>).
    drop('test-grpc', { containers: [agnhost('agnhost', { livenessProbe: { grpc: { port: 5000 }, ...PROBE } })] });
    drop('test-grpc-wrong-port', { containers: [agnhost('agnhost', { livenessProbe: { grpc: { port: 2333 }, ...PROBE } })] });
    drop('test-grpc-sidecar', {
      initContainers: [agnhost('agnhost', { restartPolicy: 'Always', livenessProbe: { grpc: { port: 5000 }, ...PROBE } })],
      containers: [main],
    });
    drop('test-grpc-sidecar-wrong-port', {
      initContainers: [agnhost('agnhost', { restartPolicy: 'Always', livenessProbe: { grpc: { port: 2333 }, ...PROBE } })],
      containers: [main],
    });
    // agnhost --service=foo answers only for "foo" (NotFound for any other name, "" included).
    const every = { periodSeconds: 1, failureThreshold: 1, timeoutSeconds: 5 };
    drop('grpc-service', {
      containers: [agnhost('agnhost', {
        startupProbe: { grpc: { port: 5000, service: 'foo' }, periodSeconds: 1, failureThreshold: 60, timeoutSeconds: 5 },
        readinessProbe: { grpc: { port: 5000, service: 'foo' }, ...every },
        livenessProbe: { grpc: { port: 5000, service: 'foo' }, initialDelaySeconds: 600, periodSeconds: 600 },
      }, ['--service=foo'])],
    });
    drop('grpc-other-service', { containers: [agnhost('agnhost', { readinessProbe: { grpc: { port: 5000, service: 'bar' }, ...every } }, ['--service=foo'])] });
    // upstream's getHandlerPod: agnhost netexec over HTTP and over HTTPS (its own certificate).
    const certs = join(agent.dir, 'certs');
    mkdirSync(certs, { recursive: true });
    const tls = await selfSignedCert();
    writeFileSync(join(certs, 'tls.crt'), tls.cert);
    writeFileSync(join(certs, 'tls.key'), tls.key);
    const netexec = (name: string, port: number, args: string[]): Container => ({
      name, image: AGNHOST, imagePullPolicy: 'Never', command: ['/agnhost', 'netexec', '--http-port', String(port), ...args],
      ports: [{ containerPort: port }], readinessProbe: { tcpSocket: { port }, periodSeconds: 1 },
      volumeMounts: [{ name: 'certs', mountPath: '/certs', readOnly: true }],
    });
    drop('pod-handle-http-request', {
      volumes: [{ name: 'certs', hostPath: { path: certs, type: 'Directory' } }],
      containers: [
        netexec('container-handle-http-request', 8080, ['--udp-port', '8081']),
        netexec('container-handle-https-request', 9090, ['--udp-port', '9091', '--tls-cert-file', '/certs/tls.crt', '--tls-private-key-file', '/certs/tls.key']),
      ],
    });
  }, 180_000);

  afterAll(async () => {
    if (!up) return;
    await agent.destroy();
    if (rt) {
      await removeNodePods(rt, agent.nodeName);
      await rt.close();
    }
  }, 120_000);

  describe.skipIf(!up)('container_probe.go gRPC liveness', SLOW, () => {
    for (const [pod, container] of [['test-grpc', 'agnhost'], ['test-grpc-sidecar', 'agnhost']] as const) {
      it(`${pod}: a gRPC liveness probe against SERVING never restarts the container`, async () => {
        await agent.waitPod(pod, (p) => !!statusOf(p, container)?.state.running, 'running', WAIT);
        await agent.until(async () => (await probeCount(pod, container, 'Liveness', 'successful')) >= OBSERVED, `${OBSERVED} successful liveness probes`, WAIT);
        const p = (await agent.pod(pod))!;
        expect(statusOf(p, container)!.restartCount).toBe(0);
        expect(await probeCount(pod, container, 'Liveness', 'failed')).toBe(0);
        expect((await events(pod)).filter((e) => e.reason === 'Unhealthy')).toEqual([]);
      });
    }

    for (const [pod, container] of [['test-grpc-wrong-port', 'agnhost'], ['test-grpc-sidecar-wrong-port', 'agnhost']] as const) {
      it(`${pod}: a gRPC liveness probe on a port nobody serves restarts the container, after a connect timeout`, async () => {
        const p = await agent.waitPod(pod, (p) => (statusOf(p, container)?.restartCount ?? 0) >= 1, 'restarted by liveness', WAIT);
        const ip = p.status!.podIP!;
        const unhealthy = (await events(pod)).filter((e) => e.reason === 'Unhealthy').map((e) => e.message);
        // kubelet dials with WithBlock: a refused port is dialled again until the probe's timeout.
        expect(unhealthy).toContain(`Liveness probe failed: timeout: failed to connect service "${ip}:2333" within 5s: context deadline exceeded`);
        expect((await events(pod)).some((e) => e.reason === 'Killing' && e.message === `Container ${container} failed liveness probe, will be restarted`)).toBe(true);
      });
    }
  });

  describe.skipIf(!up)('service name and serving status (pkg/probe/grpc)', SLOW, () => {
    it('probes the named service: started and ready on SERVING, not ready on NOT_SERVING and never restarted, ready again on SERVING', async () => {
      const pod = 'grpc-service';
      const p = await agent.waitPod(pod, (p) => statusOf(p, 'agnhost')?.ready === true, 'ready through the named service', WAIT);
      expect(statusOf(p, 'agnhost')!.started).toBe(true);
      const ip = p.status!.podIP!;
      // agnhost's switch, on its HTTP port in the pod.
      expect((await fetch(`http://${ip}:8080/make-not-serving`)).status).toBe(200);
      await agent.waitPod(pod, (p) => statusOf(p, 'agnhost')?.ready === false && !podReady(p), 'not ready on NOT_SERVING', 60_000);
      await agent.until(async () => (await events(pod)).some((e) => e.reason === 'Unhealthy' && e.message === 'Readiness probe failed: service unhealthy (responded with "NOT_SERVING")'), 'Unhealthy event naming NOT_SERVING', 30_000);
      expect((await fetch(`http://${ip}:8080/make-serving`)).status).toBe(200);
      const again = await agent.waitPod(pod, (p) => statusOf(p, 'agnhost')?.ready === true && podReady(p), 'ready again on SERVING', 60_000);
      expect(statusOf(again, 'agnhost')!.restartCount).toBe(0);
    });

    it('a probe naming a service the server does not have fails with NotFound and is never ready', async () => {
      const pod = 'grpc-other-service';
      await agent.until(async () => (await events(pod)).some((e) => e.reason === 'Unhealthy' && e.message === 'Readiness probe failed: error: health rpc probe failed: rpc error: code = NotFound desc = unknown service'), 'Unhealthy event with NotFound', WAIT);
      const p = (await agent.pod(pod))!;
      expect(statusOf(p, 'agnhost')).toMatchObject({ ready: false, restartCount: 0 });
      expect(podReady(p)).toBe(false);
    });
  });

  describe.skipIf(!up)('https hooks (lifecycle_hook.go)', SLOW, () => {
    it('calls postStart and preStop httpGet hooks over HTTPS at the handler pod, without checking its certificate', async () => {
      const handler = await agent.waitPod('pod-handle-http-request', (p) => p.status?.containerStatuses?.every((c) => c.ready) === true && !!p.status?.podIP, 'handler ready', WAIT);
      const hook = (msg: string) => ({ httpGet: { scheme: 'HTTPS' as const, host: handler.status!.podIP!, port: 9090, path: `/echo?msg=${msg}` } });
      const name = 'pod-with-https-hooks';
      drop(name, { terminationGracePeriodSeconds: 15, containers: [{ ...main, name: 'pod-with-https-hooks', lifecycle: { postStart: hook('poststart'), preStop: hook('prestop') } }] });
      const served = () => logsOf('pod-handle-http-request', 'container-handle-https-request');
      await agent.until(async () => /GET \/echo\?msg=poststart/.test(await served()), 'the postStart request at the HTTPS handler', WAIT);
      await agent.waitPod(name, (p) => !!statusOf(p, 'pod-with-https-hooks')?.state.running, 'running after its postStart hook', WAIT);
      expect(await served()).not.toMatch(/msg=prestop/);
      agent.remove(`${name}.json`);
      await agent.until(async () => /GET \/echo\?msg=prestop/.test(await served()), 'the preStop request at the HTTPS handler', WAIT);
      expect((await events(name)).filter((e) => /Failed(PostStart|PreStop)Hook|LifecycleHTTPFallback/.test(e.reason))).toEqual([]);
    });

    it('sends an HTTPS hook that a plain HTTP server answers again over HTTP, with a LifecycleHTTPFallback warning', async () => {
      const handler = await agent.waitPod('pod-handle-http-request', (p) => p.status?.containerStatuses?.every((c) => c.ready) === true && !!p.status?.podIP, 'handler ready', WAIT);
      const ip = handler.status!.podIP!;
      const name = 'pod-with-https-hook-on-http';
      drop(name, { containers: [{ ...main, name: 'c', lifecycle: { postStart: { httpGet: { scheme: 'HTTPS', host: ip, port: 8080, path: '/echo?msg=fallback' } } } }] });
      await agent.until(async () => /GET \/echo\?msg=fallback/.test(await logsOf('pod-handle-http-request', 'container-handle-http-request')), 'the hook, over plain HTTP, at the handler', WAIT);
      await agent.waitPod(name, (p) => !!statusOf(p, 'c')?.state.running, 'running: the fallback counts as success', WAIT);
      const ev = await events(name);
      expect(ev.filter((e) => e.reason === 'LifecycleHTTPFallback').map((e) => e.message)).toEqual([`request to HTTPS lifecycle hook ${ip}:8080 got HTTP response, retry with HTTP succeeded`]);
      expect(ev.filter((e) => e.reason === 'FailedPostStartHook')).toEqual([]);
    });
  });
});
