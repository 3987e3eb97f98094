import { writeFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ContainerConfigError, expandAll, resolveEnv } from '../../agent/env/resolve.js';
import { ObjectStore } from '../../agent/objects/store.js';
import { SecurityError, seccompProfile } from '../../agent/pods/security.js';
import { readManifestText } from '../../agent/sources/file.js';
import { containerMounts, planVolumes, VolumePending } from '../../agent/volumes/plan.js';
import { MAX_ERROR_BYTES, type KubeObject, type Pod } from '../../manifests/index.js';
import { ModelError, endpointSliceFromEndpoints, endpointSliceFromObject, renderIptables, serviceFromObject, servicePorts } from '../../netproxy/index.js';

// A seeded fuzz run over everything a manifest goes through before it reaches the engine or
// the packet filter: parse, validate, default, hash (the file and URL sources' path), the
// environment and volume planners, and netproxy's model and iptables renderer. Hostile
// values, deep nesting, huge numbers, duplicate keys, truncations and random bytes.
// Reproduce a run with BOSUN_FUZZ_SEED=<seed printed below>; BOSUN_FUZZ_RUNS sets the count.

const SEED = Number(process.env.BOSUN_FUZZ_SEED ?? Date.now() % 2 ** 32);
const RUNS = Number(process.env.BOSUN_FUZZ_RUNS ?? 2000);
const FILE = '/etc/kubernetes/manifests/fuzz';
const MAX_INPUT = 16 * 1024;

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rand = prng(SEED);

// RSS is compared after a full collection, so that garbage not yet collected does not count
// as growth: what stays is what the code under test keeps.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const int = (n: number) => Math.floor(rand() * n);
const pick = <T,>(xs: readonly T[]): T => xs[int(xs.length)]!;
/** A fresh copy: the generator mutates what it picked. */
const hostile = () => structuredClone(pick(HOSTILE));

const HOSTILE: unknown[] = [
  '', ' ', '\n-I INPUT 1 -j ACCEPT', 'a"b', "a'b", '../../etc/shadow', '/etc/shadow', '..', '..data', 'a/../../b',
  '1e99999999', '1e999999999', '-1e99999999', '1e-99999999', '9223372036854775808', '0.0000000001', '1e9999999999', '8Ei', '99999Ei',
  -1, 0, 65536, 2 ** 31, 2 ** 53, 1e308, -1e308, 0.5, NaN, null, true, false, [], {}, [null], [[[]]], { a: { b: { c: 1 } } },
  '$(A)$(A)$(A)$(A)', '$(', '$$$$', '\u0000', '\u202e', '%s%n%x', 'ü'.repeat(100), '💥'.repeat(50), 'x'.repeat(300), 'y'.repeat(5000),
  '::1', '0.0.0.0', '127.0.0.1', '169.254.169.254', '10.96.0.1', 'fe80::1', '300.1.1.1', 'TCP', 'ICMP', 'Localhost', 'Never', '*',
];

function base(i: number): KubeObject {
  const name = pick(['web', 'db', 'a', 'x-1']);
  switch (i % 7) {
    case 0: case 1: return {
      apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', labels: { app: name } },
      spec: {
        securityContext: { seccompProfile: { type: 'Localhost', localhostProfile: 'profiles/audit.json' } },
        volumes: [{ name: 'cfg', configMap: { name: 'cm', items: [{ key: 'k', path: 'sub/k.conf' }] } }, { name: 'sec', secret: { secretName: 's' } }, { name: 'e', emptyDir: {} }],
        containers: [{
          name: 'c', image: 'localhost/bosun/busybox:1', command: ['sh', '-c', 'echo $(A)'], args: ['$(B)'],
          env: [{ name: 'A', value: 'x' }, { name: 'B', value: '$(A)$(A)' }, { name: 'S', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }],
          resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '1', memory: '128Mi' } },
          ports: [{ name: 'http', containerPort: 80 }],
          volumeMounts: [{ name: 'cfg', mountPath: '/cfg' }, { name: 'e', mountPath: '/e', subPathExpr: '$(A)/logs' }],
          readinessProbe: { httpGet: { path: '/', port: 'http' } },
        }],
      },
    };
    case 2: return {
      apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' },
      spec: { clusterIP: '10.96.0.10', selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 'http' }, { name: 'dns', port: 53, protocol: 'UDP' }], externalIPs: ['192.0.2.10'] },
    };
    case 3: return {
      apiVersion: 'v1', kind: 'Endpoints', metadata: { name, namespace: 'default' },
      subsets: [{ addresses: [{ ip: '10.244.0.5', nodeName: 'n1' }], ports: [{ name: 'http', port: 8080 }, { name: 'dns', port: 53, protocol: 'UDP' }] }],
    };
    case 4: return {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: `${name}-1`, namespace: 'default', labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4', endpoints: [{ addresses: ['10.244.0.6'], conditions: { ready: true } }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    };
    case 5: return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' }, data: { k: 'v', 'a.conf': 'x=1' } };
    default: return { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, stringData: { k: 'secret-value' }, data: { d: 'c2VjcmV0' } };
  }
}

