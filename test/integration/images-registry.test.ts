import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContainerdRuntime, type Runtime } from '../../cri/index.js';
import type { Pod } from '../../manifests/index.js';
import { freePort, manifest, removeTestContainers, TestAgent } from '../support/agent.js';
import { buildTestImage, imageNamesOf, pruneTestRegistries, removeImageNames, SlowRelay, TestRegistry } from '../support/registry.js';
import { CONTAINERD_ENDPOINT, containerdAvailable } from '../support/runtime-test-env.js';

// Pulls against real registries on 127.0.0.1 (scripts/registry.sh), on Docker and on
// bosun's containerd: pull policies, digests and imageID, kubelet's events, ErrImagePull /
// ImagePullBackOff with the registry's error and a back-off per pod, credentials
// (imagePullSecrets, <root-dir>/config.json, an exec credential provider) over TLS with a
// test CA, mirrors tried in order, a registry stopped half-way through a pull, and the
// opt-in offline fallback. No credential may surface anywhere the agent writes or serves.

const run = promisify(execFile);
const CLI = resolve('dist/agent/cli.js');
const CTD_CERTS = '/etc/bosun-containerd/certs.d';
const id = Math.random().toString(36).slice(2, 8);
const IMG = `localhost/bosun/pulltest:${id}`;
const BIG = `localhost/bosun/pulltest-big:${id}`;
// Two images of their own layers, pulled through the slow relay: seconds each.
const PAR = ['a', 'b'].map((x) => `localhost/bosun/pulltest-par-${x}:${id}`);
const MARKER = `bosun-marker-${id}-pw`;
const USER = 'puller';

const plain = new TestRegistry(`plain-${id}`);
const secure = new TestRegistry(`secure-${id}`, { username: USER, password: MARKER });
const mid = new TestRegistry(`mid-${id}`);
// 32 MiB at 2 MiB/s: the pull is still running when the registry stops.
const relay = new SlowRelay(() => mid.addr, 2 << 20);
let digestRef = '';
let deadA = 0;
let deadB = 0;
let hostsFile = '';

await containerdAvailable();

beforeAll(async () => {
  await removeTestContainers();
  await pruneTestRegistries();
  await buildTestImage(IMG);
  await buildTestImage(BIG, 32);
  for (const p of PAR) await buildTestImage(p, 4);
  await Promise.all([plain.start(), secure.start(), mid.start()]);
  await relay.start();
  digestRef = await plain.push(IMG, 'test/app:1');
  for (const r of ['test/always:1', 'test/never:1', 'test/offline:1']) await plain.push(IMG, r);
  for (const r of ['test/none:1', 'test/sec:1', 'test/node:1', 'prov/app:1', 'test/other-ns:1', 'test/verify:1']) await secure.push(IMG, r);
  await mid.push(BIG, 'test/big:1');
  for (const [i, p] of PAR.entries()) await mid.push(p, `test/par-${i}:1`);
  // Docker would find the pushed layer in its own store ("Already exists") and never download it.
  await removeImageNames([BIG, ...PAR]);
  // Registries that do not exist: the mirror's origin and a dead first mirror.
  deadA = await freePort();
  deadB = await freePort();
  hostsFile = join(CTD_CERTS, `127.0.0.1:${deadA}`, 'hosts.toml');
}, 300_000);

afterAll(async () => {
  const names = [...new Set([...(await imageNamesOf(plain.addr)), ...(await imageNamesOf(secure.addr)), ...(await imageNamesOf(mid.addr)), ...(await imageNamesOf(relay.addr)), ...(await imageNamesOf(`127.0.0.1:${deadA}`))])];
  await removeImageNames([...names, IMG, BIG, ...PAR]);
  await relay.stop();
  await Promise.all([plain.stop(), secure.stop(), mid.stop()]);
  rmSync(join(CTD_CERTS, `127.0.0.1:${deadA}`), { recursive: true, force: true });
}, 120_000);

