import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containersOf, docker, manifest, removeTestContainers, TestAgent } from '../support/agent.js';
import { BUSYBOX as BB, must } from '../support/common.js';

// The foundation end to end: the built CLI as a real process, the real Docker engine, curl
// as the client. Needs root and a running engine (scripts/setup-host.sh).

const run = promisify(execFile);

const agent = new TestAgent();

const ctr = (name: string, cmd: string, extra = '') =>
  `    - name: ${name}\n      image: ${BB}\n      command: ["sh", "-c", ${JSON.stringify(cmd)}]\n${extra}`;

/** Every (attempt -> startedAt, finishedAt) seen for one container name, polled from Docker. */
class RunRecorder {
  runs = new Map<number, { started: number; finished: number }>();
  private timer?: NodeJS.Timeout;
  constructor(private podName: string, private ctrName: string) {}
  start(): void {
    this.timer = setInterval(() => void this.poll(), 500);
  }
  stop(): void {
    clearInterval(this.timer);
  }
  private async poll(): Promise<void> {
    const list = await containersOf(agent.nodeName, `${this.podName}-${agent.nodeName}`).catch(() => []);
    for (const c of list.filter((c) => c.Labels['io.kubernetes.container.name'] === this.ctrName)) {
      const info = await docker.getContainer(c.Id).inspect().catch(() => undefined);
      if (!info) continue;
      const attempt = Number(info.Config.Labels['io.kubernetes.container.attempt'] ?? info.Name.split('_').pop());
      const t = (s: string) => (s.startsWith('0001') ? 0 : Date.parse(s));
      this.runs.set(attempt, { started: t(info.State.StartedAt), finished: t(info.State.FinishedAt) });
    }
  }
}

const crash = new RunRecorder('crash', 'crash');

beforeAll(async () => {
  await removeTestContainers();
  await agent.start();
  // Started first so that its back-off delays are observed while the other tests run.
  agent.write('crash.yaml', manifest('crash', `  containers:\n${ctr('crash', 'exit 1')}`));
  crash.start();
});

afterAll(async () => {
  crash.stop();
  await agent.destroy();
});

