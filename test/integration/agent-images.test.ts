import { execFile } from 'node:child_process';
import { mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContainerdRuntime } from '../../cri/index.js';
import { docker, manifest, removeTestContainers, TestAgent } from '../support/agent.js';
import { CONTAINERD_ENDPOINT, containerdAvailable, removeNodePods } from '../support/runtime-test-env.js';
import { must } from '../support/common.js';

// Image handling end to end: pull policies and their reasons with no registry reachable,
// and image archives dropped into <root-dir>/images on an air-gapped node (Docker and
// containerd). Pulls from a real registry: images-registry.test.ts.

const run = promisify(execFile);
const agent = new TestAgent();
const IMPORTED = `localhost/bosun/imported:t${Math.random().toString(36).slice(2, 8)}`;

const pod = (name: string, image: string, policy?: string) =>
  manifest(name, `  terminationGracePeriodSeconds: 0\n  containers:\n    - name: c\n      image: ${image}\n${policy ? `      imagePullPolicy: ${policy}\n` : ''}      command: ["sleep", "3600"]\n`);

beforeAll(async () => {
  await removeTestContainers();
  await agent.start();
});

afterAll(async () => {
  await agent.destroy();
  await docker.getImage(IMPORTED).remove({ force: true }).catch(() => undefined);
});

describe('images', () => {
  it('reports ErrImageNeverPull for a missing image under Never', async () => {
    agent.write('never.yaml', pod('never', 'localhost/bosun/absent:1', 'Never'));
    const p = await agent.waitPod('never', (p) => p.status?.containerStatuses?.[0]?.state.waiting?.reason === 'ErrImageNeverPull', 'ErrImageNeverPull');
    expect(must(p.status?.containerStatuses?.[0], 'a container status').state.waiting?.message).toBe('Container image "localhost/bosun/absent:1" is not present with pull policy of Never');
    expect(p.status!.phase).toBe('Pending');
  });

  it('fails a pull fast with ErrImagePull, then backs off with ImagePullBackOff', async () => {
    // localhost: the engine dials 127.0.0.1 only, where no registry listens.
    agent.write('pull.yaml', pod('pull', 'localhost/bosun/absent:2'));
    const seen = new Set<string>();
    await agent.until(async () => {
      const r = (await agent.pod('pull'))?.status?.containerStatuses?.[0]?.state.waiting?.reason;
      if (r) seen.add(r);
      return seen.has('ErrImagePull') && seen.has('ImagePullBackOff');
    }, 'ErrImagePull then ImagePullBackOff', 30_000);
    const p = (await agent.pod('pull'))!;
    expect(p.status!.phase).toBe('Pending');
  });

  it('runs an image from an archive dropped in <root-dir>/images, with pull policy Never', async () => {
    await run('docker', ['tag', 'localhost/bosun/busybox:1', IMPORTED]);
    const dir = join(agent.dir, 'root', 'images');
    mkdirSync(dir, { recursive: true });
    await run('docker', ['save', '-o', join(dir, 'imported.tar'), IMPORTED]);
    await run('docker', ['rmi', IMPORTED]);
    agent.write('imported.yaml', pod('imported', IMPORTED, 'Never'));
    const p = await agent.waitPod('imported', (p) => p.status?.phase === 'Running', 'Running from the imported archive', 60_000);
    expect(must(p.status?.containerStatuses?.[0], 'a container status').image).toBe(IMPORTED);
    expect(agent.log()).toContain('imported image archive');
  });
});

// The same drop on bosun's containerd: `ctr images import` into its k8s.io namespace.
describe('image archives on containerd', () => {
  const ctdAgent = new TestAgent();
  const CTD_IMPORTED = `localhost/bosun/imported-ctd:t${Math.random().toString(36).slice(2, 8)}`;
  const ctr = (...args: string[]) => run('ctr', ['-a', '/run/bosun-containerd/containerd.sock', '-n', 'k8s.io', ...args]);

  beforeAll(async () => {
    await containerdAvailable();
    await ctdAgent.start(['--container-runtime-endpoint', CONTAINERD_ENDPOINT]);
  });

  afterAll(async () => {
    const rt = await createContainerdRuntime();
    try {
      await removeNodePods(rt, ctdAgent.nodeName);
    } finally {
      await rt.close();
    }
    await ctdAgent.destroy();
    // By name only: CRI RemoveImage would drop localhost/bosun/busybox:1 too (same image).
    await ctr('images', 'rm', CTD_IMPORTED).catch(() => undefined);
    await docker.getImage(CTD_IMPORTED).remove().catch(() => undefined);
  });

  it('runs an image from an archive dropped in <root-dir>/images, with pull policy Never', async () => {
    await run('docker', ['tag', 'localhost/bosun/busybox:1', CTD_IMPORTED]);
    const dir = join(ctdAgent.dir, 'root', 'images');
    mkdirSync(dir, { recursive: true });
    await run('docker', ['save', '-o', join(dir, '.partial'), CTD_IMPORTED]);
    await run('docker', ['rmi', CTD_IMPORTED]);
    renameSync(join(dir, '.partial'), join(dir, 'imported.tar'));
    expect((await ctr('images', 'ls', '-q')).stdout.split('\n')).not.toContain(CTD_IMPORTED);
    ctdAgent.write('imported.yaml', pod('imported', CTD_IMPORTED, 'Never'));
    const p = await ctdAgent.waitPod('imported', (p) => p.status?.phase === 'Running', 'Running from the imported archive', 60_000);
    expect(must(p.status?.containerStatuses?.[0], 'a container status').image).toBe(CTD_IMPORTED);
    expect(must(p.status?.containerStatuses?.[0], 'a container status').containerID).toMatch(/^containerd:\/\//);
    expect(ctdAgent.log()).toContain('imported image archive');
  });
});
