// npm run bench (last step), or alone: npm run build && node dist/test/bench/pull.js [rounds]
// Pod start with an image pull: a registry on 127.0.0.1 (scripts/registry.sh) holds an image
// of its own (busybox plus BOSUN_BENCH_PULL_MIB random MiB, 32 by default); each round the
// image is absent from the engine. bosun (the built CLI on Docker): manifest written -> pod
// Running. Next to it, the same on the bare engine: `docker pull` + `docker run` -> running.
// Writes test/bench/results/pull-latest.{json,md}. Asserts nothing: read the ratio.
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { manifest, removeTestContainers, TestAgent } from '../support/agent.js';
import { buildTestImage, removeImageNames, TestRegistry } from '../support/registry.js';

const run = promisify(execFile);
const ROUNDS = Number(process.argv[2] ?? process.env.BOSUN_BENCH_PULL_ROUNDS ?? 3);
const MIB = Number(process.env.BOSUN_BENCH_PULL_MIB ?? 32);
const id = Math.random().toString(36).slice(2, 8);
const LOCAL = `localhost/bosun/bench-pull:${id}`;
const OUT = 'test/bench/results';
const log = (s: string) => process.stderr.write(`[pull ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
const median = (xs: number[]) => {
  const v = [...xs].sort((a, b) => a - b);
  const h = Math.floor(v.length / 2);
  return v.length % 2 ? v[h]! : (v[h - 1]! + v[h]!) / 2;
};

async function until(cond: () => Promise<boolean>, what: string, timeoutMs = 300_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond().catch(() => false))) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const registry = new TestRegistry(`bench-${id}`);
const agent = new TestAgent();
const refs: string[] = [];
const docker: number[] = [];
const bosun: number[] = [];

try {
  await removeTestContainers();
  await buildTestImage(LOCAL, MIB);
  await registry.start();
  await agent.start();
  for (let r = 0; r < ROUNDS; r++) {
    for (const t of [`d${r}`, `b${r}`]) {
      await registry.push(LOCAL, `bench/app:${t}`);
      refs.push(`${registry.addr}/bench/app:${t}`);
    }
  }
  // Gone from the engine, layers included: Docker would otherwise find the pushed layers
  // in its own store and download nothing.
  await removeImageNames([LOCAL, ...refs]);
  for (let r = 0; r < ROUNDS; r++) {
    // Docker: pull + run, the image absent before.
    const dref = `${registry.addr}/bench/app:d${r}`;
    const t0 = performance.now();
    await run('docker', ['pull', '-q', dref]);
    const cid = (await run('docker', ['run', '-d', '--network', 'none', '--label', `bosun.io/bench-pull=${id}`, dref, 'sleep', '3600'])).stdout.trim();
    docker.push(performance.now() - t0);
    await run('docker', ['rm', '-f', cid]);
    await removeImageNames([dref]);
    // bosun: a pod of an absent image, IfNotPresent.
    const bref = `${registry.addr}/bench/app:b${r}`;
    const t1 = performance.now();
    agent.write('pull.yaml', manifest(`pull${r}`, `  terminationGracePeriodSeconds: 0\n  containers:\n    - name: c\n      image: ${bref}\n      imagePullPolicy: IfNotPresent\n      command: ["sleep", "3600"]\n`));
    await agent.waitPod(`pull${r}`, (p) => p.status?.phase === 'Running', 'Running', 300_000);
    bosun.push(performance.now() - t1);
    agent.remove('pull.yaml');
    await until(async () => !(await agent.pods()).some((p) => p.metadata.name.startsWith(`pull${r}`)), 'pod gone');
    await removeTestContainers(agent.nodeName);
    await removeImageNames([bref]);
    log(`round ${r + 1}/${ROUNDS}: docker pull+run ${docker.at(-1)!.toFixed(0)} ms, bosun pod ${bosun.at(-1)!.toFixed(0)} ms`);
  }
  const result = {
    date: new Date().toISOString(),
    imageMiB: MIB,
    rounds: ROUNDS,
    dockerPullRunMs: { median: median(docker), all: docker },
    bosunPodWithPullMs: { median: median(bosun), all: bosun },
    ratio: median(bosun) / median(docker),
  };
  mkdirSync(OUT, { recursive: true });
  writeFileSync(`${OUT}/pull-latest.json`, JSON.stringify(result, null, 2) + '\n');
  const md = `# Pod start with an image pull (${result.date})\n\nImage: busybox + ${MIB} MiB random, from a registry on 127.0.0.1, absent before each round; ${ROUNDS} rounds, medians.\n\n| | ms |\n|---|---|\n| docker pull + docker run | ${result.dockerPullRunMs.median.toFixed(0)} |\n| bosun: manifest -> pod Running | ${result.bosunPodWithPullMs.median.toFixed(0)} |\n| ratio bosun / docker | ${result.ratio.toFixed(2)} |\n`;
  writeFileSync(`${OUT}/pull-latest.md`, md);
  process.stdout.write(md);
} finally {
  await agent.destroy().catch(() => undefined);
  const left = (await run('docker', ['ps', '-aq', '--filter', `label=bosun.io/bench-pull=${id}`]).catch(() => ({ stdout: '' }))).stdout.split('\n').filter(Boolean);
  if (left.length) await run('docker', ['rm', '-f', ...left]).catch(() => undefined);
  await removeImageNames([...refs, LOCAL]);
  await registry.stop();
}
