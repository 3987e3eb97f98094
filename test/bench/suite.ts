// npm run bench:suite: the benchmark suite against peers. In one run on this machine, on the
// same pod manifests (busybox httpd with an httpGet readinessProbe, pause as the sandbox):
// bosun (the built CLI on the Docker engine) next to the raw Docker API floor and to
// `podman kube play`:
//   - 1, 10, 30, 110 pods: manifest -> all Running, -> all Ready, teardown;
//   - idle with 110 pods: bosun's CPU and RSS (/proc/<pid>); podman has no daemon: the
//     conmon processes of its pods (and, for the same comparison, Docker's shims of bosun's);
//   - reaction from a container's exit to its restart starting, from the engines' events.
// Writes test/bench/results/suite-<date>.{json,md}, latest.{json,md,svg}. Asserts nothing:
// these machines are shared and noisy; read the ratios.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { docker, manifest, removeTestContainers, TestAgent } from '../support/agent.js';
import { BUSYBOX as BB, sleep } from '../support/common.js';

const run = promisify(execFile);

const PAUSE = 'localhost/bosun/pause:3.10';
const SIZES = (process.env.BOSUN_BENCH_SIZES ?? '1,10,30,110').split(',').map(Number);
const ROUNDS = Number(process.env.BOSUN_BENCH_ROUNDS ?? 3);
/** Rounds for the sizes of 100 pods and more (each round of 110 pods takes minutes). */
const BIG_ROUNDS = Number(process.env.BOSUN_BENCH_BIG_ROUNDS ?? 3);
const IDLE_MS = Number(process.env.BOSUN_BENCH_IDLE_MS ?? 30_000);
const PERIOD = Number(process.env.BOSUN_BENCH_PROBE_PERIOD ?? 2);
const RESTART_PODS = 3;
/** BOSUN_BENCH_PODMAN=0: bosun and the floor only (podman's columns n/a), for quicker before/after runs. */
const PODMAN = process.env.BOSUN_BENCH_PODMAN !== '0';
const RUN_ID = Math.random().toString(36).slice(2, 8);
const PREFIX = `bosunbench-${RUN_ID}`;
const LABEL = 'bosun.io/bench-suite';
const OUT_DIR = 'test/bench/results';
const WORK = mkdtempSync(join(tmpdir(), 'bosun-suite-'));
/** podman 4.3 has no `kube play --infra-image`: its own containers.conf carries infra_image. */
const PODMAN_CONF = join(WORK, 'containers.conf');
const podmanEnv = { ...process.env, CONTAINERS_CONF: PODMAN_CONF };

