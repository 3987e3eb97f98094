import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RuntimeError, type ImageInfo, type ImageService, type RegistryAuth } from '../../cri/index.js';
import type { Pod } from '../../manifests/index.js';
import { FakeClock } from '../../base/index.js';
import { silentLogger } from '../../agent/log.js';
import { Waiting } from '../../agent/vocab/index.js';
import { resolveConfig } from '../../agent/config.js';
import {
  classifyPullError, goDurationMs, ImageManager, keyMatches, lookup, mirrorCandidates, parseDockerConfig, parseImageName, parseKey,
  parseRegistryMirrors, Puller, renderHostsToml, type KeyringEntry,
  imageNoTagDigest, mergePulledRecord, mustAttemptPull, parseAllowlistPattern, PullRecords, requiresVerification,
  type PulledRecord, type PullSecretRef, type VerificationPolicy,
} from '../../agent/pull/index.js';
import { imageSizeBucket } from '../../agent/metrics.js';

// The pure halves of image pulls: references, the credential keyring (kubelet's matching),
// mirrors, the error classes the offline fallback relies on, the puller, and the image
// manager's decisions against a fake image service.

describe('image references', () => {
  it('normalizes as the engines do', () => {
    expect(parseImageName('busybox')).toEqual({ registry: 'docker.io', repository: 'library/busybox' });
    expect(parseImageName('127.0.0.1:5000/a/b:1')).toEqual({ registry: '127.0.0.1:5000', repository: 'a/b', tag: '1' });
    expect(parseImageName('localhost/x@sha256:ab')).toEqual({ registry: 'localhost', repository: 'x', digest: 'sha256:ab' });
    expect(parseImageName('user/app:2').registry).toBe('docker.io');
  });
});

describe('keyring (pkg/credentialprovider)', () => {
  const e = (key: string): KeyringEntry => ({ key, ...parseKey(key)!, auth: { username: key, password: 'p' }, source: 't' });

  it('matches host parts with globs, ports exactly, and paths as prefixes', () => {
    expect(keyMatches(parseKey('*.example.com')!, 'a.example.com/x:1')).toBe(true);
    expect(keyMatches(parseKey('*.example.com')!, 'a.b.example.com/x:1')).toBe(false);
    expect(keyMatches(parseKey('registry.io:8080/team')!, 'registry.io:8080/team/app:1')).toBe(true);
    expect(keyMatches(parseKey('registry.io:8080/team')!, 'registry.io:8080/teams/app:1')).toBe(false);
    expect(keyMatches(parseKey('registry.io')!, 'registry.io:8080/app')).toBe(false);
    expect(keyMatches(parseKey('https://index.docker.io/v1/')!, 'busybox')).toBe(true);
    expect(keyMatches(parseKey('http://127.0.0.1:5000')!, '127.0.0.1:5000/a:1')).toBe(true);
  });

  it('orders longer keys first', () => {
    const list = [e('registry.io'), e('registry.io/team'), e('other.io')];
    expect(lookup(list, 'registry.io/team/app').map((x) => x.key)).toEqual(['registry.io/team', 'registry.io']);
  });

  it('reads .dockerconfigjson and .dockercfg without quoting values in errors', () => {
    const auth = Buffer.from('u:secret-pw').toString('base64');
    expect(parseDockerConfig(JSON.stringify({ auths: { 'r.io': { auth } } }), 's')[0]!.auth).toEqual({ username: 'u', password: 'secret-pw' });
    expect(parseDockerConfig(JSON.stringify({ 'r.io': { username: 'a', password: 'b' } }), 's')[0]!.auth).toEqual({ username: 'a', password: 'b' });
    expect(() => parseDockerConfig('{"auths": {"r.io": {"auth": "bm9jb2xvbg=="}}}', 'secret ns/x')).toThrow(/secret ns\/x: auths\["r.io"\].auth/);
    try {
      parseDockerConfig(JSON.stringify({ auths: { 'r.io': { auth: Buffer.from('nocolon-secret').toString('base64') } } }), 's');
    } catch (err) {
      expect((err as Error).message).not.toContain('nocolon-secret');
    }
  });
});

