// One runtime suite for both runtimes: the same sandbox, container, exec, logs, resources,
// OOM, restart and adoption behaviour on Docker and on containerd (CRI). Only localhost and
// addresses of pods on this machine are contacted; nothing is pulled from a registry.

import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RuntimeError, type ContainerConfig, type ContainerStatus, type PodSandboxConfig, type Runtime, type RuntimeEvent } from '../../cri/index.js';
import { BUSYBOX, randomId, testContainerConfig, testSandboxConfig } from '../support/docker-test-env.js';
import { containerdAvailable, createTestRuntime, removeRuntimeTestResources, type RuntimeKind } from '../support/runtime-test-env.js';
import { sleep, waitFor } from '../support/common.js';

const KINDS: RuntimeKind[] = ['docker', 'containerd'];
const available: Record<RuntimeKind, boolean> = { docker: true, containerd: await containerdAvailable() };
const POD_CIDR: Record<RuntimeKind, RegExp> = { docker: /^10\.244\.\d+\.\d+$/, containerd: /^10\.245\.\d+\.\d+$/ };
const SLEEPER: Partial<ContainerConfig> = { command: ['sleep', '3600'] };

async function expectRuntimeError(p: Promise<unknown>, code: string): Promise<void> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err, `expected RuntimeError ${code}`).toBeInstanceOf(RuntimeError);
  expect((err as RuntimeError).code).toBe(code);
}

