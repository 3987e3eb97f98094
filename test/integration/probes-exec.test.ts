// Exec probes, exec hooks and the probe manager against a real container on the Docker
// engine. Nothing leaves the machine: the container runs busybox, probes are execs.

import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDockerRuntime, type Runtime } from '../../cri/index.js';
import type { Container, Pod } from '../../manifests/index.js';
import { KUBE_VERSION } from '../../agent/vocab/index.js';
import { ProbeManager, execProbe, runHook, type KillRequest, type ProbeEvent } from '../../probes/index.js';
import {
  DOCKER_SOCKET, randomId, removeTestResources, testContainerConfig, testSandboxConfig, waitForDocker,
} from '../support/docker-test-env.js';
import { sleep } from '../support/common.js';

const docker = new Docker({ socketPath: DOCKER_SOCKET });
const runId = randomId();
let rt: Runtime;
let id: string;
let startedAt: number;

async function sh(script: string): Promise<string> {
  const r = await rt.execSync(id, ['sh', '-c', script], 10_000);
  if (r.exitCode !== 0) throw new Error(`${script} exited ${r.exitCode}: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
  return Date.now() - t0;
}

beforeAll(async () => {
  await waitForDocker(docker);
  await removeTestResources(docker);
  rt = await createDockerRuntime({});
  const sandbox = testSandboxConfig(runId);
  const sandboxId = await rt.runPodSandbox(sandbox);
  id = await rt.createContainer(
    sandboxId,
    testContainerConfig(runId, 'app', { command: ['sh', '-c', 'touch /tmp/healthy; exec sleep 3600'] }),
    sandbox,
  );
  await rt.startContainer(id);
  startedAt = (await rt.containerStatus(id)).startedAt;
});

afterAll(async () => {
  await rt?.close();
  await waitForDocker(docker);
  await removeTestResources(docker, runId);
});

describe('exec probe handler', () => {
  it('is Success on exit 0 and Failure with combined output otherwise', async () => {
    expect(await execProbe(rt, id, ['test', '-f', '/tmp/healthy'], 5000)).toEqual({ result: 'Success', output: '' });
    expect(await execProbe(rt, id, ['sh', '-c', 'echo out; echo err >&2; exit 3'], 5000)).toEqual({ result: 'Failure', output: 'out\nerr\n' });
  });

  it('enforces the timeout and kills the command', async () => {
    const t0 = Date.now();
    expect(await execProbe(rt, id, ['sleep', '31'], 1000)).toEqual({ result: 'Failure', output: 'command "sleep 31" timed out' });
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(950);
    expect(took).toBeLessThan(4000);
    expect(await sh('ps')).not.toContain('sleep 31');
  });

  it('rejects (probe errored) for a container that does not exist', async () => {
    await expect(execProbe(rt, 'f'.repeat(64), ['true'], 1000)).rejects.toThrow();
  });
});

describe('exec hooks', () => {
  const pod: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'bosun-test', uid: 'u' }, spec: { containers: [] } };
  const container: Container = { name: 'app' };

  it('run in the container and report failures as kubelet does', async () => {
    expect(await runHook({ exec: { command: ['sh', '-c', 'echo started > /tmp/hook'] } }, { pod, container, containerId: id }, { runtime: rt, kubeVersion: KUBE_VERSION })).toEqual({
      ok: true,
      message: '',
    });
    expect(await sh('cat /tmp/hook')).toBe('started\n');
    const r = await runHook({ exec: { command: ['sh', '-c', 'echo nope >&2; exit 7'] } }, { pod, container, containerId: id }, { runtime: rt, kubeVersion: KUBE_VERSION });
    expect(r).toEqual({
      ok: false,
      error: "command 'sh -c echo nope >&2; exit 7' exited with 7: nope\n",
      message:
        'Exec lifecycle hook ([sh -c echo nope >&2; exit 7]) for Container "app" in Pod "web_bosun-test(u)" failed - error: ' +
        `command 'sh -c echo nope >&2; exit 7' exited with 7: nope\n, message: "nope\\n"`,
    });
  });

  it('are bounded by the timeout', async () => {
    const t0 = Date.now();
    const r = await runHook({ exec: { command: ['sleep', '32'] } }, { pod, container, containerId: id }, { runtime: rt, kubeVersion: KUBE_VERSION }, { timeoutMs: 1000 });
    expect(r).toMatchObject({ ok: false, error: 'command "sleep 32" timed out' });
    expect(Date.now() - t0).toBeLessThan(4000);
    expect(await sh('ps')).not.toContain('sleep 32');
  });
});

describe('probe manager with real exec probes and real time', () => {
  it('flips readiness both ways and kills after failureThreshold x period of liveness failures', async () => {
    const kills: KillRequest[] = [];
    const events: ProbeEvent[] = [];
    const m = new ProbeManager({ runtime: rt, kubeVersion: KUBE_VERSION, onKill: (k) => kills.push(k), onEvent: (e) => events.push(e) });
    const changes: number[] = [];
    m.onChange(() => changes.push(Date.now()));
    const pod: Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', namespace: 'bosun-test', uid: `${runId}-pod` },
      spec: {
        containers: [
          {
            name: 'app',
            readinessProbe: { exec: { command: ['test', '-f', '/tmp/ready'] }, periodSeconds: 1, failureThreshold: 1 },
            livenessProbe: { exec: { command: ['test', '-f', '/tmp/healthy'] }, periodSeconds: 1, failureThreshold: 2 },
          },
        ],
      },
    };
    try {
      m.update(pod, undefined, [{ name: 'app', id, startedAt, adopted: false }]);
      const ready = () => m.readiness(pod.metadata.uid, 'app', id);
      expect(ready()).toBe(false);
      await sh('touch /tmp/ready');
      await waitFor('ready', () => ready() === true, 3000);
      await sh('rm /tmp/ready');
      await waitFor('not ready', () => ready() === false, 3000);

      await sh('rm /tmp/healthy');
      const took = await waitFor('a kill', () => kills.length > 0, 5000);
      // Two failures one period apart: between 1 and 2 periods after the file went.
      expect(took).toBeLessThan(3000);
      expect(kills).toEqual([
        {
          pod: { name: 'web', namespace: 'bosun-test', uid: pod.metadata.uid },
          container: 'app',
          init: false,
          containerId: id,
          reason: 'LivenessProbe',
          message: 'Container app failed liveness probe, will be restarted',
        },
      ]);
      expect(events.filter((e) => e.probeType === 'liveness').map((e) => e.message)).toEqual(['Liveness probe failed: ', 'Liveness probe failed: ']);
      await sleep(2500);
      expect(kills).toHaveLength(1);
      const totals = m.metrics.probeTotal();
      expect(totals.find((t) => t.labels.probe_type === 'Liveness' && t.labels.result === 'failed')?.value).toBe(2);
    } finally {
      m.stop();
      await sh('touch /tmp/healthy');
    }
  });
});
