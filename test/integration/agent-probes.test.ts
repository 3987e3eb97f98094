import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectNodeIP } from '../../agent/node.js';
import { manifest, removeTestContainers, TestAgent } from '../support/agent.js';
import { startGrpcHealth } from '../support/probes-servers.js';
import { BUSYBOX as BB, must } from '../support/common.js';

// Probes and hooks end to end: the agent as a process, real containers, real probe
// traffic (exec through the engine, HTTP/TCP to the pod IP, gRPC to a health server on
// this host). Needs root and a running Docker engine.

const agent = new TestAgent();

const hostDir = mkdtempSync(join(tmpdir(), 'bosun-hooks-'));

type Ev = { reason: string; message: string; count: number; involvedObject: { name: string } };
async function events(pod: string): Promise<Ev[]> {
  const list = (await (await fetch(`http://127.0.0.1:${agent.port}/events`)).json()) as { items: Ev[] };
  return list.items.filter((e) => e.involvedObject.name === `${pod}-${agent.nodeName}`);
}
const ready = (p: { status?: { conditions?: { type: string; status: string }[] } }) => p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';

beforeAll(async () => {
  await removeTestContainers();
  await agent.start();
});

afterAll(async () => {
  await agent.destroy();
  rmSync(hostDir, { recursive: true, force: true });
});

