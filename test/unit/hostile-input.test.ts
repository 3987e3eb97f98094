import { spawn } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { Duplex, Writable } from 'node:stream';
import { appendFileSync } from 'node:fs';
import { constants as zc, deflateSync } from 'node:zlib';
import { createServer as createNetServer } from 'node:net';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError as AgentConfigError, resolveConfig } from '../../agent/config.js';
import { AgentMetrics } from '../../agent/metrics.js';
import { ProbeMetrics } from '../../probes/metrics.js';
import { admitPod } from '../../agent/pods/admission.js';
import { acquireRootDirLock, LockError } from '../../agent/lifecycle.js';
import { kubeconfigMain } from '../../agent/server/kubeconfig.js';
import { streamLog } from '../../agent/server/logs.js';
import { controlFrame, SPDY_DICTIONARY, SpdySession, SYN_STREAM } from '../../agent/server/spdy.js';
import { silentLogger } from '../../agent/log.js';
import { ContainerConfigError, MAX_EXPANDED_BYTES, expandAll, resolveEnv } from '../../agent/env/resolve.js';
import { ObjectStore } from '../../agent/objects/store.js';
import { containerMounts, planVolumes } from '../../agent/volumes/plan.js';
import { resolveMount } from '../../agent/volumes/setup.js';
import { ctr, pod as podOf } from '../support/fixtures.js';
import { seccompProfile, SecurityError } from '../../agent/pods/security.js';
import { resolveInside, writeAtomic } from '../../agent/volumes/setup.js';
import { readProfile } from '../../cri/docker/container.js';
import { ModelError, endpointSliceFromEndpoints, endpointSliceFromObject, renderIptables, serviceFromObject, servicePorts } from '../../netproxy/index.js';
import { slice, state, svc } from '../support/netproxy-fixtures.js';
import { FileSource, type FileSnapshot } from '../../agent/sources/file.js';
import { HttpSource, type HttpSnapshot } from '../../agent/sources/http.js';
import { MAX_DEPTH, MAX_ERROR_BYTES, type KubeObject, type Pod, compareQuantities, formatFieldError, validateObject, validatePod, isValidQuantity, milliValue, parseManifests, parseQuantity, validateParsed } from '../../manifests/index.js';

// One test (at least) per numbered item of issue 15, each failing before its fix.

const SRC = '/etc/kubernetes/manifests/x.json';
const goodPod = (name: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'c', image: 'busybox:1' }] } });
// Built as text: JSON.stringify itself cannot go 3,000 levels down.
const deepPodJSON = (depth: number) => JSON.stringify(goodPod('deep')).replace(/}$/, `,"status":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`);
const deepPodYAML = (depth: number) => `apiVersion: v1\nkind: Pod\nmetadata: {name: deep}\nstatus: ${'['.repeat(depth)}${']'.repeat(depth)}\n`;

function capture() {
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (l: string) => lines.push(l) });
  return { log, lines };
}

