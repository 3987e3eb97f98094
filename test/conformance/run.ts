import { execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { TestAgent, removeTestContainers } from '../support/agent.js';
import { TestCluster, until } from '../support/cluster.js';
import { TestRegistry, imageNamesOf, removeImageNames } from '../support/registry.js';
import { KNOWN_REASONS } from './known.js';
import {
  type PartResults, type SpecResult, applyKnownReasons, mergeParts, parseGinkgoReport, parseListTests, parseResultsTable, partDate, partHeader, renderMerged, renderResults, selectSpecs, summarize,
} from './results.js';

// Upstream's Kubernetes e2e suite (e2e.test of the control plane's release, unmodified) against
// a cluster whose only node is a bosun agent: the control plane of test/cluster (TestCluster),
// a TestAgent joined with a node credential, and the suite's images built here
// (scripts/conformance/images.sh) and served by a test registry on 127.0.0.1 that the suite is
// pointed at with KUBE_TEST_REPO_LIST. Everything it starts is stopped and removed at the end:
// the agent and its containers, the control plane, the registry, the images pulled from it in
// both engines, the mounts and the files.
//
//   node dist/test/conformance/run.js [--focus RE] [--skip RE] [--procs N] [--results FILE]
//   node dist/test/conformance/run.js --part NAME --focus RE [--skip RE] [--procs N]
//   node dist/test/conformance/run.js --merge
//
// `npm run conformance` runs the whole [NodeConformance] focus and writes
// test/conformance/RESULTS.md; test/conformance/subset.test.ts runs a small named subset.
// On a slow machine the focus runs in parts (--part: an area, e.g. 'EmptyDir|Downward API'),
// each kept in test/conformance/parts/NAME.md as soon as it ends, and RESULTS.md is made
// from all parts (--merge, also done after each part): every spec of the focus with the
// latest part's result that ran it, or "not run".

const execFileP = promisify(execFile);

export const NODE_CONFORMANCE = '\\[NodeConformance\\]';
export const CI_SKIP = '\\[Serial\\]|\\[Disruptive\\]|\\[Flaky\\]';

export interface ConformanceOptions {
  focus: string;
  skip: string;
  procs: number;
  /** Where RESULTS.md goes; none: not written. */
  resultsFile?: string;
  /** Suite timeout (ginkgo --timeout). */
  timeout: string;
  log?: (line: string) => void;
}

export interface ConformanceRun {
  specs: SpecResult[];
  passed: number;
  failed: number;
  skipped: number;
  line: string;
  /** The suite's output, for a failing test to show. */
  output: string;
}

function kv(stdout: string, key: string): string {
  const v = new RegExp(`^${key}=(.*)$`, 'm').exec(stdout)?.[1];
  if (!v) throw new Error(`no ${key}= in:\n${stdout}`);
  return v;
}

/** KUBE_TEST_REPO_LIST: every registry the suite knows, on the test registry; none left pointing off this machine. */
export function repoList(addr: string): string {
  return [
    `promoterE2eRegistry: ${addr}/e2e-test-images`,
    `buildImageRegistry: ${addr}/build-image`,
    `gcEtcdRegistry: ${addr}`,
    `gcRegistry: ${addr}`,
    `sigStorageRegistry: ${addr}/sig-storage`,
    `dockerLibraryRegistry: ${addr}/library`,
    `cloudProviderGcpRegistry: ${addr}/cloud-provider-gcp`,
    // No spec of this release pulls from it: the private-registry pull specs run their own
    // registry (agnhost fake-registry-server --private, host network, localhost:5000) and
    // create its pull secret themselves.
    `privateRegistry: ${addr}/k8s-authenticated-test`,
    // Meant not to exist: a port on 127.0.0.1 nobody listens on (port 9, discard) fails the
    // pull as the unresolvable name does, without a DNS query leaving the machine.
    'invalidRegistry: 127.0.0.1:9/invalid',
    '',
  ].join('\n');
}

export async function runConformance(o: ConformanceOptions): Promise<ConformanceRun> {
  const say = o.log ?? ((l: string) => console.log(`conformance: ${l}`));
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'bosun-conformance-'));
  const id = Math.random().toString(36).slice(2, 8);
  const registry = new TestRegistry(`conformance-${id}`);
  const cluster = new TestCluster();
  // Not the test agents' prefix: other runs' leftover clean-up removes those after 10 minutes.
  const agent = new TestAgent('bosun-conformance-');
  let output = '';
  let keepalive: NodeJS.Timeout | undefined;
  const registryDir = process.env.BOSUN_REGISTRY_DIR ?? '/var/lib/bosun-registry';
  try {
    say('building e2e.test, ginkgo and agnhost when missing (scripts/cluster/build-e2e.sh)');
    const bin = kv((await execFileP('bash', [resolve('scripts/cluster/build-e2e.sh')], { maxBuffer: 16 << 20, timeout: 3 * 3600_000 })).stdout, 'E2E_BIN');
    const version = /^v\d+\.\d+\.\d+/.exec(bin.split('/').pop()!.replace(/^e2e-/, ''))?.[0] ?? '?';

    say('building the test images (scripts/conformance/images.sh)');
    const images = (await execFileP('bash', [resolve('scripts/conformance/images.sh'), bin], { maxBuffer: 16 << 20, timeout: 1800_000 })).stdout
      .trim().split('\n').map((l) => l.split(' ') as [string, string]);
    const addr = await registry.start();
    for (const [target, local] of images) await registry.push(local, target);
    writeFileSync(join(work, 'repo-list.yaml'), repoList(addr));
    say(`registry ${addr}: ${images.map(([t]) => t).join(', ')}`);

    say('starting the control plane and the bosun node');
    await cluster.up();
    // Other test runs on this machine take a cluster directory or registry untouched for 10
    // or 60 minutes for the leftover of an interrupted run and stop it; this run is longer.
    keepalive = setInterval(() => {
      const now = new Date();
      for (const f of [cluster.dir, join(registryDir, registry.name, 'config.yml')]) {
        try {
          utimesSync(f, now, now);
        } catch {
          // gone: the run fails on its own
        }
      }
    }, 60_000);
    // A loaded machine (shared cores, a cold start of the agent): a generous wait.
    await agent.start(await cluster.nodeFlags(agent.nodeName), 180_000);
    await until(async () => (await cluster.kubectl(['get', 'node', agent.nodeName])).code === 0, 'the Node registered', 180_000, () => agent.log().split('\n').slice(-20).join('\n'));
    await cluster.k(['wait', '--for=condition=Ready', `node/${agent.nodeName}`, '--timeout=180s'], { timeoutMs: 190_000 });

    say(`running e2e.test ${version}: focus ${o.focus}, skip ${o.skip}, ${o.procs} process(es)`);
    const report = join(work, 'report.json');
    const args = [
      `--procs=${o.procs}`, `--timeout=${o.timeout}`, `--focus=${o.focus}`, `--skip=${o.skip}`,
      `--output-dir=${work}`, '--json-report=report.json', '--no-color', '--silence-skips', '--poll-progress-after=10m',
      join(bin, 'e2e.test'), '--',
      '--provider=skeleton', `--kubeconfig=${cluster.kubeconfig}`, `--kubectl-path=${join(cluster.k8sBin, 'kubectl')}`,
      // The suite's namespaces and its reports stay within this run.
      // No --docker-config-file: in this release it would replace the credentials of the
      // registry the private-pull spec starts itself (runtime.go), and that spec would fail.
      `--report-dir=${work}`, '--dump-logs-on-failure=false', '--node-schedulable-timeout=2m',
    ];
    output = await new Promise<string>((res, rej) => {
      let buf = '';
      const p = spawn(join(bin, 'ginkgo'), args, { env: { ...process.env, KUBE_TEST_REPO_LIST: join(work, 'repo-list.yaml') }, stdio: ['ignore', 'pipe', 'pipe'] });
      const take = (d: Buffer) => {
        buf += d.toString();
        if (process.env.BOSUN_CONFORMANCE_VERBOSE) process.stdout.write(d);
      };
      p.stdout.on('data', take);
      p.stderr.on('data', take);
      p.on('error', rej);
      // ginkgo exits non-zero when a spec failed: the report says which.
      p.on('close', () => res(buf));
    });
    writeFileSync(join(work, 'e2e.log'), output);
    if (!existsSync(report)) throw new Error(`e2e.test wrote no report; its output ends:\n${output.slice(-4000)}`);

    const focus = new RegExp(o.focus);
    const skip = new RegExp(o.skip);
    const specs = applyKnownReasons(selectSpecs(parseGinkgoReport(readFileSync(report, 'utf8')), focus, { pattern: skip, reason: `not run: matches the skip pattern ${o.skip}` }), KNOWN_REASONS);
    const sum = summarize(specs);
    if (o.resultsFile) {
      writeFileSync(o.resultsFile, renderResults(specs, {
        date: new Date(started).toISOString().slice(0, 16).replace('T', ' ') + ' UTC', version, runtime: 'docker', focus: o.focus, skip: o.skip,
        procs: o.procs, minutes: Math.round((Date.now() - started) / 60_000),
      }));
    }
    return { specs, ...sum, output };
  } finally {
    clearInterval(keepalive);
    say('cleaning up');
    await cleanUp(cluster, agent, [registry], work).catch((e: unknown) => say(`clean-up: ${String(e)}`));
  }
}