describe.each(KINDS)('%s runtime', (kind) => {
  const runId = randomId();
  let rt: Runtime;

  beforeAll(async () => {
    if (!available[kind]) return;
    rt = await createTestRuntime(kind);
    await removeRuntimeTestResources(rt); // an interrupted earlier run's leftovers
  });
  afterAll(async () => {
    if (!rt) return;
    await removeRuntimeTestResources(rt, runId);
    await rt.close();
  });

  const test = it.skipIf(!available[kind]);

  async function runSandbox(overrides: Partial<PodSandboxConfig> = {}): Promise<{ id: string; config: PodSandboxConfig }> {
    const config = testSandboxConfig(runId, overrides);
    return { id: await rt.runPodSandbox(config), config };
  }
  async function runContainer(sb: { id: string; config: PodSandboxConfig }, name: string, overrides: Partial<ContainerConfig> = {}): Promise<string> {
    const id = await rt.createContainer(sb.id, testContainerConfig(runId, name, overrides), sb.config);
    await rt.startContainer(id);
    return id;
  }
  async function sh(id: string, script: string): Promise<string> {
    const r = await rt.execSync(id, ['sh', '-c', script], 10_000);
    if (r.exitCode !== 0) throw new Error(`exec ${script} exited ${r.exitCode}: ${r.stderr.toString()}`);
    return r.stdout.toString().trim();
  }
  const exited = (id: string) => waitFor(`${id} to exit`, async () => {
    const s = await rt.containerStatus(id);
    return s.state === 'exited' ? s : undefined;
  });

  test('reports its version', async () => {
    const v = await rt.version();
    expect(v.runtimeName).toBe(kind);
    expect(v.runtimeVersion).not.toBe('');
    expect((await rt.runtimeConfig()).linux.cgroupDriver).toBe('cgroupfs');
    const fs = await rt.imageFsInfo();
    expect(fs[0]!.capacityBytes).toBeGreaterThan(0);
  });

  test('runs a ready sandbox with a pod IP, hostname, DNS, labels and annotations', async () => {
    const sb = await runSandbox({
      hostname: 'conformance-host',
      annotations: { 'bosun.io/hash': 'abc' },
      dns: { servers: ['10.96.0.10'], searches: ['bosun-test.svc.cluster.local'], options: ['ndots:5'] },
    });
    const st = await rt.podSandboxStatus(sb.id);
    expect(st.state).toBe('ready');
    expect(st.ip).toMatch(POD_CIDR[kind]);
    expect(st.metadata).toEqual(sb.config.metadata);
    expect(st.labels).toMatchObject(sb.config.labels);
    expect(st.annotations).toEqual({ 'bosun.io/hash': 'abc' });
    const app = await runContainer(sb, 'app', SLEEPER);
    expect(await sh(app, 'hostname')).toBe('conformance-host');
    const resolv = await sh(app, 'cat /etc/resolv.conf');
    expect(resolv).toContain('nameserver 10.96.0.10');
    expect(resolv).toContain('search bosun-test.svc.cluster.local');
    expect(resolv).toContain('options ndots:5');
    expect((await rt.listPodSandboxes()).find((s) => s.id === sb.id)).toEqual(st);
  });

  test('shares the pod network between containers and the PID namespace only with sharePid', async () => {
    const sb = await runSandbox({ sharePid: true });
    const a = await runContainer(sb, 'a', { command: ['sh', '-c', 'nc -l -p 8080 -e echo hi; sleep 3600'] });
    const b = await runContainer(sb, 'b', SLEEPER);
    expect(await sh(b, 'ps -o comm | grep -c nc || true')).toBe('1');
    await waitFor('listener', async () => ((await rt.execSync(b, ['sh', '-c', 'netstat -ltn | grep -q :8080'], 5000)).exitCode === 0 ? true : undefined));
    expect(await sh(b, 'nc 127.0.0.1 8080 </dev/null')).toBe('hi');
    void a;
    const solo = await runSandbox();
    const c = await runContainer(solo, 'c', SLEEPER);
    await runContainer(solo, 'd', SLEEPER);
    expect(await sh(c, 'ps -o comm | grep -c sleep')).toBe('1');
  });

  test('reports exit codes, reasons, states and times', async () => {
    const sb = await runSandbox();
    const failing = await rt.createContainer(sb.id, testContainerConfig(runId, 'fails', { command: ['sh', '-c', 'exit 3'] }), sb.config);
    const created = await rt.containerStatus(failing);
    expect(created).toMatchObject({ state: 'created', startedAt: 0, finishedAt: 0, podSandboxId: sb.id, metadata: { name: 'fails', attempt: 0 } });
    await rt.startContainer(failing);
    const st = await exited(failing);
    expect(st.exitCode).toBe(3);
    expect(st.reason).toBe('Error');
    expect(st.startedAt).toBeGreaterThan(0);
    expect(st.finishedAt).toBeGreaterThanOrEqual(st.startedAt);
    expect(st.image).toBe(BUSYBOX);
    expect(st.imageRef).toMatch(/^sha256:[0-9a-f]{64}$/);
    const ok = await runContainer(sb, 'ok', { command: ['true'] });
    expect(await exited(ok)).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect((await rt.listContainers()).find((c) => c.id === failing)).toEqual(st);
  });

  test('follows command/args semantics and passes env, working dir and mounts', async () => {
    const sb = await runSandbox();
    const argsOnly = await runContainer(sb, 'args', { args: ['sh', '-c', 'exit 5'] });
    const both = await runContainer(sb, 'both', { command: ['sh', '-c', 'exit $1', 'zero'], args: ['9'] });
    expect((await exited(argsOnly)).exitCode).toBe(5);
    expect((await exited(both)).exitCode).toBe(9);
    const app = await runContainer(sb, 'env', {
      ...SLEEPER,
      envs: [{ key: 'GREETING', value: 'hello world' }],
      workingDir: '/tmp',
      mounts: [{ containerPath: '/host-etc', hostPath: '/etc', readonly: true }],
    });
    expect(await sh(app, 'echo "$GREETING"; pwd')).toBe('hello world\n/tmp');
    expect(await sh(app, 'cat /host-etc/hostname')).toBe((await readFile('/etc/hostname', 'utf8')).trim());
    expect((await rt.execSync(app, ['sh', '-c', 'touch /host-etc/x'], 5000)).exitCode).not.toBe(0);
  });

  test('exec streams stdin, stdout and stderr and reports the exit code', async () => {
    const sb = await runSandbox();
    const app = await runContainer(sb, 'app', SLEEPER);
    const s = await rt.exec(app, ['sh', '-c', 'read x; echo "got $x"; echo err >&2; exit 5'], { stdin: true, stdout: true, stderr: true, tty: false });
    const read = (r?: NodeJS.ReadableStream) => new Promise<string>((res) => {
      let t = '';
      r?.on('data', (b: Buffer) => (t += b.toString()));
      r?.on('end', () => res(t));
    });
    const [out, err] = [read(s.stdout), read(s.stderr)];
    s.stdin!.write('hello\n');
    expect(await s.exitCode).toBe(5);
    s.close();
    expect(await out).toBe('got hello\n');
    expect(await err).toBe('err\n');
  });

  test('execSync separates stdout and stderr, reports the exit code, and stops on timeout', async () => {
    const sb = await runSandbox();
    const app = await runContainer(sb, 'app', SLEEPER);
    const r = await rt.execSync(app, ['sh', '-c', 'echo out; echo err >&2; exit 7'], 5000);
    expect({ out: r.stdout.toString(), err: r.stderr.toString(), code: r.exitCode, timedOut: r.timedOut }).toEqual({ out: 'out\n', err: 'err\n', code: 7, timedOut: false });
    const t0 = Date.now();
    const slow = await rt.execSync(app, ['sleep', '30'], 1000);
    expect(slow.timedOut).toBe(true);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  test('follows a container\'s output with nanosecond timestamps and resumes from one', async () => {
    const sb = await runSandbox({ logDirectory: `/tmp/bosun-conformance-${runId}/pod` });
    const id = await runContainer(sb, 'logger', { command: ['sh', '-c', 'echo one; echo two >&2; echo three; printf end; exit 3'], logPath: 'logger/0.log' });
    expect((await rt.containerStatus(id)).logPath).toBe(`/tmp/bosun-conformance-${runId}/pod/logger/0.log`);
    // The engine writes a last line without a newline when its log driver closes, which it
    // does before reporting the exit; a follow that starts earlier can end just before it.
    await waitFor('the logger to exit', async () => ((await rt.containerStatus(id)).state === 'exited' ? true : undefined));
    const chunks: { stream: string; timestamp: string; data: string }[] = [];
    await rt.followLogs(id, undefined, (c) => chunks.push({ stream: c.stream, timestamp: c.timestamp, data: c.data.toString() })).done;
    expect(chunks.filter((c) => c.stream === 'stderr').map((c) => c.data)).toEqual(['two\n']);
    const out = chunks.filter((c) => c.stream === 'stdout');
    expect(out.map((c) => c.data)).toEqual(['one\n', 'three\n', 'end']);
    for (const c of chunks) expect(c.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{1,9}Z$/);
    const again: string[] = [];
    await rt.followLogs(id, out[1]!.timestamp, (c) => { if (c.stream === 'stdout') again.push(c.data.toString()); }).done;
    expect(again).toEqual(['three\n', 'end']);
    await expectRuntimeError(rt.followLogs('0000000000000000deadbeef', undefined, () => undefined).done, 'NotFound');
  });

  test('applies memory and CPU limits and reports OOMKilled', async () => {
    const sb = await runSandbox();
    const limited = await runContainer(sb, 'limited', { ...SLEEPER, linux: { resources: { memoryLimitInBytes: 64 * 1024 * 1024, memorySwapLimitInBytes: 64 * 1024 * 1024, cpuQuota: 50_000, cpuPeriod: 100_000, cpuShares: 512 } } });
    const mem = await sh(limited, 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max');
    expect(mem).toBe(String(64 * 1024 * 1024));
    const quota = await sh(limited, 'cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup/cpu.max | cut -d" " -f1');
    expect(quota).toBe('50000');
    const stats = await rt.containerStats(limited);
    expect(stats.memoryWorkingSetBytes).toBeGreaterThan(0);
    expect(stats.cpuUsageCoreNanoSeconds).toBeGreaterThan(0);
    const hog = await runContainer(sb, 'hog', {
      command: ['sh', '-c', 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived'],
      linux: { resources: { memoryLimitInBytes: 32 * 1024 * 1024, memorySwapLimitInBytes: 32 * 1024 * 1024 } },
    });
    const st = await waitFor('OOM kill', async () => {
      const s = await rt.containerStatus(hog);
      return s.state === 'exited' ? s : undefined;
    }, 30_000);
    expect(st).toMatchObject({ reason: 'OOMKilled', exitCode: 137 });
  });

  test('stops a process that ignores SIGTERM after the timeout; stop and remove are idempotent', async () => {
    const sb = await runSandbox();
    const stubborn = await runContainer(sb, 'stubborn', { command: ['sh', '-c', 'trap "" TERM; while true; do sleep 1; done'] });
    const t0 = Date.now();
    await rt.stopContainer(stubborn, 2);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1500);
    expect((await rt.containerStatus(stubborn)).exitCode).toBe(137);
    await rt.stopContainer(stubborn, 2);
    // The next attempt of the same container name starts in the same sandbox (a restart).
    const again = await runContainer(sb, 'stubborn', { ...SLEEPER, metadata: { name: 'stubborn', attempt: 1 } });
    expect((await rt.containerStatus(again)).state).toBe('running');
    await rt.removeContainer(stubborn);
    await rt.removeContainer(stubborn);
    await expectRuntimeError(rt.containerStatus(stubborn), 'NotFound');
    await rt.stopPodSandbox(sb.id);
    const st = await rt.podSandboxStatus(sb.id);
    expect(st.state).toBe('notready');
    expect(st.ip).toBeUndefined();
    expect((await rt.containerStatus(again)).state).toBe('exited');
    await rt.stopPodSandbox(sb.id);
    await rt.removePodSandbox(sb.id);
    await rt.removePodSandbox(sb.id);
    await expectRuntimeError(rt.podSandboxStatus(sb.id), 'NotFound');
    await expectRuntimeError(rt.containerStatus(again), 'NotFound');
  });

  test('runs host-network pods without a pod IP', async () => {
    const sb = await runSandbox({ hostNetwork: true });
    const st = await rt.podSandboxStatus(sb.id);
    expect(st.state).toBe('ready');
    expect(st.ip).toBeUndefined();
    const app = await runContainer(sb, 'app', SLEEPER);
    expect(await sh(app, 'cat /proc/net/dev | grep -c lo:')).toBe('1');
    expect(await sh(app, 'hostname')).toBe((await readFile('/proc/sys/kernel/hostname', 'utf8')).trim());
  });

  test('a fresh runtime (an agent restart) lists the same sandboxes and containers with full metadata', async () => {
    const sb = await runSandbox({
      metadata: { name: 'restarted', namespace: 'bosun-test', uid: `${runId}-restart`, attempt: 2 },
      annotations: { 'kubernetes.io/config.source': 'file' },
    });
    const ctr = await runContainer(sb, 'app', {
      ...SLEEPER,
      metadata: { name: 'app', attempt: 4 },
      annotations: { 'io.kubernetes.container.hash': 'deadbeef' },
    });
    const before = { sandbox: (await rt.listPodSandboxes()).find((s) => s.id === sb.id), container: (await rt.listContainers()).find((c) => c.id === ctr) };
    const fresh = await createTestRuntime(kind);
    try {
      const container = (await fresh.listContainers()).find((c) => c.id === ctr) as ContainerStatus;
      expect((await fresh.listPodSandboxes()).find((s) => s.id === sb.id)).toEqual(before.sandbox);
      expect(container).toEqual(before.container);
      expect(container.metadata).toEqual({ name: 'app', attempt: 4 });
      expect(container.podSandboxId).toBe(sb.id);
      expect(container.labels).toMatchObject({ 'io.kubernetes.pod.uid': `${runId}-restart` });
      expect(container.annotations).toEqual({ 'io.kubernetes.container.hash': 'deadbeef' });
    } finally {
      await fresh.close();
    }
  });

  test('reports created, started, stopped and deleted events', async () => {
    const events: RuntimeEvent[] = [];
    const errors: Error[] = [];
    const unsubscribe = rt.subscribe((e) => events.push(e), (e) => errors.push(e));
    try {
      await sleep(1500); // the relisting runtimes take their first list
      const sb = await runSandbox();
      const id = await runContainer(sb, 'short', { command: ['sh', '-c', 'sleep 1'] });
      await exited(id);
      await rt.removeContainer(id);
      const seen = (type: string) => waitFor(`${type} event`, async () => (events.some((e) => e.id === id && e.type === type) ? true : undefined));
      for (const t of ['started', 'stopped', 'deleted']) await seen(t);
      expect(events.find((e) => e.id === id)?.podUid).toBe(sb.config.metadata.uid);
      expect(errors).toEqual([]);
    } finally {
      unsubscribe();
    }
  });

  test('images: present ones resolve, pulls fail fast with ErrImagePull', async () => {
    const info = await rt.imageStatus(BUSYBOX);
    expect(info?.repoTags).toContain(BUSYBOX);
    expect((await rt.listImages()).some((i) => i.id === info?.id)).toBe(true);
    expect(await rt.imageStatus(`localhost/bosun/missing-${runId}:1`)).toBeUndefined();
    const t0 = Date.now();
    await expectRuntimeError(rt.pullImage(`localhost/bosun/missing-${runId}:1`), 'ErrImagePull');
    expect(Date.now() - t0).toBeLessThan(20_000);
  });
});
