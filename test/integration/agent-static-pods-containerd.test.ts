// The foundation's end-to-end scenarios on containerd (CRI): the built CLI as a real process
// with --container-runtime-endpoint unix:///run/bosun-containerd/containerd.sock; drop, edit,
// crash back-off, adoption after kill -9, delete. Containers are inspected through the CRI.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContainerdRuntime, type ContainerStatus, type Runtime } from '../../cri/index.js';
import { manifest, TestAgent } from '../support/agent.js';
import { CONTAINERD_ENDPOINT, containerdAvailable } from '../support/runtime-test-env.js';
import { BUSYBOX as BB, must } from '../support/common.js';

const run = promisify(execFile);

const up = await containerdAvailable();
const agent = new TestAgent();
let rt: Runtime;

const ctr = (name: string, cmd: string) => `    - name: ${name}\n      image: ${BB}\n      command: ["sh", "-c", ${JSON.stringify(cmd)}]\n`;
const NODE_LABEL = 'bosun.io/node-name';

async function containersOf(podName?: string): Promise<ContainerStatus[]> {
  return (await rt.listContainers()).filter((c) => c.labels[NODE_LABEL] === agent.nodeName && (!podName || c.labels['io.kubernetes.pod.name'] === podName));
}

async function removeAll(): Promise<void> {
  for (const c of await rt.listContainers()) if (c.labels[NODE_LABEL] === agent.nodeName) await rt.removeContainer(c.id).catch(() => undefined);
  for (const s of await rt.listPodSandboxes()) {
    if (s.labels[NODE_LABEL] !== agent.nodeName) continue;
    await rt.stopPodSandbox(s.id).catch(() => undefined);
    await rt.removePodSandbox(s.id).catch(() => undefined);
  }
}

const runs = new Map<number, { started: number; finished: number }>();
let timer: NodeJS.Timeout | undefined;
const start = () => agent.start(['--container-runtime-endpoint', CONTAINERD_ENDPOINT]);

beforeAll(async () => {
  if (!up) return;
  rt = await createContainerdRuntime();
  await start();
  agent.write('crash.yaml', manifest('crash', `  containers:\n${ctr('crash', 'exit 1')}`));
  timer = setInterval(() => {
    void containersOf(`crash-${agent.nodeName}`).then((list) => {
      for (const c of list) runs.set(c.metadata.attempt, { started: c.startedAt, finished: c.finishedAt });
    }).catch(() => undefined);
  }, 500);
});

afterAll(async () => {
  clearInterval(timer);
  if (!up) return;
  await agent.destroy();
  await removeAll();
  await rt.close();
});

describe.skipIf(!up)('static pods on containerd (CRI)', () => {
  it('runs a dropped manifest: Running, with a containerd pod IP the app answers on', async () => {
    agent.write('web.yaml', manifest('web', `  terminationGracePeriodSeconds: 2\n  containers:\n${ctr('httpd', 'echo hello-bosun > /www/index.html; exec httpd -f -p 8080 -h /www')}`.replace('echo hello', 'mkdir -p /www; echo hello')));
    const p = await agent.waitPod('web', (p) => p.status?.phase === 'Running' && !!p.status.podIP && p.status.containerStatuses?.[0]?.ready === true, 'Running with an IP');
    expect(p.status!.podIP).toMatch(/^10\.245\./);
    expect(must(p.status?.containerStatuses?.[0], 'a container status').containerID).toMatch(/^containerd:\/\/[0-9a-f]{64}$/);
    await agent.until(async () => (await run('curl', ['-sS', '--max-time', '2', `http://${p.status!.podIP}:8080/`]).catch(() => ({ stdout: '' }))).stdout.includes('hello-bosun'), 'curl answer');
  });

  it('recreates the pod when its manifest is edited', async () => {
    const old = (await agent.pod('web'))!;
    agent.write('web.yaml', manifest('web', `  terminationGracePeriodSeconds: 2\n  containers:\n${ctr('httpd', 'mkdir -p /www; echo edited > /www/index.html; exec httpd -f -p 8080 -h /www')}`));
    const p = await agent.waitPod('web', (p) => p.metadata.uid !== old.metadata.uid && p.status?.phase === 'Running' && !!p.status.containerStatuses?.[0]?.ready, 'new instance Running');
    await agent.until(async () => (await containersOf()).every((c) => c.labels['io.kubernetes.pod.uid'] !== old.metadata.uid), 'old instance removed');
    await agent.until(async () => (await run('curl', ['-sS', '--max-time', '2', `http://${p.status!.podIP}:8080/`]).catch(() => ({ stdout: '' }))).stdout.includes('edited'), 'the new spec served');
  });

  it('backs a crashing container off 10 s, 20 s with CrashLoopBackOff', async () => {
    const p = await agent.waitPod('crash', (p) => p.status?.containerStatuses?.[0]?.state.waiting?.reason === 'CrashLoopBackOff', 'CrashLoopBackOff', 60_000);
    expect(must(p.status?.containerStatuses?.[0], 'a container status').lastState.terminated?.exitCode).toBe(1);
    await agent.until(async () => runs.has(3) && runs.get(3)!.started > 0, 'the third restart', 90_000);
    const delays = [2, 3].map((n) => (runs.get(n)!.started - runs.get(n - 1)!.finished) / 1000);
    [10, 20].forEach((want, i) => {
      expect(delays[i]).toBeGreaterThanOrEqual(want - 0.5);
      expect(delays[i]).toBeLessThan(want + 4);
    });
  });

  it('adopts everything after kill -9 and a restart: nothing restarted or duplicated', async () => {
    const running = async () => (await containersOf(`web-${agent.nodeName}`)).filter((c) => c.state === 'running').map((c) => c.id).sort();
    const before = await running();
    expect(before.length).toBe(1);
    await agent.kill9();
    await start();
    await agent.waitPod('web', (p) => p.status?.phase === 'Running' && !!p.status.containerStatuses?.[0]?.ready, 'Running after restart');
    await new Promise((r) => setTimeout(r, 3000));
    expect(await running()).toEqual(before);
  });

  it('stops and removes a pod whose file is deleted, within its grace period', async () => {
    agent.write('graceful.yaml', manifest('graceful', `  terminationGracePeriodSeconds: 3\n  containers:\n${ctr('c', "trap '' TERM; sleep 3600")}`));
    const p = await agent.waitPod('graceful', (p) => p.status?.phase === 'Running', 'Running');
    const t0 = Date.now();
    agent.remove('graceful.yaml');
    await agent.until(async () => (await containersOf(p.metadata.name)).length === 0, 'containers removed', 30_000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(3000);
    expect((await agent.pods()).map((x) => x.metadata.name)).not.toContain(p.metadata.name);
  });
});
