import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, manifest, removeTestContainers, TestAgent } from '../support/agent.js';

// kubectl's writes on a standalone node, with the real kubectl of this machine: create,
// replace, apply (client-side and server-side), edit, delete and get -w on pods, ConfigMaps,
// Secrets and Services become files in <manifest-dir>/kubectl/, validated as dropped files;
// files written by hand stay the operator's.

const run = promisify(execFile);

/**
 * The kubectl to drive: BOSUN_KUBECTL, else the one on PATH, else the one setup-host.sh
 * builds with the control plane (scripts/cluster.sh env names its directory).
 */
function findKubectl(): string {
  if (process.env.BOSUN_KUBECTL) return process.env.BOSUN_KUBECTL;
  if (spawnSync('sh', ['-c', 'command -v kubectl']).status === 0) return 'kubectl';
  const env = spawnSync('bash', ['scripts/cluster.sh', 'env'], { encoding: 'utf8' });
  const bin = /^K8S_BIN=(.*)$/m.exec(env.stdout ?? '')?.[1];
  if (bin && existsSync(join(bin, 'kubectl'))) return join(bin, 'kubectl');
  throw new Error('no kubectl: run ./scripts/setup-host.sh (it builds one into /var/cache/bosun), or set BOSUN_KUBECTL');
}
const KUBECTL = findKubectl();
const BB = 'localhost/bosun/busybox:1';
const agent = new TestAgent();
let port = 0;
let kubeconfig = '';
const managed = () => join(agent.manifests, 'kubectl');
const managedFiles = () => (existsSync(managed()) ? readdirSync(managed()).filter((f) => !f.startsWith('.')).sort() : []);

interface Out { code: number; stdout: string; stderr: string }

