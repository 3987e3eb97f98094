// netproxy benchmark: render + apply N Services x 4 endpoints (N = 1k, 5k, 10k) as one
// iptables-restore (full sync, then a one-Service partial sync, then a steady-state full
// resync), next to the same rules applied with one `iptables` call per rule. Prints a
// table, ratios and ruleset sizes; asserts nothing (shared, noisy machines: read ratios).
// No traffic is sent. Cleans up every rule and chain it made, also on failure.
//
//   npx tsc -p tsconfig.json && node dist/test/bench/netproxy-bench.js
//   NETPROXY_BENCH_SIZES=1000,5000 NETPROXY_BENCH_PER_RULE_SERVICES=250 node ...

import {
  type ProxyState, type Ruleset, type Service, IptablesExecutor, cleanup, execaRunner, renderIptables, servicePorts,
} from '../../netproxy/index.js';

const SIZES = (process.env.NETPROXY_BENCH_SIZES ?? '1000,5000,10000').split(',').map(Number);
// One call per rule is slow (a process per rule, minutes for 1k Services): measured on
// this many Services, extrapolated beyond.
const PER_RULE_SERVICES = Number(process.env.NETPROXY_BENCH_PER_RULE_SERVICES ?? 1000);
const ENDPOINTS = 4;
const OPTS = { clusterCIDR: '10.244.0.0/16', randomFully: true };

function buildState(n: number, variant = 0): ProxyState {
  const services: Service[] = [];
  const endpointSlices: ProxyState['endpointSlices'] = [];
  for (let i = 0; i < n; i++) {
    const name = `svc-${i}`;
    services.push({
      namespace: 'bench', name, type: 'ClusterIP', clusterIP: `10.96.${i >> 8}.${i & 255}`, selector: { app: name },
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }], externalIPs: [], loadBalancerIPs: [], loadBalancerSourceRanges: [],
      sessionAffinity: 'None', affinityTimeoutSeconds: 10800, externalTrafficPolicy: 'Cluster', internalTrafficPolicy: 'Cluster',
      publishNotReadyAddresses: false, allocateLoadBalancerNodePorts: true,
    });
    // Addresses only: nothing is ever sent to them.
    const base = i * ENDPOINTS + (i === 0 ? variant : 0);
    endpointSlices.push({
      namespace: 'bench', name: `${name}-1`, serviceName: name,
      endpoints: Array.from({ length: ENDPOINTS }, (_, k) => ({
        addresses: [`10.244.${((base + k) >> 8) & 255}.${(base + k) & 255}`], conditions: { ready: true, serving: true, terminating: false },
      })),
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    });
  }
  return { services, endpointSlices };
}

