import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { beforeFirst } from '../../base/index.js';
import { freePort, manifest, removeTestContainers, TestAgent } from '../support/agent.js';
import { BUSYBOX as BB } from '../support/common.js';

// The kubelet API end to end: the built agent with its HTTPS port, the real kubectl of this
// machine (get/describe/logs/exec/port-forward/events/node), curl for kubelet's own
// endpoints, promtool for the metrics, and a WebSocket client for 100 exec sessions.

const run = promisify(execFile);

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const KUBECTL = has('kubectl');
const agent = new TestAgent();
let port = 0;
let healthzPort = 0;
let token = '';
let kubeconfig = '';
let ca = '';
const pki = () => join(agent.dir, 'root', 'pki');
const pod = (n: string) => `${n}-${agent.nodeName}`;
const SECRET = 'hunter2-do-not-leak';

interface Out { code: number; stdout: string; stderr: string }

function kubectl(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<Out> {
  return new Promise((res) => {
    const p = spawn('kubectl', ['--kubeconfig', kubeconfig, ...args], { env: { ...process.env, HOME: agent.dir, KUBECACHEDIR: join(agent.dir, 'kcache') } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => p.kill('SIGTERM'), opts.timeoutMs ?? 30_000);
    p.once('close', (code) => {
      clearTimeout(t);
      res({ code: code ?? -1, stdout, stderr });
    });
    p.stdin.end(opts.input ?? '');
  });
}

async function curl(path: string, extra: string[] = []): Promise<{ code: number; body: string }> {
  const r = await run('curl', ['-sS', '--max-time', '10', '--cacert', ca, '-o', '-', '-w', '\n%{http_code}', ...extra, `https://127.0.0.1:${port}${path}`], { maxBuffer: 32 << 20 });
  const i = r.stdout.lastIndexOf('\n');
  return { code: Number(r.stdout.slice(i + 1)), body: r.stdout.slice(0, i) };
}
const auth = () => ['-H', `Authorization: Bearer ${token}`];

/** A client CA and a client certificate (CN=alice, O=ops) for the x509 path. */
function makeClientCerts(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const o = (args: string[]) => {
    const r = spawnSync('openssl', args, { cwd: dir });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const n of ['ca', 'other-ca']) o(['req', '-x509', ...ec, '-keyout', `${n}.key`, '-out', `${n}.crt`, '-days', '2', '-subj', `/CN=${n}`]);
  for (const [n, signer] of [['alice', 'ca'], ['mallory', 'other-ca']]) {
    o(['req', '-new', ...ec, '-keyout', `${n}.key`, '-out', `${n}.csr`, '-subj', `/O=ops/CN=${n}`]);
    o(['x509', '-req', '-in', `${n}.csr`, '-CA', `${signer}.crt`, '-CAkey', `${signer}.key`, '-set_serial', '1', '-days', '2', '-out', `${n}.crt`]);
  }
}

beforeAll(async () => {
  await removeTestContainers();
  port = await freePort();
  healthzPort = await freePort();
  makeClientCerts(join(agent.dir, 'clients'));
  mkdirSync(agent.manifests, { recursive: true });
  agent.write('objects.yaml', `apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  password: ${Buffer.from(SECRET).toString('base64')}\n`);
  agent.write('web.yaml', manifest('web', `  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: ${BB}
    command: ["sh", "-c", "mkdir -p /www && echo hello-port-forward > /www/index.html && (i=0; while true; do echo out-$i; echo err-$i >&2; i=$((i+1)); sleep 0.5; done) & exec httpd -f -p 8080 -h /www"]
    env:
    - name: PASSWORD
      valueFrom: { secretKeyRef: { name: s, key: password } }
`));
  agent.write('crash.yaml', manifest('crash', `  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: ${BB}
    command: ["sh", "-c", "echo run-at-$(date +%s)-$$RANDOM; sleep 2; exit 1"]
`));
  await agent.start(['--port', String(port), '--healthz-port', String(healthzPort), '--client-ca-file', join(agent.dir, 'clients', 'ca.crt')]);
  ca = join(pki(), 'ca.crt');
  // The read-only port (what start() waits for) opens before the kubelet port.
  await agent.until(async () => (await run('curl', ['-sk', '-o', '/dev/null', '-w', '%{http_code}', `https://127.0.0.1:${port}/healthz`])).stdout === '401', 'kubelet port up', 30_000);
  token = beforeFirst(readFileSync(join(pki(), 'tokens.csv'), 'utf8'), ',');
  kubeconfig = join(agent.dir, 'kubeconfig');
  const kc = await run(process.execPath, [resolve('dist/agent/cli.js'), 'kubeconfig', '--root-dir', join(agent.dir, 'root'), '--port', String(port), '--node-name', agent.nodeName]);
  writeFileSync(kubeconfig, kc.stdout);
  await agent.waitPod('web', (p) => p.status?.containerStatuses?.[0]?.ready === true, 'web ready');
}, 180_000);

afterAll(async () => {
  await agent.destroy();
});

describe('serving and authentication', () => {
  const endpoints = ['/healthz', '/healthz/syncloop', '/pods', '/runningpods', '/metrics', '/metrics/probes', '/metrics/resource', '/stats/summary', '/configz',
    '/containerLogs/default/x/y', '/exec/default/x/y?command=id', '/attach/default/x/y', '/portForward/default/x', '/run/default/x/y',
    '/version', '/api', '/api/v1', '/apis', '/api/v1/pods', '/api/v1/namespaces/default/pods/x/log', '/api/v1/nodes', '/api/v1/events', '/nope'];

  it('refuses anonymous and wrong-token requests to every endpoint with 401 and nothing else', async () => {
    const want = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
    for (const path of endpoints) {
      for (const extra of [[], ['-H', 'Authorization: Bearer wrong-token'], ['-H', 'Authorization: Basic YWRtaW46YWRtaW4='], ['-X', 'POST']]) {
        const r = await curl(path, extra);
        expect({ path, extra, code: r.code, body: r.body }).toEqual({ path, extra, code: 401, body: want });
      }
      // Upgrades (WebSocket, SPDY) are refused before any handshake.
      for (const up of [['-H', 'Connection: Upgrade', '-H', 'Upgrade: websocket', '-H', 'Sec-WebSocket-Version: 13', '-H', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', '-H', 'Sec-WebSocket-Protocol: v5.channel.k8s.io'], ['-H', 'Connection: Upgrade', '-H', 'Upgrade: SPDY/3.1']]) {
        const r = await curl(path, up);
        expect({ path, code: r.code, body: r.body }).toEqual({ path, code: 401, body: want });
      }
    }
    // A certificate from another CA is no identity either.
    const c = join(agent.dir, 'clients');
    const r = await curl('/pods', ['--cert', join(c, 'mallory.crt'), '--key', join(c, 'mallory.key')]);
    expect(r.code).toBe(401);
  });

  it('authenticates a bearer token and a client certificate (CN user, O groups)', async () => {
    expect((await curl('/healthz', auth())).body).toBe('ok');
    const c = join(agent.dir, 'clients');
    const r = await curl('/pods', ['--cert', join(c, 'alice.crt'), '--key', join(c, 'alice.key')]);
    expect(r.code).toBe(200);
    expect(JSON.parse(r.body).items.some((p: { metadata: { name: string } }) => p.metadata.name === pod('web'))).toBe(true);
    // The serving certificate names the node and 127.0.0.1 and is signed by the CA it made.
    const v = await run('openssl', ['verify', '-CAfile', ca, join(pki(), 'kubelet.crt')]);
    expect(v.stdout).toContain('OK');
  });

  it('serves plain /healthz on the healthz port only', async () => {
    const ok = await run('curl', ['-sS', `http://127.0.0.1:${healthzPort}/healthz`]);
    expect(ok.stdout).toBe('ok');
    const other = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${healthzPort}/pods`]);
    expect(other.stdout).toBe('404');
  });

  it('the read-only port shows no secret value and has no exec', async () => {
    for (const p of ['/pods', '/events', '/metrics', '/metrics/probes', '/healthz']) {
      const r = await run('curl', ['-sS', `http://127.0.0.1:${agent.port}${p}`], { maxBuffer: 32 << 20 });
      expect(r.stdout).not.toContain(SECRET);
      expect(r.stdout).not.toContain(Buffer.from(SECRET).toString('base64'));
    }
    for (const p of [`/exec/default/${pod('web')}/httpd?command=id`, `/run/default/${pod('web')}/httpd`, `/attach/default/${pod('web')}/httpd`, `/portForward/default/${pod('web')}`, '/stats/summary', '/configz', `/containerLogs/default/${pod('web')}/httpd`]) {
      for (const m of ['GET', 'POST']) {
        const r = await run('curl', ['-sS', '-X', m, '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${agent.port}${p}`]);
        expect([p, m, r.stdout]).toEqual([p, m, expect.stringMatching(/^40[45]$/)]);
      }
    }
  });
});

describe('kubelet endpoints (curl)', () => {
  it('/stats/summary has cpu, memory, network and filesystem for the node, the pod and its container', async () => {
    await curl('/stats/summary', auth());
    await new Promise((r) => setTimeout(r, 1100));
    const s = JSON.parse((await curl('/stats/summary', auth())).body);
    expect(s.node).toMatchObject({ nodeName: agent.nodeName, cpu: { usageCoreNanoSeconds: expect.any(Number), usageNanoCores: expect.any(Number) }, memory: { workingSetBytes: expect.any(Number) }, fs: { capacityBytes: expect.any(Number) }, runtime: { imageFs: { capacityBytes: expect.any(Number) } } });
    const p = s.pods.find((x: { podRef: { name: string } }) => x.podRef.name === pod('web'));
    expect(p).toMatchObject({
      podRef: { namespace: 'default' },
      cpu: { usageCoreNanoSeconds: expect.any(Number) },
      memory: { workingSetBytes: expect.any(Number) },
      network: { rxBytes: expect.any(Number), interfaces: expect.any(Array) },
      'ephemeral-storage': { usedBytes: expect.any(Number) },
    });
    expect(p.containers[0]).toMatchObject({ name: 'httpd', cpu: { usageNanoCores: expect.any(Number) }, memory: { workingSetBytes: expect.any(Number) }, rootfs: { usedBytes: expect.any(Number) }, logs: { usedBytes: expect.any(Number) } });
    expect(p.containers[0].memory.workingSetBytes).toBeGreaterThan(0);
    expect(p.containers[0].logs.usedBytes).toBeGreaterThan(0);
  });

  it('/metrics, /metrics/probes and /metrics/resource pass promtool check metrics', async () => {
    expect(has('promtool')).toBe(true);
    for (const p of ['/metrics', '/metrics/probes', '/metrics/resource']) {
      const body = (await curl(p, auth())).body;
      const r = spawnSync('promtool', ['check', 'metrics'], { input: body });
      expect({ p, status: r.status, out: `${r.stdout}${r.stderr}` }).toEqual({ p, status: 0, out: '' });
    }
    const all = (await curl('/metrics', auth())).body;
    for (const n of ['kubelet_running_pods', 'kubelet_running_containers', 'kubelet_pod_start_duration_seconds', 'kubelet_pleg_relist_duration_seconds', 'prober_probe_duration_seconds', 'kubeproxy_sync_proxy_rules_duration_seconds', 'kubeproxy_network_programming_duration_seconds', 'process_resident_memory_bytes']) {
      expect(all).toContain(`# TYPE ${n} `);
    }
    const res = (await curl('/metrics/resource', auth())).body;
    expect(res).toMatch(new RegExp(`container_cpu_usage_seconds_total\\{[^}]*pod="${pod('web')}"[^}]*\\} \\d`));
    expect(res).toContain('node_memory_working_set_bytes');
    expect(res).toContain('scrape_error 0');
  });

  it('/containerLogs, /run, /runningpods, /configz', async () => {
    const logs = await curl(`/containerLogs/default/${pod('web')}/httpd?tailLines=2&timestamps=true`, auth());
    expect(logs.code).toBe(200);
    expect(logs.body.trim().split('\n')).toHaveLength(2);
    expect(logs.body).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z (out|err)-\d+$/m);
    const limited = await curl(`/containerLogs/default/${pod('web')}/httpd?limitBytes=5`, auth());
    expect(limited.body).toHaveLength(5);
    const r = await curl(`/run/default/${pod('web')}/httpd`, [...auth(), '-X', 'POST', '-d', 'cmd=cat /www/index.html']);
    expect(r.body).toBe('hello-port-forward\n');
    const running = JSON.parse((await curl('/runningpods', auth())).body);
    expect(running.items.map((p: { metadata: { name: string } }) => p.metadata.name)).toContain(pod('web'));
    const cz = JSON.parse((await curl('/configz', auth())).body);
    expect(cz.kubeletconfig).toMatchObject({ port, authorization: { mode: 'AlwaysAllow' }, authentication: { anonymous: { enabled: false } } });
  });

  it('exec over a WebSocket on the kubelet path (v4): stdout, stderr and the exit code Status', async () => {
    const out = await wsExec(`/exec/default/${pod('web')}/httpd?command=sh&command=-c&command=echo%20a%3B%20echo%20b%20%3E%262%3B%20exit%205&output=1&error=1`, 'v4.channel.k8s.io');
    expect(out.stdout).toBe('a\n');
    expect(out.stderr).toBe('b\n');
    expect(JSON.parse(out.error)).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '5' }] } });
  });

  // What the API server passes through to the node when a client asks for anything but v5
  // (e2e pods.go "should support remote command execution over websockets" asks for channel.k8s.io).
  it('exec over a WebSocket with the pre-v4 protocols, binary and base64: output, and only a failure\'s text on the error channel', async () => {
    const ok = `/exec/default/${pod('web')}/httpd?command=echo&command=remote%20execution%20test&output=1&error=1`;
    const failing = `/exec/default/${pod('web')}/httpd?command=sh&command=-c&command=echo%20a%3B%20exit%205&output=1&error=1`;
    for (const protocol of ['channel.k8s.io', 'base64.channel.k8s.io']) {
      expect(await wsExec(ok, protocol)).toEqual({ stdout: 'remote execution test\n', stderr: '', error: '' });
      expect(await wsExec(failing, protocol)).toEqual({ stdout: 'a\n', stderr: '', error: 'command terminated with non-zero exit code: exit status 5' });
    }
  });
});