const podYaml = (name: string, image: string, o: { policy?: string; secrets?: string[]; namespace?: string } = {}) =>
  manifest(name, `  terminationGracePeriodSeconds: 0\n${o.secrets ? `  imagePullSecrets:\n${o.secrets.map((s) => `    - name: ${s}\n`).join('')}` : ''}  containers:\n    - name: c\n      image: ${image}\n${o.policy ? `      imagePullPolicy: ${o.policy}\n` : ''}      command: ["sleep", "3600"]\n`, o.namespace ? `  namespace: ${o.namespace}\n` : '');

const dockerConfig = (addr: string, user: string, password: string) =>
  JSON.stringify({ auths: { [addr]: { auth: Buffer.from(`${user}:${password}`).toString('base64') } } });

const writeRegcred = (a: TestAgent) => {
  const secret = Buffer.from(dockerConfig(secure.addr, USER, MARKER)).toString('base64');
  a.write('regcred.yaml', `apiVersion: v1\nkind: Secret\nmetadata:\n  name: regcred\n  namespace: default\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: ${secret}\n`);
};

interface Ev { reason: string; message: string; type: string; involvedObject: { name: string } }

async function events(agent: TestAgent): Promise<Ev[]> {
  return ((await (await fetch(`http://127.0.0.1:${agent.port}/events`)).json()) as { items: Ev[] }).items;
}

/** Go's time.Duration text ("1.5s", "850ms", "1m2.5s") in seconds. */
function goSeconds(d: string): number {
  const units: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 1e-3, 'µs': 1e-6, us: 1e-6, ns: 1e-9 };
  let total = 0;
  for (const [, n, u] of d.matchAll(/([0-9.]+)(ms|µs|us|ns|h|m|s)/g)) total += Number(n) * units[u!]!;
  return total;
}

const waiting = (p: Pod) => p.status?.containerStatuses?.[0]?.state.waiting;
const running = (p: Pod) => p.status?.phase === 'Running';
// ErrImagePull can turn into ImagePullBackOff at the very next sync (milliseconds later):
// a poll may see either. The back-off message repeats the registry's error.
const pullFailed = (p: Pod) => ['ErrImagePull', 'ImagePullBackOff'].includes(waiting(p)?.reason ?? '');

// One of the slowest files of the suite (about 5 minutes); `npm run test:images` runs it alone.
const RUNTIMES = ['docker', 'containerd'] as const;