const log = (s: string) => process.stderr.write(`[suite ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

const median = (xs: number[]) => {
  const v = [...xs].sort((a, b) => a - b);
  const h = Math.floor(v.length / 2);
  return !v.length ? NaN : v.length % 2 ? v[h]! : (v[h - 1]! + v[h]!) / 2;
};

async function podman(...args: string[]): Promise<string> {
  const { stdout } = await run('podman', args, { env: podmanEnv, maxBuffer: 64 << 20 });
  return stdout;
}

async function until(cond: () => Promise<boolean>, what: string, timeoutMs = 600_000, everyMs = 100): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond().catch(() => false)) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------- the manifests (shared)

function webPod(name: string, labels = ''): string {
  return manifest(name, `  terminationGracePeriodSeconds: 0
  containers:
    - name: web
      image: ${BB}
      imagePullPolicy: IfNotPresent
      command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
      readinessProbe: { httpGet: { path: /, port: 8080 }, periodSeconds: ${PERIOD} }
`, labels);
}

function crashPod(name: string, labels = ''): string {
  return manifest(name, `  restartPolicy: Always
  terminationGracePeriodSeconds: 0
  containers:
    - name: crash
      image: ${BB}
      imagePullPolicy: IfNotPresent
      command: ["sh", "-c", "sleep 3; exit 1"]
`, labels);
}

const podmanLabels = `  labels:\n    ${LABEL}: "${RUN_ID}"\n`;

interface Timing { runMs: number; readyMs: number | null; teardownMs: number }

// ---------------------------------------------------------------- floor: the Docker API

async function floorContainers(): Promise<string[]> {
  return (await docker.listContainers({ all: true, filters: { label: [`${LABEL}=${RUN_ID}`] } })).map((c) => c.Id);
}

async function removeFloor(): Promise<void> {
  await Promise.all((await floorContainers()).map((id) => docker.getContainer(id).remove({ force: true }).catch(() => undefined)));
}

async function floor(n: number, round: number): Promise<Timing> {
  const t0 = performance.now();
  const ips: string[] = [];
  await Promise.all(Array.from({ length: n }, async (_, i) => {
    const pause = await docker.createContainer({
      Image: PAUSE,
      name: `${PREFIX}-floor${round}-${i}-pause`,
      Labels: { [LABEL]: RUN_ID },
      HostConfig: { NetworkMode: 'bosun', IpcMode: 'shareable' },
    });
    await pause.start();
    const app = await docker.createContainer({
      Image: BB,
      name: `${PREFIX}-floor${round}-${i}-web`,
      Cmd: ['httpd', '-f', '-p', '8080', '-h', '/www'],
      Labels: { [LABEL]: RUN_ID },
      HostConfig: { NetworkMode: `container:${pause.id}`, IpcMode: `container:${pause.id}`, PidMode: '' },
    });
    await app.start();
    ips[i] = (await pause.inspect()).NetworkSettings.Networks['bosun']?.IPAddress ?? '';
  }));
  const runMs = performance.now() - t0;
  // Ready, for the floor: the same GET the readiness probe makes answers 200.
  await Promise.all(ips.map((ip) => until(async () => (await fetch(`http://${ip}:8080/`, { signal: AbortSignal.timeout(1000) })).ok, `floor ${ip} answering`, 120_000, 100)));
  const readyMs = performance.now() - t0;
  const t1 = performance.now();
  await removeFloor();
  return { runMs, readyMs, teardownMs: performance.now() - t1 };
}

// ---------------------------------------------------------------- bosun

type Started = Timing & { teardown: () => Promise<number> };