describe('static pods on the real Docker engine', () => {
  it('runs a dropped manifest: Running, with a pod IP the app answers on (curl)', async () => {
    agent.write('web.yaml', manifest('web', `  terminationGracePeriodSeconds: 2\n  containers:\n${ctr('httpd', 'echo hello-bosun > /www/index.html; exec httpd -f -p 8080 -h /www')}`));
    const p = await agent.waitPod('web', (p) => p.status?.phase === 'Running' && !!p.status.podIP && p.status.containerStatuses?.[0]?.ready === true, 'Running with an IP');
    expect(p.status!.podIP).toMatch(/^10\.244\./);
    expect(p.metadata.namespace).toBe('default');
    expect(p.spec.nodeName).toBe(agent.nodeName);
    expect(p.metadata.annotations?.['kubernetes.io/config.source']).toBe('file');
    expect(p.status!.qosClass).toBe('BestEffort');
    let body = '';
    await agent.until(async () => {
      body = (await run('curl', ['-sS', '--max-time', '2', `http://${p.status!.podIP}:8080/`])).stdout;
      return body.includes('hello-bosun');
    }, 'curl to the pod IP');
    // kubelet's names and labels, as tools of the dockershim era expect.
    const names = (await containersOf(agent.nodeName, p.metadata.name)).map((c) => c.Names[0]);
    expect(names).toEqual(expect.arrayContaining([
      `/k8s_POD_${p.metadata.name}_default_${p.metadata.uid}_0`,
      `/k8s_httpd_${p.metadata.name}_default_${p.metadata.uid}_0`,
    ]));
    // The pod's hostname is the pod name.
    const app = (await containersOf(agent.nodeName, p.metadata.name)).find((c) => c.Labels['io.kubernetes.container.name'] === 'httpd')!;
    const { stdout } = await run('docker', ['exec', app.Id, 'hostname']);
    expect(stdout.trim()).toBe(p.metadata.name);
  });

  it('runs init containers one by one, in order, before the app container', async () => {
    agent.write('init.yaml', manifest('init', `  terminationGracePeriodSeconds: 2\n  initContainers:\n${ctr('first', 'sleep 1')}${ctr('second', 'sleep 1')}  containers:\n${ctr('app', 'sleep 3600')}`));
    const p = await agent.waitPod('init', (p) => p.status?.phase === 'Running', 'Running');
    expect(p.status!.initContainerStatuses!.map((s) => s.state.terminated?.reason)).toEqual(['Completed', 'Completed']);
    expect(p.status!.conditions!.find((c) => c.type === 'Initialized')?.status).toBe('True');
    const times = async (name: string) => {
      const c = (await containersOf(agent.nodeName, p.metadata.name)).find((c) => c.Labels['io.kubernetes.container.name'] === name)!;
      const s = (await docker.getContainer(c.Id).inspect()).State;
      return { started: Date.parse(s.StartedAt), finished: s.FinishedAt.startsWith('0001') ? Infinity : Date.parse(s.FinishedAt) };
    };
    const [first, second, app] = [await times('first'), await times('second'), await times('app')];
    expect(second.started).toBeGreaterThanOrEqual(first.finished);
    expect(app.started).toBeGreaterThanOrEqual(second.finished);
  });

  it('honours restartPolicy Never and OnFailure', async () => {
    agent.write('never.yaml', manifest('never', `  restartPolicy: Never\n  containers:\n${ctr('c', 'exit 3')}`));
    agent.write('onfailure.yaml', manifest('onfail-ok', `  restartPolicy: OnFailure\n  containers:\n${ctr('c', 'exit 0')}`) + '---\n' +
      manifest('onfail-bad', `  restartPolicy: OnFailure\n  containers:\n${ctr('c', 'exit 2')}`));
    const never = await agent.waitPod('never', (p) => p.status?.phase === 'Failed', 'Failed');
    expect(never.status!.containerStatuses![0]).toMatchObject({ restartCount: 0, state: { terminated: { exitCode: 3, reason: 'Error' } } });
    const ok = await agent.waitPod('onfail-ok', (p) => p.status?.phase === 'Succeeded', 'Succeeded');
    expect(ok.status!.containerStatuses![0]).toMatchObject({ restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } });
    const bad = await agent.waitPod('onfail-bad', (p) => (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1, 'restarted');
    expect(bad.status!.phase).toBe('Running');
    // The finished pods keep their containers for inspection but release the sandbox.
    await agent.until(async () => (await containersOf(agent.nodeName, never.metadata.name)).every((c) => c.State !== 'running'), 'sandbox of a finished pod stopped');
  });

  it('reports a malformed file by file and field, and leaves the good pods alone', async () => {
    const before = (await containersOf(agent.nodeName)).map((c) => c.Id).sort();
    agent.write('broken.yaml', manifest('broken', `  restartPolicy: Nerver\n  containers:\n    - name: c\n      imagePullPolice: Always\n`));
    agent.write('notes.txt', 'not a manifest');
    agent.write('.hidden.yaml', 'garbage: [');
    await agent.until(async () => agent.log().includes('broken.yaml'), 'an error naming broken.yaml');
    const log = agent.log();
    const errors = log.split('\n').filter((l) => l.includes('invalid manifest')).flatMap((l) => (JSON.parse(l) as { errors: string[] }).errors);
    const file = `${agent.manifests}/broken.yaml`;
    expect(errors).toEqual(expect.arrayContaining([
      `${file}: Pod "broken": spec.restartPolicy: Unsupported value: "Nerver": supported values: "Always", "OnFailure", "Never"`,
      `${file}: Pod "broken": spec.containers[0].image: Required value`,
      `${file}: Pod "broken": unknown field "spec.containers[0].imagePullPolice"`,
    ]));
    expect(log).not.toContain('notes.txt');
    expect(log).not.toContain('.hidden.yaml');
    await new Promise((r) => setTimeout(r, 3000));
    const after = (await containersOf(agent.nodeName)).map((c) => c.Id);
    expect(after).toEqual(expect.arrayContaining(before.filter((id) => after.includes(id))));
    expect((await agent.pods()).map((p) => p.metadata.name)).not.toContain(`broken-${agent.nodeName}`);
    const web = await agent.pod('web');
    expect(web?.status?.phase).toBe('Running');
    agent.remove('broken.yaml');
    agent.remove('notes.txt');
    agent.remove('.hidden.yaml');
  });

  it('recreates the pod when its manifest is edited', async () => {
    const old = (await agent.pod('web'))!;
    agent.write('web.yaml', manifest('web', `  terminationGracePeriodSeconds: 2\n  containers:\n${ctr('httpd', 'echo edited > /www/index.html; exec httpd -f -p 8080 -h /www')}`));
    const p = await agent.waitPod('web', (p) => p.metadata.uid !== old.metadata.uid && p.status?.phase === 'Running' && !!p.status.containerStatuses?.[0]?.ready, 'new instance Running');
    await agent.until(async () => (await containersOf(agent.nodeName)).every((c) => c.Labels['io.kubernetes.pod.uid'] !== old.metadata.uid), 'old instance removed');
    await agent.until(async () => (await run('curl', ['-sS', '--max-time', '2', `http://${p.status!.podIP}:8080/`])).stdout.includes('edited'), 'the new spec served');
  });

  it('backs a crashing container off 10 s, 20 s, 40 s with CrashLoopBackOff', async () => {
    const p = await agent.waitPod('crash', (p) => p.status?.containerStatuses?.[0]?.state.waiting?.reason === 'CrashLoopBackOff', 'CrashLoopBackOff');
    expect(must(p.status?.containerStatuses?.[0], 'a container status').state.waiting?.message).toMatch(/^back-off \d+s restarting failed container=crash pod=crash-/);
    expect(p.status!.phase).toBe('Running');
    // As kubelet does, the first restart is immediate; the back-off gates the ones after it.
    await agent.until(async () => crash.runs.has(4) && crash.runs.get(4)!.started > 0, 'the fourth restart', 150_000);
    // Events as kubelet records them, with counts; and `bosun get events` prints them.
    const events = (await (await fetch(`http://127.0.0.1:${agent.port}/events`)).json()) as { items: { reason: string; count: number; involvedObject: { name: string } }[] };
    const mine = events.items.filter((e) => e.involvedObject.name === p.metadata.name);
    expect(mine.find((e) => e.reason === 'BackOff')?.count).toBeGreaterThanOrEqual(1);
    expect(mine.find((e) => e.reason === 'Started')?.count).toBeGreaterThanOrEqual(3);
    const { stdout } = await run(process.execPath, ['dist/agent/cli.js', 'get', 'events', '--server', `http://127.0.0.1:${agent.port}`]);
    expect(stdout).toMatch(/^NAMESPACE\s+LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE/);
    expect(stdout).toMatch(new RegExp(`Warning\\s+BackOff\\s+pod/${p.metadata.name}\\s+Back-off restarting failed container crash`));
    const delays = [2, 3, 4].map((n) => (crash.runs.get(n)!.started - crash.runs.get(n - 1)!.finished) / 1000);
    // The sync tick is 1 s and the engine takes a moment to start a container.
    [10, 20, 40].forEach((want, i) => {
      expect(delays[i]).toBeGreaterThanOrEqual(want - 0.5);
      expect(delays[i]).toBeLessThan(want + 4);
    });
  });

  it('adopts everything after kill -9 and a restart: no container restarted or duplicated', async () => {
    // The steady pods: web (pause + httpd) and init (pause + app); the crash-looping ones
    // legitimately change containers on their own.
    const steady = new Set([`web-${agent.nodeName}`, `init-${agent.nodeName}`]);
    const running = async () => (await containersOf(agent.nodeName)).filter((c) => c.State === 'running' && steady.has(c.Labels['io.kubernetes.pod.name'] ?? '')).map((c) => c.Id).sort();
    const before = await running();
    expect(before.length).toBe(4);
    await agent.kill9();
    // Removed while the agent is down: its pod must go once the agent is back.
    agent.remove('init.yaml');
    await agent.start();
    await agent.waitPod('web', (p) => p.status?.phase === 'Running' && !!p.status.containerStatuses?.[0]?.ready, 'Running after restart');
    await agent.until(async () => (await containersOf(agent.nodeName, `init-${agent.nodeName}`)).length === 0, 'orphaned pod removed', 60_000);
    await new Promise((r) => setTimeout(r, 3000));
    const after = await running();
    const initIds = new Set<string>();
    for (const id of before) if (!after.includes(id)) initIds.add(id);
    // Only the init pod's containers are gone; nothing new appeared for the rest.
    expect(after.every((id) => before.includes(id))).toBe(true);
    expect(initIds.size).toBe(2);
  });

  it('stops and removes a pod whose file is deleted, within its grace period', async () => {
    agent.write('graceful.yaml', manifest('graceful', `  terminationGracePeriodSeconds: 3\n  containers:\n${ctr('c', "trap '' TERM; sleep 3600")}`));
    const p = await agent.waitPod('graceful', (p) => p.status?.phase === 'Running', 'Running');
    const t0 = Date.now();
    agent.remove('graceful.yaml');
    await agent.until(async () => (await containersOf(agent.nodeName, p.metadata.name)).length === 0, 'containers removed', 30_000);
    // SIGTERM is ignored, so only the SIGKILL after the 3 s grace ends it.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(3000);
    expect((await agent.pods()).map((x) => x.metadata.name)).not.toContain(p.metadata.name);
  });
});