function kubectl(args: string[], opts: { input?: string; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<Out> {
  return new Promise((res) => {
    const p = spawn(KUBECTL, ['--kubeconfig', kubeconfig, ...args], { env: { ...process.env, HOME: agent.dir, KUBECACHEDIR: join(agent.dir, 'kcache'), ...opts.env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => p.kill('SIGTERM'), opts.timeoutMs ?? 60_000);
    p.once('close', (code) => {
      clearTimeout(t);
      res({ code: code ?? -1, stdout, stderr });
    });
    p.stdin.end(opts.input ?? '');
  });
}

/** `kubectl <args> -f -` with a manifest on stdin. */
const withFile = (args: string[], text: string, env?: Record<string, string>) => kubectl([...args, '-f', '-'], { input: text, ...(env ? { env } : {}) });

const podYaml = (name: string, image = BB, extra = '') => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  labels: { app: ${name} }
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: ${image}
    command: ["sh", "-c", "echo started; exec sleep 3600"]
    env:
    - { name: A, value: "1" }
${extra}`;

const ok = (o: Out) => expect({ code: o.code, stderr: o.stderr }).toEqual({ code: 0, stderr: '' });

beforeAll(async () => {
  await removeTestContainers();
  port = await freePort();
  mkdirSync(agent.manifests, { recursive: true });
  agent.write('hand.yaml', `${manifest('hand', `  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: ${BB}
    command: ["sleep", "3600"]
`)}---
apiVersion: v1
kind: ConfigMap
metadata:
  name: hand-cm
data:
  k: v
`);
  await agent.start(['--port', String(port)]);
  const pki = join(agent.dir, 'root', 'pki');
  await agent.until(async () => (await run('curl', ['-sk', '-o', '/dev/null', '-w', '%{http_code}', `https://127.0.0.1:${port}/healthz`])).stdout === '401', 'kubelet port up', 30_000);
  expect(existsSync(join(pki, 'ca.crt'))).toBe(true);
  kubeconfig = join(agent.dir, 'kubeconfig');
  const kc = await run(process.execPath, [resolve('dist/agent/cli.js'), 'kubeconfig', '--root-dir', join(agent.dir, 'root'), '--port', String(port), '--node-name', agent.nodeName]);
  writeFileSync(kubeconfig, kc.stdout);
  await agent.waitPod('hand', (p) => p.status?.phase === 'Running', 'hand running');
}, 120_000);

afterAll(async () => {
  await agent.destroy();
});

describe('kubectl writes files into <manifest-dir>/kubectl', () => {
  it('create -f runs the pod under the name given, from a file in the managed directory', async () => {
    ok(await withFile(['create'], podYaml('web')));
    expect(managedFiles()).toContain('pod_default_web.yaml');
    expect(readFileSync(join(managed(), 'pod_default_web.yaml'), 'utf8')).toMatch(/name: web\n/);
    await agent.until(async () => (await kubectl(['get', 'pod', 'web', '-o', 'jsonpath={.status.phase}'])).stdout === 'Running', 'web Running', 90_000);
    const again = await withFile(['create'], podYaml('web'));
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('pods "web" already exists');
  });

  it('refuses an invalid object with the field errors of a dropped file, as a 422 with causes, and writes nothing', async () => {
    const before = managedFiles();
    const bad = podYaml('bad', BB, '  restartPolicy: Sometimes\n').replace('    command:', '    bogusField: 1\n    command:');
    const r = await withFile(['create'], bad);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('The Pod "bad" is invalid');
    expect(r.stderr).toContain('spec.restartPolicy: Unsupported value: "Sometimes"');
    expect(r.stderr).toContain('unknown field "spec.containers[0].bogusField"');
    expect(managedFiles()).toEqual(before);
    // The same text dropped as a file gets the same field errors in the agent's log.
    agent.write('bad-dropped.yaml', bad);
    await agent.until(async () => agent.log().includes('spec.restartPolicy: Unsupported value: \\"Sometimes\\"'), 'the dropped file refused', 20_000);
    agent.remove('bad-dropped.yaml');
    // The Status itself: 422, reason Invalid, one cause per field.
    const pki = join(agent.dir, 'root', 'pki');
    const token = readFileSync(join(pki, 'tokens.csv'), 'utf8').split(',')[0];
    const body = JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'bad' }, spec: { containers: [{ name: 'c' }], restartPolicy: 'Sometimes' } });
    const raw = await run('curl', ['-sS', '--cacert', join(pki, 'ca.crt'), '-H', `Authorization: Bearer ${token}`, '-H', 'Content-Type: application/json', '-X', 'POST', '--data-binary', body,
      '-w', '\n%{http_code}', `https://127.0.0.1:${port}/api/v1/namespaces/default/pods`]);
    const [json, code] = raw.stdout.split('\n');
    expect(code).toBe('422');
    expect(JSON.parse(json!)).toMatchObject({
      kind: 'Status', status: 'Failure', reason: 'Invalid', code: 422,
      details: { name: 'bad', kind: 'Pod', causes: expect.arrayContaining([
        { reason: 'FieldValueRequired', field: 'spec.containers[0].image', message: 'Required value' },
        { reason: 'FieldValueNotSupported', field: 'spec.restartPolicy', message: expect.stringContaining('Unsupported value: "Sometimes"') },
      ]) },
    });
    // Writes need the same authentication as every other endpoint.
    const anon = await run('curl', ['-sS', '--cacert', join(pki, 'ca.crt'), '-o', '/dev/null', '-w', '%{http_code}', '-X', 'POST', '--data-binary', body, `https://127.0.0.1:${port}/api/v1/namespaces/default/pods`]);
    expect(anon.stdout).toBe('401');
    const names = await withFile(['create'], 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\ndata:\n  a: b\n');
    expect(names.code).toBe(1);
    expect(names.stderr).toContain('metadata.name: Invalid value: "Bad_Name"');
  });

  it('a hand-written file is never changed: 409 naming the file, for delete, replace, apply, label and create', async () => {
    const file = join(agent.manifests, 'hand.yaml');
    const text = readFileSync(file, 'utf8');
    const pod = `hand-${agent.nodeName}`;
    for (const args of [['delete', 'pod', pod, '--wait=false'], ['label', 'pod', pod, 'x=y'], ['delete', 'configmap', 'hand-cm'], ['annotate', 'configmap', 'hand-cm', 'a=b']]) {
      const r = await kubectl(args);
      expect({ args, code: r.code }).toEqual({ args, code: 1 });
      expect(r.stderr).toContain(`defined by the hand-written manifest ${file}`);
    }
    const cm = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hand-cm\ndata:\n  k: changed\n';
    for (const verb of [['create'], ['replace'], ['apply'], ['apply', '--server-side']]) {
      const r = await withFile(verb, cm);
      expect({ verb, code: r.code }).toEqual({ verb, code: 1 });
      expect(r.stderr).toContain(file);
    }
    expect(readFileSync(file, 'utf8')).toBe(text);
    expect(managedFiles().some((f) => f.includes('hand'))).toBe(false);
  });

  it('apply (client-side) creates, then patches by a three-way strategic merge; replace honours resourceVersion', async () => {
    const cm = (data: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  labels: { tier: a }\ndata:\n${data}`;
    ok(await withFile(['apply'], cm('  one: "1"\n  two: "2"\n')));
    ok(await withFile(['apply'], cm('  one: "1"\n  three: "3"\n')));
    const got = JSON.parse((await kubectl(['get', 'configmap', 'settings', '-o', 'json'])).stdout);
    expect(got.data).toEqual({ one: '1', three: '3' });
    expect(got.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).toContain('three');
    // A replace from a stale read is a conflict; from a fresh one it is applied.
    const stale = { ...got, data: { stale: 'yes' } };
    const label = await kubectl(['label', 'configmap', 'settings', 'bump=1']);
    expect(label.code).toBe(0);
    const conflict = await withFile(['replace'], JSON.stringify(stale));
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toContain('the object has been modified');
    const fresh = JSON.parse((await kubectl(['get', 'configmap', 'settings', '-o', 'json'])).stdout);
    ok(await withFile(['replace'], JSON.stringify({ ...fresh, data: { replaced: 'yes' } })));
    expect(JSON.parse((await kubectl(['get', 'configmap', 'settings', '-o', 'json'])).stdout).data).toEqual({ replaced: 'yes' });
  });

  it('apply --server-side creates and updates a Secret and a Service', async () => {
    const secret = (v: string) => `apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: ${v}\n`;
    ok(await withFile(['apply', '--server-side'], secret('first')));
    ok(await withFile(['apply', '--server-side'], secret('second')));
    const s = JSON.parse((await kubectl(['get', 'secret', 'creds', '-o', 'json'])).stdout);
    expect(Buffer.from(s.data.password, 'base64').toString()).toBe('second');
    const svc = `apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: { app: web }\n  ports:\n  - { name: http, port: 80, targetPort: 8080 }\n`;
    ok(await withFile(['apply', '--server-side'], svc));
    const g = await kubectl(['get', 'svc', 'web']);
    expect(g.stdout).toMatch(/^web\s+ClusterIP\s+/m);
    expect(managedFiles()).toEqual(expect.arrayContaining(['secret_default_creds.yaml', 'service_default_web.yaml', 'configmap_default_settings.yaml']));
  });

  it('edit changes the pod\'s image through a strategic merge patch; the pod is recreated from the new file', async () => {
    const before = JSON.parse((await kubectl(['get', 'pod', 'web', '-o', 'json'])).stdout);
    // The "editor" rewrites the env value and adds a variable: a merge by name in a merge by name.
    const editor = join(agent.dir, 'editor.sh');
    writeFileSync(editor, '#!/bin/sh\nsed -i \'s/value: "1"/value: "2"/\' "$1"\n', { mode: 0o755 });
    ok(await kubectl(['edit', 'pod', 'web'], { env: { KUBE_EDITOR: editor } }));
    const file = readFileSync(join(managed(), 'pod_default_web.yaml'), 'utf8');
    expect(file).toMatch(/value: "2"/);
    await agent.until(async () => {
      const p = JSON.parse((await kubectl(['get', 'pod', 'web', '-o', 'json'])).stdout || '{}');
      return p.metadata?.uid !== before.metadata.uid && p.status?.phase === 'Running';
    }, 'web recreated and Running', 90_000);
  });

  it('get pods -w and get events -w stream a pod\'s creation, start and deletion; delete waits until the pod is gone', async () => {
    const watch = spawn(KUBECTL, ['--kubeconfig', kubeconfig, 'get', 'pods', '-w', '--output-watch-events'], { env: { ...process.env, HOME: agent.dir } });
    const ev = spawn(KUBECTL, ['--kubeconfig', kubeconfig, 'get', 'events', '-w'], { env: { ...process.env, HOME: agent.dir } });
    let seen = '';
    let events = '';
    watch.stdout.on('data', (d: Buffer) => (seen += d.toString()));
    ev.stdout.on('data', (d: Buffer) => (events += d.toString()));
    try {
      // Both watches are open (they have listed the hand-written pod and its events) before the pod exists.
      await agent.until(async () => seen.includes(`hand-${agent.nodeName}`) && events.includes(`pod/hand-${agent.nodeName}`), 'the watches are open', 30_000, () => seen + events);
      ok(await withFile(['create'], podYaml('watched')));
      await agent.until(async () => /ADDED\s+watched\s/.test(seen) && /MODIFIED\s+watched\s+1\/1\s+Running/.test(seen), 'the watch sees the pod added, then Running', 90_000, () => seen);
      await agent.until(async () => /Started\s+pod\/watched/.test(events), 'the event watch sees Started', 30_000, () => events);
      const del = await kubectl(['delete', 'pod', 'watched', '--timeout=60s'], { timeoutMs: 90_000 });
      ok(del);
      expect(del.stdout).toContain('pod "watched" deleted');
      expect(managedFiles()).not.toContain('pod_default_watched.yaml');
      await agent.until(async () => /DELETED\s+watched/.test(seen), 'the watch sees the deletion', 30_000, () => seen);
      await agent.until(async () => /Killing/.test(events), 'the event watch sees Killing', 30_000, () => events);
      expect((await kubectl(['get', 'pod', 'watched'])).stderr).toContain('not found');
    } finally {
      watch.kill();
      ev.kill();
    }
  });

  it('delete removes what kubectl wrote, and nothing else', async () => {
    for (const args of [['configmap', 'settings'], ['secret', 'creds'], ['service', 'web'], ['pod', 'web']]) ok(await kubectl(['delete', ...args, '--timeout=60s'], { timeoutMs: 90_000 }));
    expect(managedFiles()).toEqual([]);
    expect(existsSync(join(agent.manifests, 'hand.yaml'))).toBe(true);
    expect((await agent.pod('hand'))?.status?.phase).toBe('Running');
  });
});