async function bosun(agent: TestAgent, n: number, round: number): Promise<Started> {
  const mine = async () => (await docker.listContainers({ all: true, filters: { label: [`bosun.io/node-name=${agent.nodeName}`] } })).length;
  const prefix = `w${round}x${n}-`;
  const t0 = performance.now();
  writeFileSync(join(agent.manifests, 'bench.yaml'), Array.from({ length: n }, (_, i) => webPod(`${prefix}${i}`)).join('---\n'));
  let runMs = 0;
  await until(async () => {
    const pods = (await agent.pods()).filter((p) => p.metadata.name.startsWith(prefix));
    if (!runMs && pods.length === n && pods.every((p) => p.status?.phase === 'Running')) runMs = performance.now() - t0;
    return !!runMs && pods.every((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
  }, `bosun: ${n} pods Ready`, 600_000, 100);
  const readyMs = performance.now() - t0;
  const teardown = async () => {
    const t1 = performance.now();
    agent.remove('bench.yaml');
    await until(async () => (await mine()) === 0, 'bosun teardown', 600_000, 100);
    return performance.now() - t1;
  };
  return { runMs, readyMs, teardownMs: NaN, teardown };
}

// ---------------------------------------------------------------- podman kube play

async function podmanPods(): Promise<{ Name: string; Status: string; Id: string }[]> {
  return JSON.parse(await podman('pod', 'ps', '--filter', `label=${LABEL}=${RUN_ID}`, '--format', 'json') || '[]') as { Name: string; Status: string; Id: string }[];
}

async function podmanPlay(n: number, round: number): Promise<Timing & { file: string }> {
  const file = join(WORK, `podman-${round}-${n}.yaml`);
  writeFileSync(file, Array.from({ length: n }, (_, i) => webPod(`${PREFIX}-p${round}x${n}-${i}`, podmanLabels)).join('---\n'));
  const t0 = performance.now();
  await podman('kube', 'play', file);
  await until(async () => {
    const pods = await podmanPods();
    return pods.length === n && pods.every((p) => p.Status === 'Running');
  }, `podman: ${n} pods Running`, 600_000, 100);
  return { runMs: performance.now() - t0, readyMs: null, teardownMs: NaN, file };
}

async function podmanDown(file: string): Promise<number> {
  const t1 = performance.now();
  await podman('kube', 'down', file);
  await until(async () => (await podmanPods()).length === 0, 'podman teardown', 600_000, 100);
  return performance.now() - t1;
}

/** Pods of this suite (by label) and of interrupted earlier runs (by name prefix) only. */
async function podmanCleanup(all = false): Promise<void> {
  const pods = JSON.parse(await podman('pod', 'ps', '--format', 'json') || '[]') as { Name: string; Id: string; Created: string }[];
  // Another suite's pods are left alone unless they are older than 20 minutes (interrupted).
  const old = Date.now() - 20 * 60_000;
  const ours = pods.filter((p) => (all ? p.Name.startsWith('bosunbench-') && Date.parse(p.Created) < old : p.Name.startsWith(PREFIX)));
  if (ours.length) await podman('pod', 'rm', '-f', '-t', '0', ...ours.map((p) => p.Id)).catch(() => '');
}

// ---------------------------------------------------------------- idle cost

function cpuTicks(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

function rssKiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Proportional set size: shared pages (the same binary in 220 monitors) counted once overall. */
function pssKiB(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Pids whose command line mentions one of these container ids, among processes named `comm`. */
function monitorPids(comm: RegExp, ids: string[]): number[] {
  const want = new Set(ids);
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (!comm.test(readFileSync(`/proc/${d}/comm`, 'utf8').trim())) continue;
      const argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (argv.some((a) => want.has(a))) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

interface Idle { cpuCores: number; rssMiB: number; pssMiB: number; processes: number }

async function idle(pids: number[]): Promise<Idle> {
  const t0 = pids.reduce((a, p) => a + cpuTicks(p), 0);
  const s0 = performance.now();
  await sleep(IDLE_MS);
  const cpu = (pids.reduce((a, p) => a + cpuTicks(p), 0) - t0) / 100 / ((performance.now() - s0) / 1000);
  return { cpuCores: cpu, rssMiB: pids.reduce((a, p) => a + rssKiB(p), 0) / 1024, pssMiB: pids.reduce((a, p) => a + pssKiB(p), 0) / 1024, processes: pids.length };
}

// ---------------------------------------------------------------- restart reaction

interface DockerEvent { Action: string; Type: string; id?: string; Actor: { ID: string; Attributes: Record<string, string> }; timeNano: number }

async function dockerEvents(sinceS: number, label: string): Promise<DockerEvent[]> {
  const until = Math.ceil(Date.now() / 1000);
  const stream = await docker.getEvents({ since: sinceS, until, filters: { type: ['container'], label: [label] } }) as unknown as NodeJS.ReadableStream;
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as DockerEvent);
}

/** From each group's first `die` to the next `start` in the same group (ms). */
function reactions(events: { key: string; action: string; t: number }[]): number[] {
  const out: number[] = [];
  const groups = new Map<string, { action: string; t: number }[]>();
  for (const e of events) groups.set(e.key, [...(groups.get(e.key) ?? []), e]);
  for (const evs of groups.values()) {
    evs.sort((a, b) => a.t - b.t);
    const die = evs.findIndex((e) => e.action === 'die' || e.action === 'died');
    const start = die < 0 ? -1 : evs.findIndex((e, i) => i > die && e.action === 'start');
    if (start > 0) out.push(evs[start]!.t - evs[die]!.t);
  }
  return out;
}

async function restartFloor(): Promise<number[]> {
  const since = Math.floor(Date.now() / 1000) - 1;
  const label = `${LABEL}=${RUN_ID}`;
  await Promise.all(Array.from({ length: RESTART_PODS }, async (_, i) => {
    const c = await docker.createContainer({
      Image: BB, name: `${PREFIX}-crash-${i}`, Cmd: ['sh', '-c', 'sleep 3; exit 1'],
      Labels: { [LABEL]: RUN_ID }, HostConfig: { NetworkMode: 'none', RestartPolicy: { Name: 'always' } },
    });
    await c.start();
  }));
  await until(async () => (await Promise.all((await floorContainers()).map((id) => docker.getContainer(id).inspect()))).every((c) => c.RestartCount >= 1), 'floor restarts', 60_000, 200);
  await sleep(500);
  const evs = await dockerEvents(since, label);
  await removeFloor();
  return reactions(evs.map((e) => ({ key: e.Actor.ID, action: e.Action, t: e.timeNano / 1e6 })));
}

async function restartBosun(agent: TestAgent): Promise<{ toStart: number[]; toCreate: number[] }> {
  const since = Math.floor(Date.now() / 1000) - 1;
  writeFileSync(join(agent.manifests, 'crash.yaml'), Array.from({ length: RESTART_PODS }, (_, i) => crashPod(`crash-${i}`)).join('---\n'));
  await until(async () => {
    const pods = (await agent.pods()).filter((p) => p.metadata.name.startsWith('crash-'));
    return pods.length === RESTART_PODS && pods.every((p) => (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 && p.status?.containerStatuses?.[0]?.state?.running);
  }, 'bosun restarts', 60_000, 200);
  await sleep(500);
  const evs = (await dockerEvents(since, `bosun.io/node-name=${agent.nodeName}`))
    .filter((e) => e.Actor.Attributes['io.kubernetes.container.name'] === 'crash')
    .map((e) => ({ key: e.Actor.Attributes['io.kubernetes.pod.name'] ?? '', action: e.Action, t: e.timeNano / 1e6 }));
  agent.remove('crash.yaml');
  await until(async () => (await docker.listContainers({ all: true, filters: { label: [`bosun.io/node-name=${agent.nodeName}`] } })).length === 0, 'bosun crash teardown', 120_000, 200);
  // bosun makes a new container for a restart, as kubelet: the exit, then the new one's create and start.
  return { toStart: reactions(evs), toCreate: reactions(evs.map((e) => ({ ...e, action: e.action === 'create' ? 'start' : e.action === 'start' ? 'started' : e.action }))) };
}

async function restartPodman(): Promise<number[]> {
  const file = join(WORK, 'podman-crash.yaml');
  writeFileSync(file, Array.from({ length: RESTART_PODS }, (_, i) => crashPod(`${PREFIX}-crash-${i}`, podmanLabels)).join('---\n'));
  const since = new Date(Date.now() - 1000).toISOString();
  await podman('kube', 'play', file);
  const names = Array.from({ length: RESTART_PODS }, (_, i) => `${PREFIX}-crash-${i}-crash`);
  await until(async () => {
    const st = JSON.parse(await podman('inspect', '--format', 'json', ...names)) as { RestartCount: number }[];
    return st.every((c) => c.RestartCount >= 1);
  }, 'podman restarts', 60_000, 200);
  await sleep(500);
  const out = await podman('events', '--stream=false', '--since', since, '--format', 'json', ...names.flatMap((n) => ['--filter', `container=${n}`]));
  const evs = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { Name: string; Status: string; Time: string })
    .filter((e) => names.includes(e.Name));
  await podmanDown(file);
  // Time keeps nanoseconds: "2026-11-22T06:28:25.16090322Z".
  const ms = (t: string) => {
    const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-].*)$/.exec(t);
    return m ? Date.parse(m[1]! + m[3]!) + Number(`0.${m[2] ?? '0'}`) * 1000 : Date.parse(t);
  };
  return reactions(evs.map((e) => ({ key: e.Name, action: e.Status, t: ms(e.Time) })));
}

// ---------------------------------------------------------------- the machine

async function machine(): Promise<Record<string, string | number>> {
  const v = async (cmd: string, args: string[]) => (await run(cmd, args).then((r) => r.stdout.trim()).catch(() => 'n/a'));
  return {
    date: new Date().toISOString(),
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    os: /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'unknown',
    docker: await v('docker', ['version', '--format', '{{.Server.Version}} (API {{.Server.APIVersion}})']),
    podman: await v('podman', ['--version']),
    node: process.version,
  };
}

// ---------------------------------------------------------------- setup

/**
 * Some VMs boot with cgroup v1 controllers the kernel has (hierarchy 0 in /proc/cgroups) left
 * unmounted over an empty directory of the read-only /sys/fs/cgroup tmpfs. podman's cgroupfs
 * manager then fails on `mkdir /sys/fs/cgroup/net_cls/libpod_parent` (read-only file system).
 * Mounting them where the directory already waits is what systemd does at boot; nothing that
 * runs today uses these controllers, so the engines are unaffected.
 */
function mountIdleCgroupControllers(): void {
  const unmounted = new Set(readFileSync('/proc/cgroups', 'utf8').split('\n')
    .map((l) => l.split('\t')).filter((f) => f[1] === '0' && f[3] === '1').map((f) => f[0]));
  for (const dir of readdirSync('/sys/fs/cgroup')) {
    const path = `/sys/fs/cgroup/${dir}`;
    if (!dir.split(',').every((c) => unmounted.has(c)) || lstatSync(path).isSymbolicLink() || readdirSync(path).length > 0) continue;
    log(`mounting the cgroup v1 controller(s) ${dir} at ${path} (left unmounted by this VM's boot; podman needs them)`);
    execFileSync('mount', ['-t', 'cgroup', '-o', dir, 'cgroup', path]);
  }
}

async function setupPodman(): Promise<void> {
  // The benchmark installs what it compares against, as the tests do.
  if (!(await run('podman', ['--version']).then(() => true).catch(() => false))) {
    log('installing podman with apt-get (Debian\'s package)');
    await run('sh', ['-c', 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends podman'], { maxBuffer: 64 << 20 });
  }
  // Debian's podman needs these ulimits here (the hard limits cannot be raised; podman clamps
  // nproc to pid_max). Written only when missing, never over an existing file.
  const sys = '/etc/containers/containers.conf';
  if (!existsSync(sys)) {
    mkdirSync('/etc/containers', { recursive: true });
    writeFileSync(sys, '[containers]\ndefault_ulimits = ["nofile=20000:20000","nproc=32768:32768"]\n');
  }
  mountIdleCgroupControllers();
  writeFileSync(PODMAN_CONF, `[containers]\ndefault_ulimits = ["nofile=20000:20000","nproc=32768:32768"]\n[engine]\ninfra_image = "${PAUSE}"\n`);
  const have = await podman('images', '--format', '{{.Repository}}:{{.Tag}}');
  if (!have.includes(BB) || !have.includes(PAUSE)) {
    log('loading the two local images into podman storage');
    await run('sh', ['-c', `docker save ${BB} ${PAUSE} | podman load`], { env: podmanEnv });
  }
}

// ---------------------------------------------------------------- reports

type Row = { n: number; rounds: number; floor: Timing; bosun: Timing; podman: Timing };

interface Results {
  machine: Record<string, string | number>;
  settings: Record<string, string | number>;
  startup: Row[];
  idle110: { bosunAgent: Idle; bosunDockerShims: Idle; podmanConmon: Idle } | null;
  restart: { floorDockerRestartPolicy: number[]; bosun: number[]; bosunToCreate: number[]; podman: number[] };
  ratios: { label: string; group: string; value: number }[];
  notes: string[];
}

const s = (ms: number | null | undefined) => (ms === null || ms === undefined || Number.isNaN(ms) ? 'n/a' : `${(ms / 1000).toFixed(2)} s`);
const x = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}x` : 'n/a');

function markdown(r: Results): string {
  const m = r.machine;
  const lines = [
    `# bosun benchmark suite: ${String(m.date).slice(0, 10)}`,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, kernel ${m.kernel}, ${m.os}; Docker ${m.docker}; ${m.podman}; Node ${m.node}. Shared machine: other work ran beside it.`,
    '',
    `Same manifests on all three: busybox httpd pods (\`${BB}\`) with an httpGet readinessProbe (periodSeconds ${PERIOD}), sandbox \`${PAUSE}\`, terminationGracePeriodSeconds 0. Median of ${ROUNDS} rounds (${BIG_ROUNDS} for 110 pods).`,
    '',
    '| pods | floor Running / Ready | bosun Running / Ready | podman Running / Ready | bosun/floor Running, Ready | bosun/podman Running | teardown floor / bosun / podman |',
    '|---|---|---|---|---|---|---|',
    ...r.startup.map((row) => `| ${row.n} | ${s(row.floor.runMs)} / ${s(row.floor.readyMs)} | ${s(row.bosun.runMs)} / ${s(row.bosun.readyMs)} | ${s(row.podman.runMs)} / n/a | ${x(row.bosun.runMs / row.floor.runMs)}, ${x(row.bosun.readyMs! / row.floor.readyMs!)} | ${x(row.bosun.runMs / row.podman.runMs)} | ${s(row.floor.teardownMs)} / ${s(row.bosun.teardownMs)} / ${s(row.podman.teardownMs)} |`),
    '',
  ];
  if (r.idle110) {
    const i = r.idle110;
    lines.push(`Idle with 110 pods (${IDLE_MS / 1000} s window):`, '', '| | CPU (cores) | RSS, summed (MiB) | PSS, summed (MiB) | processes |', '|---|---|---|---|---|',
      `| bosun agent (/proc/<pid>; 110 readiness probes every ${PERIOD} s) | ${i.bosunAgent.cpuCores.toFixed(3)} | ${i.bosunAgent.rssMiB.toFixed(0)} | ${i.bosunAgent.pssMiB.toFixed(0)} | 1 |`,
      `| Docker's containerd-shims of bosun's 220 containers (for comparison with conmon) | ${i.bosunDockerShims.cpuCores.toFixed(3)} | ${i.bosunDockerShims.rssMiB.toFixed(0)} | ${i.bosunDockerShims.pssMiB.toFixed(0)} | ${i.bosunDockerShims.processes} |`,
      `| podman: no daemon; conmon processes of its 220 containers (its resident cost) | ${i.podmanConmon.cpuCores.toFixed(3)} | ${i.podmanConmon.rssMiB.toFixed(0)} | ${i.podmanConmon.pssMiB.toFixed(0)} | ${i.podmanConmon.processes} |`, '');
  }
  const rs = r.restart;
  lines.push(`Reaction from a container's exit to its restart starting (engine events: \`die\` -> next \`start\`; ${RESTART_PODS} pods, \`sh -c "sleep 3; exit 1"\`, restartPolicy Always; median, all samples in ms):`, '',
    '| | median | samples (ms) |', '|---|---|---|',
    `| floor: Docker restart policy \`always\` | ${s(median(rs.floorDockerRestartPolicy))} | ${rs.floorDockerRestartPolicy.map((v) => v.toFixed(0)).join(', ')} |`,
    `| bosun (new container, first restart without back-off; exit -> create: ${s(median(rs.bosunToCreate))}) | ${s(median(rs.bosun))} | ${rs.bosun.map((v) => v.toFixed(0)).join(', ')} |`,
    `| podman kube play (restart policy \`always\`, in conmon/podman) | ${s(median(rs.podman))} | ${rs.podman.map((v) => v.toFixed(0)).join(', ')} |`, '',
    'Ratios (lower is better for bosun):', '', '| | ratio |', '|---|---|', ...r.ratios.map((q) => `| ${q.group}: ${q.label} | ${x(q.value)} |`), '',
    'Notes:', '', ...r.notes.map((n) => `- ${n}`), '');
  return lines.join('\n');
}

function svg(r: Results): string {
  const bars = r.ratios.filter((q) => Number.isFinite(q.value));
  const W = 760, left = 300, barH = 16, gap = 6, top = 48;
  const max = Math.max(2, ...bars.map((b) => b.value));
  const scale = (W - left - 70) / max;
  const H = top + bars.length * (barH + gap) + 40;
  const color: Record<string, string> = { 'bosun/floor': '#4c78a8', 'bosun/podman': '#f58518' };
  const esc = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${esc(`bosun benchmark suite ${String(r.machine.date).slice(0, 10)}: ratios (1.0 = as fast as the peer; lower is better)`)}</text>`,
    `<rect x="10" y="30" width="12" height="10" fill="${color['bosun/floor']}"/><text x="26" y="39">bosun / Docker API floor</text>`,
    `<rect x="200" y="30" width="12" height="10" fill="${color['bosun/podman']}"/><text x="216" y="39">bosun / podman kube play</text>`,
  ];
  bars.forEach((b, i) => {
    const y = top + i * (barH + gap);
    out.push(`<text x="${left - 6}" y="${y + 12}" text-anchor="end">${esc(b.label)}</text>`,
      `<rect x="${left}" y="${y}" width="${Math.max(1, b.value * scale).toFixed(1)}" height="${barH}" fill="${color[b.group] ?? '#888'}"/>`,
      `<text x="${(left + b.value * scale + 4).toFixed(1)}" y="${y + 12}">${b.value.toFixed(2)}x</text>`);
  });
  const one = left + scale;
  out.push(`<line x1="${one}" y1="${top - 4}" x2="${one}" y2="${H - 30}" stroke="#000" stroke-dasharray="4 3"/>`,
    `<text x="${one}" y="${H - 16}" text-anchor="middle">1.0</text>`, '</svg>', '');
  return out.join('\n');
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const began = performance.now();
  await docker.ping();
  await removeTestContainers();
  if (PODMAN) {
    await setupPodman();
    await podmanCleanup(true);
  }
  const mach = await machine();
  log(`run ${RUN_ID} on ${mach.cpu} x${mach.cores}; sizes ${SIZES.join(',')}`);
  const agent = new TestAgent();
  mkdirSync(agent.manifests, { recursive: true });
  await agent.start(['--file-check-frequency', '20s']);
  const rows: Row[] = [];
  let idle110: Results['idle110'] = null;
  let restart: Results['restart'] = { floorDockerRestartPolicy: [], bosun: [], bosunToCreate: [], podman: [] };
  try {
    for (const n of SIZES) {
      const rounds = n >= 100 ? BIG_ROUNDS : ROUNDS;
      const f: Timing[] = [], b: Timing[] = [], p: Timing[] = [];
      for (let r = 0; r < rounds; r++) {
        // Rotate the order so that no side always runs on a warmer (or busier) engine.
        const order = [0, 1, 2].map((k) => (k + r) % 3).filter((who) => PODMAN || who !== 2);
        for (const who of order) {
          if (who === 0) {
            f.push(await floor(n, r));
          } else if (who === 1) {
            const t = await bosun(agent, n, r);
            if (n >= 100 && !idle110) {
              const pod = await agent.pods();
              const ids = (await docker.listContainers({ filters: { label: [`bosun.io/node-name=${agent.nodeName}`] } })).map((c) => c.Id);
              log(`idle: bosun with ${pod.length} pods (${ids.length} containers)`);
              const [agentIdle, shims] = await Promise.all([idle([agent.pid!]), idle(monitorPids(/^containerd-shim/, ids))]);
              idle110 = { bosunAgent: agentIdle, bosunDockerShims: shims, podmanConmon: { cpuCores: NaN, rssMiB: NaN, pssMiB: NaN, processes: 0 } };
            }
            t.teardownMs = await t.teardown();
            b.push({ runMs: t.runMs, readyMs: t.readyMs, teardownMs: t.teardownMs });
          } else {
            const t = await podmanPlay(n, r);
            if (n >= 100 && idle110 && !idle110.podmanConmon.processes) {
              const ids = (await podman('ps', '-a', '--no-trunc', '--pod', '--format', '{{.ID}} {{.PodName}}')).split('\n')
                .map((l) => l.split(' ')).filter(([, pod]) => pod?.startsWith(PREFIX)).map(([id]) => id!);
              log(`idle: podman with ${n} pods (${ids.length} containers)`);
              idle110.podmanConmon = await idle(monitorPids(/^conmon$/, ids));
            }
            t.teardownMs = await podmanDown(t.file);
            p.push({ runMs: t.runMs, readyMs: null, teardownMs: t.teardownMs });
          }
          log(`n=${n} round ${r}: ${['floor', 'bosun', 'podman'][who]} ${JSON.stringify([f, b, p][who]!.at(-1))}`);
        }
      }
      const med = (ts: Timing[]): Timing => ({ runMs: median(ts.map((t) => t.runMs)), readyMs: ts[0]?.readyMs === null ? null : median(ts.map((t) => t.readyMs!)), teardownMs: median(ts.map((t) => t.teardownMs)) });
      rows.push({ n, rounds, floor: med(f), bosun: med(b), podman: med(p) });
    }
    log('restart reaction');
    const floorR = await restartFloor();
    const bosunR = await restartBosun(agent);
    const podmanR = PODMAN ? await restartPodman() : [];
    restart = { floorDockerRestartPolicy: floorR, bosun: bosunR.toStart, bosunToCreate: bosunR.toCreate, podman: podmanR };
  } finally {
    await agent.destroy().catch(() => undefined);
    await removeFloor().catch(() => undefined);
    if (PODMAN) await podmanCleanup().catch(() => undefined);
    rmSync(WORK, { recursive: true, force: true });
  }
  const ratios: Results['ratios'] = [];
  for (const r of rows) {
    ratios.push({ group: 'bosun/floor', label: `${r.n} pods: to Running`, value: r.bosun.runMs / r.floor.runMs });
    ratios.push({ group: 'bosun/floor', label: `${r.n} pods: to Ready`, value: r.bosun.readyMs! / r.floor.readyMs! });
    ratios.push({ group: 'bosun/podman', label: `${r.n} pods: to Running`, value: r.bosun.runMs / r.podman.runMs });
  }
  for (const r of rows) {
    ratios.push({ group: 'bosun/floor', label: `${r.n} pods: teardown`, value: r.bosun.teardownMs / r.floor.teardownMs });
    ratios.push({ group: 'bosun/podman', label: `${r.n} pods: teardown`, value: r.bosun.teardownMs / r.podman.teardownMs });
  }
  ratios.push({ group: 'bosun/floor', label: 'exit -> restart start', value: median(restart.bosun) / median(restart.floorDockerRestartPolicy) });
  ratios.push({ group: 'bosun/podman', label: 'exit -> restart start', value: median(restart.bosun) / median(restart.podman) });
  const i = idle110 as Results['idle110'];
  if (i && i.podmanConmon.processes) {
    ratios.push({ group: 'bosun/podman', label: 'idle 110: agent RSS / conmons RSS', value: i.bosunAgent.rssMiB / i.podmanConmon.rssMiB });
    ratios.push({ group: 'bosun/podman', label: 'idle 110: agent+shims PSS / conmons PSS', value: (i.bosunAgent.pssMiB + i.bosunDockerShims.pssMiB) / i.podmanConmon.pssMiB });
  }
  const results: Results = {
    machine: mach,
    settings: { sizes: SIZES.join(','), rounds: ROUNDS, roundsFor110: BIG_ROUNDS, idleWindowS: IDLE_MS / 1000, readinessPeriodS: PERIOD, restartPods: RESTART_PODS, durationS: Math.round((performance.now() - began) / 1000) },
    startup: rows,
    idle110: i,
    restart,
    ratios,
    notes: [
      'podman kube play ignores readinessProbe (it has no readiness): its Ready column is n/a, and only Running is compared with it.',
      'podman has no daemon: its idle cost is the conmon processes (one per container, infra included), labelled as such (summed RSS counts the shared conmon binary once per process: PSS is the fairer sum); bosun\'s figure is the agent process alone, with Docker\'s per-container containerd-shims given beside it for the like-for-like comparison (dockerd and containerd themselves are not counted).',
      `Floor: the same pause + httpd containers created straight through the Docker API (no probes); its Ready is the time until the same GET the readiness probe makes answers 200 (polled every 100 ms). bosun\'s Ready depends on the probe period (${PERIOD} s): a probe that runs before httpd listens waits one period.`,
      `podman ${String(mach.podman).replace('podman version ', '')} has no \`kube play --infra-image\`: the infra image is set with infra_image in a containers.conf of the suite's own (CONTAINERS_CONF). Images were loaded with \`docker save | podman load\`; no pull (imagePullPolicy IfNotPresent). Default network (netavark bridge).`,
      `Rounds: median of ${ROUNDS} for 1, 10, 30 pods and of ${BIG_ROUNDS} for 110 pods (the idle window is taken once, in the first round), to keep the suite within ~15 minutes on this machine; the order of the three sides rotates each round.`,
      'Restart: bosun replaces the exited container with a new one (as kubelet); Docker and podman restart the same container in place. bosun\'s first restart has no back-off, as kubelet\'s.',
    ],
  };
  const md = markdown(results);
  // A partial run (no podman) prints its table and leaves the recorded results alone.
  if (!PODMAN) {
    process.stdout.write(md + '\n' + JSON.stringify({ startup: rows, idle110: i }) + '\n');
    return;
  }
  mkdirSync(OUT_DIR, { recursive: true });
  const stamp = String(mach.date).slice(0, 10);
  writeFileSync(join(OUT_DIR, `suite-${stamp}.json`), JSON.stringify(results, null, 2) + '\n');
  writeFileSync(join(OUT_DIR, `suite-${stamp}.md`), md);
  writeFileSync(join(OUT_DIR, 'latest.json'), JSON.stringify(results, null, 2) + '\n');
  writeFileSync(join(OUT_DIR, 'latest.md'), md);
  writeFileSync(join(OUT_DIR, 'latest.svg'), svg(results));
  process.stdout.write(md);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
