// npm run bench: time from manifest drop to all pods Running, for 1, 10 and 30 pods, next to
// the floor: the same pause + app containers created straight through the Docker API, in
// the same run on the same machine. Prints a table and ratios; asserts nothing (these
// machines are shared and noisy: read the ratios, not the seconds).
import { writeFileSync, mkdirSync } from 'node:fs';
import Docker from 'dockerode';
import { docker, manifest, removeTestContainers, TestAgent } from '../support/agent.js';
import { BUSYBOX as BB } from '../support/common.js';

const PAUSE = 'localhost/bosun/pause:3.10';
const SIZES = (process.env.BOSUN_BENCH_SIZES ?? '1,10,30').split(',').map(Number);
const ROUNDS = Number(process.env.BOSUN_BENCH_ROUNDS ?? 2);
const FLOOR_LABEL = 'bosun.io/bench-floor';

async function floor(n: number): Promise<number> {
  const t0 = performance.now();
  await Promise.all(Array.from({ length: n }, async (_, i) => {
    const pause = await docker.createContainer({
      Image: PAUSE,
      name: `bench-floor-pause-${i}`,
      Labels: { [FLOOR_LABEL]: '1' },
      HostConfig: { NetworkMode: 'bosun', IpcMode: 'shareable' },
    });
    await pause.start();
    const app = await docker.createContainer({
      Image: BB,
      name: `bench-floor-app-${i}`,
      Cmd: ['sleep', '3600'],
      Labels: { [FLOOR_LABEL]: '1' },
      HostConfig: { NetworkMode: `container:${pause.id}`, IpcMode: `container:${pause.id}` },
    });
    await app.start();
  }));
  return performance.now() - t0;
}

async function removeFloor(): Promise<void> {
  const list = await docker.listContainers({ all: true, filters: { label: [FLOOR_LABEL] } });
  await Promise.all(list.map((c) => docker.getContainer(c.Id).remove({ force: true })));
}

async function bosun(agent: TestAgent, n: number, round: number): Promise<{ runMs: number; teardownMs: number }> {
  const t0 = performance.now();
  const docs = Array.from({ length: n }, (_, i) => manifest(`b${round}-${i}`, `  terminationGracePeriodSeconds: 0\n  containers:\n    - name: app\n      image: ${BB}\n      command: ["sleep", "3600"]\n`));
  writeFileSync(`${agent.manifests}/bench.yaml`, docs.join('---\n'));
  await agent.until(async () => {
    const pods = await agent.pods();
    return pods.length === n && pods.every((p) => p.metadata.name.startsWith(`b${round}-`) && p.status?.phase === 'Running');
  }, `${n} pods Running`, 600_000);
  const runMs = performance.now() - t0;
  const t1 = performance.now();
  agent.remove('bench.yaml');
  await agent.until(async () => (await docker.listContainers({ all: true, filters: { label: [`bosun.io/node-name=${agent.nodeName}`] } })).length === 0, 'teardown', 600_000);
  return { runMs, teardownMs: performance.now() - t1 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function main(): Promise<void> {
  await new Docker({ socketPath: '/var/run/docker.sock' }).ping();
  await removeTestContainers();
  await removeFloor();
  const agent = new TestAgent();
  mkdirSync(agent.manifests, { recursive: true });
  await agent.start(['--file-check-frequency', '20s']);
  const rows: { n: number; floorMs: number; bosunMs: number; teardownMs: number }[] = [];
  try {
    for (const n of SIZES) {
      const f: number[] = [];
      const b: number[] = [];
      const t: number[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        // Alternate the order so that neither side always runs on a warmer engine.
        if (r % 2 === 0) {
          f.push(await floor(n)); await removeFloor();
          const x = await bosun(agent, n, r); b.push(x.runMs); t.push(x.teardownMs);
        } else {
          const x = await bosun(agent, n, r); b.push(x.runMs); t.push(x.teardownMs);
          f.push(await floor(n)); await removeFloor();
        }
      }
      rows.push({ n, floorMs: median(f), bosunMs: median(b), teardownMs: median(t) });
    }
  } finally {
    await agent.destroy();
    await removeFloor();
  }
  const lines = [
    `pods  docker-API floor  bosun (drop -> all Running)  ratio  bosun teardown`,
    ...rows.map((r) => `${String(r.n).padStart(4)}  ${(r.floorMs / 1000).toFixed(2).padStart(14)} s  ${(r.bosunMs / 1000).toFixed(2).padStart(25)} s  ${(r.bosunMs / r.floorMs).toFixed(2).padStart(5)}x  ${(r.teardownMs / 1000).toFixed(2).padStart(12)} s`),
  ];
  process.stdout.write(`bosun startup benchmark (median of ${ROUNDS} rounds)\n${lines.join('\n')}\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
