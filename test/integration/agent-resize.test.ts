import { afterAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../cri/index.js';
import { manifest, TestAgent } from '../support/agent.js';
import { CONTAINERD_ENDPOINT, containerdAvailable, createTestRuntime, removeNodePods, type RuntimeKind } from '../support/runtime-test-env.js';

// In-place resize on both runtimes (issue 14 section 3): a sidecar and an app container
// resized by editing the static pod's file, read back from the cgroup files the kernel shows
// inside each container; a resize beyond the node's allocatable stays pending (Infeasible)
// with the old limits, then a feasible edit is applied. The real CLI and engines.

const BB = 'localhost/bosun/busybox:1';
const NODE_LABEL = 'bosun.io/node-name';
const containerdUp = await containerdAvailable();
const cleanups: (() => Promise<void>)[] = [];

afterAll(async () => {
  for (const c of cleanups) await c().catch(() => undefined);
}, 120_000);

const spec = (app: { mem: string; req?: string }, sideMem: string) => manifest('rs', `  terminationGracePeriodSeconds: 0
  initContainers:
    - name: side
      image: ${BB}
      restartPolicy: Always
      command: ["sleep", "3600"]
      resources:
        limits: { cpu: 100m, memory: ${sideMem} }
  containers:
    - name: app
      image: ${BB}
      command: ["sleep", "3600"]
      resources:
        requests: { cpu: 100m, memory: ${app.req ?? '32Mi'} }
        limits: { cpu: 500m, memory: ${app.mem} }
`);

async function scenario(kind: RuntimeKind): Promise<void> {
  const agent = new TestAgent();
  const rt: Runtime = await createTestRuntime(kind);
  cleanups.push(async () => {
    await agent.destroy();
    if (kind === 'containerd') await removeNodePods(rt, agent.nodeName);
    await rt.close();
  });
  await agent.start(kind === 'containerd' ? ['--container-runtime-endpoint', CONTAINERD_ENDPOINT] : []);
  const ids = async () => Object.fromEntries((await rt.listContainers())
    .filter((c) => c.labels[NODE_LABEL] === agent.nodeName && c.state === 'running')
    .map((c) => [c.metadata.name, c.id]));
  // The container's own memory cgroup as the kernel shows it inside (cgroup v1 here).
  const memLimit = async (id: string) => (await rt.execSync(id, ['cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes'], 10_000)).stdout.toString().trim();
  const MiB = (n: number) => String(n * 2 ** 20);

  agent.write('rs.yaml', spec({ mem: '64Mi' }, '32Mi'));
  const before = await agent.waitPod('rs', (p) => p.status?.phase === 'Running' && !!p.status.containerStatuses?.every((c) => c.state.running) && !!p.status.initContainerStatuses?.every((c) => c.state.running), 'Running');
  const idsBefore = await ids();
  expect(Object.keys(idsBefore).sort()).toEqual(['app', 'side']);
  expect(await memLimit(idsBefore.app!)).toBe(MiB(64));
  expect(await memLimit(idsBefore.side!)).toBe(MiB(32));

  // Both containers resized in place.
  agent.write('rs.yaml', spec({ mem: '128Mi' }, '48Mi'));
  await agent.until(async () => (await memLimit(idsBefore.app!)) === MiB(128) && (await memLimit(idsBefore.side!)) === MiB(48), 'new limits in the cgroups');
  const after = await agent.waitPod('rs', (p) => p.status?.containerStatuses?.[0]?.resources?.limits?.memory === MiB(128), 'status shows the new limits');
  expect(after.metadata.uid).toBe(before.metadata.uid);
  expect(await ids()).toEqual(idsBefore);
  expect(after.status!.containerStatuses![0]!.restartCount).toBe(0);
  expect(after.status!.initContainerStatuses![0]!.restartCount).toBe(0);
  expect(after.status!.conditions!.some((c) => c.type.startsWith('PodResize'))).toBe(false);

  // Beyond the node: pending, Infeasible, the old limits stay.
  agent.write('rs.yaml', spec({ mem: '100000Gi', req: '100000Gi' }, '48Mi'));
  const pending = await agent.waitPod('rs', (p) => !!p.status?.conditions?.some((c) => c.type === 'PodResizePending'), 'PodResizePending');
  const cond = pending.status!.conditions!.find((c) => c.type === 'PodResizePending')!;
  console.log(`${kind}: ${cond.type} ${cond.reason}: ${cond.message}`);
  expect(cond).toMatchObject({ status: 'True', reason: 'Infeasible' });
  // The pod's requests: the app's and the sidecar's (its limit is its request).
  expect(cond.message).toMatch(new RegExp(`^Node didn't have enough capacity: memory, requested: ${100000 * 2 ** 30 + 48 * 2 ** 20}, capacity: \\d+$`));
  expect(pending.metadata.uid).toBe(before.metadata.uid);
  expect(await memLimit(idsBefore.app!)).toBe(MiB(128));
  expect(pending.status!.containerStatuses![0]!.allocatedResources).toEqual({ cpu: '100m', memory: '32Mi' });

  // A feasible edit after it: allocated and applied, the condition gone.
  agent.write('rs.yaml', spec({ mem: '96Mi' }, '48Mi'));
  const done = await agent.waitPod('rs', (p) => p.status?.containerStatuses?.[0]?.resources?.limits?.memory === MiB(96) && !p.status.conditions?.some((c) => c.type.startsWith('PodResize')), 'resize applied, condition gone');
  expect(await memLimit(idsBefore.app!)).toBe(MiB(96));
  expect(await ids()).toEqual(idsBefore);
  expect(done.status!.containerStatuses![0]!.restartCount).toBe(0);
  agent.remove('rs.yaml');
}

describe('in-place resize of a static pod, app and sidecar, with the fit check', () => {
  it('on Docker', async () => {
    await scenario('docker');
  }, 170_000);

  it.skipIf(!containerdUp)('on containerd', async () => {
    await scenario('containerd');
  }, 170_000);
});
