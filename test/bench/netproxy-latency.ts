// Endpoint change -> rule programmed, through the API watch (issue 16: "endpoints follow
// scaling and readiness within 2 s", bosun's share). A test API server (test/support/
// apiserver, in a child process of its own, so that its work is not counted here) holds N
// Services with one EndpointSlice each. This process runs bosun's path from the watch to the
// kernel: the agent's Reflector (list + watch) for Services and EndpointSlices, the model as
// ServiceProxy.rebuild builds it (assignClusterIPs + buildProxyState), and the Proxier on its
// own timers (minSyncPeriod 1 s, syncPeriod 30 s, kube-proxy's defaults) into a bench nft
// table or iptables-legacy. Each change replaces one endpoint of one Service's slice (a
// scale-up / readiness flip); the next comes 0.2-2.5 s later. Beside the changes, the model is
// rebuilt every NOISE ms with nothing changed, as the agent does on every pod or object event
// of its other sources.
//
// Per change: API write -> watch event in this process -> model built and Proxier.update ->
// the sync that carries it starts -> the kernel accepted it. p50/p90 of each, and this
// process's CPU time. Two variants, A/B in one run: `rebuild all` (every rebuild parses every
// object again: new objects, so every rebuild is a sync) and `cached` (the model keeps
// unchanged objects, the Proxier ignores a rebuild that changed nothing): the second is what
// the agent does. Asserts nothing. No traffic is sent; the addresses are never used.
//
//   npm run bench:netproxy-latency
//   NETPROXY_LAT_SIZES=1000,10000 NETPROXY_LAT_MODES=nftables NETPROXY_LAT_CHANGES=30 node dist/test/bench/netproxy-latency.js
//
// Knobs (environment): NETPROXY_LAT_SIZES (1000), NETPROXY_LAT_MODES (nftables,iptables-legacy),
// NETPROXY_LAT_CHANGES (30), NETPROXY_LAT_NOISE_MS (300; 0: no rebuilds beside the changes),
// NETPROXY_LAT_VARIANTS (rebuild-all,cached).

import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient, loadKubeconfig, Reflector, type KObj } from '../../agent/apiserver/index.js';
import { silentLogger } from '../../agent/log.js';
import { assignClusterIPs } from '../../agent/services.js';
import type { KubeObject } from '../../manifests/index.js';
import {
  type BuildStateCache, type Dataplane, type ServicePortInfo, type SyncStats, IptablesDataplane, IptablesExecutor, NftablesDataplane, Proxier,
  IPTABLES_HINT_CHAIN, buildProxyState, cleanup, ensureIptablesHint, newBuildStateCache, runCommand,
} from '../../netproxy/index.js';
import { TestApiServer } from '../support/apiserver/index.js';

const env = (k: string, d: string) => process.env[k] ?? d;
type Mode = 'nftables' | 'iptables-legacy';
type Variant = 'rebuild-all' | 'cached';
const TABLE = 'bosun-lat-bench';
const SERVICE_CIDR = '10.96.0.0/12';
const POD_CIDR = '10.244.0.0/16';
const NS = 'bench';

// ---- the API server, in a child process --------------------------------------------------

type ToServer = { op: 'set'; service: number; ip: string };
type FromServer = { op: 'ready'; kubeconfig: string } | { op: 'done' };

const sliceOf = (i: number, ips: string[]) => ({
  apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
  metadata: { name: `svc-${i}-1`, namespace: NS, labels: { 'kubernetes.io/service-name': `svc-${i}` } },
  endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'bench-node' })),
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
});
const baseIps = (i: number) => [0, 1, 2].map((k) => { const a = i * 4 + k; return `10.244.${(a >> 8) & 255}.${a & 255}`; });

