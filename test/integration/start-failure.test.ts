// A container whose start fails (RunContainerError: the entrypoint does not exist) is a run
// that ended: the engine keeps it and the restart policy judges it (kubelet's
// ShouldContainerBeRestarted). Under restartPolicy Never the pod is Failed and nothing is
// started again; bosun's Docker backend used to remove the container, so the run left no
// trace and the pod was retried for ever in CrashLoopBackOff. Its terminated state is what
// kubelet shows on each runtime: containerd's CRI (container_start.go) says StartError, exit
// code 128 and its error; Docker through cri-dockerd says ContainerCannotRun with Docker's
// exit code (127: not found) and error.

import { afterAll, describe, expect, it } from 'vitest';
import { createContainerdRuntime } from '../../cri/index.js';
import { TestAgent } from '../support/agent.js';
import { CONTAINERD_ENDPOINT, containerdAvailable, createTestRuntime, type RuntimeKind } from '../support/runtime-test-env.js';
import { BUSYBOX, must } from '../support/common.js';

const containerdUp = await containerdAvailable();
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function scenario(kind: RuntimeKind): Promise<void> {
  const agent = new TestAgent();
  cleanups.push(async () => {
    await agent.destroy();
    if (kind !== 'containerd') return;
    const rt = await createContainerdRuntime();
    for (const x of await rt.listContainers()) if (x.labels['bosun.io/node-name'] === agent.nodeName) await rt.removeContainer(x.id).catch(() => undefined);
    for (const s of await rt.listPodSandboxes()) {
      if (s.labels['bosun.io/node-name'] !== agent.nodeName) continue;
      await rt.stopPodSandbox(s.id).catch(() => undefined);
      await rt.removePodSandbox(s.id).catch(() => undefined);
    }
    await rt.close();
  });
  await agent.start(kind === 'containerd' ? ['--container-runtime-endpoint', CONTAINERD_ENDPOINT] : []);
  agent.write('sf.json', JSON.stringify({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'sf' },
    spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: BUSYBOX, imagePullPolicy: 'Never', command: ['/nonexistent'] }] },
  }));
  const p = await agent.waitPod('sf', (p) => p.status?.phase === 'Failed', 'Failed', 120_000);
  const st = must(p.status?.containerStatuses?.[0], 'the container status');
  expect(st.restartCount).toBe(0);
  expect(st.state.terminated).toMatchObject(kind === 'containerd'
    ? { reason: 'StartError', exitCode: 128, message: expect.stringMatching(/\/nonexistent.*no such file or directory/) }
    : { reason: 'ContainerCannotRun', exitCode: 127, message: expect.stringMatching(/\/nonexistent.*no such file or directory/) });
  // Past the first back-off (10 s): still the one run, never started again.
  await new Promise((r) => setTimeout(r, 15_000));
  const rt = await createTestRuntime(kind);
  try {
    const runs = (await rt.listContainers()).filter((c) => c.labels['bosun.io/node-name'] === agent.nodeName && c.metadata.name === 'c');
    expect(runs.map((c) => `${c.metadata.attempt}:${c.state}`)).toEqual(['0:exited']);
  } finally {
    await rt.close();
  }
  expect((await agent.pod('sf'))!.status!.phase).toBe('Failed');
}

describe('a container whose start fails, restartPolicy Never', () => {
  it('on Docker: the pod is Failed, the run is kept and not retried', async () => {
    await scenario('docker');
  }, 240_000);

  it.skipIf(!containerdUp)('on containerd: the same', async () => {
    await scenario('containerd');
  }, 240_000);
});