describe('probes and hooks on real containers', () => {
  it('restarts a container whose exec liveness probe starts failing, with Unhealthy then Killing events', async () => {
    agent.write('live.yaml', manifest('live', `  terminationGracePeriodSeconds: 1
  containers:
    - name: c
      image: ${BB}
      command: ["sh", "-c", "touch /tmp/healthy; sleep 4; rm /tmp/healthy; sleep 3600"]
      livenessProbe:
        exec: { command: ["cat", "/tmp/healthy"] }
        periodSeconds: 1
        failureThreshold: 2
`));
    const p = await agent.waitPod('live', (p) => (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1, 'restarted by liveness', 60_000);
    expect(must(p.status?.containerStatuses?.[0], 'a container status').lastState.terminated).toBeDefined();
    const ev = await events('live');
    expect(ev.find((e) => e.reason === 'Unhealthy')?.message).toMatch(/^Liveness probe failed: /);
    expect(ev.find((e) => e.reason === 'Killing')?.message).toBe('Container c failed liveness probe, will be restarted');
  });

  it('flips Ready both ways with an HTTP readiness probe', async () => {
    agent.write('ready.yaml', manifest('ready', `  terminationGracePeriodSeconds: 0
  containers:
    - name: web
      image: ${BB}
      command: ["sh", "-c", "mkdir -p /www/ok && echo ok > /www/ok/index.html && exec httpd -f -p 8080 -h /www"]
      ports: [{ name: http, containerPort: 8080 }]
      readinessProbe:
        httpGet: { path: /ok/, port: http }
        periodSeconds: 1
        failureThreshold: 1
`));
    await agent.waitPod('ready', ready, 'Ready');
    const { execFileSync } = await import('node:child_process');
    const id = () => execFileSync('docker', ['ps', '-q', '--filter', `label=io.kubernetes.pod.name=ready-${agent.nodeName}`, '--filter', 'label=io.kubernetes.container.name=web']).toString().trim();
    execFileSync('docker', ['exec', id(), 'rm', '-r', '/www/ok']);
    const p = await agent.waitPod('ready', (p) => !ready(p), 'not Ready');
    expect(p.status!.containerStatuses![0]).toMatchObject({ ready: false, restartCount: 0 });
    expect(p.status!.conditions!.find((c) => c.type === 'ContainersReady')?.status).toBe('False');
    execFileSync('docker', ['exec', id(), 'sh', '-c', 'mkdir -p /www/ok && echo ok > /www/ok/index.html']);
    await agent.waitPod('ready', ready, 'Ready again');
  });

  it('holds off liveness until the startup probe passes', async () => {
    // Liveness would fail at once; the startup probe only passes after 4 s. No restart may happen before.
    agent.write('startup.yaml', manifest('startup', `  terminationGracePeriodSeconds: 0
  containers:
    - name: c
      image: ${BB}
      command: ["sh", "-c", "sleep 4; touch /tmp/started; sleep 3600"]
      startupProbe:
        exec: { command: ["cat", "/tmp/started"] }
        periodSeconds: 1
        failureThreshold: 30
      livenessProbe:
        exec: { command: ["cat", "/tmp/started"] }
        periodSeconds: 1
        failureThreshold: 1
`));
    const early = await agent.waitPod('startup', (p) => p.status?.phase === 'Running', 'Running');
    expect(must(early.status?.containerStatuses?.[0], 'a container status').started).toBe(false);
    const p = await agent.waitPod('startup', (p) => p.status?.containerStatuses?.[0]?.started === true && ready(p), 'started and Ready', 30_000);
    expect(must(p.status?.containerStatuses?.[0], 'a container status').restartCount).toBe(0);
  });

  it('fails a TCP probe against a closed port and enforces an exec probe timeout', async () => {
    agent.write('fail.yaml', manifest('tcp', `  terminationGracePeriodSeconds: 0
  containers:
    - name: c
      image: ${BB}
      command: ["sleep", "3600"]
      readinessProbe:
        tcpSocket: { port: 9999 }
        periodSeconds: 1
`) + '---\n' + manifest('slow', `  terminationGracePeriodSeconds: 0
  containers:
    - name: c
      image: ${BB}
      command: ["sleep", "3600"]
      readinessProbe:
        exec: { command: ["sleep", "30"] }
        timeoutSeconds: 1
        periodSeconds: 2
`));
    await agent.until(async () => (await events('tcp')).some((e) => e.reason === 'Unhealthy' && /^Readiness probe failed: dial tcp .*:9999: connect: connection refused/.test(e.message)), 'TCP Unhealthy event');
    expect(ready((await agent.pod('tcp'))!)).toBe(false);
    await agent.until(async () => (await events('slow')).some((e) => e.reason === 'Unhealthy' && /timed out/.test(e.message)), 'exec timeout event');
    expect(ready((await agent.pod('slow'))!)).toBe(false);
  });

  it('passes a gRPC probe against a SERVING health server and fails on NOT_SERVING', async () => {
    // grpc.health.v1 statuses: 1 SERVING, 2 NOT_SERVING. The table is read on every call.
    const table: Record<string, number> = { '': 1 };
    const server = await startGrpcHealth(table, detectNodeIP());
    try {
      // hostNetwork: the probe dials the node's address, where the test's health server listens.
      agent.write('grpc.yaml', manifest('grpc', `  terminationGracePeriodSeconds: 0
  hostNetwork: true
  containers:
    - name: c
      image: ${BB}
      command: ["sleep", "3600"]
      readinessProbe:
        grpc: { port: ${server.port} }
        periodSeconds: 1
        failureThreshold: 1
`));
      await agent.waitPod('grpc', ready, 'Ready through gRPC');
      table[''] = 2;
      await agent.waitPod('grpc', (p) => !ready(p), 'not Ready on NOT_SERVING');
      expect((await events('grpc')).some((e) => e.reason === 'Unhealthy' && /NOT_SERVING/.test(e.message))).toBe(true);
    } finally {
      agent.remove('grpc.yaml');
      await server.close();
    }
  });

  it('runs preStop before SIGTERM, inside the grace period', async () => {
    agent.write('prestop.yaml', manifest('prestop', `  terminationGracePeriodSeconds: 5
  volumes:
    - name: out
      hostPath: { path: ${hostDir}, type: Directory }
  containers:
    - name: c
      image: ${BB}
      command: ["sh", "-c", "trap 'echo term >> /out/log; exit 0' TERM; echo start >> /out/log; while true; do sleep 0.2; done"]
      volumeMounts: [{ name: out, mountPath: /out }]
      lifecycle:
        preStop:
          exec: { command: ["sh", "-c", "echo prestop >> /out/log; sleep 1"] }
`));
    await agent.waitPod('prestop', (p) => p.status?.phase === 'Running', 'Running');
    const t0 = Date.now();
    agent.remove('prestop.yaml');
    await agent.until(async () => readFileSync(join(hostDir, 'log'), 'utf8').includes('term'), 'SIGTERM handled', 20_000);
    expect(readFileSync(join(hostDir, 'log'), 'utf8').trim().split('\n')).toEqual(['start', 'prestop', 'term']);
    expect(Date.now() - t0).toBeLessThan(15_000);
  });

  it('bounds a preStop that hangs by the grace period', async () => {
    agent.write('hang.yaml', manifest('hang', `  terminationGracePeriodSeconds: 3
  containers:
    - name: c
      image: ${BB}
      command: ["sleep", "3600"]
      lifecycle:
        preStop:
          exec: { command: ["sleep", "600"] }
`));
    const p = await agent.waitPod('hang', (p) => p.status?.phase === 'Running', 'Running');
    const t0 = Date.now();
    agent.remove('hang.yaml');
    await agent.until(async () => !(await agent.pods()).some((x) => x.metadata.uid === p.metadata.uid), 'pod gone', 30_000);
    const { execFileSync } = await import('node:child_process');
    await agent.until(async () => execFileSync('docker', ['ps', '-aq', '--filter', `label=io.kubernetes.pod.uid=${p.metadata.uid}`]).toString().trim() === '', 'containers removed', 30_000);
    // 3 s of preStop, then at least 2 s for the signal: well under the hook's 600 s.
    expect(Date.now() - t0).toBeLessThan(15_000);
  });

  it('exports the prober and kubelet metrics dashboards expect', async () => {
    const probes = await (await fetch(`http://127.0.0.1:${agent.port}/metrics/probes`)).text();
    const line = probes.split('\n').find((l) => l.startsWith('prober_probe_total{') && l.includes('probe_type="Readiness"') && l.includes(`pod="ready-${agent.nodeName}"`) && l.includes('result="successful"'));
    expect(line).toMatch(/container="web",.*namespace="default",.*\} [1-9]\d*$/);
    expect(probes).toMatch(/prober_probe_duration_seconds_bucket\{le="0\.005",probe_type="Readiness"/);
    const all = await (await fetch(`http://127.0.0.1:${agent.port}/metrics`)).text();
    expect(all).toMatch(/^kubelet_running_pods \d+$/m);
    expect(all).toMatch(/^kubelet_running_containers\{container_state="running"\} \d+$/m);
    expect(all).toMatch(/^kubelet_pod_start_duration_seconds_count [1-9]\d*$/m);
    expect(all).toMatch(/^kubelet_pleg_relist_duration_seconds_count [1-9]\d*$/m);
    expect(all).toMatch(/^process_resident_memory_bytes \d+/m);
  });

  it('kills and restarts a container whose postStart hook fails', async () => {
    agent.write('poststart.yaml', manifest('poststart', `  terminationGracePeriodSeconds: 1
  containers:
    - name: c
      image: ${BB}
      command: ["sleep", "3600"]
      lifecycle:
        postStart:
          exec: { command: ["sh", "-c", "exit 7"] }
`));
    await agent.until(async () => (await events('poststart')).some((e) => e.reason === 'FailedPostStartHook'), 'FailedPostStartHook event', 30_000);
    // The kill leaves the 2 s minimum after the stop signal, then the 10 s crash back-off runs.
    await agent.waitPod('poststart', (p) => (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1, 'restarted', 60_000);
  });
});