async function serve(n: number, dir: string): Promise<void> {
  const api = new TestApiServer();
  await api.start();
  for (let i = 0; i < n; i++) {
    api.create('services', {
      apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${i}`, namespace: NS },
      spec: { type: 'ClusterIP', clusterIP: `10.96.${i >> 8}.${i & 255}`, selector: { app: `svc-${i}` }, ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }] },
    });
    api.create('endpointslices', sliceOf(i, baseIps(i)));
  }
  const kubeconfig = join(dir, 'kubeconfig');
  api.writeKubeconfig(kubeconfig);
  process.on('message', (raw) => {
    const m = raw as ToServer;
    const cur = api.get('endpointslices', NS, `svc-${m.service}-1`)!;
    api.update('endpointslices', { ...cur, endpoints: sliceOf(m.service, [...baseIps(m.service), m.ip]).endpoints });
    process.send!({ op: 'done' } satisfies FromServer);
  });
  process.send!({ op: 'ready', kubeconfig } satisfies FromServer);
}

// ---- the proxy path, in this process -----------------------------------------------------

interface Sample { watch: number; model: number; wait: number; apply: number; total: number }

/** The kernel accepted a sync: the dataplane wrapped so that the bench sees when, and with what. */
class Observed implements Dataplane {
  constructor(private readonly inner: Dataplane, private readonly onSync: (ports: ServicePortInfo[], startMs: number, endMs: number) => void) {}
  get name(): string {
    return this.inner.name;
  }
  async sync(ports: ServicePortInfo[], full: boolean): Promise<SyncStats> {
    const start = performance.now();
    const r = await this.inner.sync(ports, full);
    this.onSync(ports, start, performance.now());
    return r;
  }
  healthy(): Promise<boolean> {
    return this.inner.healthy();
  }
  deleteConntrack(...a: Parameters<Dataplane['deleteConntrack']>): Promise<void> {
    return this.inner.deleteConntrack(...a);
  }
}

function dataplane(mode: Mode): Dataplane {
  return mode === 'nftables'
    ? new NftablesDataplane({ table: TABLE, clusterCIDR: POD_CIDR })
    : new IptablesDataplane(new IptablesExecutor(runCommand, 'legacy'), { clusterCIDR: POD_CIDR });
}

const clean = async (mode?: Mode) => {
  const problems = await cleanup({ route: false, iptablesVariants: mode === 'nftables' ? [] : ['legacy'], nftTable: mode === 'iptables-legacy' ? false : TABLE });
  if (problems.length > 0) console.error(`clean-up problems: ${problems.join('; ')}`);
  // Agents starting meanwhile follow kubelet's hint, not the bench's legacy rules (see netproxy-bench.ts).
  if (mode !== undefined) await ensureIptablesHint();
};

/** CPU ms so far: this process and its reaped children (nft, iptables-restore; /proc/self/stat cutime + cstime, 10 ms ticks). */
function cpuMs(): number {
  const u = process.cpuUsage();
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return (u.user + u.system) / 1000 + (Number(f[13]) + Number(f[14])) * 10;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;
const fmt = (ms: number) => (Number.isNaN(ms) ? 'n/a' : ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 100 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(1)} ms`);

async function round(n: number, mode: Mode, variant: Variant, changes: number, noiseMs: number): Promise<{ samples: Sample[]; cpu: number; syncs: number; load: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'bosun-lat-'));
  const child = fork(process.argv[1]!, ['--apiserver', String(n), dir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = () => new Promise<FromServer>((r) => child.once('message', (m) => r(m as FromServer)));
  let proxier: Proxier | undefined;
  let noise: NodeJS.Timeout | undefined;
  const reflectors: Reflector[] = [];
  try {
    const ready = await next();
    if (ready.op !== 'ready') throw new Error('API server child did not start');
    await clean(mode);
    const client = new ApiClient(loadKubeconfig(ready.kubeconfig), 'bosun-bench/latency');
    const cache: BuildStateCache | undefined = variant === 'cached' ? newBuildStateCache() : undefined;
    const objects = new Map<string, KObj[]>();
    let pending: { ip: string; t0: number; t1?: number; t2?: number } | undefined;
    const samples: Sample[] = [];
    let done: (() => void) | undefined;

    const dp = new Observed(dataplane(mode), (ports, start, end) => {
      const cur = pending;
      if (!cur || cur.t1 === undefined || cur.t2 === undefined) return;
      const { t0, t1, t2 } = cur;
      if (!ports.find((x) => x.service.name === 'svc-0')?.endpoints.some((e) => e.ip === cur.ip)) return;
      samples.push({ watch: t1 - t0, model: t2 - t1, wait: Math.max(0, start - t2), apply: end - Math.max(start, t2), total: end - t0 });
      pending = undefined;
      done?.();
    });
    proxier = new Proxier({ dataplane: dp, nodeName: 'bench-node', syncPeriodMs: 30_000, minSyncPeriodMs: 1_000 });

    // ServiceProxy.rebuild's model, from what the watches hold.
    const rebuild = () => {
      const all = [...(objects.get('Service') ?? []), ...(objects.get('EndpointSlice') ?? [])] as unknown as KubeObject[];
      const r = buildProxyState(assignClusterIPs(all, SERVICE_CIDR), { serviceCIDR: SERVICE_CIDR, endpointsFromPods: () => false }, cache);
      if (pending?.t1 !== undefined && pending.t2 === undefined) pending.t2 = performance.now();
      proxier!.update(r.state);
    };
    for (const [path, kind, apiVersion] of [['/api/v1/services', 'Service', 'v1'], ['/apis/discovery.k8s.io/v1/endpointslices', 'EndpointSlice', 'discovery.k8s.io/v1']] as const) {
      const r = new Reflector({
        client, path, kind, apiVersion, log: silentLogger,
        onChange: (items) => {
          objects.set(kind, [...items.values()]);
          if (pending && pending.t1 === undefined && kind === 'EndpointSlice') {
            const s = items.get(`${NS}/svc-0-1`) as unknown as { endpoints?: { addresses: string[] }[] } | undefined;
            if (s?.endpoints?.some((e) => e.addresses[0] === pending!.ip)) pending.t1 = performance.now();
          }
          if (objects.size === 2) rebuild();
        },
      });
      reflectors.push(r);
      r.start();
    }
    // The first (full) sync of everything the lists gave.
    const first = Date.now();
    while (objects.size < 2) await sleep(50);
    proxier.start();
    while (proxier.metrics().syncs === 0) {
      if (Date.now() - first > 30 * 60_000) throw new Error('no first sync in 30 minutes');
      await sleep(100);
    }
    if (noiseMs > 0) noise = setInterval(rebuild, noiseMs);
    await sleep(2_000);
    const load = loadavg()[0]!.toFixed(1);
    const c0 = cpuMs();
    const syncs0 = proxier.metrics().syncs;
    for (let i = 1; i <= changes; i++) {
      const ip = `10.246.${(i >> 8) & 255}.${i & 255}`;
      const programmed = new Promise<void>((r) => (done = r));
      pending = { ip, t0: performance.now() };
      child.send({ op: 'set', service: 0, ip } satisfies ToServer);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`change ${i} not programmed in 120 s`)), 120_000); });
      try {
        await Promise.race([programmed, late]);
      } finally {
        clearTimeout(timer);
      }
      await sleep(200 + Math.random() * 2_300);
    }
    const cpu = cpuMs() - c0;
    const syncs = proxier.metrics().syncs - syncs0;
    return { samples, cpu, syncs, load };
  } finally {
    clearInterval(noise);
    for (const r of reflectors) await r.stop();
    await proxier?.stop();
    child.kill();
    await clean(mode);
    rmSync(dir, { recursive: true, force: true });
  }
}