const ms = (t0: number) => performance.now() - t0;
const fmt = (x: number) => (x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${x.toFixed(0)} ms`);

async function timed<T>(fn: () => Promise<T> | T): Promise<[T, number]> {
  const t0 = performance.now();
  const v = await fn();
  return [v, ms(t0)];
}

/** Splits a restore line into argv, honouring double quotes (our comments). */
function argv(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

/** The same ruleset, one iptables process per chain and per rule; times both halves of the calls. */
async function applyPerRule(text: string): Promise<{ total: number; calls: number; firstHalf: number; secondHalf: number }> {
  const cmds: string[][] = [];
  let table = '';
  const rules: string[][] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1);
    else if (line.startsWith(':')) cmds.push(['-t', table, '-N', line.slice(1).split(' ')[0]!]);
    else if (line.startsWith('-A ')) rules.push(['-t', table, ...argv(line)]);
  }
  cmds.push(...rules);
  const half = Math.floor(cmds.length / 2);
  let firstHalf = 0;
  const t0 = performance.now();
  for (const [i, c] of cmds.entries()) {
    if (i === half) firstHalf = ms(t0);
    const r = await execaRunner('iptables', ['-w', '5', ...c]);
    if (r.exitCode !== 0) throw new Error(`iptables ${c.join(' ')}: ${r.stderr.trim()}`);
  }
  const total = ms(t0);
  return { total, calls: cmds.length, firstHalf, secondHalf: total - firstHalf };
}

interface Row {
  n: number;
  lines: number;
  bytes: number;
  natRules: number;
  renderFull: number;
  applyFull: number;
  renderPartial: number;
  applyPartial: number;
  partialLines: number;
  resync: number;
  perRule?: { total: number; calls: number; services: number; extrapolated: boolean; firstHalf: number; secondHalf: number };
}

async function benchSize(n: number): Promise<Row> {
  const ex = new IptablesExecutor();
  await cleanup({ route: false });
  const state = buildState(n);
  const [rs, renderFull] = await timed(() => renderIptables(servicePorts(state), OPTS, { existingNatChains: [] }));
  const [, applyFull] = await timed(async () => {
    await ex.ensureJumps();
    await ex.natChains();
    await ex.restore(rs.text);
  });
  const changed = buildState(n, 1);
  const [partial, renderPartial] = await timed(() => renderIptables(servicePorts(changed), OPTS, { previous: rs }));
  const [, applyPartial] = await timed(() => ex.restore(partial.text));
  // The periodic resync: everything in place already, rewrite it all.
  const [, resync] = await timed(async () => {
    const again: Ruleset = renderIptables(servicePorts(changed), OPTS, { existingNatChains: await ex.natChains() });
    await ex.restore(again.text);
  });
  await cleanup({ route: false });
  return {
    n, lines: rs.lines, bytes: rs.bytes, natRules: rs.natRules, renderFull, applyFull, renderPartial, applyPartial,
    partialLines: partial.lines, resync,
  };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root: the benchmark programs the real iptables');
  console.log(`netproxy benchmark: Services x ${ENDPOINTS} endpoints, iptables ${(await execaRunner('iptables', ['--version'])).stdout.trim()}`);
  const rows: Row[] = [];
  for (const n of SIZES) {
    process.stdout.write(`  ${n} Services...`);
    const r = await benchSize(n);
    rows.push(r);
    process.stdout.write(` full ${fmt(r.renderFull + r.applyFull)}, partial ${fmt(r.renderPartial + r.applyPartial)}, resync ${fmt(r.resync)}\n`);
  }
  const perRuleN = Math.min(PER_RULE_SERVICES, Math.max(...SIZES));
  process.stdout.write(`  one iptables call per rule, ${perRuleN} Services...`);
  await cleanup({ route: false });
  const text = renderIptables(servicePorts(buildState(perRuleN)), OPTS).text;
  const pr = await applyPerRule(text);
  await cleanup({ route: false });
  process.stdout.write(` ${fmt(pr.total)} (${pr.calls} calls)\n\n`);
  for (const r of rows) {
    const scale = r.n / perRuleN;
    r.perRule = { ...pr, total: pr.total * scale, calls: Math.round(pr.calls * scale), services: perRuleN, extrapolated: r.n !== perRuleN };
  }

  const head = ['Services', 'lines', 'MB', 'nat rules', 'render full', 'apply full', 'partial (render+apply)', 'partial lines', 'full resync', 'per-rule', 'per-rule / full', 'per-rule / partial'];
  const table = rows.map((r) => {
    const full = r.renderFull + r.applyFull;
    const part = r.renderPartial + r.applyPartial;
    const p = r.perRule!;
    return [
      String(r.n), String(r.lines), (r.bytes / 1e6).toFixed(1), String(r.natRules), fmt(r.renderFull), fmt(r.applyFull),
      fmt(part), String(r.partialLines), fmt(r.resync), `${fmt(p.total)}${p.extrapolated ? ' (extrapolated*)' : ''}`,
      `${(p.total / full).toFixed(0)}x`, `${(p.total / part).toFixed(0)}x`,
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  console.log(line(head));
  for (const row of table) console.log(line(row));
  console.log(`\n* one-call-per-rule measured for ${perRuleN} Services (${pr.calls} calls, ${fmt(pr.total)}), scaled linearly by Service count:`);
  console.log(`  that assumes a flat cost per call; measured here ${(pr.firstHalf / (pr.calls / 2)).toFixed(1)} ms/call over the first half of the calls,`);
  console.log(`  ${(pr.secondHalf / (pr.calls - Math.floor(pr.calls / 2))).toFixed(1)} ms/call over the second (the table twice as full).`);
  console.log('  "full" = render + ensure jumps + iptables-save + one iptables-restore; "partial" = one Service\'s endpoints changed.');
}

main().then(
  () => undefined,
  async (err: unknown) => {
    console.error(err);
    await cleanup({ route: false }).catch(() => undefined);
    process.exitCode = 1;
  },
);