describe('mirrors', () => {
  it('validates the setting and tries mirrors in order, then the registry', () => {
    const m = parseRegistryMirrors({ 'r.io:5000': ['http://127.0.0.1:1', 'https://m.example'] }, 'registryMirrors');
    expect(mirrorCandidates(m, 'r.io:5000/a/b:1')).toEqual([
      { ref: '127.0.0.1:1/a/b:1', mirror: 'http://127.0.0.1:1' },
      { ref: 'm.example/a/b:1', mirror: 'https://m.example' },
      { ref: 'r.io:5000/a/b:1' },
    ]);
    expect(mirrorCandidates(m, 'other.io/a:1')).toEqual([{ ref: 'other.io/a:1' }]);
    expect(() => parseRegistryMirrors({ 'r.io': ['ftp://x'] }, 'registryMirrors')).toThrow(/registryMirrors\["r.io"\]\[0\]/);
    expect(() => parseRegistryMirrors({ '../etc': ['http://x'] }, 'registryMirrors')).toThrow(/registry host/);
    expect(renderHostsToml('r.io', ['http://127.0.0.1:1'])).toContain('[host."http://127.0.0.1:1"]\n  capabilities = ["pull", "resolve"]');
  });
});

describe('pull errors', () => {
  it('tells an unreachable registry from its answers', () => {
    expect(classifyPullError('Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused')).toBe('unreachable');
    expect(classifyPullError('manifest for 127.0.0.1:5000/a:1 not found: manifest unknown')).toBe('notFound');
    expect(classifyPullError('pulling from host 127.0.0.1:5000 failed with status code [manifests 1]: 401 Unauthorized')).toBe('unauthorized');
    expect(classifyPullError('Head "https://r/v2/a/manifests/1": no basic auth credentials')).toBe('unauthorized');
  });
});

describe('puller and durations', () => {
  it('formats durations as kubelet\'s events do', () => {
    expect(goDurationMs(313)).toBe('313ms');
    expect(goDurationMs(1594)).toBe('1.594s');
    expect(goDurationMs(2000)).toBe('2s');
    expect(goDurationMs(62_500)).toBe('1m2.5s');
  });

  it('serializes with limit 1 and counts the wait', async () => {
    const clock = new FakeClock();
    const p = new Puller(1, () => clock.now());
    let release!: () => void;
    const first = p.run(() => new Promise<string>((r) => (release = () => r('a'))));
    const second = p.run(async () => 'b');
    expect(p.stats).toEqual({ active: 1, waiting: 1 });
    clock.advance(1000);
    release();
    const a = await first;
    const b = await second;
    expect(a.pullMs).toBe(1000);
    expect(b.totalMs).toBe(1000);
    expect(b.pullMs).toBe(0);
  });

  it('refuses a parallel limit with serialized pulls, as kubelet', () => {
    expect(() => resolveConfig({ 'max-parallel-image-pulls': '3' })).toThrow(/serializeImagePulls/);
    expect(resolveConfig({ 'max-parallel-image-pulls': '3', 'serialize-image-pulls': 'false' }).maxParallelImagePulls).toBe(3);
  });
});

class FakeImages implements ImageService {
  present = new Map<string, ImageInfo>();
  pulls: { ref: string; auth?: RegistryAuth }[] = [];
  fail?: (ref: string, auth?: RegistryAuth) => string | undefined;
  async pullImage(ref: string, auth?: RegistryAuth): Promise<string> {
    this.pulls.push({ ref, ...(auth ? { auth } : {}) });
    const err = this.fail?.(ref, auth);
    if (err) throw new RuntimeError('ErrImagePull', err);
    this.present.set(ref, { id: 'sha256:1', repoTags: [ref], repoDigests: [], size: 1234 });
    return 'sha256:1';
  }
  async tagImage(source: string, target: string): Promise<void> {
    this.present.set(target, this.present.get(source)!);
  }
  async imageStatus(ref: string) {
    return this.present.get(ref);
  }
  async listImages() {
    return [...this.present.values()];
  }
  async removeImage() {}
  async importImage() {
    return [];
  }
  async imageFsInfo() {
    return [];
  }
}

const pod = (uid: string, secrets?: string[], namespace = 'default'): Pod => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name: `p-${uid}`, namespace, uid },
  spec: { containers: [{ name: 'c', image: 'r.io/a:1' }], ...(secrets ? { imagePullSecrets: secrets.map((name) => ({ name })) } : {}) },
});