function table(head: string[], rows: string[][]): void {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (c: string[]) => c.map((x, i) => x.padStart(w[i]!)).join('  ');
  console.log(line(head));
  for (const r of rows) console.log(line(r));
}

async function main(): Promise<void> {
  if (process.argv[2] === '--apiserver') return serve(Number(process.argv[3]), process.argv[4]!);
  if (process.getuid?.() !== 0) throw new Error('run as root: the benchmark programs the real nftables / iptables');
  const sizes = env('NETPROXY_LAT_SIZES', '1000').split(',').map(Number);
  const modes = env('NETPROXY_LAT_MODES', 'nftables,iptables-legacy').split(',') as Mode[];
  const variants = env('NETPROXY_LAT_VARIANTS', 'rebuild-all,cached').split(',') as Variant[];
  const changes = Number(env('NETPROXY_LAT_CHANGES', '30'));
  const noiseMs = Number(env('NETPROXY_LAT_NOISE_MS', '300'));
  console.log(`load average at start: ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${cpus().length} CPUs`);
  console.log(`endpoint change -> rule programmed through the API watch; sizes ${sizes.join(', ')}; modes ${modes.join(', ')}; ${changes} changes each, 0.2-2.5 s apart; model rebuilt every ${noiseMs} ms beside them; minSyncPeriod 1 s\n`);
  const hintWasThere = (await runCommand('iptables', ['-w', '5', '-t', 'mangle', '-S', IPTABLES_HINT_CHAIN])).exitCode === 0;
  await ensureIptablesHint();
  const rows: string[][] = [];
  for (const n of sizes) {
    for (const mode of modes) {
      for (const variant of variants) {
        process.stdout.write(`  ${mode} ${n} Services, ${variant}...`);
        const r = await round(n, mode, variant, changes, noiseMs);
        const col = (k: keyof Sample) => r.samples.map((s) => s[k]);
        process.stdout.write(` total p50 ${fmt(pct(col('total'), 50))}; load ${r.load}\n`);
        rows.push([
          mode, String(n), variant, r.load, `${fmt(pct(col('total'), 50))} / ${fmt(pct(col('total'), 90))}`,
          ...(['watch', 'model', 'wait', 'apply'] as const).map((k) => `${fmt(pct(col(k), 50))} / ${fmt(pct(col(k), 90))}`),
          String(r.syncs), `${(r.cpu / 1000).toFixed(1)} s`,
        ]);
      }
    }
  }
  if (!hintWasThere) await runCommand('iptables', ['-w', '5', '-t', 'mangle', '-X', IPTABLES_HINT_CHAIN]);
  console.log('');
  table(['mode', 'Services', 'variant', 'load 1m', 'change->programmed p50 / p90', 'watch', 'model', 'wait for sync', 'apply', 'syncs', 'CPU'], rows);
  console.log('\n  watch = API write -> the event in this process; model = assignClusterIPs + buildProxyState (+ the rebuild it waited behind);');
  console.log('  wait for sync = Proxier.update -> the sync carrying the change starts (minSyncPeriod, a sync in flight); apply = that sync (render + nft / iptables-restore).');
  console.log('  syncs = syncs during the changes (rebuild-all: one per rebuild, noise included); CPU = user+sys of this process and its nft / iptables children over the changes (the API server is another process).');
}

main().catch(async (err: unknown) => {
  console.error(err);
  await clean().catch(() => undefined);
  process.exitCode = 1;
});
