// The Docker runtime against the real engine. Only localhost and addresses of
// containers on this machine are ever contacted; nothing is pulled from a registry.

import { execFile } from 'node:child_process';
import { mkdtemp, readlink, rm } from 'node:fs/promises';
import { get } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  createDockerRuntime,
  RuntimeError,
  type ContainerConfig,
  type PodSandboxConfig,
  type Runtime,
  type RuntimeEvent,
} from '../../cri/index.js';
import {
  BUSYBOX,
  DOCKER_SOCKET,
  TEST_NAME_PREFIX,
  TEST_RUN_LABEL,
  randomId,
  removeTestResources,
  testContainerConfig,
  testSandboxConfig,
  waitForDocker,
} from '../support/docker-test-env.js';
import { sleep, waitFor, must } from '../support/common.js';

const execFileP = promisify(execFile);
const docker = new Docker({ socketPath: DOCKER_SOCKET });
const runId = randomId();
let rt: Runtime;

async function expectRuntimeError(p: Promise<unknown>, code: string): Promise<RuntimeError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected RuntimeError ${code}`).toBeInstanceOf(RuntimeError);
  expect((err as RuntimeError).code).toBe(code);
  return err as RuntimeError;
}

async function runSandbox(overrides: Partial<PodSandboxConfig> = {}): Promise<{ id: string; config: PodSandboxConfig }> {
  const config = testSandboxConfig(runId, overrides);
  return { id: await rt.runPodSandbox(config), config };
}

async function runContainer(
  sandbox: { id: string; config: PodSandboxConfig },
  name: string,
  overrides: Partial<ContainerConfig> = {},
): Promise<string> {
  const id = await rt.createContainer(sandbox.id, testContainerConfig(runId, name, overrides), sandbox.config);
  await rt.startContainer(id);
  return id;
}

async function sh(id: string, script: string, timeoutMs = 10_000): Promise<string> {
  const r = await rt.execSync(id, ['sh', '-c', script], timeoutMs);
  if (r.exitCode !== 0) throw new Error(`exec ${script} exited ${r.exitCode}: ${r.stderr.toString()}`);
  return r.stdout.toString().trim();
}

function httpGet(url: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get(url, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

/** Containers of this run whose name contains `part` (to prove nothing was left behind). */
async function engineContainersNamed(part: string): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${TEST_RUN_LABEL}=${runId}`] } });
  return list.filter((c) => c.Names.some((n) => n.includes(part))).map((c) => c.Names.join(','));
}

// Serves a file from /www; argv only, never a shell string built from data.
const HTTPD: Partial<ContainerConfig> = {
  command: ['sh', '-c', 'mkdir -p /www && echo hello-from-pod > /www/index.html && exec httpd -f -p 8080 -h /www'],
};
const SLEEPER: Partial<ContainerConfig> = { command: ['sleep', '1000'] };

beforeAll(async () => {
  await waitForDocker(docker);
  await removeTestResources(docker);
  rt = await createDockerRuntime({});
});

afterAll(async () => {
  await rt?.close();
  await waitForDocker(docker);
  await removeTestResources(docker, runId);
});

