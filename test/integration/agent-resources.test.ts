import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeDockerOomScore } from '../../cri/index.js';
import type { Pod } from '../../manifests/index.js';
import { containersOf, docker, manifest, removeTestContainers, TestAgent } from '../support/agent.js';
import { CGROUP_MOUNT, readCgroup } from '../support/cgroups.js';
import { BUSYBOX as BB } from '../support/common.js';

// Limits enforced by the kernel, read from its own files: the pod's place in the cgroup
// hierarchy per QoS class, cpu.shares, the CFS quota and period, memory and pids limits and
// oom_score_adj of real containers; a real OOM kill and restart; a real CPU limit measured
// with cpuacct. Needs root, a running Docker engine and cgroup v1 (this machine's).

const agent = new TestAgent();

const Mi = 2 ** 20;
const UNLIMITED_V1 = '9223372036854771712';
let minOomScoreAdj = -1000;
let memTotal = 0;

beforeAll(async () => {
  await removeTestContainers();
  minOomScoreAdj = (await probeDockerOomScore()).minOomScoreAdj;
  memTotal = Number(/^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))![1]) * 1024;
  await agent.start(['--pod-max-pids', '256']);
});

afterAll(async () => {
  await agent.destroy();
});

interface Proc {
  id: string;
  pid: number;
  /** The process's cgroup path per controller (from /proc/<pid>/cgroup). */
  cgroup: Record<string, string>;
}

async function proc(pod: string, container: string): Promise<Proc> {
  const list = await containersOf(agent.nodeName, `${pod}-${agent.nodeName}`);
  const c = list.find((x) => x.State === 'running' && (container === 'POD' ? x.Labels['io.kubernetes.docker.type'] === 'podsandbox' : x.Labels['io.kubernetes.container.name'] === container));
  if (!c) throw new Error(`no running ${container} in ${pod}`);
  const pid = (await docker.getContainer(c.Id).inspect()).State.Pid;
  const cgroup: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n')) {
    const [, ctrls, path] = line.split(':');
    for (const ctrl of ctrls!.split(',')) cgroup[ctrl] = path!;
  }
  return { id: c.Id, pid, cgroup };
}

const oomScore = (p: Proc) => Number(readFileSync(`/proc/${p.pid}/oom_score_adj`, 'utf8').trim());
const parent = (path: string) => path.slice(0, path.lastIndexOf('/'));

async function running(name: string): Promise<Pod> {
  return agent.waitPod(name, (p) => p.status?.phase === 'Running' && p.status.containerStatuses!.every((c) => !!c.state.running), 'Running');
}

const sleeper = (resources = '') => `  terminationGracePeriodSeconds: 0
  containers:
    - name: app
      image: ${BB}
      command: ["sleep", "3600"]
${resources}`;