function manager(images: FakeImages, o: { secrets?: Record<string, string>; node?: KeyringEntry[]; offline?: boolean } = {}) {
  const clock = new FakeClock();
  const m = new ImageManager({
    runtime: images, clock, log: silentLogger, serializeImagePulls: true,
    secret: (ns, name) => (o.secrets?.[`${ns}/${name}`] ? { '.dockerconfigjson': Buffer.from(o.secrets[`${ns}/${name}`]!) } : undefined),
    nodeCredentials: () => o.node ?? [],
    offlineFallback: o.offline ?? false,
  });
  const events: string[] = [];
  const emit = (_t: string, reason: string, message: string) => events.push(`${reason}: ${message}`);
  return { m, clock, events, emit };
}

async function reason(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return (err as Waiting).reason;
  }
}

describe('ImageManager (EnsureImageExists)', () => {
  it('backs off per pod UID and image: another pod of the same image pulls at once', async () => {
    const images = new FakeImages();
    images.fail = () => 'manifest unknown';
    const { m, clock, emit, events } = manager(images);
    const c = { name: 'c', image: 'r.io/a:1', imagePullPolicy: 'IfNotPresent' as const };
    expect(await reason(m.ensureImageExists(pod('u1'), c, emit))).toBe('ErrImagePull');
    const backoff = await m.ensureImageExists(pod('u1'), c, emit).catch((e: Waiting) => e);
    expect(backoff).toMatchObject({ reason: 'ImagePullBackOff', message: 'Back-off pulling image "r.io/a:1": ErrImagePull: manifest unknown' });
    expect(await reason(m.ensureImageExists(pod('u2'), c, emit))).toBe('ErrImagePull');
    clock.advance(10_001);
    images.fail = undefined;
    expect(await reason(m.ensureImageExists(pod('u1'), c, emit))).toBe('ok');
    expect(events.at(-1)).toBe('Pulled: Successfully pulled image "r.io/a:1" in 0ms (0ms including waiting). Image size: 1234 bytes.');
  });

  it('tries the pod\'s secrets (own namespace only), then the node\'s credentials', async () => {
    const images = new FakeImages();
    images.fail = (_r, auth) => (auth?.password === 'good' ? undefined : 'unauthorized: authentication required');
    const cfg = (pw: string) => JSON.stringify({ auths: { 'r.io': { username: 'u', password: pw } } });
    const node = parseDockerConfig(cfg('good'), 'node');
    const { m, emit, events } = manager(images, { secrets: { 'default/bad': cfg('bad') }, node });
    const c = { name: 'c', image: 'r.io/a:1', imagePullPolicy: 'Always' as const };
    expect(await reason(m.ensureImageExists(pod('u1', ['bad']), c, emit))).toBe('ok');
    expect(images.pulls.map((p) => p.auth?.password)).toEqual(['bad', 'good']);
    images.pulls = [];
    expect(await reason(m.ensureImageExists(pod('u2', ['bad'], 'other'), c, emit))).toBe('ok');
    expect(images.pulls.map((p) => p.auth?.password)).toEqual(['good']);
    expect(events.some((e) => e.startsWith('FailedToRetrieveImagePullSecret: Unable to retrieve some image pull secrets (bad)'))).toBe(true);
  });

  it('offline fallback: a present image runs when the registry is unreachable, not when it says not found or unauthorized', async () => {
    const images = new FakeImages();
    images.present.set('r.io/a:1', { id: 'sha256:9', repoTags: [], repoDigests: [], size: 1 });
    const { m, emit, events } = manager(images, { offline: true });
    const c = { name: 'c', image: 'r.io/a:1', imagePullPolicy: 'Always' as const };
    images.fail = () => 'dial tcp 127.0.0.1:1: connect: connection refused';
    expect(await m.ensureImageExists(pod('u1'), c, emit)).toBe('sha256:9');
    expect(events.some((e) => e.startsWith('PulledOffline: '))).toBe(true);
    images.fail = () => 'manifest unknown: not found';
    expect(await reason(m.ensureImageExists(pod('u2'), c, emit))).toBe('ErrImagePull');
    images.fail = () => '401 Unauthorized';
    expect(await reason(m.ensureImageExists(pod('u3'), c, emit))).toBe('ErrImagePull');
    const off = manager(images, { offline: false });
    images.fail = () => 'dial tcp 127.0.0.1:1: connect: connection refused';
    expect(await reason(off.m.ensureImageExists(pod('u4'), c, off.emit))).toBe('ErrImagePull');
  });

  it('ensureImage hands back the record of an image found present (the start reads its user from it), none after a pull', async () => {
    const images = new FakeImages();
    const info = { id: 'sha256:7', repoTags: ['r.io/a:1'], repoDigests: [], size: 1, user: '1000' };
    images.present.set('r.io/a:1', info);
    const { m, emit } = manager(images);
    expect(await m.ensureImage(pod('u1'), { name: 'c', image: 'r.io/a:1' }, emit)).toEqual({ id: 'sha256:7', present: info });
    expect(await m.ensureImage(pod('u1'), { name: 'c', image: 'r.io/b:1' }, emit)).toEqual({ id: 'sha256:1' });
    expect(images.pulls.map((p) => p.ref)).toEqual(['r.io/b:1']);
  });
});