describe('startup', () => {
  it('reports the engine version', async () => {
    const v = await rt.version();
    expect(v.runtimeName).toBe('docker');
    expect(v.runtimeVersion).toMatch(/^\d+\.\d+/);
    expect(v.runtimeApiVersion).toMatch(/^1\.\d+$/);
  });

  it('fails clearly when the engine socket does not answer', async () => {
    const err = await expectRuntimeError(createDockerRuntime({ socketPath: '/run/bosun-no-such.sock' }), 'Unavailable');
    expect(err.message).toMatch(/^cannot reach the Docker engine at \/run\/bosun-no-such\.sock: .*\(run scripts\/setup-host\.sh\)$/);
  });

  it('creates the pod network when missing and refuses one with another subnet', async () => {
    const name = `${TEST_NAME_PREFIX}${runId}-net`;
    const bridgeName = `bt${runId}`;
    const rt2 = await createDockerRuntime({ networkName: name, podCIDR: '10.250.7.0/24', bridgeName });
    await rt2.close();
    const info = await docker.getNetwork(name).inspect();
    expect(info.IPAM?.Config?.[0]?.Subnet).toBe('10.250.7.0/24');
    expect(info.Options?.['com.docker.network.bridge.name']).toBe(bridgeName);
    // Idempotent with the same settings.
    await (await createDockerRuntime({ networkName: name, podCIDR: '10.250.7.0/24', bridgeName })).close();
    // A configuration error, not a transient one: no 'Unavailable' code that invites retrying.
    const err = await createDockerRuntime({ networkName: name, podCIDR: '10.250.8.0/24', bridgeName }).then(
      () => new Error('expected a failure'),
      (e: Error) => e,
    );
    expect(err).not.toBeInstanceOf(RuntimeError);
    expect(err.message).toContain(`Docker network "${name}" exists with subnet 10.250.7.0/24`);
    // Refusing must not delete it.
    expect((await docker.getNetwork(name).inspect()).Name).toBe(name);
    await docker.getNetwork(name).remove();
  });
});