describe('pod cgroups on the real kernel (cgroup v1, cgroupfs)', () => {
  beforeAll(async () => {
    agent.write('guaranteed.yaml', manifest('guaranteed', sleeper('      resources:\n        limits: { cpu: 100m, memory: 32Mi }\n')));
    agent.write('burstable.yaml', manifest('burstable', sleeper('      resources:\n        requests: { cpu: 50m, memory: 16Mi }\n        limits: { cpu: 200m, memory: 64Mi }\n')));
    agent.write('besteffort.yaml', manifest('besteffort', sleeper()));
    await Promise.all(['guaranteed', 'burstable', 'besteffort'].map(running));
  });

  it('Guaranteed: /<root>/kubepods/pod<uid>; shares 102, quota 10000/100000, 32Mi, pids 256, oom -997', async () => {
    const pod = await running('guaranteed');
    expect(pod.status!.qosClass).toBe('Guaranteed');
    const podCg = `${agent.cgroupRoot}/kubepods/pod${pod.metadata.uid}`;
    const app = await proc('guaranteed', 'app');
    const pause = await proc('guaranteed', 'POD');
    for (const ctrl of ['cpu', 'memory', 'pids', 'cpuset']) {
      expect(parent(app.cgroup[ctrl]!)).toBe(podCg);
      expect(parent(pause.cgroup[ctrl]!)).toBe(podCg);
    }
    // The container's own cgroup.
    expect(readCgroup('cpu', app.cgroup.cpu!, 'cpu.shares')).toBe('102');
    expect(readCgroup('cpu', app.cgroup.cpu!, 'cpu.cfs_quota_us')).toBe('10000');
    expect(readCgroup('cpu', app.cgroup.cpu!, 'cpu.cfs_period_us')).toBe('100000');
    expect(readCgroup('memory', app.cgroup.memory!, 'memory.limit_in_bytes')).toBe(String(32 * Mi));
    expect(readCgroup('memory', app.cgroup.memory!, 'memory.memsw.limit_in_bytes')).toBe(String(32 * Mi));
    expect(readCgroup('pids', app.cgroup.pids!, 'pids.max')).toBe('256');
    // The pod's cgroup: the sums.
    expect(readCgroup('cpu', podCg, 'cpu.shares')).toBe('102');
    expect(readCgroup('cpu', podCg, 'cpu.cfs_quota_us')).toBe('10000');
    expect(readCgroup('memory', podCg, 'memory.limit_in_bytes')).toBe(String(32 * Mi));
    expect(readCgroup('pids', podCg, 'pids.max')).toBe('256');
    // -997 (and -998 for the pause container), or 0 where this host cannot lower scores.
    expect(oomScore(app)).toBe(Math.max(minOomScoreAdj, -997));
    expect(oomScore(pause)).toBe(Math.max(minOomScoreAdj, -998));
    expect(readCgroup('cpu', pause.cgroup.cpu!, 'cpu.shares')).toBe('2');
  });

  it('Burstable: /<root>/kubepods/burstable/pod<uid>; shares from the request, quota from the limit, oom 1000 - 1000*request/capacity', async () => {
    const pod = await running('burstable');
    expect(pod.status!.qosClass).toBe('Burstable');
    const podCg = `${agent.cgroupRoot}/kubepods/burstable/pod${pod.metadata.uid}`;
    const app = await proc('burstable', 'app');
    expect(parent(app.cgroup.memory!)).toBe(podCg);
    expect(readCgroup('cpu', app.cgroup.cpu!, 'cpu.shares')).toBe('51');
    expect(readCgroup('cpu', app.cgroup.cpu!, 'cpu.cfs_quota_us')).toBe('20000');
    expect(readCgroup('memory', app.cgroup.memory!, 'memory.limit_in_bytes')).toBe(String(64 * Mi));
    expect(readCgroup('cpu', podCg, 'cpu.shares')).toBe('51');
    expect(readCgroup('cpu', podCg, 'cpu.cfs_quota_us')).toBe('20000');
    expect(readCgroup('memory', podCg, 'memory.limit_in_bytes')).toBe(String(64 * Mi));
    // The burstable level carries its pods' requests.
    expect(readCgroup('cpu', `${agent.cgroupRoot}/kubepods/burstable`, 'cpu.shares')).toBe('51');
    const expected = Math.min(999, Math.max(3, 1000 - Math.trunc((1000 * 16 * Mi) / memTotal)));
    expect(oomScore(app)).toBe(expected === 1000 ? 999 : expected);
  });

  it('BestEffort: /<root>/kubepods/besteffort/pod<uid>; 2 shares, no quota, no memory limit, oom 1000', async () => {
    const pod = await running('besteffort');
    expect(pod.status!.qosClass).toBe('BestEffort');
    const podCg = `${agent.cgroupRoot}/kubepods/besteffort/pod${pod.metadata.uid}`;
    const app = await proc('besteffort', 'app');
    expect(parent(app.cgroup.cpu!)).toBe(podCg);
    expect(readCgroup('cpu', app.cgroup.cpu!, 'cpu.shares')).toBe('2');
    expect(readCgroup('cpu', app.cgroup.cpu!, 'cpu.cfs_quota_us')).toBe('-1');
    expect(readCgroup('memory', app.cgroup.memory!, 'memory.limit_in_bytes')).toBe(UNLIMITED_V1);
    expect(readCgroup('cpu', podCg, 'cpu.shares')).toBe('2');
    expect(readCgroup('memory', podCg, 'memory.limit_in_bytes')).toBe(UNLIMITED_V1);
    expect(readCgroup('cpu', `${agent.cgroupRoot}/kubepods/besteffort`, 'cpu.shares')).toBe('2');
    expect(oomScore(app)).toBe(1000);
    // kubepods holds the node's allocatable cpu (2 shares per millicore... 1024 per core).
    expect(Number(readCgroup('cpu', `${agent.cgroupRoot}/kubepods`, 'cpu.shares'))).toBeGreaterThanOrEqual(1024);
  });

  it('a pod that goes takes its cgroup with it, in every hierarchy', async () => {
    const pod = await running('besteffort');
    const podCg = `${agent.cgroupRoot}/kubepods/besteffort/pod${pod.metadata.uid}`;
    agent.remove('besteffort.yaml');
    await agent.until(async () => (await containersOf(agent.nodeName, `besteffort-${agent.nodeName}`)).length === 0, 'besteffort containers removed');
    await agent.until(async () => ['cpu', 'memory', 'pids', 'cpuset', 'devices', 'freezer', 'systemd'].every((h) => {
      try {
        readFileSync(join(CGROUP_MOUNT, h, podCg, 'cgroup.procs'));
        return false;
      } catch {
        return true;
      }
    }), 'pod cgroup removed', 20_000);
  });
});

