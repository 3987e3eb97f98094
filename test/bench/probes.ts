// Probe cost: 100 pods x 3 probes (startup tcpSocket, liveness tcpSocket, readiness
// httpGet, all at periodSeconds 1) next to the same 100 pods with no probes, in one run:
// agent CPU share and RSS, probe latency p50/p99 (from the agent's own histogram), and
// TIME_WAIT sockets left on the node. Prints; asserts nothing.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { manifest, removeTestContainers, TestAgent } from '../support/agent.js';
import { BUSYBOX as BB } from '../support/common.js';

const PODS = Number(process.env.BOSUN_BENCH_PODS ?? 100);
const WINDOW_MS = Number(process.env.BOSUN_BENCH_WINDOW_MS ?? 30_000);

function pods(withProbes: boolean): string {
  const probes = withProbes ? `      startupProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 }
      livenessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 }
      readinessProbe: { httpGet: { path: /, port: 8080 }, periodSeconds: 1 }
` : '';
  return Array.from({ length: PODS }, (_, i) => manifest(`p${withProbes ? 'r' : 'n'}${i}`, `  terminationGracePeriodSeconds: 0
  containers:
    - name: web
      image: ${BB}
      command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
${probes}`)).join('---\n');
}

function cpuTicks(pid: number): number {
  const rest = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1];
  if (rest === undefined) throw new Error(`/proc/${pid}/stat: no ") " after the command name`);
  const f = rest.split(' ');
  return Number(f[11]) + Number(f[12]);
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

function timeWait(): number {
  return execFileSync('ss', ['-Htan', 'state', 'time-wait']).toString().split('\n').filter(Boolean).length;
}

async function measure(agent: TestAgent): Promise<{ cpu: number; rss: number }> {
  const pid = agent.pid!;
  const hz = 100;
  const t0 = cpuTicks(pid);
  const s0 = performance.now();
  await new Promise((r) => setTimeout(r, WINDOW_MS));
  const cpu = (cpuTicks(pid) - t0) / hz / ((performance.now() - s0) / 1000);
  return { cpu, rss: rssMiB(pid) };
}

/** Percentile from a Prometheus histogram (linear inside a bucket, as histogram_quantile). */
function quantile(text: string, q: number): number {
  const buckets = new Map<number, number>();
  for (const m of text.matchAll(/^prober_probe_duration_seconds_bucket\{le="([^"]+)"[^}]*\} (\d+)/gm)) {
    const le = m[1] === '+Inf' ? Infinity : Number(m[1]);
    buckets.set(le, (buckets.get(le) ?? 0) + Number(m[2]));
  }
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (!total) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + (le - prevLe) * ((rank - prevCount) / Math.max(1, count - prevCount));
    }
    prevLe = le;
    prevCount = count;
  }
  return NaN;
}

async function runAll(agent: TestAgent, withProbes: boolean): Promise<void> {
  writeFileSync(`${agent.manifests}/bench.yaml`, pods(withProbes));
  await agent.until(async () => {
    const list = await agent.pods();
    // The previous set is listed until the file change is read: wait for this set's names.
    const prefix = `p${withProbes ? 'r' : 'n'}`;
    return list.length === PODS && list.every((p) => p.metadata.name.startsWith(prefix) && p.status?.phase === 'Running' && (!withProbes || p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')));
  }, `${PODS} pods ${withProbes ? 'Ready' : 'Running'}`, 600_000);
}

async function main(): Promise<void> {
  await removeTestContainers();
  const agent = new TestAgent();
  mkdirSync(agent.manifests, { recursive: true });
  await agent.start(['--file-check-frequency', '20s']);
  try {
    await runAll(agent, false);
    const idle = await measure(agent);
    await runAll(agent, true);
    const tw0 = timeWait();
    const before = await (await fetch(`http://127.0.0.1:${agent.port}/metrics/probes`)).text();
    const busy = await measure(agent);
    const after = await (await fetch(`http://127.0.0.1:${agent.port}/metrics/probes`)).text();
    const probesRun = (t: string) => [...t.matchAll(/^prober_probe_total\{[^}]*\} (\d+)/gm)].reduce((a, m) => a + Number(m[1]), 0);
    const rate = (probesRun(after) - probesRun(before)) / (WINDOW_MS / 1000);
    const tw = timeWait();
    if (process.env.BOSUN_BENCH_DEBUG) process.stderr.write(`metrics/probes: ${after.length} bytes, ${after.split('\n').filter((l) => l.startsWith('prober_probe_total{')).length} total series\n${after.slice(0, 600)}\n`);
    const f = (n: number) => n.toFixed(3);
    process.stdout.write(`probe benchmark: ${PODS} pods, ${WINDOW_MS / 1000} s windows\n`);
    process.stdout.write(`                      no probes   3 probes/pod @1s   ratio\n`);
    process.stdout.write(`agent CPU (cores)     ${f(idle.cpu).padStart(9)}   ${f(busy.cpu).padStart(16)}   ${(busy.cpu / Math.max(idle.cpu, 0.001)).toFixed(1)}x\n`);
    process.stdout.write(`agent RSS (MiB)       ${idle.rss.toFixed(0).padStart(9)}   ${busy.rss.toFixed(0).padStart(16)}   ${(busy.rss / idle.rss).toFixed(2)}x\n`);
    process.stdout.write(`probes run per second ${''.padStart(9)}   ${rate.toFixed(0).padStart(16)}\n`);
    process.stdout.write(`probe latency p50/p99 (s, from the agent's histogram): ${f(quantile(after, 0.5))} / ${f(quantile(after, 0.99))}\n`);
    process.stdout.write(`TIME_WAIT sockets on the node: ${tw0} when probing began, ${tw} after ${WINDOW_MS / 1000} s of probing\n`);
  } finally {
    await agent.destroy();
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