describe('1. nesting depth and sources that survive one bad input', () => {
  it('rejects a 3,000-level JSON or YAML document with a position, before any recursive walk', () => {
    for (const [text, src] of [[deepPodJSON(3000), SRC], [deepPodYAML(3000), SRC.replace('.json', '.yaml')]] as const) {
      const r = parseManifests(text, src);
      expect(r.objects).toEqual([]);
      expect(r.errors).toHaveLength(1);
      expect(r.errors[0]!.message).toMatch(new RegExp(`^${src}: document 1: (invalid JSON|yaml): line \\d+, column \\d+: nesting deeper than ${MAX_DEPTH} levels$`));
    }
  });

  it('accepts a document just at the limit', () => {
    // metadata/status/... : the pod itself is one level, status another.
    const r = parseManifests(deepPodJSON(MAX_DEPTH - 2), SRC);
    expect(r.errors).toEqual([]);
    expect(r.objects).toHaveLength(1);
  });

  describe('file source', () => {
    let dir: string;
    let last: FileSnapshot | undefined;
    let source: FileSource;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'bosun-hostile-'));
      last = undefined;
    });
    afterEach(() => {
      source?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('reports a deep file against that file and keeps reading the others', async () => {
      writeFileSync(join(dir, 'deep.json'), deepPodJSON(3000));
      writeFileSync(join(dir, 'good.json'), JSON.stringify(goodPod('good')));
      source = new FileSource(dir, 'n1', silentLogger, (s) => (last = s), 60_000);
      await source.start();
      expect(last!.pods.map((p) => p.metadata.name)).toEqual(['good-n1']);
      expect(last!.problems.map((p) => p.file)).toEqual([join(dir, 'deep.json')]);
    });

    it('is not stuck after a pass fails in its own code: the next scan runs', async () => {
      writeFileSync(join(dir, 'good.json'), JSON.stringify(goodPod('good')));
      let calls = 0;
      const { log, lines } = capture();
      source = new FileSource(dir, 'n1', log, (s) => {
        calls++;
        if (calls === 1) throw new Error('boom in a subscriber');
        last = s;
      }, 60_000);
      await expect(source.start()).resolves.toBeUndefined();
      expect(lines.join('')).toMatch(/boom in a subscriber\\n    at .*manifest directory scan failed/s);
      writeFileSync(join(dir, 'second.json'), JSON.stringify(goodPod('second')));
      await source.scan();
      expect(last!.pods.map((p) => p.metadata.name).sort()).toEqual(['good-n1', 'second-n1']);
    });

    it('refuses a file over 10 MiB without reading it', async () => {
      writeFileSync(join(dir, 'big.yaml'), Buffer.alloc(10 * 1024 * 1024 + 1, 0x20));
      source = new FileSource(dir, 'n1', silentLogger, (s) => (last = s), 60_000);
      await source.start();
      expect(last!.problems[0]!.messages[0]).toMatch(/big\.yaml: Too long: 10485761 bytes: a manifest may have at most 10485760 bytes/);
    });
  });

  describe('URL source', () => {
    let server: Server;
    let url = '';
    let handler: (res: import('node:http').ServerResponse) => void;
    beforeEach(async () => {
      server = createServer((_req, res) => handler(res));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      url = `http://127.0.0.1:${(server.address() as { port: number }).port}/pods`;
    });
    afterEach(async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    });

    const poll = async (timeoutMs = 10_000) => {
      const { log, lines } = capture();
      let last: HttpSnapshot | undefined;
      const src = new HttpSource(url, {}, 'n1', log, (s) => (last = s), 60_000, timeoutMs);
      await expect(src.poll()).resolves.toBeUndefined();
      return { src, last: () => last, text: () => lines.join('') };
    };

    it('survives a connection reset in the middle of the body', async () => {
      handler = (res) => {
        res.writeHead(200, { 'content-length': '1000' });
        res.write('apiVersion: v1\n');
        setTimeout(() => res.socket?.destroy(), 20);
      };
      const p = await poll();
      expect(p.text()).toMatch(/manifest URL: .*reading the body/);
      handler = (res) => res.end(JSON.stringify(goodPod('later')));
      await p.src.poll();
      expect(p.last()!.pods.map((x) => x.metadata.name)).toEqual(['later-n1']);
    });

    it('reports the same document served again (no ETag) as no change: the pods stay the objects they were', async () => {
      handler = (res) => res.end(JSON.stringify(goodPod('same')));
      let updates = 0;
      const src = new HttpSource(url, {}, 'n1', capture().log, () => updates++, 60_000, 10_000);
      await src.poll();
      await src.poll();
      expect(updates).toBe(1);
      handler = (res) => res.end(JSON.stringify(goodPod('other')));
      await src.poll();
      expect(updates).toBe(2);
    });

    it('gives up on a body that stalls, at the timeout', async () => {
      handler = (res) => {
        res.writeHead(200);
        res.write('apiVersion: v1\n'); // and nothing more
      };
      const p = await poll(300);
      expect(p.text()).toMatch(/reading the body: .*(timeout|aborted)/i);
    });

    it('survives a deeply nested body', async () => {
      handler = (res) => res.end(deepPodJSON(5000));
      const p = await poll();
      expect(p.text()).toMatch(/nesting deeper than/);
    });

    it('6. stops reading a body over 10 MiB, with or without a content-length', async () => {
      const chunk = Buffer.alloc(1024 * 1024, 0x20);
      handler = (res) => {
        res.writeHead(200); // chunked: no length announced
        let n = 0;
        const more = () => {
          while (n < 400) {
            n++;
            if (!res.write(chunk)) return void res.once('drain', more);
          }
          res.end();
        };
        res.on('error', () => undefined);
        more();
      };
      const p = await poll();
      expect(p.text()).toMatch(/Too long: more than 10485760 bytes/);
      handler = (res) => res.writeHead(200, { 'content-length': String(400 * 1024 * 1024) }).end();
      const q = await poll();
      expect(q.text()).toMatch(/Too long: 419430400 bytes/);
    });
  });
});

