// Upstream's lifecycle scenarios that need an API server (issue 13, section 3): a pod deleted
// through the API with a grace override, as the real kubectl sends it to the project's test
// API server (test/support/apiserver: DELETE's gracePeriodSeconds as the API server's
// BeforeDelete handles it), run by the built agent on the real engine, Docker and
// containerd. The container logs, on the host's uptime clock, when it gets the stop signal.
//
// | test here                                   | upstream                                                                           |
// |---------------------------------------------|------------------------------------------------------------------------------------|
// | delete with a grace shorter than the sleep  | lifecycle_hook.go, Lifecycle Sleep Hook: reduce GracePeriodSeconds during runtime  |
// |                                             | (grace 100, sleep 50, delete with 30: over in [30, 50] s; here 60, 30 and 8)       |
// | a second delete shortens the termination    | pod_workers.go UpdatePod / calculateEffectiveGracePeriod: a shorter grace cancels |
// |                                             | the termination under way and starts it again with the new grace                  |

import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContainerdRuntime, type Runtime } from '../../cri/index.js';
import { TestAgent } from '../support/agent.js';
import { TestApiServer, type Obj } from '../support/apiserver/index.js';
import { BUSYBOX } from '../support/common.js';
import { CONTAINERD_ENDPOINT, containerdAvailable, removeNodePods, type RuntimeKind } from '../support/runtime-test-env.js';

const containerdUp = await containerdAvailable();
const WAIT = 150_000;
const SLOW = { timeout: 240_000 };
const SLEEP = 30;
const GRACE = 60;

const uptime = () => Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);

