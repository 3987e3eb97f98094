import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, KubeconfigLoadError, loadKubeconfig } from '../../agent/apiserver/index.js';
import { resolveConfig } from '../../agent/config.js';
import { TestApiServer } from '../support/apiserver/index.js';
import { strategicMergePatch } from '../support/apiserver/patch.js';

const dir = mkdtempSync(join(tmpdir(), 'bosun-kubeconfig-'));
const server = new TestApiServer();

beforeAll(() => server.start());
afterAll(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const kc = (user: string, cluster = `    server: ${server.url}\n    certificate-authority: ca.crt\n`) => `apiVersion: v1
kind: Config
current-context: c2
clusters:
- name: other
  cluster:
    server: https://192.0.2.1:6443
- name: mine
  cluster:
${cluster}users:
- name: u
  user:
${user}contexts:
- name: c1
  context: { cluster: other, user: u }
- name: c2
  context: { cluster: mine, user: u, namespace: kube-system }
`;

describe('kubeconfig', () => {
  it('reads the current context: server, CA file relative to the kubeconfig, token', async () => {
    write('ca.crt', server.tls.cert.toString());
    const c = loadKubeconfig(write('k1', kc(`    token: ${server.token}\n`)));
    expect(c).toMatchObject({ server: server.url, insecure: false, token: server.token, namespace: 'kube-system' });
    expect(c.ca?.toString()).toBe(server.tls.cert.toString());
    const client = new ApiClient(c);
    expect(await client.request<{ gitVersion: string }>('GET', '/version')).toMatchObject({ gitVersion: expect.stringMatching(/^v1\./) });
    client.close();
  });

  it('re-reads a tokenFile on each request, and supports insecure-skip-tls-verify', async () => {
    const tokenFile = write('token', 'wrong\n');
    const client = new ApiClient(loadKubeconfig(write('k2', kc('    tokenFile: token\n', `    server: ${server.url}\n    insecure-skip-tls-verify: true\n`))));
    await expect(client.request('GET', '/api')).rejects.toMatchObject({ code: 401 });
    writeFileSync(tokenFile, `${server.token}\n`);
    expect(await client.request('GET', '/api')).toMatchObject({ kind: 'APIVersions' });
    client.close();
  });

  it('refuses a server whose certificate the CA does not sign', async () => {
    const client = new ApiClient(loadKubeconfig(write('k3', kc(`    token: ${server.token}\n`, `    server: ${server.url}\n`))));
    await expect(client.request('GET', '/api')).rejects.toThrow(/certificate/i);
    client.close();
  });

  it('gets its token from an exec credential plugin', async () => {
    const plugin = write('plugin.sh', `#!/bin/sh\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"'"$TOKEN"'"}}'\n`);
    chmodSync(plugin, 0o755);
    const c = loadKubeconfig(write('k4', kc(`    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: ${plugin}\n      env:\n      - name: TOKEN\n        value: ${server.token}\n`)));
    const client = new ApiClient(c);
    expect(await client.request('GET', '/api')).toMatchObject({ kind: 'APIVersions' });
    client.close();
  });

  it('reads client certificate and key files and data', () => {
    write('client.crt', 'CERT');
    write('client.key', 'KEY');
    const a = loadKubeconfig(write('k5', kc('    client-certificate: client.crt\n    client-key: client.key\n')));
    expect([a.cert?.toString(), a.key?.toString()]).toEqual(['CERT', 'KEY']);
    const b = loadKubeconfig(write('k6', kc(`    client-certificate-data: ${Buffer.from('C2').toString('base64')}\n    client-key-data: ${Buffer.from('K2').toString('base64')}\n`)));
    expect([b.cert?.toString(), b.key?.toString()]).toEqual(['C2', 'K2']);
  });

  it('says what is wrong with a broken kubeconfig', () => {
    expect(() => loadKubeconfig(join(dir, 'missing'))).toThrow(KubeconfigLoadError);
    expect(() => loadKubeconfig(write('k7', 'apiVersion: v1\nkind: Config\ncurrent-context: nope\ncontexts: []\n'))).toThrow(/no context named "nope"/);
  });
});

describe('node flags', () => {
  it('parses --node-labels and --register-with-taints', () => {
    expect(resolveConfig({ 'node-labels': 'a=b, tier=edge' }).nodeLabels).toEqual({ a: 'b', tier: 'edge' });
    expect(resolveConfig({ 'register-with-taints': 'dedicated=gpu:NoSchedule,spot:PreferNoSchedule' }).registerWithTaints)
      .toEqual([{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }, { key: 'spot', effect: 'PreferNoSchedule' }]);
    expect(() => resolveConfig({ 'register-with-taints': 'x=y:Sometimes' })).toThrow(/register-with-taints/);
    const cfg = resolveConfig({ kubeconfig: '/etc/bosun/kubeconfig', 'node-labels': 'role=db', 'register-with-taints': 'k=v:NoExecute' });
    expect(cfg).toMatchObject({ kubeconfig: '/etc/bosun/kubeconfig', nodeLabels: { role: 'db' }, registerWithTaints: [{ key: 'k', value: 'v', effect: 'NoExecute' }] });
    expect(() => resolveConfig({ 'node-labels': 'novalue' })).toThrow(/--node-labels/);
  });

  it('takes --proxy-kubeconfig (kube-proxy\'s identity) only beside --kubeconfig', () => {
    expect(resolveConfig({ kubeconfig: '/k/node', 'proxy-kubeconfig': '/k/proxy' }).proxyKubeconfig).toBe('/k/proxy');
    expect(() => resolveConfig({ 'proxy-kubeconfig': '/k/proxy' })).toThrow(/--proxy-kubeconfig: needs an API server/);
  });
});

describe('strategic merge patch (test server)', () => {
  it('merges conditions by type and container statuses by name', () => {
    const cur = { status: { phase: 'Pending', conditions: [{ type: 'Ready', status: 'False' }, { type: 'PodScheduled', status: 'True' }], containerStatuses: [{ name: 'a', ready: false }] } };
    const out = strategicMergePatch(cur, { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }], containerStatuses: [{ name: 'a', ready: true }, { name: 'b', ready: true }] } });
    expect(out).toEqual({ status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }, { type: 'PodScheduled', status: 'True' }], containerStatuses: [{ name: 'a', ready: true }, { name: 'b', ready: true }] } });
  });
});