/** One exec session with a WebSocket client; `stdin` is sent and closed (v5) when given. */
function wsExec(path: string, protocol = 'v5.channel.k8s.io', stdin?: string, closeEarly = false): Promise<{ stdout: string; stderr: string; error: string }> {
  return new Promise((res, rej) => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}${path}`, [protocol], { ca: readFileSync(ca), headers: { Authorization: `Bearer ${token}` } });
    const out = { stdout: '', stderr: '', error: '' };
    ws.on('open', () => {
      if (stdin !== undefined) {
        ws.send(Buffer.concat([Buffer.from([0]), Buffer.from(stdin)]));
        if (!closeEarly) ws.send(Buffer.from([255, 0]));
      }
      if (closeEarly) setTimeout(() => ws.close(), 50);
    });
    ws.on('message', (d: Buffer, isBinary: boolean) => {
      // base64 protocols: text messages, the channel as an ASCII digit.
      const ch = isBinary ? d[0] : d[0]! - 48;
      const body = isBinary ? d.subarray(1).toString() : Buffer.from(d.subarray(1).toString(), 'base64').toString();
      if (ch === 1) out.stdout += body;
      else if (ch === 2) out.stderr += body;
      else if (ch === 3) out.error += body;
    });
    ws.on('close', () => res(out));
    ws.on('error', rej);
  });
}

describe.skipIf(!KUBECTL)('kubectl against the standalone node', () => {
  it('version, get pods -A -o wide, get pod -o json, describe pod', async () => {
    const v = await kubectl(['version']);
    expect(v.stdout).toContain('Server Version: v1.36.3-bosun');
    const g = await kubectl(['get', 'pods', '-A', '-o', 'wide']);
    expect(g.code).toBe(0);
    const head = beforeFirst(g.stdout, '\n');
    expect(head.split(/\s{2,}/)).toEqual(['NAMESPACE', 'NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'IP', 'NODE', 'NOMINATED NODE', 'READINESS GATES']);
    const row = g.stdout.split('\n').find((l) => l.includes(pod('web')))!;
    expect(row).toMatch(new RegExp(`^default\\s+${pod('web')}\\s+1/1\\s+Running\\s+0\\s+\\S+\\s+10\\.244\\.\\d+\\.\\d+\\s+${agent.nodeName}\\s+<none>\\s+<none>$`));
    const j = JSON.parse((await kubectl(['get', 'pod', pod('web'), '-o', 'json'])).stdout);
    expect(j).toMatchObject({ kind: 'Pod', metadata: { name: pod('web') }, status: { phase: 'Running' } });
    const d = await kubectl(['describe', 'pod', pod('web')]);
    expect(d.code).toBe(0);
    expect(d.stdout).toMatch(/Status:\s+Running/);
    expect(d.stdout).toMatch(/Events:[\s\S]*Started\s+\S+\s+kubelet\s+Started container httpd/);
    const missing = await kubectl(['get', 'pod', 'nope']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('pods "nope" not found');
  });

  it('logs, --tail, --timestamps, -f and --previous', async () => {
    const l = await kubectl(['logs', pod('web'), '--tail', '4']);
    expect(l.stdout.trim().split('\n')).toHaveLength(4);
    expect(l.stdout).toMatch(/^(out|err)-\d+$/m);
    const t = await kubectl(['logs', pod('web'), '--tail', '1', '--timestamps']);
    expect(t.stdout).toMatch(/^\d{4}-\d\d-\d\dT\S+Z (out|err)-\d+\n$/);
    // -f keeps streaming new lines until the client goes away.
    const f = await kubectl(['logs', '-f', pod('web'), '--tail', '1'], { timeoutMs: 2500 });
    expect(f.stdout.trim().split('\n').length).toBeGreaterThanOrEqual(3);
    await agent.waitPod('crash', (p) => (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1, 'crash restarted', 60_000);
    const prev = await kubectl(['logs', pod('crash'), '--previous']);
    const cur = await kubectl(['logs', pod('crash')]);
    expect([prev.code, prev.stderr]).toEqual([0, '']);
    expect(prev.stdout).toMatch(/^run-at-\d+-\d+\n$/);
    expect(cur.code).toBe(0);
    expect(cur.stdout).toMatch(/^run-at-\d+-\d+\n$/);
    const noPrev = await kubectl(['logs', pod('web'), '--previous']);
    expect(noPrev.code).toBe(1);
    expect(noPrev.stderr).toContain('previous terminated container "httpd"');
  });

  it('exec: stdout, stderr, stdin, and the exit code as kubectl\'s own', async () => {
    const e = await kubectl(['exec', pod('web'), '--', 'sh', '-c', 'echo to-out; echo to-err >&2; exit 3']);
    expect(e).toMatchObject({ code: 3, stdout: 'to-out\n' });
    expect(e.stderr).toContain('to-err\n');
    expect(e.stderr).toContain('command terminated with exit code 3');
    const ok = await kubectl(['exec', pod('web'), '--', 'true']);
    expect(ok.code).toBe(0);
    const i = await kubectl(['exec', '-i', pod('web'), '--', 'sh', '-c', 'tr a-z A-Z; echo eof'], { input: 'from stdin\n' });
    expect(i).toMatchObject({ code: 0, stdout: 'FROM STDIN\neof\n' });
    const env = await kubectl(['exec', pod('web'), '--', 'sh', '-c', 'test -n "$PASSWORD" && echo has-secret']);
    expect(env.stdout).toBe('has-secret\n');
  });

  // The engine (API 1.41) cannot size a TTY at exec start: the client's first resize lands
  // just after the process starts, so the command waits a moment before asking.
  it('exec -it with a TTY (under script): a terminal of the client\'s size, the exit code', () => {
    if (!has('script')) return;
    const cmd = `stty cols 91 rows 27; kubectl --kubeconfig ${kubeconfig} exec -it ${pod('web')} -- sh -c 'sleep 1; tty; stty size; exit 4'`;
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { env: { ...process.env, HOME: agent.dir }, timeout: 30_000 });
    const out = r.stdout.toString();
    expect(out).toMatch(/\/dev\/pts\/\d+/);
    expect(out).toContain('27 91');
    expect(r.status).toBe(4);
  });

  it('port-forward: curl through it to the pod\'s httpd', async () => {
    const local = await freePort();
    let pf: ChildProcess | undefined;
    try {
      pf = spawn('kubectl', ['--kubeconfig', kubeconfig, 'port-forward', pod('web'), `${local}:8080`], { env: { ...process.env, HOME: agent.dir }, stdio: ['ignore', 'pipe', 'pipe'] });
      let log = '';
      pf.stdout!.on('data', (d: Buffer) => (log += d.toString()));
      pf.stderr!.on('data', (d: Buffer) => (log += d.toString()));
      await agent.until(async () => log.includes('Forwarding from'), 'kubectl port-forward ready', 20_000, () => log);
      for (let i = 0; i < 3; i++) {
        const r = await run('curl', ['-sS', '--max-time', '5', `http://127.0.0.1:${local}/`]);
        expect(r.stdout).toBe('hello-port-forward\n');
      }
      // A port nothing listens on: kubectl reports the error and the forwarder stays up.
      expect(log).not.toContain('error');
    } finally {
      pf?.kill('SIGTERM');
    }
  });

  // The gcloud kubectl on these machines ships one client per minor version.
  it('other kubectl versions: exec over WebSocket (1.30+) and SPDY/3.1 (before), port-forward over SPDY and tunnelled SPDY', async () => {
    const dir = '/usr/lib/google-cloud-sdk/bin';
    const versions = ['1.27', '1.28', '1.29', '1.30', '1.31', '1.32', '1.33'].filter((v) => spawnSync('test', ['-x', `${dir}/kubectl.${v}`]).status === 0);
    if (!versions.length) return;
    for (const v of versions) {
      const bin = `${dir}/kubectl.${v}`;
      const env = { ...process.env, HOME: agent.dir };
      const e = spawnSync(bin, ['--kubeconfig', kubeconfig, 'exec', pod('web'), '--', 'sh', '-c', 'echo v; exit 6'], { env, timeout: 20_000 });
      expect([v, e.status, e.stdout.toString()]).toEqual([v, 6, 'v\n']);
      if (Number(v.split('.')[1]) < 30) {
        // SPDY: stdin to the process and its end (FIN on the stdin stream) reach it.
        const i = spawnSync(bin, ['--kubeconfig', kubeconfig, 'exec', '-i', pod('web'), '--', 'sh', '-c', 'cat; echo done >&2'], { env, timeout: 20_000, input: 'in-spdy\n' });
        expect([v, i.status, i.stdout.toString(), i.stderr.toString()]).toEqual([v, 0, 'in-spdy\n', 'done\n']);
      }
      const local = await freePort();
      const pf = spawn(bin, ['--kubeconfig', kubeconfig, 'port-forward', pod('web'), `${local}:8080`], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      try {
        let log = '';
        pf.stdout!.on('data', (d: Buffer) => (log += d.toString()));
        await agent.until(async () => log.includes('Forwarding from'), `kubectl ${v} port-forward ready`, 20_000);
        const r = await run('curl', ['-sS', '--max-time', '5', `http://127.0.0.1:${local}/`]);
        expect([v, r.stdout]).toEqual([v, 'hello-port-forward\n']);
      } finally {
        pf.kill('SIGTERM');
      }
    }
  });

  it('get events, get node -o wide, node object, namespaces', async () => {
    const ev = await kubectl(['get', 'events', '-A']);
    expect(ev.code).toBe(0);
    expect(beforeFirst(ev.stdout, '\n').split(/\s{2,}/)).toEqual(['NAMESPACE', 'LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE']);
    expect(ev.stdout).toMatch(new RegExp(`Normal\\s+Started\\s+pod/${pod('web')}\\s+Started container httpd`));
    const n = await kubectl(['get', 'node', '-o', 'wide']);
    expect(n.stdout).toMatch(new RegExp(`^${agent.nodeName}\\s+Ready\\s+<none>\\s+\\S+\\s+v1\\.36\\.3-bosun\\s+\\S+\\s+<none>\\s+.+docker://`, 'm'));
    const node = JSON.parse((await kubectl(['get', 'node', agent.nodeName, '-o', 'json'])).stdout);
    expect(node.metadata.labels).toMatchObject({ 'kubernetes.io/hostname': agent.nodeName, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': expect.any(String) });
    expect(node.status.capacity).toMatchObject({ cpu: expect.any(String), memory: expect.stringMatching(/Ki$/), pods: '110', 'ephemeral-storage': expect.stringMatching(/Ki$/) });
    expect(node.status.conditions.find((c: { type: string }) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'KubeletReady' });
    expect(node.status.nodeInfo).toMatchObject({ kubeletVersion: 'v1.36.3-bosun', containerRuntimeVersion: expect.stringMatching(/^docker:\/\//), operatingSystem: 'linux' });
    const ns = await kubectl(['get', 'ns']);
    expect(ns.stdout).toMatch(/^default\s+Active/m);
  });

  it('a pod of a hand-written file is not changed through the API: 409 naming the file', async () => {
    const file = join(agent.manifests, 'web.yaml');
    const del = await kubectl(['delete', 'pod', pod('web'), '--wait=false']);
    expect(del.code).toBe(1);
    expect(del.stderr).toContain(`defined by the hand-written manifest ${file}`);
    const label = await kubectl(['label', 'pod', pod('web'), 'x=y']);
    expect(label.code).toBe(1);
    expect(label.stderr).toContain(`defined by the hand-written manifest ${file}`);
    // What a standalone node does not write at all.
    const node = await kubectl(['label', 'node', agent.nodeName, 'x=y']);
    expect(node.code).toBe(1);
    expect(node.stderr).toContain('only pods, configmaps, secrets and services can be written');
    expect((await agent.pod('web'))?.status?.phase).toBe('Running');
  });
});

describe('streams without leaks', () => {
  const fds = () => spawnSync('ls', [`/proc/${agent.pid}/fd`]).stdout.toString().trim().split('\n').length;
  const rssKiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${agent.pid}/status`, 'utf8'))?.[1]);
  const execsIn = async () => (await run('docker', ['top', (await (await import('../support/agent.js')).containersOf(agent.nodeName, pod('web'))).find((c) => c.Labels['io.kubernetes.container.name'] === 'httpd')!.Id, '-eo', 'pid,args'])).stdout;

  it('a client that goes away ends the exec stream and closes the process\'s stdin', async () => {
    // cat waits on stdin; the client closes without sending the v5 stdin close.
    const out = await wsExec(`/exec/default/${pod('web')}/httpd?command=sh&command=-c&command=cat%3B%20echo%20stdin-closed%20%3E%20%2Ftmp%2Fmarker&input=1&output=1`, 'v5.channel.k8s.io', 'partial', true);
    expect(out.error).toBe('');
    await agent.until(async () => (await curl(`/run/default/${pod('web')}/httpd`, [...auth(), '-X', 'POST', '-d', 'cmd=cat /tmp/marker'])).body === 'stdin-closed\n', 'the exec\'d cat saw EOF', 10_000);
    expect(await execsIn()).not.toMatch(/\bcat\b/);
  });

  it('100 exec sessions opened and closed leave no growth in fds or RSS beyond noise', async () => {
    const path = `/exec/default/${pod('web')}/httpd?command=cat&input=1&output=1&error=1`;
    const session = (i: number) => wsExec(path, 'v5.channel.k8s.io', `msg-${i}\n`, i % 2 === 1);
    for (let i = 0; i < 10; i++) await session(i); // warm up
    await new Promise((r) => setTimeout(r, 1000));
    const before = { fds: fds(), rss: rssKiB() };
    for (let i = 0; i < 100; i += 10) {
      const outs = await Promise.all(Array.from({ length: 10 }, (_, k) => session(i + k)));
      outs.forEach((o, k) => {
        if ((i + k) % 2 === 0) expect(o.stdout).toBe(`msg-${i + k}\n`);
      });
    }
    await agent.until(async () => !/\bcat\b/.test(await execsIn()), 'every exec\'d cat gone', 15_000);
    await new Promise((r) => setTimeout(r, 1500));
    const after = { fds: fds(), rss: rssKiB() };
    // Numbers for the record (the test log shows them).
    console.log(`exec leak check: fds ${before.fds} -> ${after.fds}, RSS ${before.rss} KiB -> ${after.rss} KiB`);
    expect(after.fds - before.fds).toBeLessThanOrEqual(3);
    expect(after.rss - before.rss).toBeLessThan(30 * 1024);
  });
});