describe('2. quantities bounded to int64', () => {
  it('parses enormous exponents at once, capped like upstream', () => {
    const t = process.cpuUsage();
    expect(parseQuantity('1e99999999')).toBe(2 ** 63);
    expect(parseQuantity('-1e999999999')).toBe(-(2 ** 63));
    expect(milliValue('1e-99999999')).toBe(1); // rounded up to 1n, as upstream
    expect(compareQuantities('1e99999999', '8Ei')).toBe(0); // both capped at 2^63-1
    const { user, system } = process.cpuUsage(t);
    expect(user + system).toBeLessThan(500_000); // CPU, not wall clock: was 15-28 s
  });

  it('refuses an exponent beyond int32, as Go parses it', () => {
    expect(isValidQuantity('1e9999999999')).toBe(false);
    expect(() => parseQuantity('1e9999999999')).toThrow(/quantities must match/);
  });

  it('handles a mantissa of 100,000 digits', () => {
    expect(parseQuantity(`1${'0'.repeat(100_000)}e-99990`)).toBe(1e10);
  });
});

describe('10. JSON duplicate keys are rejected, like YAML', () => {
  it('names the key and its position', () => {
    const text = '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i",\n"securityContext":{"privileged":false,"privileged":true}}]}}';
    const r = parseManifests(text, SRC);
    expect(r.objects).toEqual([]);
    expect(r.errors.map((e) => e.message)).toEqual([`${SRC}: document 1: invalid JSON: line 2, column 39: duplicate key "privileged"`]);
  });

  it('allows the same key in different objects and escaped forms of different keys', () => {
    const text = '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"a":"1","\\u0062":"2"}},"spec":{"containers":[{"name":"a","image":"i"},{"name":"b","image":"i"}]}}';
    expect(parseManifests(text, SRC).errors).toEqual([]);
    const dup = '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"a":"1","\\u0061":"2"}}}';
    expect(parseManifests(dup, SRC).errors[0]!.message).toMatch(/duplicate key "a"/);
  });
});

describe('13. every error names file, object and field, and is capped', () => {
  it('caps an error about a 9 MiB name at 4 KiB', () => {
    const name = 'a'.repeat(9 * 1024 * 1024);
    const r = parseManifests(JSON.stringify(goodPod(name)), SRC);
    const errs = r.objects.flatMap((o) => validateParsed(o));
    expect(errs.length).toBeGreaterThan(0);
    for (const e of errs) {
      expect(Buffer.byteLength(e.message)).toBeLessThanOrEqual(MAX_ERROR_BYTES);
      expect(e.message).toMatch(/^\/etc\/kubernetes\/manifests\/x\.json: Pod "a+\.\.\. \(\d+ more characters\)": metadata\.name: /);
    }
  });

  it('gives JSON errors a position even when the text ends early', () => {
    const r = parseManifests('{"apiVersion": "v1", "kind": "Pod"', SRC);
    expect(r.errors[0]!.message).toMatch(/^\/etc\/kubernetes\/manifests\/x\.json: document 1: invalid JSON: line 1, column \d+: /);
  });

  it('gives YAML alias errors a position', () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (let i = 0; i < 8; i++) bomb.push(`${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}]`);
    const r = parseManifests(`apiVersion: v1\nkind: Pod\n${bomb.join('\n')}\n`, '/m/bomb.yaml');
    expect(r.errors.map((e) => e.message)).toEqual([expect.stringMatching(/^\/m\/bomb\.yaml: document 1: yaml: line 1, column 1: .*alias/i)]);
  });
});

