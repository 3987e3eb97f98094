// CRI's label_selector on the real engine: a node's relist and event stream see only its own
// sandboxes and containers, while the engine holds another node's beside them (several
// agents share one dockerd on a test host, as on this machine). Before the filter, every
// relist inspected the other node's changed containers and each of their events caused a
// relist of everything.

import Docker from 'dockerode';
import { afterAll, describe, expect, it } from 'vitest';
import { createDockerRuntime, type Runtime, type RuntimeEvent } from '../../cri/index.js';
import { BUSYBOX, sleep } from '../support/common.js';

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const RUN = Math.random().toString(36).slice(2, 8);
const RUN_LABEL = 'bosun.io/test-cri-filter';
const NODE = 'bosun.io/node-name';
const mine = `bosun-test-filter-a-${RUN}`;
const other = `bosun-test-filter-b-${RUN}`;
let rt: Runtime | undefined;

/** A container as the runtime labels one (not started: only lists and events are looked at). */
async function make(type: 'podsandbox' | 'container', node: string, n: number): Promise<string> {
  const c = await docker.createContainer({
    Image: BUSYBOX,
    name: `bosun-test-filter-${RUN}-${type}-${node.slice(-8)}-${n}`,
    Cmd: ['true'],
    Labels: {
      [RUN_LABEL]: RUN,
      'io.kubernetes.docker.type': type,
      [NODE]: node,
      'io.kubernetes.pod.uid': `uid-${node}`,
      'io.kubernetes.pod.name': 'p',
      'io.kubernetes.pod.namespace': 'default',
      ...(type === 'container' ? { 'io.kubernetes.container.name': `c${n}` } : {}),
    },
    HostConfig: { NetworkMode: 'none' },
  });
  return c.id;
}

afterAll(async () => {
  await rt?.close();
  const left = await docker.listContainers({ all: true, filters: { label: [`${RUN_LABEL}=${RUN}`] } });
  await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
});

describe('Docker runtime: label filter (CRI label_selector)', () => {
  it('lists and streams only the objects that carry every label of the filter', async () => {
    rt = await createDockerRuntime();
    const filter = { labels: { [NODE]: mine } };
    const events: RuntimeEvent[] = [];
    let ready!: () => void;
    const opened = new Promise<void>((r) => (ready = r));
    rt.subscribe((e) => events.push(e), () => undefined, () => ready(), filter);
    await opened;

    const ours = [await make('podsandbox', mine, 0), await make('container', mine, 1)];
    const theirs = [await make('podsandbox', other, 0), await make('container', other, 1)];

    const sandboxes = (await rt.listPodSandboxes(filter)).map((s) => s.id);
    const containers = (await rt.listContainers(filter)).map((c) => c.id);
    expect(sandboxes).toEqual([ours[0]]);
    expect(containers).toEqual([ours[1]]);
    // Without a filter (image GC, the engine's health probe) the other node's are there too.
    const all = (await rt.listContainers()).map((c) => c.id);
    expect(all).toEqual(expect.arrayContaining([ours[1]!, theirs[1]!]));
    // The filtered list after the full one still answers with ours only.
    expect((await rt.listContainers(filter)).map((c) => c.id)).toEqual([ours[1]]);

    for (let i = 0; i < 100 && events.filter((e) => e.type === 'created').length < 2; i++) await sleep(50);
    await sleep(300);
    const created = events.filter((e) => e.type === 'created').map((e) => e.id);
    expect(created.sort()).toEqual([...ours].sort());
    expect(events.some((e) => theirs.includes(e.id))).toBe(false);
  });
});
