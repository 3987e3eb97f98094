// The startup benchmark on both runtimes side by side: time from manifest drop to all pods
// Running, and to all containers gone after the file is removed, with the agent on Docker
// and on containerd (CRI). node dist/test/bench/runtimes.js [pods, default 30].
import { writeFileSync } from 'node:fs';
import { createContainerdRuntime, createDockerRuntime, type Runtime } from '../../cri/index.js';
import { manifest, TestAgent } from '../support/agent.js';
import { CONTAINERD_ENDPOINT } from '../support/runtime-test-env.js';
import { BUSYBOX as BB } from '../support/common.js';

const N = Number(process.argv[2] ?? 30);
const ROUNDS = Number(process.env.BOSUN_BENCH_ROUNDS ?? 2);

async function bench(kind: 'docker' | 'containerd'): Promise<{ run: number[]; teardown: number[] }> {
  const rt: Runtime = kind === 'docker' ? await createDockerRuntime({}) : await createContainerdRuntime();
  const agent = new TestAgent();
  const out = { run: [] as number[], teardown: [] as number[] };
  const mine = async () => (await rt.listContainers()).filter((c) => c.labels['bosun.io/node-name'] === agent.nodeName).length;
  try {
    await agent.start(kind === 'docker' ? [] : ['--container-runtime-endpoint', CONTAINERD_ENDPOINT]);
    for (let round = 0; round < ROUNDS; round++) {
      const t0 = performance.now();
      const docs = Array.from({ length: N }, (_, i) => manifest(`b${round}-${i}`, `  terminationGracePeriodSeconds: 0\n  containers:\n    - name: app\n      image: ${BB}\n      command: ["sleep", "3600"]\n`));
      writeFileSync(`${agent.manifests}/bench.yaml`, docs.join('---\n'));
      await agent.until(async () => {
        const pods = await agent.pods();
        return pods.length === N && pods.every((p) => p.metadata.name.startsWith(`b${round}-`) && p.status?.phase === 'Running');
      }, `${N} pods Running`, 600_000);
      out.run.push(performance.now() - t0);
      const t1 = performance.now();
      agent.remove('bench.yaml');
      await agent.until(async () => (await mine()) === 0, 'teardown', 600_000);
      out.teardown.push(performance.now() - t1);
    }
  } finally {
    await agent.destroy();
    for (const s of await rt.listPodSandboxes()) {
      if (s.labels['bosun.io/node-name'] !== agent.nodeName) continue;
      await rt.stopPodSandbox(s.id).catch(() => undefined);
      await rt.removePodSandbox(s.id).catch(() => undefined);
    }
    await rt.close();
  }
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const docker = await bench('docker');
const containerd = await bench('containerd');
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
console.log(`${N} pods, ${ROUNDS} rounds, median (all rounds)`);
console.log(`runtime      drop -> all Running          delete -> all gone`);
for (const [name, r] of [['docker', docker], ['containerd', containerd]] as const) {
  console.log(`${name.padEnd(12)} ${s(median(r.run)).padEnd(8)} (${r.run.map(s).join(', ')})   ${s(median(r.teardown)).padEnd(8)} (${r.teardown.map(s).join(', ')})`);
}