/** Every container (object or array) in v, with a way to reach into it. */
function nodes(v: unknown, out: (Record<string, unknown> | unknown[])[] = []): (Record<string, unknown> | unknown[])[] {
  if (typeof v !== 'object' || v === null) return out;
  out.push(v as Record<string, unknown>);
  for (const x of Array.isArray(v) ? v : Object.values(v)) nodes(x, out);
  return out;
}

function nest(depth: number, leaf: unknown): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = rand() < 0.5 ? [v] : { n: v };
  return v;
}

function mutate(o: KubeObject): void {
  let grow = false;
  for (let k = int(4) + 1; k > 0; k--) {
    const all = nodes(o);
    const target = pick(all);
    const keys = Array.isArray(target) ? target.map((_, i) => i) : Object.keys(target);
    const key = keys.length ? pick(keys as (string | number)[]) : 'extra';
    const set = (v: unknown) => ((target as Record<string | number, unknown>)[key] = v);
    switch (int(7)) {
      case 0: case 1: case 2: set(hostile()); break;
      case 3: if (!Array.isArray(target)) delete (target as Record<string, unknown>)[key as string]; break;
      case 4: set(nest(pick([5, 50, 99, 150]), hostile())); break;
      case 5: grow = true; break;
      default: (target as Record<string, unknown>)[pick(['bogus', 'status', 'ports', 'data', 'items', 'kind'])] = hostile();
    }
  }
  // Many copies of one list element, last, and only of a small object: the copies share it,
  // so growing it afterwards would make the text explode.
  const lists = nodes(o).filter((n): n is unknown[] => Array.isArray(n) && n.length > 0);
  if (grow && lists.length) {
    const list = pick(lists);
    if (JSON.stringify(list[0] ?? null).length < 200) list.push(...Array.from({ length: pick([10, 200, 1000]) }, () => list[0]));
  }
}

function serialize(objs: KubeObject[]): string {
  switch (int(6)) {
    case 0: case 4: return JSON.stringify(objs[0]);
    case 1: return JSON.stringify(objs[0], null, 2);
    case 2: return JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objs });
    // YAML indents every level: a deep or wide object becomes megabytes of text, so big ones go as JSON.
    default: return JSON.stringify(objs).length > 5000 ? JSON.stringify(objs[0]) : objs.map((o) => stringify(o, { aliasDuplicateObjects: false, lineWidth: 0 })).join('---\n');
  }
}

function textMutate(t: string): string {
  switch (int(13)) {
    case 0: return t.slice(0, int(t.length + 1));
    case 1: { const i = int(t.length + 1); return t.slice(0, i) + String.fromCharCode(...Array.from({ length: int(8) + 1 }, () => int(256))) + t.slice(i); }
    case 2: return t.replace(/"name":/, '"name":"dup","name":');
    case 3: return t.replace(/"privileged":|"image":/, (m) => `${m}"a",${m}`);
    case 4: return `${'['.repeat(pick([10, 101, 1001, 20_000]))}${t}`;
    case 5: return `a: &a [x, x, x, x, x, x, x, x]\n${Array.from({ length: 8 }, (_, i) => `${'bcdefghi'[i]}: &${'bcdefghi'[i]} [${Array(9).fill(`*${'abcdefgh'[i]}`).join(', ')}]`).join('\n')}\n`;
    case 6: return `\ufeff${t.replace(/\n/g, '\r\n')}`;
    case 7: return '---\n'.repeat(pick([2, 1200]));
    case 8: return Array.from({ length: int(400) }, () => String.fromCharCode(int(128))).join('');
    case 9: return `${t}\n---\n${t}`;
    // Deeper than any serializer here could write: built as text, as an attacker would.
    case 10: { const d = pick([200, 3000, 50_000]); return t.replace(/"kind"|kind:/, (m) => `${m.startsWith('"') ? '"deep"' : 'deep:'} ${'{"n":'.repeat(d)}1${'}'.repeat(d)}, ${m}`); }
    default: return t;
  }
}