describe('3. seccomp localhostProfile stays under <root-dir>/seccomp and is never quoted', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'bosun-seccomp-'));
    mkdirSync(join(root, 'seccomp'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('fails validation for an absolute path or one with ..', () => {
    const pod = (p: string) => ({ ...goodPod('p'), spec: { securityContext: { seccompProfile: { type: 'Localhost', localhostProfile: p } }, containers: [{ name: 'c', image: 'i' }] } });
    expect(validatePod(pod('../../etc/shadow')).map((e) => `${e.field}: ${e.detail}`)).toEqual(["spec.securityContext.seccompProfile.localhostProfile: must not contain '..'"]);
    expect(validatePod(pod('/etc/shadow')).map((e) => e.field)).toEqual(['spec.securityContext.seccompProfile.localhostProfile']);
    expect(validatePod(pod('profiles/audit.json'))).toEqual([]);
  });

  it('is refused by the agent even when validation was skipped', () => {
    const pod = { ...goodPod('p'), spec: { containers: [{ name: 'c', image: 'i', securityContext: { seccompProfile: { type: 'Localhost', localhostProfile: '../../etc/shadow' } } }] } } as unknown as Pod;
    expect(() => seccompProfile(pod, pod.spec.containers[0]!, { seccompProfileRoot: join(root, 'seccomp') })).toThrow(SecurityError);
  });

  it('refuses a symlink under the root that leads out of it', async () => {
    writeFileSync(join(root, 'secret-file'), 'root:$y$j9T$hash:19000:0:99999:7:::\n');
    symlinkSync(join(root, 'secret-file'), join(root, 'seccomp', 'evil.json'));
    await expect(resolveInside(join(root, 'seccomp'), 'evil.json')).rejects.toThrow(/resolves outside/);
    writeFileSync(join(root, 'seccomp', 'ok.json'), '{}');
    await expect(resolveInside(join(root, 'seccomp'), 'ok.json')).resolves.toBe(join(root, 'seccomp', 'ok.json'));
  });

  it('never quotes the content of a profile that is not JSON', async () => {
    writeFileSync(join(root, 'seccomp', 'bad.json'), 'root:$y$j9T$SECRETHASH:19000');
    const err = await readProfile(join(root, 'seccomp', 'bad.json')).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/is not valid JSON$/);
    expect((err as Error).message).not.toContain('SECRETHASH');
  });
});

describe('11. the volume writer keeps every key inside the volume', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bosun-vol-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it.each(['../../../escaped', 'a/../../escaped', '/abs', '..data', '..', ''])('refuses %j and writes nothing', async (key) => {
    const vol = join(dir, 'vol');
    mkdirSync(vol);
    await expect(writeAtomic(vol, [{ path: 'ok', data: Buffer.from('x'), mode: 0o644 }, { path: key, data: Buffer.from('x'), mode: 0o644 }])).rejects.toThrow(/invalid path/);
    expect(existsSync(join(dir, 'escaped'))).toBe(false);
    expect(existsSync(join(vol, 'ok'))).toBe(false);
  });

  it('writes ordinary keys and nested item paths', async () => {
    await expect(writeAtomic(dir, [{ path: 'a.conf', data: Buffer.from('x'), mode: 0o644 }, { path: 'sub/dir/b', data: Buffer.from('y'), mode: 0o600 }])).resolves.toBe(true);
    expect(existsSync(join(dir, 'sub/dir/b'))).toBe(true);
  });
});

