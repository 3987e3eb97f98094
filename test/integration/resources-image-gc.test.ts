import type Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../cri/index.js';
import { createDockerRuntime } from '../../cri/index.js';
import { FakeClock } from '../../base/index.js';
import { silentLogger } from '../../agent/log.js';
import { ImageGC } from '../../agent/resources/index.js';
import { docker } from '../support/agent.js';
import { randomId, TEST_NAME_PREFIX } from '../support/docker-test-env.js';
import { BUSYBOX as BB } from '../support/common.js';

// Image GC against the real engine: real images, a real container holding one, real
// removals, the real image filesystem's usage with thresholds it crosses (high 1%, low 0%).
// The runtime's image list is narrowed to this test's images, so that the machine's other
// images (the pause image, other tests' busybox) are never candidates.

const REPO = `localhost/${TEST_NAME_PREFIX}${randomId()}/gc`;
const [OLD, USED_BEFORE, IN_USE, PINNED] = ['old', 'used-before', 'in-use', 'pinned'].map((t) => `${REPO}:${t}`) as [string, string, string, string];
const NODE = `bosun-test-gc-${randomId()}`;
let runtime: Runtime;
const made: string[] = [];
const ids: Record<string, string> = {};

async function image(tag: string): Promise<string> {
  // A distinct image per tag: a layer with its own content.
  const c = await docker.createContainer({ Image: BB, Cmd: ['true'], Labels: { [`${TEST_NAME_PREFIX}gc`]: NODE } });
  try {
    await c.commit({ repo: REPO, tag: tag.slice(tag.lastIndexOf(':') + 1), changes: `LABEL gc=${tag}` });
  } finally {
    await c.remove({ force: true });
  }
  return (await docker.getImage(tag).inspect()).Id;
}

/** A container the runtime lists as one of its own (any state: a dead one holds its image too). */
async function holder(tag: string): Promise<Dockerode.Container> {
  const c = await docker.createContainer({
    Image: tag, Cmd: ['true'],
    Labels: { 'io.kubernetes.docker.type': 'container', 'io.kubernetes.container.name': 'gc', 'bosun.io/node-name': NODE },
  });
  made.push(c.id);
  return c;
}

beforeAll(async () => {
  runtime = await createDockerRuntime();
  for (const t of [OLD, USED_BEFORE, IN_USE, PINNED]) ids[t] = await image(t);
});

afterAll(async () => {
  for (const id of made) await docker.getContainer(id).remove({ force: true }).catch(() => undefined);
  for (const t of [OLD, USED_BEFORE, IN_USE, PINNED]) await docker.getImage(t).remove({ force: true }).catch(() => undefined);
  await runtime.close();
});

describe('image GC on the real engine', () => {
  it('over the high threshold: unused images go least recently used first; in use and pinned ones stay', async () => {
    const clock = new FakeClock(0);
    const policy = { highThresholdPercent: 100, lowThresholdPercent: 0, minAgeMs: 0 };
    const ours: Runtime = Object.create(runtime) as Runtime;
    ours.listImages = async () => (await runtime.listImages()).filter((i) => i.repoTags.some((t) => t.startsWith(REPO)));
    const gc = new ImageGC({ runtime: ours, policy, clock, log: silentLogger, pinned: () => [PINNED] });

    // t=0: every image seen, none used. High threshold 100%: nothing collected.
    expect((await gc.collect()).remove).toEqual([]);
    // t=1s: USED_BEFORE is used by a container that then goes.
    clock.advance(1000);
    const before = await holder(USED_BEFORE);
    expect((await gc.collect()).remove).toEqual([]);
    await before.remove({ force: true });
    // t=2s: IN_USE is held by a dead container; thresholds the real filesystem crosses.
    clock.advance(1000);
    await holder(IN_USE);
    policy.highThresholdPercent = 1;
    const plan = await gc.collect();
    console.log(`image GC: usage ${plan.usagePercent}%, asked to free ${plan.bytesToFree} bytes, removed ${plan.remove.length} images (${plan.bytesFreed} bytes)`);
    const id = async (t: string) => (await docker.getImage(t).inspect().catch(() => undefined))?.Id;
    expect(plan.usagePercent).toBeGreaterThanOrEqual(1);
    // OLD was last used (seen) at 0, USED_BEFORE at 1 s: OLD goes first.
    expect(plan.remove).toEqual([ids[OLD], ids[USED_BEFORE]]);
    expect(await id(OLD)).toBeUndefined();
    expect(await id(USED_BEFORE)).toBeUndefined();
    expect(await id(IN_USE)).toBeDefined();
    expect(await id(PINNED)).toBeDefined();
  });
});