describe.each(RUNTIMES)('images from a real registry on %s', (kind) => {
  const agent = new TestAgent();
  const offline = new TestAgent();
  let rt: Runtime | undefined;
  const endpoint = kind === 'containerd' ? ['--container-runtime-endpoint', CONTAINERD_ENDPOINT] : [];

  const config = (a: TestAgent, extra: string) => {
    const file = join(a.dir, 'config.yaml');
    writeFileSync(file, `podLogsDir: ${join(a.dir, 'pod-logs')}\ncontainerLogsDir: ${join(a.dir, 'container-logs')}\ncontainerdRegistryConfigPath: ${CTD_CERTS}\n${extra}`);
    return ['--config', file];
  };

  beforeAll(async () => {
    if (kind === 'containerd') rt = await createContainerdRuntime();
    // An exec credential provider that answers for <secure>/prov only.
    const bin = join(agent.dir, 'providers');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'test-provider'), `#!/bin/sh\ncat >/dev/null\nprintf '%s' '${JSON.stringify({ apiVersion: 'credentialprovider.kubelet.k8s.io/v1', kind: 'CredentialProviderResponse', cacheKeyType: 'Registry', auth: { [secure.addr]: { username: USER, password: MARKER } } })}'\n`);
    chmodSync(join(bin, 'test-provider'), 0o755);
    const providers = join(agent.dir, 'providers.yaml');
    writeFileSync(providers, `apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n  - name: test-provider\n    matchImages: ["${secure.addr}/prov"]\n    defaultCacheDuration: 1m\n    apiVersion: credentialprovider.kubelet.k8s.io/v1\n`);
    await agent.start([...endpoint, ...config(agent, `serializeImagePulls: false\nmaxParallelImagePulls: 2\nregistryMirrors:\n  "127.0.0.1:${deadA}": ["http://127.0.0.1:${deadB}", "http://${plain.addr}"]\n`),
      '--image-credential-provider-config', providers, '--image-credential-provider-bin-dir', bin]);
    await offline.start([...endpoint, ...config(offline, 'imagePullOfflineFallback: true\n')]);
  }, 120_000);

  afterAll(async () => {
    for (const a of [agent, offline]) {
      // The agent first: a running agent recreates the sandboxes removed below.
      await a.kill9();
      if (rt) {
        for (const c of await rt.listContainers()) if (c.labels['bosun.io/node-name'] === a.nodeName) await rt.removeContainer(c.id).catch(() => undefined);
        for (const s of await rt.listPodSandboxes()) {
          if (s.labels['bosun.io/node-name'] !== a.nodeName) continue;
          await rt.stopPodSandbox(s.id).catch(() => undefined);
          await rt.removePodSandbox(s.id).catch(() => undefined);
        }
      }
      await a.destroy();
    }
    await rt?.close();
  }, 120_000);

  it('pulls an absent image (IfNotPresent), with kubelet\'s Pulling/Pulled events and the digest as imageID; `bosun get events` shows them', async () => {
    const image = `${plain.addr}/test/app:1`;
    agent.write('app.yaml', podYaml('app', image));
    const p = await agent.waitPod('app', running, 'Running after a pull');
    const cs = p.status!.containerStatuses![0]!;
    expect(cs.image).toBe(image);
    const digest = digestRef.slice(digestRef.indexOf('@') + 1);
    expect(cs.imageID).toContain(digest);
    const evs = (await events(agent)).filter((e) => e.involvedObject.name === `app-${agent.nodeName}`);
    expect(evs.find((e) => e.reason === 'Pulling')?.message).toBe(`Pulling image "${image}"`);
    const pulled = evs.find((e) => e.reason === 'Pulled')!.message;
    expect(pulled).toMatch(new RegExp(`^Successfully pulled image "${image.replace(/[.]/g, '\\.')}" in [0-9.]+m?s \\([0-9.]+m?s including waiting\\)\\. Image size: [1-9][0-9]+ bytes\\.$`));
    const out = (await run(process.execPath, [CLI, 'get', 'events', '--server', `http://127.0.0.1:${agent.port}`])).stdout;
    expect(out).toMatch(/Pulled\s.*Successfully pulled image .* Image size: \d+ bytes\./);
    expect(out).toMatch(/Pulling\s.*Pulling image/);
    // kubelet's histogram, labelled by the image's size bucket (busybox and a label: under 10 MB).
    const metrics = await (await fetch(`http://127.0.0.1:${agent.port}/metrics`)).text();
    expect(metrics).toContain('# TYPE kubelet_image_pull_duration_seconds histogram');
    expect(Number(/^kubelet_image_pull_duration_seconds_count\{image_size_in_bytes="0-10MB"\} (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
    expect(metrics).toMatch(/^kubelet_image_pull_duration_seconds_bucket\{le="3600",image_size_in_bytes="0-10MB"\} \d+$/m);
  });

  it('runs a digest reference (image@sha256:...)', async () => {
    agent.write('digest.yaml', podYaml('digest', digestRef));
    const p = await agent.waitPod('digest', running, 'Running from a digest');
    expect(p.status!.containerStatuses![0]!.imageID).toContain(digestRef.slice(digestRef.indexOf('@') + 1));
  });

  it('Always pulls again although the image is present; Never runs a present image without asking', async () => {
    const always = `${plain.addr}/test/always:1`;
    const never = `${plain.addr}/test/never:1`;
    agent.write('always1.yaml', podYaml('always1', always, { policy: 'Always' }));
    await agent.waitPod('always1', running, 'Running');
    agent.write('always2.yaml', podYaml('always2', always, { policy: 'Always' }));
    await agent.waitPod('always2', running, 'Running');
    const evs = await events(agent);
    expect(evs.filter((e) => e.involvedObject.name === `always2-${agent.nodeName}` && e.reason === 'Pulling')).toHaveLength(1);
    agent.write('never1.yaml', podYaml('never1', never, { policy: 'Never' }));
    await agent.waitPod('never1', (p) => waiting(p)?.reason === 'ErrImageNeverPull', 'ErrImageNeverPull');
    agent.write('never-pull.yaml', podYaml('never-pull', never));
    await agent.waitPod('never-pull', running, 'Running');
    agent.write('never2.yaml', podYaml('never2', never, { policy: 'Never' }));
    await agent.waitPod('never2', running, 'Running with Never once present');
    expect((await events(agent)).find((e) => e.involvedObject.name === `never2-${agent.nodeName}` && e.reason === 'Pulled')?.message).toBe(`Container image "${never}" already present on machine and can be accessed by the pod`);
  });

  it('reports the registry\'s "not found" as ErrImagePull, backs off per pod: a fresh pod of the same image pulls at once', async () => {
    const image = `${plain.addr}/test/absent:1`;
    agent.write('absent1.yaml', podYaml('absent1', image));
    const seen = new Set<string>();
    let message = '';
    await agent.until(async () => {
      const w = waiting((await agent.pod('absent1'))!);
      if (w?.reason) seen.add(w.reason);
      if (w?.reason === 'ErrImagePull') message = w.message ?? '';
      return seen.has('ErrImagePull') && seen.has('ImagePullBackOff');
    }, 'ErrImagePull then ImagePullBackOff', 40_000);
    expect(message).toMatch(/not found|manifest unknown/i);
    agent.write('absent2.yaml', podYaml('absent2', image));
    await agent.waitPod('absent2', (p) => !!waiting(p)?.reason && waiting(p)!.reason !== 'ContainerCreating', 'a waiting reason');
    const evs = (await events(agent)).filter((e) => e.involvedObject.name === `absent2-${agent.nodeName}`);
    expect(evs.some((e) => e.reason === 'Pulling')).toBe(true);
    expect(evs.find((e) => e.reason === 'Failed')?.message).toMatch(/^Failed to pull image ".*test\/absent:1": /);
  });

  it('over TLS with basic auth: unauthorized without credentials, pulls with an imagePullSecret of the pod\'s namespace only', async () => {
    agent.write('none.yaml', podYaml('none', `${secure.addr}/test/none:1`));
    const w = waiting(await agent.waitPod('none', pullFailed, 'a failed pull'))!;
    // Docker counts 127.0.0.0/8 as insecure: after the refused HTTPS attempt it retries over
    // HTTP and reports what the TLS registry says to that.
    expect(w.message).toMatch(kind === 'containerd' ? /401 Unauthorized/ : /unauthorized|no basic auth|HTTP request to an HTTPS server/i);
    writeRegcred(agent);
    agent.write('sec.yaml', podYaml('sec', `${secure.addr}/test/sec:1`, { secrets: ['regcred'] }));
    await agent.waitPod('sec', running, 'Running with the pull secret');
    // The same secret name in another namespace does not exist there.
    agent.write('other-ns.yaml', podYaml('other-ns', `${secure.addr}/test/other-ns:1`, { secrets: ['regcred'], namespace: 'other' }));
    await agent.until(async () => (await agent.pods()).some((p) => p.metadata.name === `other-ns-${agent.nodeName}` && pullFailed(p)), 'a failed pull in namespace other', 30_000);
    expect((await events(agent)).some((e) => e.reason === 'FailedToRetrieveImagePullSecret' && e.involvedObject.name === `other-ns-${agent.nodeName}`)).toBe(true);
  });

  it('imagePullCredentialsVerificationPolicy (default): a pod without the secret is refused an image another pod pulled with it', async () => {
    const image = `${secure.addr}/test/verify:1`;
    writeRegcred(agent);
    agent.write('v-sec.yaml', podYaml('v-sec', image, { secrets: ['regcred'] }));
    await agent.waitPod('v-sec', running, 'Running with the pull secret');
    // Present on the node, yet this pod holds no credentials: the registry is asked, and says no.
    agent.write('v-none.yaml', podYaml('v-none', image));
    const w = waiting(await agent.waitPod('v-none', pullFailed, 'a failed pull of a present image'))!;
    expect(w.message).toMatch(kind === 'containerd' ? /401 Unauthorized/ : /unauthorized|no basic auth|HTTP request to an HTTPS server/i);
    expect((await events(agent)).some((e) => e.involvedObject.name === `v-none-${agent.nodeName}` && e.reason === 'Pulling')).toBe(true);
    agent.write('v-never.yaml', podYaml('v-never', image, { policy: 'Never' }));
    await agent.waitPod('v-never', (p) => waiting(p)?.reason === 'ErrImageNeverPull', 'ErrImageNeverPull');
    // Another pod with the same secret runs it without a pull.
    agent.write('v-again.yaml', podYaml('v-again', image, { secrets: ['regcred'] }));
    await agent.waitPod('v-again', running, 'Running with the same secret');
    const again = (await events(agent)).filter((e) => e.involvedObject.name === `v-again-${agent.nodeName}`);
    expect(again.some((e) => e.reason === 'Pulling')).toBe(false);
    expect(again.find((e) => e.reason === 'Pulled')?.message).toBe(`Container image "${image}" already present on machine and can be accessed by the pod`);
    const records = join(agent.dir, 'root', 'image_manager', 'pulled');
    expect(readdirSync(records).length).toBeGreaterThan(0);
    for (const n of ['v-sec', 'v-none', 'v-never', 'v-again']) agent.remove(`${n}.yaml`);
  });

  it('pulls with node credentials from <root-dir>/config.json and from an exec credential provider', async () => {
    const cfg = join(agent.dir, 'root', 'config.json');
    writeFileSync(cfg, dockerConfig(secure.addr, USER, MARKER), { mode: 0o600 });
    try {
      agent.write('node.yaml', podYaml('node', `${secure.addr}/test/node:1`));
      await agent.waitPod('node', running, 'Running with node credentials');
    } finally {
      rmSync(cfg, { force: true });
    }
    agent.write('prov.yaml', podYaml('prov', `${secure.addr}/prov/app:1`));
    await agent.waitPod('prov', running, 'Running with provider credentials');
  });

  it('pulls through mirrors tried in order (a dead one, then a live one) under the original name', async () => {
    const image = `127.0.0.1:${deadA}/test/app:1`;
    agent.write('mirror.yaml', podYaml('mirror', image));
    const p = await agent.waitPod('mirror', running, 'Running through the mirror');
    expect(p.status!.containerStatuses![0]!.image).toBe(image);
    if (kind === 'containerd') expect(readFileSync(hostsFile, 'utf8')).toContain(`[host."http://127.0.0.1:${deadB}"]`);
  });

  it('pulls in parallel up to maxParallelImagePulls: neither of two pulls waits for the other', async () => {
    // kubelet's Pulled event says how long the pull took and how long it took with the wait
    // for a pull slot. One at a time, the second pod would wait about the whole first pull.
    const pods = ['par0', 'par1'];
    for (const [i, p] of pods.entries()) agent.write(`${p}.yaml`, podYaml(p, `${relay.addr}/test/par-${i}:1`));
    for (const p of pods) await agent.waitPod(p, running, 'Running', 180_000);
    const evs = await events(agent);
    for (const p of pods) {
      const msg = evs.find((e) => e.involvedObject.name === `${p}-${agent.nodeName}` && e.reason === 'Pulled')?.message ?? '';
      const m = /in (\S+) \((\S+) including waiting\)/.exec(msg);
      expect(m, msg).not.toBeNull();
      const [pull, total] = [goSeconds(m![1]!), goSeconds(m![2]!)];
      expect(total - pull, msg).toBeLessThan(pull / 2);
    }
  }, 240_000);

  it('retries a pull whose registry stopped half-way: ErrImagePull, then Running once it is back', async () => {
    const image = `${relay.addr}/test/big:1`;
    const before = relay.relayed;
    agent.write('big.yaml', podYaml('big', image));
    // A few MiB into the layers, the registry goes away.
    await agent.until(async () => relay.relayed - before > 4 << 20, 'the pull under way', 60_000);
    await mid.down();
    try {
      await agent.waitPod('big', (p) => ['ErrImagePull', 'ImagePullBackOff'].includes(waiting(p)?.reason ?? ''), 'a failed pull', 150_000);
    } finally {
      await mid.up();
    }
    await agent.waitPod('big', running, 'Running after the back-off', 120_000);
  }, 330_000);

  it('offline fallback: runs a present image when the registry is unreachable, never on "not found"', async () => {
    const image = `${plain.addr}/test/offline:1`;
    offline.write('warm.yaml', podYaml('warm', image));
    await offline.waitPod('warm', running, 'Running');
    // Present locally under a name the registry does not have: "not found" is an answer.
    await run('docker', ['tag', IMG, `${plain.addr}/test/gone:1`]);
    if (kind === 'containerd') await run('ctr', ['-a', '/run/bosun-containerd/containerd.sock', '-n', 'k8s.io', 'images', 'tag', '--force', image, `${plain.addr}/test/gone:1`]);
    offline.write('gone.yaml', podYaml('gone', `${plain.addr}/test/gone:1`, { policy: 'Always' }));
    await offline.waitPod('gone', (p) => waiting(p)?.reason === 'ErrImagePull', 'ErrImagePull on not found');
    await plain.down();
    try {
      offline.write('offl.yaml', podYaml('offl', image, { policy: 'Always' }));
      await offline.waitPod('offl', running, 'Running from the present image');
      expect((await events(offline)).find((e) => e.involvedObject.name === `offl-${offline.nodeName}` && e.reason === 'PulledOffline')?.type).toBe('Warning');
      // Without the setting the same pod fails.
      agent.write('offl.yaml', podYaml('offl', image, { policy: 'Always' }));
      await agent.waitPod('offl', (p) => waiting(p)?.reason === 'ErrImagePull', 'ErrImagePull without the fallback');
    } finally {
      await plain.up();
    }
  }, 120_000);

  it('shows the registry password nowhere: log, events, pods, metrics, root dir (checkpoints, pull records)', async () => {
    const seen: string[] = [];
    for (const a of [agent, offline]) {
      seen.push(a.log());
      for (const path of ['/pods', '/events', '/metrics']) seen.push(await (await fetch(`http://127.0.0.1:${a.port}${path}`)).text());
      const walk = (dir: string): void => {
        for (const n of readdirSync(dir)) {
          const f = join(dir, n);
          const st = statSync(f, { throwIfNoEntry: false });
          if (!st) continue;
          if (st.isDirectory()) walk(f);
          else if (st.isFile() && st.size < 1 << 20) seen.push(readFileSync(f, 'latin1'));
        }
      };
      walk(join(a.dir, 'root'));
    }
    // Also as a docker config's auth field carries it.
    const forms = [MARKER, Buffer.from(`${USER}:${MARKER}`).toString('base64')];
    for (const text of seen) for (const f of forms) expect(text).not.toContain(f);
  });
});