describe('4. Service, Endpoints and EndpointSlice validated as the API server does; nothing unescaped reaches iptables-restore', () => {
  const INJECT = 'http\n-I INPUT 1 -j ACCEPT';
  const service = (ports: unknown[], extra: Record<string, unknown> = {}): KubeObject =>
    ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { clusterIP: '10.96.0.10', ports, ...extra } });
  const fmt = (o: KubeObject) => validateObject(o).map(formatFieldError);

  it('refuses a port name with a newline, with its field path', () => {
    const errs = fmt(service([{ name: INJECT, port: 80 }]));
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatch(/^spec\.ports\[0\]\.name: Invalid value: "http\\n-I INPUT 1 -j ACCEPT": a lowercase RFC 1123 label must consist of/);
  });

  it('checks Service ports, IPs, types and selectors', () => {
    expect(fmt(service([{ name: 'a', port: 0, protocol: 'ICMP', targetPort: 'no_such--name' }, { port: 70000 }], {
      type: 'Magic', externalIPs: ['127.0.0.1', 'x'], selector: { 'a b': 'c' }, clusterIPs: ['10.96.0.300'],
    }))).toEqual([
      'spec.type: Unsupported value: "Magic": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
      'spec.clusterIPs[0]: Invalid value: "10.96.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
      'spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive',
      'spec.ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
      'spec.ports[0].targetPort: Invalid value: "no_such--name": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)',
      'spec.ports[0].targetPort: Invalid value: "no_such--name": must not contain consecutive hyphens',
      'spec.ports[1].name: Required value',
      'spec.ports[1].port: Invalid value: 70000: must be between 1 and 65535, inclusive',
      expect.stringMatching(/^spec\.selector: Invalid value: "a b": name part must consist of/),
      'spec.externalIPs[0]: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)',
      'spec.externalIPs[1]: Invalid value: "x": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
    ]);
  });

  it('checks Endpoints and EndpointSlices', () => {
    expect(fmt({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'web' }, subsets: [{ addresses: [{ ip: '0.0.0.0' }, { ip: '10.0.0.1', hostname: 'A_B' }], ports: [{ name: INJECT, port: 80 }, { port: 81, protocol: 'tcp' }] }, {}] })).toEqual([
      'subsets[0].addresses[0].ip: Invalid value: "0.0.0.0": may not be unspecified (0.0.0.0, ::)',
      expect.stringMatching(/^subsets\[0\]\.addresses\[1\]\.hostname: Invalid value: "A_B": a lowercase RFC 1123 label/),
      expect.stringMatching(/^subsets\[0\]\.ports\[0\]\.name: Invalid value: "http\\n-I INPUT/),
      'subsets[0].ports[1].name: Required value',
      'subsets[0].ports[1].protocol: Unsupported value: "tcp": supported values: "SCTP", "TCP", "UDP"',
      'subsets[1]: Required value: must specify `addresses` or `notReadyAddresses`',
    ]);
    expect(fmt({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'web-1', labels: { 'kubernetes.io/service-name': 'web' } }, addressType: 'IPv4',
      endpoints: [{ addresses: ['10.0.0.1', '::1', '169.254.169.254'] }, { addresses: [] }], ports: [{ name: 'a', port: 99999 }, { name: 'a', port: 80 }] })).toEqual([
      'endpoints[0].addresses[1]: Invalid value: "::1": must be a valid IPv4 address',
      'endpoints[0].addresses[2]: Invalid value: "169.254.169.254": may not be in the link-local range (169.254.0.0/16, fe80::/10)',
      'endpoints[1].addresses: Required value: must contain at least 1 address',
      'ports[0].port: Invalid value: 99999: must be between 1 and 65535, inclusive',
      'ports[1].name: Duplicate value: "a"',
    ]);
    const many = Array.from({ length: 1001 }, () => ({ addresses: ['10.0.0.1'] }));
    expect(fmt({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 's' }, addressType: 'IPv4', endpoints: many }))
      .toEqual(['endpoints: Too many: 1001: must have at most 1000 items']);
  });

  it('netproxy refuses the same objects when they come from a source that did not validate them', () => {
    expect(() => serviceFromObject(service([{ name: INJECT, port: 80 }]))).toThrow(ModelError);
    expect(() => serviceFromObject({ ...service([{ port: 80 }]), metadata: { name: 'web', namespace: 'a"b' } })).toThrow(/metadata\.namespace/);
    expect(() => endpointSliceFromEndpoints({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'web' }, subsets: [{ addresses: [{ ip: '10.0.0.1' }], ports: [{ name: INJECT, port: 80 }] }] })).toThrow(/ports\[0\]\.name/);
    expect(() => endpointSliceFromObject({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 's', labels: { 'kubernetes.io/service-name': 'x\ny' } }, addressType: 'IPv4', endpoints: [] })).toThrow(/service-name/);
  });

  it('the renderer never writes a line break, quote or space from a name into a rule', () => {
    // A model object that bypassed every check (built by hand): still one rule per line.
    const text = renderIptables(servicePorts(state([svc('default', 'web', { clusterIP: '10.96.0.10', ports: [{ name: INJECT }] })], [slice('default', 'web', ['10.244.0.5'], [{ name: INJECT }])]), { nodeName: 'n' }), { clusterCIDR: '10.0.0.0/8' }).text;
    expect(text).not.toMatch(/^-I INPUT/m);
    expect(text).toContain('default/web:http_-I_INPUT_1_-j_ACCEPT');
    for (const line of text.split('\n')) expect(line.split('"').length % 2).toBe(1);
  });
});