/** file: object: field-or-position, as every error must read. */
function namesFileObjectField(msg: string, file: string): boolean {
  if (!msg.startsWith(`${file}: `)) return false;
  const rest = msg.slice(file.length + 2);
  const obj = /^(?:[A-Z][A-Za-z]* "(?:[^"\\]|\\.)*"|(?:[A-Z][A-Za-z]*: )?document \d+): /.exec(rest);
  if (!obj) return false;
  const where = rest.slice(obj[0].length);
  return /^(?:Too long: \d+ bytes: a manifest|unknown field "|(?:invalid JSON|yaml): line \d+, column \d+: |line \d+, column \d+: |kind "|[a-z][A-Za-z0-9]*(?:[.[]|: ))/.test(where);
}

describe('fuzz: hostile manifests', () => {
  it(`stays within its limits for ${RUNS} seeded inputs`, () => {
    // eslint-disable-next-line no-console
    console.log(`fuzz seed ${SEED} (BOSUN_FUZZ_SEED=${SEED} reproduces this run), ${RUNS} inputs`);
    const failures: string[] = [];
    const stats = { accepted: 0, rejected: 0, errors: 0, maxCpuMs: 0, totalCpuMs: 0, generatorCpuMs: 0, exerciseCpuMs: 0, textBytes: 0, maxErrorBytes: 0 };
    gc();
    const rss0 = process.memoryUsage().rss;
    let rssPeak = rss0;
    for (let n = 0; n < RUNS; n++) {
      const g0 = process.cpuUsage();
      const objs = Array.from({ length: int(3) + 1 }, () => base(int(7)));
      objs.forEach((o) => rand() < 0.85 && mutate(o));
      let text = rand() < 0.6 ? serialize(objs) : textMutate(serialize(objs));
      // Kept small so that the run takes seconds: size itself is tested at the limit elsewhere.
      if (text.length > MAX_INPUT) text = text.slice(0, MAX_INPUT);
      const file = `${FILE}-${n}.${text.trimStart().startsWith('{') ? 'json' : 'yaml'}`;
      const g = process.cpuUsage(g0);
      stats.textBytes += text.length;
      stats.generatorCpuMs += (g.user + g.system) / 1000;
      if (process.env.BOSUN_FUZZ_DUMP === String(n)) writeFileSync('/tmp/hostile/fuzz-input', text);
      const t0 = process.cpuUsage();
      try {
        const r = readManifestText(text, file, 'node1', () => new Date(0));
        for (const m of r.messages) {
          stats.errors++;
          stats.maxErrorBytes = Math.max(stats.maxErrorBytes, Buffer.byteLength(m));
          if (Buffer.byteLength(m) > MAX_ERROR_BYTES) failures.push(`input ${n}: error of ${Buffer.byteLength(m)} bytes`);
          if (!namesFileObjectField(m, file) && !/^\.\.\. and \d+ more errors$/.test(m)) failures.push(`input ${n}: error without file, object and field: ${m.slice(0, 300)}`);
        }
        if (r.messages.length) stats.rejected++;
        else stats.accepted++;
        const e0 = process.cpuUsage();
        exerciseAccepted(r.pods, r.objects);
        const e = process.cpuUsage(e0);
        stats.exerciseCpuMs += (e.user + e.system) / 1000;
      } catch (err) {
        failures.push(`input ${n}: uncaught ${(err as Error).stack?.slice(0, 600)}`);
      }
      const cpu = process.cpuUsage(t0);
      const ms = (cpu.user + cpu.system) / 1000;
      stats.maxCpuMs = Math.max(stats.maxCpuMs, ms);
      stats.totalCpuMs += ms;
      if (ms >= 1000) failures.push(`input ${n}: ${ms.toFixed(0)} ms of CPU`);
      if (process.env.BOSUN_FUZZ_DEBUG && ms > 100) console.log(`input ${n}: ${ms.toFixed(0)} ms, ${text.length} chars: ${JSON.stringify(text.slice(0, 300))}`);
      if (n % 50 === 0) rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
      // Collected now and then, as a long-running agent would be: V8 keeps pages it grew into.
      if (n % 250 === 249) gc();
    }
    gc();
    const growthMiB = (process.memoryUsage().rss - rss0) / 2 ** 20;
    const peakMiB = (rssPeak - rss0) / 2 ** 20;
    // eslint-disable-next-line no-console
    console.log(`fuzz seed ${SEED}: ${JSON.stringify({ ...stats, maxCpuMs: Math.round(stats.maxCpuMs), totalCpuMs: Math.round(stats.totalCpuMs), generatorCpuMs: Math.round(stats.generatorCpuMs), exerciseCpuMs: Math.round(stats.exerciseCpuMs), rssGrowthMiB: Math.round(growthMiB), rssPeakGrowthMiB: Math.round(peakMiB) })}`);
    if (failures.length) console.log(failures.slice(0, 20).join('\n'));
    expect(failures.slice(0, 20)).toEqual([]);
    expect(growthMiB).toBeLessThan(100);
    expect(stats.accepted).toBeGreaterThan(0);
    expect(stats.rejected).toBeGreaterThan(0);
  });
});