describe('OOM', () => {
  it('a container allocating past its 32Mi limit ends OOMKilled (137) and restarts with back-off', async () => {
    agent.write('oom.yaml', manifest('oom', `  terminationGracePeriodSeconds: 0
  containers:
    - name: hog
      image: ${BB}
      command: ["sh", "-c", "head -c 64m /dev/zero | tail"]
      resources:
        limits: { memory: 32Mi }
`));
    const started = Date.now();
    const pod = await agent.waitPod('oom', (p) => (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 2, 'restarted twice', 90_000);
    const s = pod.status!.containerStatuses![0]!;
    const last = s.lastState.terminated ?? s.state.terminated;
    expect(last).toMatchObject({ reason: 'OOMKilled', exitCode: 137 });
    const waited = await agent.waitPod('oom', (p) => p.status?.containerStatuses?.[0]?.state.waiting?.reason === 'CrashLoopBackOff', 'CrashLoopBackOff', 60_000);
    expect(waited.status!.containerStatuses![0]!.lastState.terminated).toMatchObject({ reason: 'OOMKilled', exitCode: 137 });
    // The restarts went through the crash back-off.
    const events = await (await fetch(`http://127.0.0.1:${agent.port}/events`)).json() as { items: { reason: string; involvedObject: { name: string } }[] };
    expect(events.items.some((e) => e.reason === 'BackOff' && e.involvedObject.name === `oom-${agent.nodeName}`)).toBe(true);
    console.log(`OOM: restartCount ${waited.status!.containerStatuses![0]!.restartCount} after ${((Date.now() - started) / 1000).toFixed(1)} s, last state ${JSON.stringify(waited.status!.containerStatuses![0]!.lastState.terminated)}`);
    agent.remove('oom.yaml');
  });
});

describe('CPU limit', () => {
  it('a busy loop under limits.cpu 100m uses about 0.1 core, next to an unlimited one', async () => {
    const loop = (limit: string) => `  terminationGracePeriodSeconds: 0
  containers:
    - name: spin
      image: ${BB}
      command: ["sh", "-c", "while :; do :; done"]
${limit}`;
    agent.write('limited.yaml', manifest('limited', loop('      resources:\n        limits: { cpu: 100m }\n')));
    agent.write('unlimited.yaml', manifest('unlimited', loop('')));
    await Promise.all([running('limited'), running('unlimited')]);
    const usage = async (pod: string) => {
      const p = await proc(pod, 'spin');
      return Number(readCgroup('cpuacct', p.cgroup.cpuacct!, 'cpuacct.usage'));
    };
    await new Promise((r) => setTimeout(r, 1000));
    const t0 = process.hrtime.bigint();
    const [l0, u0] = await Promise.all([usage('limited'), usage('unlimited')]);
    await new Promise((r) => setTimeout(r, 5000));
    const [l1, u1] = await Promise.all([usage('limited'), usage('unlimited')]);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const limited = (l1 - l0) / 1e9 / secs;
    const unlimited = (u1 - u0) / 1e9 / secs;
    console.log(`CPU over ${secs.toFixed(2)} s: limited (100m) ${limited.toFixed(3)} cores, unlimited ${unlimited.toFixed(3)} cores`);
    expect(limited).toBeGreaterThan(0.05);
    expect(limited).toBeLessThan(0.16);
    // The unlimited loop gets whatever the shared machine has left: only its order matters.
    expect(unlimited).toBeGreaterThan(limited * 1.5);
    agent.remove('limited.yaml');
    agent.remove('unlimited.yaml');
  });
});

describe('cgroup driver', () => {
  it('refuses to start when --cgroup-driver is not the engine\'s, saying how to fix it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bosun-driver-'));
    try {
      const r = spawnSync(process.execPath, [resolve('dist/agent/cli.js'), 'run', '--cgroup-driver', 'systemd', '--root-dir', join(dir, 'root'),
        '--pod-manifest-path', join(dir, 'manifests'), '--node-name', `${agent.nodeName}-driver`, '--read-only-port', '0', '--port', '0', '--healthz-port', '0', '--proxy-mode', 'none'],
      { encoding: 'utf8', timeout: 60_000 });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('bosun: misconfiguration: kubelet cgroup driver: "systemd" is different from docker cgroup driver: "cgroupfs"');
      expect(r.stderr).toContain('--cgroup-driver cgroupfs');
      expect(r.stderr).not.toMatch(/\n\s+at /); // a message, not a stack
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