describe('5. the root-dir lock is a file lock inside the 0700 root dir', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bosun-lock-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is not blocked by whoever binds the old abstract socket name first', async () => {
    const root = join(dir, 'root');
    mkdirSync(root, { mode: 0o700 });
    // What any local user could do against the abstract-socket lock.
    const squatter = createNetServer();
    await new Promise<void>((r) => squatter.listen(`\0bosun-root-dir:${root}`, () => r()));
    try {
      const lock = await acquireRootDirLock(root);
      expect(statSync(join(root, 'bosun.lock')).mode & 0o777).toBe(0o600);
      expect(statSync(root).mode & 0o777).toBe(0o700);
      await lock.release();
    } finally {
      squatter.close();
    }
  });

  it('is held by another holder of the file, and freed by the kernel when that holder is killed', async () => {
    const root = join(dir, 'root');
    await (await acquireRootDirLock(root)).release(); // creates the root dir and the lock file
    // One process that locks through an inherited descriptor and keeps it, as the agent does.
    const holder = spawn('sh', ['-c', 'exec 3<>"$1"; flock --exclusive 3; exec sleep 60', 'sh', join(root, 'bosun.lock')], { stdio: 'ignore' });
    try {
      await (async () => {
        for (let i = 0; i < 100; i++) {
          try {
            const l = await acquireRootDirLock(root);
            await l.release();
            await new Promise((r) => setTimeout(r, 50));
          } catch (err) {
            if (err instanceof LockError) return;
            throw err;
          }
        }
        throw new Error('the other holder never got the lock');
      })();
      await expect(acquireRootDirLock(root)).rejects.toThrow(LockError);
    } finally {
      holder.kill('SIGKILL');
      await new Promise((r) => holder.once('exit', r));
    }
    let lock;
    for (let i = 0; i < 100 && !lock; i++) {
      lock = await acquireRootDirLock(root).catch(() => undefined);
      if (!lock) await new Promise((r) => setTimeout(r, 50));
    }
    expect(lock).toBeDefined();
    await lock!.release();
  });

  it('refuses a symlink planted as the lock file', async () => {
    const root = join(dir, 'root');
    mkdirSync(root, { mode: 0o700 });
    writeFileSync(join(dir, 'elsewhere'), '');
    symlinkSync(join(dir, 'elsewhere'), join(root, 'bosun.lock'));
    await expect(acquireRootDirLock(root)).rejects.toThrow(/ELOOP/);
  });
});

const MARKER = 'MARKER-7f3a9c-s3cr3t';

describe('7. $(VAR) expansion is bounded', () => {
  const objects = new ObjectStore();
  const ctx = { objects, podIP: '10.244.0.9', hostIP: '192.0.2.1', node: { cpuMilli: 1000, memoryBytes: 1 << 30, ephemeralBytes: 1 << 30 }, serviceEnv: {} };

  it('stops a doubling chain at the kernel limit, naming the variable, without building it', () => {
    // A 1 KB pod: V0 = 64 bytes, each Vn = $(Vn-1)$(Vn-1); V22 would be 268 MB.
    const env = [{ name: 'V0', value: 'x'.repeat(64) }, ...Array.from({ length: 22 }, (_, i) => ({ name: `V${i + 1}`, value: `$(V${i})$(V${i})` }))];
    const t = process.cpuUsage();
    const before = process.memoryUsage().rss;
    expect(() => resolveEnv(podOf({ containers: [ctr('c', { env })] }), ctr('c', { env }), ctx)).toThrow(ContainerConfigError);
    expect(() => resolveEnv(podOf({ containers: [ctr('c', { env })] }), ctr('c', { env }), ctx)).toThrow(`env[12] (V12): expands to more than ${MAX_EXPANDED_BYTES} bytes`);
    const cpu = process.cpuUsage(t);
    expect(cpu.user + cpu.system).toBeLessThan(1_000_000);
    expect(process.memoryUsage().rss - before).toBeLessThan(100 * 1024 * 1024);
  });

  it('bounds command and args the same way, and the whole environment', () => {
    const vars = [{ key: 'A', value: 'a'.repeat(100_000) }];
    expect(() => expandAll(['$(A)$(A)'], vars, 'args')).toThrow(/^args\[0\]: expands to more than/);
    const many = Array.from({ length: 40 }, (_, i) => ({ name: `E${i}`, value: 'y'.repeat(100_000) }));
    expect(() => resolveEnv(podOf({ containers: [ctr('c', { env: many })] }), ctr('c', { env: many }), ctx)).toThrow(/the environment of container "c" is \d+ bytes, more than the kernel accepts/);
  });
});