/** What the agent does next with what a source accepted; only the expected error types may come out (a missing volume source is a mount wait: VolumePending). */
function exerciseAccepted(pods: Pod[], objects: KubeObject[]): void {
  const store = new ObjectStore();
  store.replace(objects);
  const ctx = { objects: store, podIP: '10.244.0.9', hostIP: '192.0.2.1', node: { cpuMilli: 2000, memoryBytes: 1 << 30, ephemeralBytes: 1 << 30 }, serviceEnv: {} };
  for (const pod of pods) {
    for (const c of pod.spec.containers) {
      try {
        const vars = resolveEnv(pod, c, ctx);
        expandAll(c.command, vars, 'command');
        expandAll(c.args, vars, 'args');
        containerMounts(c, planVolumes(pod, '/var/lib/bosun', ctx), vars);
        seccompProfile(pod, c, { seccompProfileRoot: '/var/lib/bosun/seccomp' });
      } catch (err) {
        if (!(err instanceof ContainerConfigError || err instanceof SecurityError || err instanceof VolumePending)) throw err;
        if (Buffer.byteLength((err as Error).message) > MAX_ERROR_BYTES) throw new Error(`config error of ${Buffer.byteLength((err as Error).message)} bytes`);
      }
    }
  }
  const services = [];
  const slices = [];
  for (const o of objects) {
    try {
      if (o.kind === 'Service') services.push(serviceFromObject(o, { serviceCIDR: '10.96.0.0/12' }));
      else if (o.kind === 'Endpoints') slices.push(endpointSliceFromEndpoints(o));
      else if (o.kind === 'EndpointSlice') {
        const s = endpointSliceFromObject(o);
        if (s) slices.push(s);
      }
    } catch (err) {
      if (!(err instanceof ModelError)) throw err;
      if (Buffer.byteLength(err.message) > MAX_ERROR_BYTES) throw new Error(`model error of ${Buffer.byteLength(err.message)} bytes`);
    }
  }
  const text = renderIptables(servicePorts({ services, endpointSlices: slices }, { nodeName: 'node1' }), { clusterCIDR: '10.244.0.0/16' }).text;
  // Every rule line is one rule: no name brought a line or an unbalanced quote with it.
  for (const line of text.split('\n')) {
    if (!/^(\*nat|\*filter|COMMIT|:KUBE-[A-Z0-9-]+ - \[0:0\]|-A |-X |)$/.test(line.slice(0, line.startsWith('-A ') || line.startsWith('-X ') ? 3 : undefined)) && !line.startsWith(':KUBE-')) {
      throw new Error(`unexpected iptables-restore line: ${line.slice(0, 200)}`);
    }
    if (line.split('"').length % 2 === 0) throw new Error(`unbalanced quote in: ${line.slice(0, 200)}`);
  }
}
