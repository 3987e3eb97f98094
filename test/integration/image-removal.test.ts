import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RuntimeError, type Runtime } from '../../cri/index.js';
import { FakeClock } from '../../base/index.js';
import { silentLogger } from '../../agent/log.js';
import { ImageGC } from '../../agent/resources/index.js';
import { docker } from '../support/agent.js';
import { randomId, removeTestResources, testContainerConfig, testSandboxConfig, TEST_NAME_PREFIX } from '../support/docker-test-env.js';
import { containerdAvailable, createTestRuntime, removeRuntimeTestResources, type RuntimeKind } from '../support/runtime-test-env.js';
import { CTD_SOCK, removeImageNames } from '../support/registry.js';

// Image removal removes only what upstream's image GC would (issue 19): an image goes by
// its id with all its names only when no container uses any of them; a name the image
// shares with others goes alone; an image a container outside bosun's view uses (Docker)
// keeps every name. The images are this test's own (busybox plus a label, so their own ids):
// the runtime's image list is narrowed to them, so that GC never sees the machine's others.

const run = promisify(execFile);
const RUN = `${TEST_NAME_PREFIX}rm-${randomId()}`;
const REPO = `localhost/${RUN}/img`;
const T = (t: string) => `${REPO}:${t}`;
// Each entry: one image, its names.
const IMAGES: Record<string, string[]> = {
  shared: [T('shared-a'), T('shared-b')],
  free: [T('free-a'), T('free-b')],
  held: [T('held')],
  foreign: [T('foreign-a'), T('foreign-b')],
};
const ALL = Object.values(IMAGES).flat();
let tarDir = '';

async function build(names: string[]): Promise<void> {
  const [first, ...rest] = names as [string, ...string[]];
  await new Promise<void>((res, rej) => {
    const p = execFile('docker', ['build', '-q', '--network', 'none', '-t', first, '-'], { env: { ...process.env, DOCKER_BUILDKIT: '0' } }, (err) => (err ? rej(err) : res()));
    p.stdin!.end(`FROM localhost/bosun/busybox:1\nLABEL io.bosun.test=${JSON.stringify(first)}\n`);
  });
  for (const n of rest) await run('docker', ['tag', first, n]);
}

beforeAll(async () => {
  for (const names of Object.values(IMAGES)) await build(names);
  tarDir = await mkdtemp(join(tmpdir(), 'bosun-image-removal-'));
  // Saved before the Docker half removes some of them; containerd imports it.
  await run('docker', ['save', '-o', join(tarDir, 'images.tar'), ...ALL]);
}, 120_000);

afterAll(async () => {
  await removeImageNames(ALL);
  if (tarDir) await rm(tarDir, { recursive: true, force: true });
});

const ids = async (rt: Runtime, names: string[]) => Promise.all(names.map(async (n) => (await rt.imageStatus(n))?.id));

describe.each(['docker', 'containerd'] as RuntimeKind[])('image removal on %s', (kind) => {
  let rt: Runtime;
  let available = true;
  const foreign: string[] = [];

  beforeAll(async () => {
    if (kind === 'containerd') {
      available = await containerdAvailable();
      if (!available) return;
      await run('ctr', ['-a', CTD_SOCK, '-n', 'k8s.io', 'images', 'import', join(tarDir, 'images.tar')], { maxBuffer: 1 << 20 });
    }
    rt = await createTestRuntime(kind);
  }, 180_000);

  afterAll(async () => {
    for (const id of foreign) await docker.getContainer(id).remove({ force: true }).catch(() => undefined);
    if (!rt) return;
    await removeRuntimeTestResources(rt, RUN);
    if (kind === 'docker') await removeTestResources(docker, RUN).catch(() => undefined);
    await rt.close();
  }, 120_000);

  it('by name: a name the image shares goes alone; by id: refused while a container uses the image', async (ctx) => {
    if (!available) ctx.skip();
    const [a, b] = await ids(rt, IMAGES.free!);
    expect(a).toBeDefined();
    expect(b).toBe(a);
    await rt.removeImage(T('free-b'));
    expect(await ids(rt, IMAGES.free!)).toEqual([a, undefined]);
    // A container (created, never started: it holds its image all the same).
    const sandboxConfig = testSandboxConfig(RUN);
    const sandbox = await rt.runPodSandbox(sandboxConfig);
    await rt.createContainer(sandbox, testContainerConfig(RUN, 'held', { image: T('held') }), sandboxConfig);
    await rt.createContainer(sandbox, testContainerConfig(RUN, 'shared', { image: T('shared-b') }), sandboxConfig);
    const [held] = await ids(rt, IMAGES.held!);
    const err = await rt.removeImage(held!).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(RuntimeError);
    expect((err as RuntimeError).code).toBe('Conflict');
    expect(await ids(rt, IMAGES.held!)).toEqual([held]);
  }, 180_000);

  it('image GC removes an unused image by id with all its names, and never one whose other name a container uses', async (ctx) => {
    if (!available) ctx.skip();
    const before = Object.fromEntries(await Promise.all(Object.entries(IMAGES).map(async ([k, names]) => [k, await ids(rt, names)] as const)));
    if (kind === 'docker') {
      // A container of no pod: bosun does not list it, the engine knows it uses the image.
      const c = await docker.createContainer({ Image: T('foreign-a'), Cmd: ['true'], Labels: { [`${TEST_NAME_PREFIX}rm`]: RUN } });
      foreign.push(c.id);
    }
    const ours: Runtime = Object.create(rt) as Runtime;
    ours.listImages = async () => (await rt.listImages()).filter((i) => i.repoTags.some((t) => t.startsWith(`${REPO}:`)));
    const gc = new ImageGC({ runtime: ours, policy: { highThresholdPercent: 85, lowThresholdPercent: 80, minAgeMs: 0 }, clock: new FakeClock(0), log: silentLogger, pinned: () => [] });
    const plan = await gc.collect(true);
    const after = Object.fromEntries(await Promise.all(Object.entries(IMAGES).map(async ([k, names]) => [k, await ids(rt, names)] as const)));
    console.log(`${kind}: image GC removed ${plan.remove.join(', ')}`);
    expect(after.free).toEqual([undefined, undefined]);
    expect(plan.remove).toContain(before.free![0]);
    expect(after.shared).toEqual(before.shared);
    expect(after.held).toEqual(before.held);
    // Docker: GC planned the foreign image (outside its view), the runtime refused, every name stays.
    // containerd: bosun's containerd holds only CRI containers, all in view; nothing used it.
    if (kind === 'docker') expect(after.foreign).toEqual(before.foreign);
    else expect(after.foreign).toEqual([undefined, undefined]);
  }, 180_000);
});