async function cleanUp(cluster: TestCluster, agent: TestAgent, registries: TestRegistry[], work: string): Promise<void> {
  try {
    await agent.kill9();
    await removeTestContainers(agent.nodeName);
    // Secret, token, downward-API and emptyDir (medium Memory) volumes are mounts under the agent's dir.
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4])
      .filter((m): m is string => !!m && m.startsWith(agent.dir + '/')).sort().reverse();
    for (const m of mounts) await execFileP('umount', ['-l', m]).catch(() => undefined);
    // The agent's log outlives its directory: a failure is diagnosed after the run.
    if (process.env.BOSUN_KEEP_TEST_DIR && existsSync(agent.logFile)) copyFileSync(agent.logFile, join(work, 'agent.log'));
    await agent.destroy();
  } finally {
    await cluster.down();
    for (const registry of registries) {
      if (registry.addr) await removeImageNames(await imageNamesOf(registry.addr));
      await registry.stop();
    }
    if (process.env.BOSUN_KEEP_TEST_DIR) console.log(`conformance: kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

const PARTS_DIR = 'test/conformance/parts';

/** RESULTS.md from every part in PARTS_DIR, over the whole [NodeConformance] focus that e2e.test lists. */
export async function mergeResults(resultsFile: string): Promise<string> {
  const bin = kv((await execFileP('bash', [resolve('scripts/cluster/build-e2e.sh')], { maxBuffer: 16 << 20, timeout: 3 * 3600_000 })).stdout, 'E2E_BIN');
  const listed = (await execFileP(join(bin, 'e2e.test'), ['--list-tests'], { maxBuffer: 64 << 20 })).stdout;
  const names = parseListTests(listed, new RegExp(NODE_CONFORMANCE));
  const files = existsSync(PARTS_DIR) ? readdirSync(PARTS_DIR).filter((f) => f.endsWith('.md')).sort() : [];
  const parts: (PartResults & { header: string })[] = files.map((f) => {
    const md = readFileSync(join(PARTS_DIR, f), 'utf8');
    return { name: f.replace(/\.md$/, ''), date: partDate(md), specs: parseResultsTable(md), header: partHeader(md) };
  });
  const skip = new RegExp(CI_SKIP);
  const specs = applyKnownReasons(mergeParts(names, parts, (n) => (skip.test(n)
    ? `not run: matches ${CI_SKIP} (left out of every part)`
    : 'not run: no part of the suite that ran so far included it (time)')), KNOWN_REASONS);
  const intro = [
    `Upstream's e2e suite (k8s.io/kubernetes ${bin.split('/').pop()!.replace(/^e2e-/, '')} test/e2e, unmodified) against a cluster whose only node is bosun,`,
    `focus \`${NODE_CONFORMANCE}\` (${names.length} specs), run in parts by \`node dist/test/conformance/run.js --part NAME --focus RE\``,
    `(test/conformance/run.ts; each part's own table is in test/conformance/parts/NAME.md) and merged here: each spec`,
    'has the result of the latest part that ran it. Parts (result; runtime, date, duration, processes, focus, skip):',
  ].join('\n');
  const md = renderMerged(specs, parts, intro);
  writeFileSync(resultsFile, md);
  return summarize(specs).line;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve('dist/test/conformance/run.js')) {
  const part = arg('--part', '');
  if (part && !/^[a-z0-9-]+$/.test(part)) {
    console.error('--part: a name of lowercase letters, digits and dashes');
    process.exit(2);
  }
  if (process.argv.includes('--merge')) {
    mergeResults(arg('--results', 'test/conformance/RESULTS.md')).then((line) => console.log(line), (e: unknown) => {
      console.error(e instanceof Error ? e.stack : e);
      process.exit(1);
    });
  } else {
    main(part);
  }
}

function main(part: string): void {
  const procs = Number(arg('--procs', '2'));
  if (!Number.isInteger(procs) || procs < 1 || procs > 4) {
    console.error('--procs: a number from 1 to 4');
    process.exit(2);
  }
  runConformance({
    focus: arg('--focus', NODE_CONFORMANCE),
    skip: arg('--skip', CI_SKIP),
    procs,
    timeout: arg('--timeout', '3h'),
    resultsFile: part ? (mkdirSync(PARTS_DIR, { recursive: true }), join(PARTS_DIR, `${part}.md`)) : arg('--results', 'test/conformance/RESULTS.md'),
  }).then(async (r) => {
    for (const s of r.specs.filter((x) => x.outcome === 'failed')) console.log(`FAILED ${s.name}: ${s.reason}`);
    console.log(r.line);
    if (part) console.log(`merged into test/conformance/RESULTS.md: ${await mergeResults('test/conformance/RESULTS.md')}`);
    process.exit(r.failed > 0 ? 1 : 0);
  }, (e: unknown) => {
    console.error(e instanceof Error ? e.stack : e);
    process.exit(1);
  });
}
