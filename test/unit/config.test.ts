import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULTS, parseDuration, resolveConfig } from '../../agent/config.js';

const dir = mkdtempSync(join(tmpdir(), 'bosun-cfg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('agent configuration', () => {
  it('has kubelet defaults', () => {
    const c = resolveConfig({});
    expect(c).toMatchObject({ podManifestPath: '/etc/kubernetes/manifests', rootDir: '/var/lib/bosun', readOnlyPort: 10255, address: '127.0.0.1', fileCheckFrequencyMs: 20_000 });
    expect(c.nodeName).toBe(DEFAULTS.nodeName);
  });

  it('reads a KubeletConfiguration file and lets flags win', () => {
    const f = join(dir, 'c.yaml');
    writeFileSync(f, 'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nstaticPodPath: /srv/manifests\nreadOnlyPort: 10256\nfileCheckFrequency: 5s\n');
    expect(resolveConfig({}, f)).toMatchObject({ podManifestPath: '/srv/manifests', readOnlyPort: 10256, fileCheckFrequencyMs: 5000 });
    expect(resolveConfig({ 'read-only-port': '0', 'pod-manifest-path': '/x' }, f)).toMatchObject({ podManifestPath: '/x', readOnlyPort: 0 });
  });

  it('names the file and field of a bad setting', () => {
    const f = join(dir, 'bad.yaml');
    writeFileSync(f, 'staticPodPaht: /x\n');
    expect(() => resolveConfig({}, f)).toThrow(`${f}: unknown field "staticPodPaht"`);
    writeFileSync(f, 'fileCheckFrequency: soon\n');
    expect(() => resolveConfig({}, f)).toThrow(`${f}: fileCheckFrequency: Invalid value: "soon"`);
    expect(() => resolveConfig({ 'read-only-port': '70000' })).toThrow('--read-only-port: Invalid value: "70000"');
    expect(() => resolveConfig({ 'node-name': 'bad_name' })).toThrow('--node-name: Invalid value: "bad_name"');
  });

  it('parses Go durations', () => {
    expect(parseDuration('1m30s', 'x')).toBe(90_000);
    expect(parseDuration('500ms', 'x')).toBe(500);
    expect(parseDuration(20, 'x')).toBe(20_000);
    expect(() => parseDuration('20', 'x')).toThrow('x: Invalid value: "20"');
  });
});

describe('--pod-bridge and a second Docker engine', () => {
  it('names the Docker pod network bridge, checked as a Linux interface name', () => {
    expect(resolveConfig({}).podBridge).toBe('bosun0');
    expect(resolveConfig({ 'pod-bridge': 'bted1a2b3c' }).podBridge).toBe('bted1a2b3c');
    expect(() => resolveConfig({ 'pod-bridge': 'a-name-far-too-long' })).toThrow('--pod-bridge: Invalid value: "a-name-far-too-long"');
    expect(() => resolveConfig({ 'pod-bridge': 'br/0' })).toThrow('--pod-bridge');
  });

  it('takes any socket named docker.sock for a Docker engine', async () => {
    const { isDockerEndpoint } = await import('../../cri/index.js');
    expect(isDockerEndpoint('unix:///var/run/docker.sock')).toBe(true);
    expect(isDockerEndpoint('unix:///run/bte-x1/docker.sock')).toBe(true);
    expect(isDockerEndpoint('unix:///run/bosun-containerd/containerd.sock')).toBe(false);
  });
});