describe.each([
  ['docker' as RuntimeKind, true],
  ['containerd' as RuntimeKind, containerdUp],
])('API pod termination scenarios on %s', (kind, up) => {
  const server = new TestApiServer();
  const agent = new TestAgent();
  const admin = join(agent.dir, 'admin.kubeconfig');
  let rt: Runtime | undefined;

  const kubectl = (...args: string[]) => new Promise<string>((res, rej) =>
    execFile('kubectl', ['--kubeconfig', admin, ...args], { timeout: 60_000 }, (err, out, errOut) => (err ? rej(new Error(`kubectl ${args.join(' ')}: ${err.message}\n${errOut}`)) : res(out))));
  const apiPod = (name: string) => server.get('pods', 'default', name);
  const phase = (o?: Obj) => (o?.status as { phase?: string } | undefined)?.phase;
  const out = (name: string) => join(agent.dir, 'out', name);
  /** `<uptime> <event>` lines the container wrote. */
  const log = (name: string): { t: number; event: string }[] => {
    try {
      return readFileSync(join(out(name), 'log'), 'utf8').split('\n').filter(Boolean).map((l) => {
        const [t, event] = l.split(' ');
        return { t: Number(t), event: event ?? '' };
      });
    } catch {
      return [];
    }
  };
  const at = (name: string, event: string) => log(name).find((l) => l.event === event)?.t;

  /** upstream's getPodWithHook: one container with a preStop sleep hook; ours logs its stop signal. */
  function create(name: string): void {
    mkdirSync(out(name), { recursive: true });
    // No single quote in it: it goes inside the trap's quotes.
    const line = (e: string) => `read u _ < /proc/uptime; echo "$u ${e}" >> /out/log`;
    server.create('pods', {
      apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' },
      spec: {
        nodeName: agent.nodeName,
        terminationGracePeriodSeconds: GRACE,
        volumes: [{ name: 'out', hostPath: { path: out(name), type: 'DirectoryOrCreate' } }],
        containers: [{
          name, image: BUSYBOX, imagePullPolicy: 'Never',
          command: ['sh', '-c', `trap '${line('TERM')}; exit 0' TERM; ${line('Started')}; sleep 600 & wait $!`],
          volumeMounts: [{ name: 'out', mountPath: '/out' }],
          lifecycle: { preStop: { sleep: { seconds: SLEEP } } },
        }],
      },
    });
  }

  async function running(name: string): Promise<void> {
    await agent.until(async () => phase(apiPod(name)) === 'Running' && at(name, 'Started') !== undefined, `${name} Running`, WAIT, () => JSON.stringify(apiPod(name)?.status));
  }

  beforeAll(async () => {
    if (!up) return;
    if (kind === 'containerd') rt = await createContainerdRuntime();
    await server.start();
    const kubeconfig = join(agent.dir, 'kubeconfig');
    server.writeKubeconfig(kubeconfig);
    server.writeKubeconfig(admin);
    await agent.start(['--kubeconfig', kubeconfig, ...(kind === 'containerd' ? ['--container-runtime-endpoint', CONTAINERD_ENDPOINT] : [])]);
  }, 180_000);

  afterAll(async () => {
    if (!up) return;
    await agent.destroy();
    await server.stop();
    if (rt) {
      await removeNodePods(rt, agent.nodeName);
      await rt.close();
    }
  }, 120_000);

  describe.skipIf(!up)('deletion with a grace override', SLOW, () => {
    it('reduce GracePeriodSeconds during runtime: a delete with a grace shorter than the preStop sleep stops the container at that grace', async () => {
      const name = 'pod-with-prestop-sleep-hook';
      create(name);
      await running(name);
      const deleted = uptime();
      await kubectl('delete', 'pod', name, '--grace-period=8', '--wait=false');
      expect(apiPod(name)?.metadata.deletionGracePeriodSeconds).toBe(8);
      await agent.until(async () => at(name, 'TERM') !== undefined, 'the stop signal', WAIT);
      const cost = at(name, 'TERM')! - deleted;
      // upstream's validDuration(cost, grace, sleep): the grace cut the sleep short.
      expect(cost).toBeGreaterThanOrEqual(8 - 0.5);
      expect(cost).toBeLessThan(SLEEP);
      // Stopped, the agent removes it from the API server.
      await agent.until(async () => apiPod(name) === undefined, 'the pod gone from the API server', 60_000);
    });

    it('a second delete with a shorter grace shortens the termination already under way', async () => {
      const name = 'pod-deleted-twice';
      create(name);
      await running(name);
      const first = uptime();
      await kubectl('delete', 'pod', name, '--wait=false');
      expect(apiPod(name)?.metadata.deletionGracePeriodSeconds).toBe(GRACE);
      const firstDeadline = Date.parse(apiPod(name)!.metadata.deletionTimestamp!);
      // The agent is stopping it: its preStop sleep (30 s) runs inside the 60 s grace.
      await agent.until(async () => server.list('events').some((e) => (e as { reason?: string; involvedObject?: { name?: string } }).reason === 'Killing' && (e as { involvedObject?: { name?: string } }).involvedObject?.name === name), 'the Killing event', WAIT);
      const second = uptime();
      await kubectl('delete', 'pod', name, '--grace-period=4', '--wait=false');
      // The API server's BeforeDelete: only shorter, the deadline moved by the difference.
      const now = apiPod(name);
      expect(now?.metadata.deletionGracePeriodSeconds).toBe(4);
      expect(firstDeadline - Date.parse(now!.metadata.deletionTimestamp!)).toBe((GRACE - 4) * 1000);
      await agent.until(async () => at(name, 'TERM') !== undefined, 'the stop signal', WAIT);
      const term = at(name, 'TERM')!;
      // kubelet starts the termination again with the 4 s grace: the sleep is cut 4 s after the second delete.
      expect(term - second).toBeGreaterThanOrEqual(4 - 0.5);
      expect(term - first).toBeLessThan(SLEEP);
      expect(log(name).filter((l) => l.event === 'Started')).toHaveLength(1);
      await agent.until(async () => apiPod(name) === undefined, 'the pod gone from the API server', 60_000);
    });
  });
});