describe('credential provider config', () => {
  it('names the file and the field of what is wrong', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const { loadCredentialProviderConfig } = await import('../../agent/pull/index.js');
    const dir = mkdtempSync(join(tmpdir(), 'bosun-cp-'));
    try {
      const f = join(dir, 'c.yaml');
      const write = (providers: string) => writeFileSync(f, `apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n${providers}`);
      write('  - name: ../evil\n    matchImages: ["r.io"]\n    defaultCacheDuration: 1m\n    apiVersion: credentialprovider.kubelet.k8s.io/v1\n');
      expect(() => loadCredentialProviderConfig(f, dir)).toThrow(`${f}: providers[0].name`);
      write('  - name: missing\n    matchImages: ["r.io"]\n    defaultCacheDuration: 1m\n    apiVersion: credentialprovider.kubelet.k8s.io/v1\n');
      expect(() => loadCredentialProviderConfig(f, dir)).toThrow(/no executable .*missing/);
      writeFileSync(join(dir, 'p'), '#!/bin/sh\n', { mode: 0o755 });
      write('  - name: p\n    matchImages: ["r.io"]\n    defaultCacheDuration: 1m\n    apiVersion: v9\n');
      expect(() => loadCredentialProviderConfig(f, dir)).toThrow(`${f}: providers[0].apiVersion: Unsupported value`);
      write('  - name: p\n    matchImages: ["*.r.io:5000/team"]\n    defaultCacheDuration: 12h\n    apiVersion: credentialprovider.kubelet.k8s.io/v1\n');
      expect(loadCredentialProviderConfig(f, dir)[0]).toMatchObject({ name: 'p', defaultCacheDurationMs: 12 * 3_600_000 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('credential verification of present images (KubeletEnsureSecretPulledImages)', () => {
  const sec = (name: string, hash: string, namespace = 'default', uid = ''): PullSecretRef => ({ uid, namespace, name, credentialHash: hash });
  const rec = (mapping: PulledRecord['credentialMapping']): PulledRecord => ({ imageRef: 'sha256:1', lastUpdatedTime: '2026-01-01T00:00:00.000Z', credentialMapping: mapping });
  const base = { policy: 'NeverVerifyPreloadedImages' as const, allowlist: [], image: 'r.io/a:1', imageRef: 'sha256:1', record: undefined, pullIntent: false, podSecrets: [] };

  it('asks per policy whether a present image needs the pod\'s credentials', () => {
    expect(requiresVerification('NeverVerify', [], 'r.io/a:1', true)).toBe(false);
    expect(requiresVerification('AlwaysVerify', [], 'r.io/a:1', false)).toBe(true);
    expect(requiresVerification('NeverVerifyPreloadedImages', [], 'r.io/a:1', false)).toBe(false);
    expect(requiresVerification('NeverVerifyPreloadedImages', [], 'r.io/a:1', true)).toBe(true);
    const allow = ['r.io/team/*', 'docker.io/library/busybox'];
    expect(requiresVerification('NeverVerifyAllowlistedImages', allow, 'r.io/team/app:1', true)).toBe(false);
    expect(requiresVerification('NeverVerifyAllowlistedImages', allow, 'busybox:1.36', true)).toBe(false);
    expect(requiresVerification('NeverVerifyAllowlistedImages', allow, 'r.io/teams/app:1', false)).toBe(true);
    expect(requiresVerification('NeverVerifyAllowlistedImages', allow, 'r.io/a@sha256:ab', false)).toBe(true);
  });

  it('checks allowlist patterns as kubelet does, and the config names the setting', () => {
    expect(parseAllowlistPattern('r.io/*')).toEqual({ prefix: 'r.io/' });
    expect(parseAllowlistPattern('r.io:5000/team/app')).toEqual({ exact: 'r.io:5000/team/app' });
    expect(() => parseAllowlistPattern(' r.io/*')).toThrow(/spaces/);
    expect(() => parseAllowlistPattern('/*')).toThrow(/registry host/);
    expect(() => parseAllowlistPattern('r.io/*/app')).toThrow(/ending with "\/\*"/);
    expect(() => parseAllowlistPattern('r.io/app:1')).toThrow(/tag nor digest/);
    expect(() => parseAllowlistPattern('busybox')).toThrow(/docker\.io\/library\/busybox/);
    expect(imageNoTagDigest('busybox:1')).toBe('docker.io/library/busybox');
    const dir = mkdtempSync(join(tmpdir(), 'bosun-verify-cfg-'));
    try {
      const file = join(dir, 'config.yaml');
      const load = (body: string) => {
        writeFileSync(file, `apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n${body}`);
        return resolveConfig({}, file);
      };
      expect(() => load('imagePullCredentialsVerificationPolicy: Sometimes\n')).toThrow(/imagePullCredentialsVerificationPolicy: Unsupported value: "Sometimes"/);
      expect(() => load('preloadedImagesVerificationAllowlist: ["r.io/app:1"]\n')).toThrow(/preloadedImagesVerificationAllowlist: Invalid value: neither tag nor digest/);
      expect(load('imagePullCredentialsVerificationPolicy: AlwaysVerify\n').imagePullCredentialsVerificationPolicy).toBe('AlwaysVerify');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(resolveConfig({}).imagePullCredentialsVerificationPolicy).toBe('NeverVerifyPreloadedImages');
  });

  it('decides as MustAttemptImagePull', () => {
    expect(mustAttemptPull({ ...base, imageRef: undefined })).toEqual({ mustPull: true });
    // Not pulled by the node: preloaded, free under the default policy, verified under AlwaysVerify.
    expect(mustAttemptPull(base)).toEqual({ mustPull: false });
    expect(mustAttemptPull({ ...base, policy: 'AlwaysVerify' })).toEqual({ mustPull: true });
    // A pull the agent never saw end: pulled by the node, credentials unknown.
    expect(mustAttemptPull({ ...base, pullIntent: true, podSecrets: [sec('s', 'h')] })).toEqual({ mustPull: true });
    expect(mustAttemptPull({ ...base, record: rec({ 'r.io/a': { nodePodsAccessible: true } }) })).toEqual({ mustPull: false });
    // Recorded for another name of the same image id only.
    expect(mustAttemptPull({ ...base, record: rec({ 'r.io/b': { nodePodsAccessible: true } }) })).toEqual({ mustPull: true });
    const withSecret = rec({ 'r.io/a': { kubernetesSecrets: [sec('s', 'h1')] } });
    expect(mustAttemptPull({ ...base, record: withSecret })).toEqual({ mustPull: true });
    expect(mustAttemptPull({ ...base, record: withSecret, podSecrets: [sec('s', 'h1')] })).toEqual({ mustPull: false });
    expect(mustAttemptPull({ ...base, record: withSecret, podSecrets: [sec('other', 'h2', 'team')] })).toEqual({ mustPull: true });
    // Other coordinates, same credentials; same Secret, updated credentials: both accepted and remembered.
    expect(mustAttemptPull({ ...base, record: withSecret, podSecrets: [sec('copy', 'h1', 'team')] })).toEqual({ mustPull: false, remember: sec('copy', 'h1', 'team') });
    expect(mustAttemptPull({ ...base, record: withSecret, podSecrets: [sec('s', 'h9')] })).toEqual({ mustPull: false, remember: sec('s', 'h9') });
    expect(mustAttemptPull({ ...base, policy: 'NeverVerify', record: withSecret })).toEqual({ mustPull: false });
  });

  it('merges credentials into the record: node-wide access wins, secrets unique per coordinates', () => {
    const now = new Date('2026-02-02T00:00:00Z');
    expect(mergePulledRecord(undefined, 'sha256:1', 'r.io/a:1', undefined, now)).toEqual({ imageRef: 'sha256:1', lastUpdatedTime: now.toISOString(), credentialMapping: {} });
    const one = mergePulledRecord(undefined, 'sha256:1', 'r.io/a:1', { kubernetesSecrets: [sec('s', 'h1')] }, now)!;
    expect(mergePulledRecord(one, 'sha256:1', 'r.io/a:2', { kubernetesSecrets: [sec('s', 'h1')] }, now)).toBeUndefined();
    const two = mergePulledRecord(one, 'sha256:1', 'r.io/a:2', { kubernetesSecrets: [sec('b', 'h2', 'a-ns'), sec('s', 'h3')] }, now)!;
    expect(two.credentialMapping['r.io/a']!.kubernetesSecrets).toEqual([sec('b', 'h2', 'a-ns'), sec('s', 'h3')]);
    const node = mergePulledRecord(two, 'sha256:1', 'r.io/a@sha256:ff', { nodePodsAccessible: true }, now)!;
    expect(node.credentialMapping['r.io/a']).toEqual({ nodePodsAccessible: true });
    expect(mergePulledRecord(node, 'sha256:1', 'r.io/a:1', { kubernetesSecrets: [sec('x', 'h')] }, now)).toBeUndefined();
  });

  it('labels pull durations by kubelet\'s image size buckets', () => {
    expect(imageSizeBucket(0)).toBe('N/A');
    expect(imageSizeBucket(1)).toBe('0-10MB');
    expect(imageSizeBucket(10 * 2 ** 20)).toBe('0-10MB');
    expect(imageSizeBucket(10 * 2 ** 20 + 1)).toBe('10MB-100MB');
    expect(imageSizeBucket(15 * 2 ** 30)).toBe('10GB-20GB');
    expect(imageSizeBucket(200 * 2 ** 30)).toBe('GT100GB');
  });

  describe('ImageManager with records on disk', () => {
    const PW = 'verify-marker-pw';
    const cfg = (pw: string) => JSON.stringify({ auths: { 'r.io': { username: 'u', password: pw } } });
    let dir = '';
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'bosun-verify-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    const make = (images: FakeImages, policy: VerificationPolicy = 'NeverVerifyPreloadedImages') => {
      const pulled: [number, number][] = [];
      const m = new ImageManager({
        runtime: images, clock: new FakeClock(), log: silentLogger, serializeImagePulls: true,
        secret: (_ns, name) => (name === 'regcred' || name === 'samecreds' ? { '.dockerconfigjson': Buffer.from(cfg(PW)) } : name === 'wrong' ? { '.dockerconfigjson': Buffer.from(cfg('nope')) } : undefined),
        verification: { policy, allowlist: [], records: new PullRecords(dir) },
        onPulled: (s, size) => pulled.push([s, size]),
      });
      const events: string[] = [];
      return { m, events, pulled, emit: (_t: string, reason: string, message: string) => events.push(`${reason}: ${message}`) };
    };

    it('refuses an image pulled with a secret to a pod without it, across an agent restart; same credentials pass', async () => {
      const images = new FakeImages();
      images.fail = (_r, auth) => (auth?.password === PW ? undefined : 'unauthorized: authentication required');
      const a = make(images);
      const c = { name: 'c', image: 'r.io/a:1', imagePullPolicy: 'IfNotPresent' as const };
      expect(await a.m.ensureImageExists(pod('u1', ['regcred']), c, a.emit)).toBe('sha256:1');
      expect(a.pulled).toEqual([[0, 1234]]);
      images.pulls = [];
      // Present, but this pod holds no credentials: the registry is asked, and refuses.
      expect(await reason(a.m.ensureImageExists(pod('u2'), c, a.emit))).toBe('ErrImagePull');
      expect(images.pulls).toHaveLength(1);
      expect(await reason(a.m.ensureImageExists(pod('u3', ['wrong']), c, a.emit))).toBe('ErrImagePull');
      expect(await reason(a.m.ensureImageExists(pod('u4'), { ...c, imagePullPolicy: 'Never' }, a.emit))).toBe('ErrImageNeverPull');
      images.pulls = [];
      expect(await a.m.ensureImageExists(pod('u5', ['regcred']), c, a.emit)).toBe('sha256:1');
      expect(images.pulls).toHaveLength(0);
      expect(a.events.at(-1)).toBe('Pulled: Container image "r.io/a:1" already present on machine and can be accessed by the pod');
      // The records outlive the agent; another Secret with the same credentials is accepted (and remembered).
      const b = make(images);
      expect(await reason(b.m.ensureImageExists(pod('u6'), c, b.emit))).toBe('ErrImagePull');
      expect(await b.m.ensureImageExists(pod('u7', ['samecreds'], 'team'), c, b.emit)).toBe('sha256:1');
      expect(images.pulls.filter((p) => p.auth?.password === PW)).toHaveLength(0);
      const files = readdirSync(join(dir, 'image_manager', 'pulled'));
      expect(files).toHaveLength(1);
      const text = readFileSync(join(dir, 'image_manager', 'pulled', files[0]!), 'utf8');
      expect(text).toContain('"name":"samecreds"');
      expect(text).not.toContain(PW);
      expect(text).not.toContain(Buffer.from(`u:${PW}`).toString('base64'));
      // NeverVerify: any pod runs what is present.
      const n = make(images, 'NeverVerify');
      expect(await n.m.ensureImageExists(pod('u8'), c, n.emit)).toBe('sha256:1');
    });

    it('an anonymous pull makes the image free for every pod; a preloaded image needs no credentials', async () => {
      const images = new FakeImages();
      images.present.set('r.io/pre:1', { id: 'sha256:pre', repoTags: [], repoDigests: [], size: 1 });
      const a = make(images);
      expect(await a.m.ensureImageExists(pod('u1'), { name: 'c', image: 'r.io/pre:1' }, a.emit)).toBe('sha256:pre');
      expect(images.pulls).toHaveLength(0);
      expect(await a.m.ensureImageExists(pod('u1'), { name: 'c', image: 'r.io/a:1' }, a.emit)).toBe('sha256:1');
      expect(await a.m.ensureImageExists(pod('u2', ['wrong']), { name: 'c', image: 'r.io/a:1' }, a.emit)).toBe('sha256:1');
      expect(images.pulls).toHaveLength(1);
    });

    it('a pull the previous agent never saw end counts as pulled by the node, credentials unknown', async () => {
      const images = new FakeImages();
      images.present.set('r.io/a:1', { id: 'sha256:1', repoTags: [], repoDigests: [], size: 1 });
      await new PullRecords(dir).startPull('r.io/a:1');
      images.fail = () => 'unauthorized';
      const a = make(images);
      expect(await reason(a.m.ensureImageExists(pod('u1', ['regcred']), { name: 'c', image: 'r.io/a:1' }, a.emit))).toBe('ErrImagePull');
      expect(readdirSync(join(dir, 'image_manager', 'pulling'))).toEqual([]);
      expect(readdirSync(join(dir, 'image_manager', 'pulled'))).toHaveLength(1);
    });

    it('drops, at start, the records of images no longer on the node', async () => {
      const images = new FakeImages();
      images.present.set('r.io/a:1', { id: 'sha256:1', repoTags: [], repoDigests: [], size: 1 });
      const records = new PullRecords(dir);
      for (const imageRef of ['sha256:1', 'sha256:gone']) await records.writePulled(mergePulledRecord(undefined, imageRef, 'r.io/a:1', { nodePodsAccessible: true }, new Date())!);
      expect(await records.listPulled()).toHaveLength(2);
      const a = make(images);
      expect(await a.m.ensureImageExists(pod('u1'), { name: 'c', image: 'r.io/a:1' }, a.emit)).toBe('sha256:1');
      expect((await records.listPulled()).map((r) => r.imageRef)).toEqual(['sha256:1']);
    });
  });
});