describe('sandboxes and containers', () => {
  it('runs a sandbox that is ready with an IP in the pod CIDR', async () => {
    const sb = await runSandbox({ annotations: { 'example.com/note': 'a b=c' } });
    const st = await rt.podSandboxStatus(sb.id);
    expect(st.state).toBe('ready');
    expect(st.ip).toMatch(/^10\.244\.\d+\.\d+$/);
    expect(st.metadata).toEqual(sb.config.metadata);
    expect(st.labels).toMatchObject(sb.config.labels);
    expect(st.annotations).toEqual({ 'example.com/note': 'a b=c' });
    expect(st.createdAt).toBeGreaterThan(Date.now() - 60_000);
    const engine = await docker.getContainer(sb.id).inspect();
    const md = sb.config.metadata;
    expect(engine.Name).toBe(`/k8s_POD_${md.name}_${md.namespace}_${md.uid}_0`);
    expect(engine.HostConfig.IpcMode).toBe('shareable');
    expect(engine.Config.Labels['io.kubernetes.docker.type']).toBe('podsandbox');
    expect(engine.Config.Labels['annotation.example.com/note']).toBe('a b=c');

    const listed = (await rt.listPodSandboxes()).find((s) => s.id === sb.id);
    expect(listed).toEqual(st);
  });

  it('shares network, IPC and hostname between the containers of a pod; the host reaches the pod IP', async () => {
    const sb = await runSandbox({ hostname: 'shared-host' });
    const web = await runContainer(sb, 'web', HTTPD);
    const client = await runContainer(sb, 'client', SLEEPER);
    const ip = (await rt.podSandboxStatus(sb.id)).ip!;

    const body = await waitFor('httpd answering inside the pod', async () => {
      const r = await rt.execSync(client, ['wget', '-qO-', 'http://127.0.0.1:8080/'], 5_000);
      return r.exitCode === 0 ? r.stdout.toString() : undefined;
    });
    expect(body.trim()).toBe('hello-from-pod');
    expect(await httpGet(`http://${ip}:8080/`)).toBe('hello-from-pod\n');

    expect(await sh(web, 'hostname')).toBe('shared-host');
    expect(await sh(client, 'hostname')).toBe('shared-host');

    const pausePid = (await docker.getContainer(sb.id).inspect()).State.Pid;
    const pauseIpc = await readlink(`/proc/${pausePid}/ns/ipc`);
    const pauseNet = await readlink(`/proc/${pausePid}/ns/net`);
    for (const id of [web, client]) {
      expect(await sh(id, 'readlink /proc/self/ns/ipc')).toBe(pauseIpc);
      expect(await sh(id, 'readlink /proc/self/ns/net')).toBe(pauseNet);
    }
    // IPC really is shared: a file in /dev/shm (POSIX shm lives there) is seen by both.
    await sh(web, 'echo shm-ok > /dev/shm/probe');
    expect(await sh(client, 'cat /dev/shm/probe')).toBe('shm-ok');
  });

  it('shares the PID namespace only with sharePid', async () => {
    const shared = await runSandbox({ sharePid: true });
    const a = await runContainer(shared, 'a', SLEEPER);
    // PID 1 is the pause process, and this container sees it.
    expect(await sh(a, 'cat /proc/1/cmdline | tr "\\0" " "')).toContain('/pause');

    const separate = await runSandbox({ sharePid: false });
    const b = await runContainer(separate, 'b', SLEEPER);
    expect(await sh(b, 'cat /proc/1/cmdline | tr "\\0" " "')).toBe('sleep 1000');
    expect(await sh(b, 'ps -o comm | grep -c pause || true')).toBe('0');
  });

  it('reports exit codes, states and times', async () => {
    const sb = await runSandbox();
    const failing = await rt.createContainer(
      sb.id,
      testContainerConfig(runId, 'fails', { command: ['sh', '-c', 'exit 3'] }),
      sb.config,
    );
    const created = await rt.containerStatus(failing);
    expect(created.state).toBe('created');
    expect(created.startedAt).toBe(0);
    expect(created.finishedAt).toBe(0);
    expect(created.podSandboxId).toBe(sb.id);
    expect(created.metadata).toEqual({ name: 'fails', attempt: 0 });
    await rt.startContainer(failing);
    const exited = await waitFor('exit 3', async () => {
      const s = await rt.containerStatus(failing);
      return s.state === 'exited' ? s : undefined;
    });
    expect(exited.exitCode).toBe(3);
    expect(exited.reason).toBe('Error');
    expect(exited.startedAt).toBeGreaterThan(0);
    expect(exited.finishedAt).toBeGreaterThanOrEqual(exited.startedAt);
    expect(exited.image).toBe(BUSYBOX);
    expect(exited.imageRef).toMatch(/^sha256:[0-9a-f]{64}$/);

    const ok = await runContainer(sb, 'ok', { command: ['true'] });
    const completed = await waitFor('true to exit', async () => {
      const s = (await rt.listContainers()).find((c) => c.id === ok);
      return s?.state === 'exited' ? s : undefined;
    });
    expect(completed.exitCode).toBe(0);
    expect(completed.reason).toBe('Completed');
    // The list (served from a cache for unchanged containers) agrees with inspect.
    expect((await rt.listContainers()).find((c) => c.id === failing)).toEqual(exited);
  });

  it('follows Kubernetes command/args semantics over the image entrypoint', async () => {
    const sb = await runSandbox();
    // busybox image: no ENTRYPOINT, CMD ["sh"]. args alone replace CMD.
    const argsOnly = await runContainer(sb, 'args', { args: ['sh', '-c', 'exit 5'] });
    // command alone: no image CMD appended (it would be "sh").
    const cmdOnly = await runContainer(sb, 'cmd', { command: ['sh', '-c', 'exit $#', 'zero'] });
    const both = await runContainer(sb, 'both', { command: ['sh', '-c', 'exit $1', 'zero'], args: ['9'] });
    const codes = await Promise.all(
      [argsOnly, cmdOnly, both].map((id) =>
        waitFor('exit', async () => {
          const s = await rt.containerStatus(id);
          return s.state === 'exited' ? s.exitCode : undefined;
        }),
      ),
    );
    expect(codes).toEqual([5, 0, 9]);
  });

  it('passes env, working dir and mounts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bosun-cri-'));
    try {
      const sb = await runSandbox();
      const id = await runContainer(sb, 'env', {
        ...SLEEPER,
        envs: [
          { key: 'GREETING', value: 'hello world' },
          { key: 'EMPTY', value: '' },
        ],
        workingDir: '/data',
        mounts: [
          { hostPath: dir, containerPath: '/data', readonly: false },
          { hostPath: dir, containerPath: '/ro', readonly: true },
        ],
      });
      expect(await sh(id, 'echo "$GREETING|${EMPTY-unset}|$PWD"')).toBe('hello world||/data');
      await sh(id, 'echo written > /data/f');
      expect(await sh(id, 'cat /ro/f')).toBe('written');
      const r = await rt.execSync(id, ['sh', '-c', 'echo x > /ro/g'], 5_000);
      expect(r.exitCode).not.toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('stopContainer kills a process that ignores SIGTERM after the timeout, and is idempotent', async () => {
    const sb = await runSandbox();
    const id = await runContainer(sb, 'stubborn', { command: ['sh', '-c', "trap '' TERM; sleep 1000 & wait"] });
    await sleep(300); // let the shell install its trap
    const t0 = Date.now();
    await rt.stopContainer(id, 2);
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(1_900);
    expect(took).toBeLessThan(10_000);
    const st = await rt.containerStatus(id);
    expect(st.state).toBe('exited');
    expect(st.exitCode).toBe(137);

    await rt.stopContainer(id, 2); // already stopped
    await rt.stopContainer('0123456789abcdef0123456789abcdef', 2); // missing

    const quick = await runContainer(sb, 'quick', SLEEPER);
    const t1 = Date.now();
    await rt.stopContainer(quick, 0);
    expect(Date.now() - t1).toBeLessThan(2_000);
    expect((await rt.containerStatus(quick)).exitCode).toBe(137);
  });

  it('execSync separates stdout and stderr, reports the exit code, and kills on timeout', async () => {
    const sb = await runSandbox();
    const id = await runContainer(sb, 'exec', SLEEPER);
    const r = await rt.execSync(id, ['sh', '-c', 'echo out; echo err >&2; exit 7'], 5_000);
    expect(r.stdout.toString()).toBe('out\n');
    expect(r.stderr.toString()).toBe('err\n');
    expect(r.exitCode).toBe(7);
    expect(r.timedOut).toBe(false);

    // Large output crosses many frames.
    const big = await rt.execSync(id, ['sh', '-c', 'i=0; while [ $i -lt 20000 ]; do echo line$i; i=$((i+1)); done'], 10_000);
    expect(big.stdout.toString().split('\n')).toHaveLength(20_001);

    // "; true" keeps the shell from exec'ing sleep: the sleep is a child that must die too.
    const t0 = Date.now();
    const slow = await rt.execSync(id, ['sh', '-c', 'sleep 1337; true'], 1_000);
    expect(slow.timedOut).toBe(true);
    expect(slow.exitCode).toBe(-1);
    expect(Date.now() - t0).toBeLessThan(5_000);
    await waitFor('the timed-out sleep to be gone', async () => {
      const ps = await sh(id, 'ps -o args');
      return ps.includes('sleep 1337') ? undefined : true;
    });

    await expectRuntimeError(rt.execSync('0123456789abcdef0123456789abcdef', ['true'], 1_000), 'NotFound');
    await rt.stopContainer(id, 0);
    await expect(rt.execSync(id, ['true'], 1_000)).rejects.toThrow(/is not running/);
  });

  it('leaves no container behind when create fails; keeps one whose start failed, as an exited ContainerCannotRun run (as cri-dockerd reports it)', async () => {
    const sb = await runSandbox();
    const missing = await expectRuntimeError(
      rt.createContainer(sb.id, testContainerConfig(runId, 'noimage', { image: 'localhost/bosun/nope:1' }), sb.config),
      'CreateContainerError',
    );
    expect(missing.message).toMatch(/no such image/i);
    expect(await engineContainersNamed('k8s_noimage_')).toEqual([]);

    const badMount = await expectRuntimeError(
      rt.createContainer(
        sb.id,
        testContainerConfig(runId, 'badmount', { mounts: [{ hostPath: '/tmp', containerPath: 'relative', readonly: false }] }),
        sb.config,
      ),
      'CreateContainerError',
    );
    expect(badMount.message.length).toBeGreaterThan(0);
    expect(await engineContainersNamed('k8s_badmount_')).toEqual([]);

    // Docker 20.10 itself would accept container:<missing> at create and fail at start.
    const noSandbox = await expectRuntimeError(
      rt.createContainer('0123456789abcdef0123456789abcdef', testContainerConfig(runId, 'nosandbox', SLEEPER), sb.config),
      'CreateContainerError',
    );
    expect(noSandbox.message).toMatch(/sandbox 0123456789abcdef0123456789abcdef not found/);
    expect(await engineContainersNamed('k8s_nosandbox_')).toEqual([]);

    const id = await rt.createContainer(
      sb.id,
      testContainerConfig(runId, 'noexec', { command: ['/no/such/binary'] }),
      sb.config,
    );
    const start = await expectRuntimeError(rt.startContainer(id), 'RunContainerError');
    expect(start.message).toMatch(/no such file/i);
    // The run the restart policy judges: under restartPolicy Never the pod fails instead of
    // retrying it (kubelet's ShouldContainerBeRestarted).
    expect(await engineContainersNamed('k8s_noexec_')).toHaveLength(1);
    const st = await rt.containerStatus(id);
    expect(st.state).toBe('exited');
    expect(st.reason).toBe('ContainerCannotRun');
    await rt.removeContainer(id);
  });

  it('refuses to create a container in a stopped sandbox', async () => {
    const sb = await runSandbox();
    await rt.stopPodSandbox(sb.id);
    const err = await expectRuntimeError(
      rt.createContainer(sb.id, testContainerConfig(runId, 'late', SLEEPER), sb.config),
      'CreateContainerError',
    );
    expect(err.message).toMatch(/is not running/);
    expect(await engineContainersNamed('k8s_late_')).toEqual([]);
  });

  it('removes a sandbox whose start fails (host port taken)', async () => {
    const hostPort = 20_000 + Math.floor(Math.random() * 20_000);
    const portMappings = [{ protocol: 'TCP' as const, containerPort: 80, hostPort, hostIp: '127.0.0.1' }];
    await runSandbox({ portMappings });
    const second = testSandboxConfig(runId, { portMappings });
    const err = await expectRuntimeError(rt.runPodSandbox(second), 'RunContainerError');
    expect(err.message).toMatch(/already allocated|address already in use/);
    expect(await engineContainersNamed(second.metadata.uid)).toEqual([]);
  });

  it('relists unchanged containers and sandboxes without inspecting them', async () => {
    const sb = await runSandbox();
    const ctr = await runContainer(sb, 'steady', SLEEPER);
    const exited = await runContainer(sb, 'done', { command: ['true'] });
    await waitFor('exit', async () => ((await rt.containerStatus(exited)).state === 'exited' ? true : undefined));
    await rt.listContainers();
    await rt.listPodSandboxes();
    const spy = vi.spyOn(Docker.Container.prototype, 'inspect');
    try {
      const containers = await rt.listContainers();
      const sandboxes = await rt.listPodSandboxes();
      expect(containers.find((c) => c.id === exited)?.exitCode).toBe(0);
      expect(containers.find((c) => c.id === ctr)?.state).toBe('running');
      expect(sandboxes.find((s) => s.id === sb.id)?.state).toBe('ready');
      // Other engineers' pods may share the engine: count only this test's objects.
      const inspected = spy.mock.contexts.map((c) => (c as { id: string }).id);
      expect(inspected.filter((id) => [sb.id, ctr, exited].includes(id))).toEqual([]);
    } finally {
      spy.mockRestore();
    }
    // A state change is picked up by the next relist.
    await rt.stopContainer(ctr, 0);
    expect((await rt.listContainers()).find((c) => c.id === ctr)).toMatchObject({ state: 'exited', exitCode: 137 });
  });

  it('fails a sandbox with a missing pause image with ImageNotFound', async () => {
    const rt2 = await createDockerRuntime({ pauseImage: 'localhost/bosun/no-pause:0' });
    try {
      const err = await expectRuntimeError(rt2.runPodSandbox(testSandboxConfig(runId)), 'ImageNotFound');
      expect(err.message).toContain('scripts/setup-host.sh');
    } finally {
      await rt2.close();
    }
  });

  it('publishes host ports and writes the pod DNS config', async () => {
    const hostPort = 20_000 + Math.floor(Math.random() * 20_000);
    const sb = await runSandbox({
      portMappings: [{ protocol: 'TCP', containerPort: 8080, hostPort, hostIp: '127.0.0.1' }],
      dns: { servers: ['10.96.0.10'], searches: ['bosun-test.svc.cluster.local', 'svc.cluster.local'], options: ['ndots:5'] },
    });
    const web = await runContainer(sb, 'web', HTTPD);
    const body = await waitFor('the host port', async () => httpGet(`http://127.0.0.1:${hostPort}/`).catch(() => undefined));
    expect(body).toBe('hello-from-pod\n');
    expect((await sh(web, 'cat /etc/resolv.conf')).split('\n')).toEqual([
      'nameserver 10.96.0.10',
      'search bosun-test.svc.cluster.local svc.cluster.local',
      'options ndots:5',
    ]);
  });

  it('runs host-network pods without a pod IP', async () => {
    const sb = await runSandbox({ hostNetwork: true });
    const st = await rt.podSandboxStatus(sb.id);
    expect(st.state).toBe('ready');
    expect(st.ip).toBeUndefined();
    const id = await runContainer(sb, 'hostnet', SLEEPER);
    const { stdout } = await execFileP('hostname');
    expect(await sh(id, 'hostname')).toBe(stdout.trim());
  });

  it('follows a container\'s output with nanosecond timestamps and resumes from one', async () => {
    const sb = await runSandbox({ logDirectory: '/nonexistent-bosun-logs/pod' });
    const id = await runContainer(sb, 'logger', {
      // A line longer than the engine's 16 KiB buffer comes in two messages (the first without
      // its newline, both with the same timestamp); output that ends without a newline too.
      command: ['sh', '-c', 'echo one; echo two >&2; head -c 20000 /dev/zero | tr "\\0" x; echo; printf end; exit 3'],
      logPath: 'logger/0.log',
    });
    const status = await rt.containerStatus(id);
    // The runtime only records where the agent keeps the log; it writes nothing there.
    expect(status.logPath).toBe('/nonexistent-bosun-logs/pod/logger/0.log');
    // The engine writes a last line without a newline when its log driver closes, which it
    // does before reporting the exit; a follow that starts earlier can end just before it.
    for (let i = 0; i < 100 && (await rt.containerStatus(id)).state !== 'exited'; i++) await new Promise((r) => setTimeout(r, 100));
    const chunks: { stream: string; timestamp: string; data: string }[] = [];
    const f = rt.followLogs(id, undefined, (c) => chunks.push({ stream: c.stream, timestamp: c.timestamp, data: c.data.toString() }));
    await f.done; // ends by itself once the container has exited
    // Short form of long texts, so that a failure prints something readable.
    const show = (d: string) => (d.length > 20 ? `${d[0]} x${d.length}${d.endsWith('\n') ? '\\n' : ''}` : d);
    // stdout and stderr are copied by separate engine routines: only each stream's order is kept.
    expect(chunks.filter((c) => c.stream === 'stderr').map((c) => c.data)).toEqual(['two\n']);
    const out = chunks.filter((c) => c.stream === 'stdout');
    expect(out.map((c) => show(c.data))).toEqual(['one\n', 'x x16384', 'x x3617\\n', 'end']);
    const second = must(out[1], 'the second stdout chunk');
    expect(out[2]?.timestamp).toBe(second.timestamp);
    for (const c of chunks) expect(c.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    // `since` includes its own instant: resuming from the third message gives it again, then the rest.
    const again: string[] = [];
    await rt.followLogs(id, second.timestamp, (c) => again.push(show(c.data.toString()))).done;
    expect(again).toEqual(['x x16384', 'x x3617\\n', 'end']);
    await expectRuntimeError(rt.followLogs('0000000000000000deadbeef', undefined, () => undefined).done, 'NotFound');
  });

  it('stops and removes a sandbox with its containers, idempotently', async () => {
    const sb = await runSandbox();
    const app = await runContainer(sb, 'app', SLEEPER);
    await rt.stopPodSandbox(sb.id);
    const st = await rt.podSandboxStatus(sb.id);
    expect(st.state).toBe('notready');
    expect(st.ip).toBeUndefined();
    expect((await rt.containerStatus(app)).state).toBe('exited');
    await rt.stopPodSandbox(sb.id);
    await rt.removePodSandbox(sb.id);
    await expectRuntimeError(rt.podSandboxStatus(sb.id), 'NotFound');
    await expectRuntimeError(rt.containerStatus(app), 'NotFound');
    await rt.removePodSandbox(sb.id);
    await rt.removeContainer(app);
    expect((await rt.listPodSandboxes()).some((s) => s.id === sb.id)).toBe(false);
  });

  it('recreates a sandbox with the same attempt after a half-done create', async () => {
    const config = testSandboxConfig(runId);
    // A Created container under the sandbox's name, as an agent crash between create and start leaves.
    const stale = await docker.createContainer({
      name: `k8s_POD_${config.metadata.name}_${config.metadata.namespace}_${config.metadata.uid}_0`,
      Image: 'localhost/bosun/pause:3.10',
      Labels: { [TEST_RUN_LABEL]: runId },
    });
    const id = await rt.runPodSandbox(config);
    expect(id).not.toBe(stale.id);
    expect((await rt.podSandboxStatus(id)).state).toBe('ready');
    await expect(docker.getContainer(stale.id).inspect()).rejects.toThrow();
  });
});

describe('after an agent restart', () => {
  it('lists the same sandboxes and containers with full metadata from the engine alone', async () => {
    const sb = await runSandbox({
      metadata: { name: 'restarted', namespace: 'bosun-test', uid: `${runId}-restart`, attempt: 2 },
      annotations: { 'kubernetes.io/config.source': 'file', 'bosun.io/hash': '12ab' },
    });
    const ctr = await runContainer(sb, 'app', {
      ...SLEEPER,
      metadata: { name: 'app', attempt: 4 },
      labels: { [TEST_RUN_LABEL]: runId, tier: 'web' },
      annotations: { 'io.kubernetes.container.hash': 'deadbeef', 'io.kubernetes.container.restartCount': '4' },
    });
    const before = {
      sandbox: (await rt.listPodSandboxes()).find((s) => s.id === sb.id),
      container: (await rt.listContainers()).find((c) => c.id === ctr),
    };

    const fresh = await createDockerRuntime({});
    try {
      const sandbox = (await fresh.listPodSandboxes()).find((s) => s.id === sb.id);
      const container = (await fresh.listContainers()).find((c) => c.id === ctr);
      expect(sandbox).toEqual(before.sandbox);
      expect(container).toEqual(before.container);
      expect(sandbox?.metadata).toEqual({ name: 'restarted', namespace: 'bosun-test', uid: `${runId}-restart`, attempt: 2 });
      expect(sandbox?.annotations).toEqual({ 'kubernetes.io/config.source': 'file', 'bosun.io/hash': '12ab' });
      expect(container?.metadata).toEqual({ name: 'app', attempt: 4 });
      expect(container?.podSandboxId).toBe(sb.id);
      expect(container?.labels).toMatchObject({ tier: 'web', 'io.kubernetes.pod.uid': `${runId}-restart` });
      expect(container?.labels['io.kubernetes.docker.type']).toBeUndefined();
      expect(container?.annotations).toEqual({
        'io.kubernetes.container.hash': 'deadbeef',
        'io.kubernetes.container.restartCount': '4',
      });
      expect(container?.state).toBe('running');
    } finally {
      await fresh.close();
    }
  });
});

describe('events', () => {
  it('streams create, start, die and destroy for managed containers', async () => {
    const events: RuntimeEvent[] = [];
    const errors: Error[] = [];
    const unsubscribe = rt.subscribe(
      (e) => events.push(e),
      (e) => errors.push(e),
    );
    try {
      await sleep(300); // the subscription request must reach the engine first
      const sb = await runSandbox();
      const id = await runContainer(sb, 'evented', { command: ['true'] });
      await waitFor('exit', async () => ((await rt.containerStatus(id)).state === 'exited' ? true : undefined));
      await rt.removeContainer(id);
      const mine = await waitFor('all four events', async () => {
        const m = events.filter((e) => e.id === id);
        return m.length >= 4 ? m : undefined;
      });
      expect(mine.map((e) => e.type)).toEqual(['created', 'started', 'stopped', 'deleted']);
      expect(mine.every((e) => e.podUid === sb.config.metadata.uid)).toBe(true);
      expect(events.some((e) => e.id === sb.id && e.type === 'started')).toBe(true);
    } finally {
      unsubscribe();
    }
    expect(errors).toEqual([]);
  });
});

describe('images', () => {
  it('fails pulls fast with ErrImagePull when no registry answers', async () => {
    for (const ref of ['localhost/nope:1', 'example.invalid/x:1']) {
      const t0 = Date.now();
      const err = await expectRuntimeError(rt.pullImage(ref), 'ErrImagePull');
      expect(Date.now() - t0).toBeLessThan(5_000);
      expect(err.message).toContain(ref);
      // The engine's own words, without dockerode's "(HTTP code 500)" wrapping.
      expect(err.message).toMatch(new RegExp(`^pulling image ${ref.replace(/[.]/g, '\\.')}: Get "https?://`));
    }
  });

  it('rejects invalid references with InvalidImageName', async () => {
    for (const ref of ['Bad:Ref', '', 'a b', 'localhost/x:!']) {
      await expectRuntimeError(rt.pullImage(ref), 'InvalidImageName');
    }
  });

  it('gives up a pull that hangs after pullTimeoutMs', async () => {
    // A local "registry" that accepts connections and never answers.
    const sockets: Socket[] = [];
    const server = createTcpServer((s) => sockets.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const rt2 = await createDockerRuntime({ pullTimeoutMs: 1_500 });
    try {
      const t0 = Date.now();
      const err = await expectRuntimeError(rt2.pullImage(`localhost:${port}/hang:1`), 'ErrImagePull');
      expect(Date.now() - t0).toBeLessThan(5_000);
      expect(err.message).toMatch(/timed out after 1500 ms/);
    } finally {
      await rt2.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('reports, lists, imports and removes images', async () => {
    const present = await rt.imageStatus(BUSYBOX);
    expect(present?.repoTags).toContain(BUSYBOX);
    expect(present?.id).toMatch(/^sha256:/);
    expect(await rt.imageStatus('localhost/bosun/absent:1')).toBeUndefined();
    expect((await rt.listImages()).some((i) => i.id === present?.id)).toBe(true);

    // Round trip through an archive under a test-only tag; the busybox tag must survive.
    const tag = `localhost/${TEST_NAME_PREFIX}${runId}/imported:1`;
    const [repo, version] = [tag.slice(0, tag.lastIndexOf(':')), '1'];
    await docker.getImage(BUSYBOX).tag({ repo, tag: version });
    const dir = await mkdtemp(join(tmpdir(), 'bosun-img-'));
    try {
      const tar = join(dir, 'img.tar');
      await execFileP('docker', ['save', '-o', tar, tag]);
      await rt.removeImage(tag);
      expect(await rt.imageStatus(tag)).toBeUndefined();
      expect(await rt.imageStatus(BUSYBOX)).toBeDefined();
      expect(await rt.importImage(tar)).toEqual([tag]);
      expect((await rt.imageStatus(tag))?.id).toBe(present?.id);
      await rt.removeImage(tag);
      await rt.removeImage(tag); // missing is fine
      expect(await rt.imageStatus(BUSYBOX)).toBeDefined();
      await expectRuntimeError(rt.importImage(join(dir, 'missing.tar')), 'ImageNotFound');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