describe('9. no secret value in an error', () => {
  it('a Secret with a wrongly typed value is reported without the value', () => {
    const text = `apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  token: {nested: ${MARKER}}\n  other: [${MARKER}]\n`;
    const r = parseManifests(text, '/m/s.yaml');
    const errs = r.objects.flatMap((o) => validateParsed(o));
    expect(errs.length).toBe(2);
    for (const e of errs) {
      expect(e.message).toMatch(/^\/m\/s\.yaml: Secret "s": stringData\[(token|other)\]: Invalid value: must be a string$/);
      expect(JSON.stringify(e)).not.toContain(MARKER);
    }
  });

  it('a JSON syntax error never quotes the text around it', () => {
    const r = parseManifests(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"stringData":{"t":${MARKER}}}`, '/m/s.json');
    // YAML reads that as a string value: the error comes from validation, without the value.
    const msgs = [...r.errors, ...r.objects.flatMap((o) => validateParsed(o))].map((e) => e.message);
    for (const m of msgs) expect(m).not.toContain(MARKER);
    const bad = parseManifests(`{"stringData":{"t": [${MARKER}}}`, '/m/s.json');
    expect(bad.errors.map((e) => e.message)).toEqual(['/m/s.json: document 1: invalid JSON: line 1, column 22: Unexpected token']);
  });

  it('a subPathExpr built from a secret is named as written, not as expanded', async () => {
    const objects = new ObjectStore();
    objects.replace([{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'default' }, stringData: { p: `../${MARKER}` } }]);
    const ctx = { objects, podIP: '10.244.0.9', hostIP: '192.0.2.1', node: { cpuMilli: 1000, memoryBytes: 1 << 30, ephemeralBytes: 1 << 30 }, serviceEnv: {} };
    const c = ctr('c', { env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 's', key: 'p' } } }], volumeMounts: [{ name: 'e', mountPath: '/e', subPathExpr: '$(P)' }] });
    const p = podOf({ volumes: [{ name: 'e', emptyDir: {} }], containers: [c] });
    const vars = resolveEnv(p, c, ctx);
    const err = (() => { try { containerMounts(c, planVolumes(p, '/r', ctx), vars); } catch (e) { return e as Error; } })();
    expect(err?.message).toBe('container "c": volumeMounts[0].subPathExpr: Invalid value: "$(P)": must be a relative path that does not contain \'..\' once expanded');
    // And a symlink that leads out of the volume, found at mount time.
    const dir = mkdtempSync(join(tmpdir(), 'bosun-subpath-'));
    try {
      mkdirSync(join(dir, 'vol'));
      symlinkSync('/etc', join(dir, 'vol', MARKER));
      const e2 = await resolveMount({ containerPath: '/x', hostPath: '', readonly: false, subPath: MARKER, subPathShown: '$(P)', volumeRoot: join(dir, 'vol') }).catch((e: Error) => e);
      expect((e2 as Error).message).toBe('subPath "$(P)" resolves outside the volume');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('12. kubeconfig written 0600, read-only port on loopback', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bosun-kc-'));
    mkdirSync(join(dir, 'root', 'pki'), { recursive: true });
    writeFileSync(join(dir, 'root', 'pki', 'ca.crt'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    writeFileSync(join(dir, 'root', 'pki', 'tokens.csv'), `${MARKER},admin,admin,"system:masters"\n`);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const sink = () => {
    const chunks: string[] = [];
    return { stream: new Writable({ write: (c, _e, cb) => (chunks.push(String(c)), cb()) }), text: () => chunks.join('') };
  };
  const argsOf = () => ['--root-dir', join(dir, 'root')];

  it('--output writes the file 0600, tightening an existing one, and refuses a symlink', async () => {
    const out = join(dir, 'kc');
    writeFileSync(out, 'old', { mode: 0o644 });
    chmodSync(out, 0o644);
    expect(await kubeconfigMain([...argsOf(), '--output', out])).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(readFileSync(out, 'utf8')).toContain(`token: ${MARKER}`);
    symlinkSync(join(dir, 'elsewhere'), join(dir, 'link'));
    await expect(kubeconfigMain([...argsOf(), '--output', join(dir, 'link')])).rejects.toThrow(/cannot write .*ELOOP/);
    expect(existsSync(join(dir, 'elsewhere'))).toBe(false);
  });

  it('warns when stdout is a file that group or others can read, and only then', async () => {
    for (const [mode, warns] of [[0o644, true], [0o600, false]] as const) {
      const f = join(dir, `stdout-${mode.toString(8)}`);
      writeFileSync(f, '');
      chmodSync(f, mode);
      const fd = openSync(f, 'w');
      const out = sink();
      const err = sink();
      try {
        await kubeconfigMain(argsOf(), out.stream, err.stream, fd);
      } finally {
        closeSync(fd);
      }
      expect(out.text()).toContain(MARKER);
      expect(err.text().includes('readable by group or others (mode 0644)')).toBe(warns);
    }
  });

  it('the read-only port keeps 127.0.0.1 when --address exposes the kubelet port', () => {
    const c = resolveConfig({ address: '0.0.0.0' });
    expect(c.address).toBe('0.0.0.0');
    expect(c.readOnlyAddress).toBe('127.0.0.1');
    expect(resolveConfig({ 'read-only-address': '0.0.0.0' }).readOnlyAddress).toBe('0.0.0.0');
  });
});

describe('14. config shapes, metric labels that only grow, quadratic summing', () => {
  it('gives registerWithTaints: [null] and friends a config error naming the field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bosun-cfg-'));
    try {
      for (const [yaml, re] of [
        ['registerWithTaints: [null]', /registerWithTaints\[0\]: Invalid value: null: expected a taint/],
        ['registerWithTaints: [{key: a, effect: Sometimes}]', /registerWithTaints\[0\]\.effect: Unsupported value: "Sometimes"/],
        ['registerWithTaints: [{effect: NoSchedule}]', /registerWithTaints\[0\]\.key: Required value/],
      ] as const) {
        writeFileSync(join(dir, 'c.yaml'), `${yaml}\n`);
        let err: unknown;
        try {
          resolveConfig({}, join(dir, 'c.yaml'));
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(AgentConfigError);
        expect((err as Error).message).toMatch(re);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('forgets pods that are gone', () => {
    const m = new AgentMetrics({ pods: () => [], probes: new ProbeMetrics() });
    for (let i = 0; i < 100; i++) m.podRunning(`uid-${i}`, 0, 1000);
    m.retainOnly(new Set(['uid-7']));
    expect(m.remembered).toBe(1);
  });

  it('admits thousands of pods without summing every earlier pod again', () => {
    const pods = Array.from({ length: 3000 }, (_, i) => podOf({ containers: [ctr('c', { resources: { requests: { cpu: '1m', memory: '1Mi' } } })] }, `p${i}`));
    const ctx = { allocatable: { cpuMilli: 1e9, memory: 1e15, ephemeralStorage: 1e15, pods: 1e6 } };
    const t = process.cpuUsage();
    for (let i = 0; i < pods.length; i++) expect(admitPod(pods[i]!, pods.slice(0, i), ctx as never).ok).toBe(true);
    const cpu = process.cpuUsage(t);
    // 4.5 million quantity parses before; CPU time, not wall clock, with a wide margin.
    expect(cpu.user + cpu.system).toBeLessThan(5_000_000);
  });
});

describe('8. containerLogs follow waits for a slow client; SPDY header blocks are bounded', () => {
  it('reads no further while the client has not drained', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bosun-follow-'));
    const path = join(dir, '0.log');
    const line = (i: number) => `2026-01-01T00:00:00.${String(i % 1e9).padStart(9, '0')}Z stdout F ${'x'.repeat(1000)}\n`;
    writeFileSync(path, line(0));
    let writes = 0;
    let drainWaiter: (() => void) | undefined;
    const out = {
      write: () => ++writes === 1, // takes the first write, then never keeps up
      once: (_: 'drain', f: () => void) => (drainWaiter = f),
    };
    const ac = new AbortController();
    const done = streamLog(path, { follow: true, timestamps: false, previous: false } as never, out, () => true, ac.signal);
    try {
      await new Promise((r) => setTimeout(r, 200));
      const heap0 = process.memoryUsage().heapUsed;
      // 40 MiB arrive while the client sits on its first write.
      const chunk = Array.from({ length: 4096 }, (_, i) => line(i)).join('');
      for (let i = 0; i < 10; i++) appendFileSync(path, chunk);
      await new Promise((r) => setTimeout(r, 1500));
      const grown = process.memoryUsage().heapUsed - heap0;
      expect(writes).toBe(2);
      expect(grown).toBeLessThan(16 * 1024 * 1024);
      // Draining lets it go on.
      drainWaiter?.();
      await new Promise((r) => setTimeout(r, 300));
      expect(writes).toBeGreaterThan(2);
    } finally {
      ac.abort();
      drainWaiter?.();
      await done;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ends a session whose SYN_STREAM header block inflates past 1 MiB, without holding it', async () => {
    const sent: Buffer[] = [];
    const conn = new Duplex({ read() {}, write(c, _e, cb) { sent.push(c as Buffer); cb(); } });
    let streams = 0;
    const session = new SpdySession(conn, () => streams++);
    // 255 KiB of compressed zeros: about 260 MB inflated.
    const block = deflateSync(Buffer.alloc(260 * 1024 * 1024), { dictionary: SPDY_DICTIONARY, level: 9, finishFlush: zc.Z_SYNC_FLUSH });
    expect(block.length).toBeLessThan(300 * 1024);
    const heap0 = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
    conn.push(controlFrame(SYN_STREAM, 0, Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 0, 0, 0, 0, 0]), block])));
    for (let i = 0; i < 100 && !session.closed; i++) await new Promise((r) => setTimeout(r, 50));
    expect(session.closed).toBe(true);
    expect(streams).toBe(0);
    const grown = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers - heap0;
    expect(grown).toBeLessThan(64 * 1024 * 1024);
  });
});
