import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pod } from '../../manifests/index.js';
import { containersOf, manifest, removeTestContainers, TestAgent } from '../support/agent.js';
import { BUSYBOX as BB } from '../support/common.js';

// Admission against allocatable and eviction under pressure, on the real engine, with
// thresholds set so that this machine crosses them: reserved resources that leave little
// allocatable, memory.available<99% (always crossed), and a small tmpfs as the agent's root
// filesystem that the test fills. Needs root and a running Docker engine.

const Mi = 2 ** 20;
const memTotal = Number(/^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))![1]) * 1024;

const sleeper = (resources = '') => `  terminationGracePeriodSeconds: 5
  containers:
    - name: app
      image: ${BB}
      command: ["sleep", "3600"]
${resources}`;
const BESTEFFORT = sleeper();
const BURSTABLE = sleeper('      resources:\n        requests: { cpu: 10m, memory: 10Mi }\n');
const GUARANTEED = sleeper('      resources:\n        limits: { cpu: 100m, memory: 32Mi }\n');

function config(agent: TestAgent, name: string, lines: string[]): string {
  const path = join(agent.dir, name);
  writeFileSync(path, [`podLogsDir: ${join(agent.dir, 'pod-logs')}`, `containerLogsDir: ${join(agent.dir, 'container-logs')}`, ...lines, ''].join('\n'));
  return path;
}

const running = (agent: TestAgent, name: string) => agent.waitPod(name, (p) => p.status?.phase === 'Running' && !!p.status.containerStatuses?.every((c) => !!c.state.running), 'Running');
const failed = (agent: TestAgent, name: string, reason: string, timeoutMs = 60_000) =>
  agent.waitPod(name, (p) => p.status?.phase === 'Failed' && p.status.reason === reason, `Failed ${reason}`, timeoutMs);

/** Pods in the order the agent evicted them (from its log). */
function evictionOrder(agent: TestAgent): string[] {
  return agent.log().split('\n').filter((l) => l.includes('eviction manager: evicting pod')).map((l) => (JSON.parse(l) as { pod: string }).pod.split('/')[1]!.replace(`-${agent.nodeName}`, ''));
}

describe('admission against allocatable', () => {
  const agent = new TestAgent();
  beforeAll(async () => {
    await removeTestContainers();
    mkdirSync(agent.manifests, { recursive: true });
    // 2 CPUs here: 1500m reserved leaves 500m; memory leaves 1Gi (minus the 100Mi hard threshold).
    await agent.start(['--config', config(agent, 'admission.yaml', [
      'kubeReserved: { cpu: 1500m }',
      `systemReserved: { memory: "${memTotal - 1024 * Mi}" }`,
      'maxPods: 3',
    ])]);
  });
  afterAll(() => agent.destroy());

  it('refuses what does not fit (OutOfcpu, OutOfmemory, OutOfpods) and leaves the running pod alone', async () => {
    agent.write('small.yaml', manifest('small', sleeper('      resources:\n        requests: { cpu: 100m, memory: 100Mi }\n')));
    const before = await running(agent, 'small');
    const id = before.status!.containerStatuses![0]!.containerID;

    agent.write('cpuhog.yaml', manifest('cpuhog', sleeper('      resources:\n        requests: { cpu: "1" }\n')));
    agent.write('memhog.yaml', manifest('memhog', sleeper('      resources:\n        requests: { memory: 2Gi }\n')));
    const cpu = await failed(agent, 'cpuhog', 'OutOfcpu');
    expect(cpu.status!.message).toBe("Pod was rejected: Node didn't have enough resource: cpu, requested: 1000, used: 100, capacity: 500");
    const mem = await failed(agent, 'memhog', 'OutOfmemory');
    expect(mem.status!.message).toMatch(new RegExp(`^Pod was rejected: Node didn't have enough resource: memory, requested: ${2 * 1024 * Mi}, used: ${100 * Mi}, capacity: \\d+$`));
    const capacity = Number(/capacity: (\d+)$/.exec(mem.status!.message!)![1]);
    expect(capacity).toBe(1024 * Mi - 100 * Mi);

    agent.write('be1.yaml', manifest('be1', BESTEFFORT));
    agent.write('be2.yaml', manifest('be2', BESTEFFORT));
    await Promise.all([running(agent, 'be1'), running(agent, 'be2')]);
    agent.write('be3.yaml', manifest('be3', BESTEFFORT));
    const pods = await failed(agent, 'be3', 'OutOfpods');
    expect(pods.status!.message).toBe("Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: 3, capacity: 3");

    // Nothing of the refused pods was created; the first pod never restarted.
    for (const n of ['cpuhog', 'memhog', 'be3']) expect(await containersOf(agent.nodeName, `${n}-${agent.nodeName}`)).toEqual([]);
    const after = await running(agent, 'small');
    expect(after.status!.containerStatuses![0]).toMatchObject({ containerID: id, restartCount: 0 });
    const events = await (await fetch(`http://127.0.0.1:${agent.port}/events`)).json() as { items: { type: string; reason: string; involvedObject: { name: string } }[] };
    expect(events.items.filter((e) => e.type === 'Warning' && ['OutOfcpu', 'OutOfmemory', 'OutOfpods'].includes(e.reason)).map((e) => e.reason).sort()).toEqual(['OutOfcpu', 'OutOfmemory', 'OutOfpods']);
  });
});

describe('eviction under memory pressure', () => {
  const agent = new TestAgent();
  beforeAll(async () => {
    mkdirSync(agent.manifests, { recursive: true });
    await agent.start(['--config', config(agent, 'normal.yaml', [])]);
  });
  afterAll(() => agent.destroy());

  it('memory.available<99%: BestEffort, then Burstable, then Guaranteed are evicted; BestEffort pods are refused meanwhile', async () => {
    agent.write('gu.yaml', manifest('gu', GUARANTEED));
    agent.write('bu.yaml', manifest('bu', BURSTABLE));
    agent.write('be.yaml', manifest('be', BESTEFFORT));
    await Promise.all(['gu', 'bu', 'be'].map((n) => running(agent, n)));
    // The same pods, adopted by an agent whose threshold this machine crosses at once.
    await agent.stop();
    await agent.start(['--config', config(agent, 'pressure.yaml', [
      'evictionHard: { memory.available: "99%" }',
      'evictionMonitoringPeriod: 1s',
    ])]);
    const evicted: Record<string, Pod> = {};
    for (const n of ['be', 'bu', 'gu']) evicted[n] = await failed(agent, n, 'Evicted', 30_000);
    expect(evictionOrder(agent)).toEqual(['be', 'bu', 'gu']);
    for (const n of ['be', 'bu', 'gu']) {
      expect(evicted[n]!.status!.message).toMatch(/^The node was low on resource: memory\. Threshold quantity: \d+(Ki)?, available: \d+(Ki|Mi)?\. /);
      expect(await containersOf(agent.nodeName, `${n}-${agent.nodeName}`).then((l) => l.filter((c) => c.State === 'running'))).toEqual([]);
    }
    console.log(`evicted in order ${evictionOrder(agent).join(', ')}; message: ${evicted.gu!.status!.message}`);
    const metrics = await (await fetch(`http://127.0.0.1:${agent.port}/metrics`)).text();
    expect(metrics).toContain('kubelet_evictions{eviction_signal="memory.available"} 3');
    agent.write('late.yaml', manifest('late', BESTEFFORT));
    const late = await failed(agent, 'late', 'Evicted');
    expect(late.status!.message).toBe('Pod was rejected: The node had condition: [MemoryPressure]. ');
  });
});

describe('eviction under disk pressure, and back', () => {
  const agent = new TestAgent();
  const root = join(agent.dir, 'root');
  const filler = join(root, 'filler');
  let mounted = false;
  beforeAll(async () => {
    mkdirSync(agent.manifests, { recursive: true });
    mkdirSync(root, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'bosun-test-nodefs', root]);
    mounted = true;
    await agent.start(['--config', config(agent, 'disk.yaml', [
      'evictionHard: { nodefs.available: "50%" }',
      'evictionMonitoringPeriod: 1s',
      'evictionPressureTransitionPeriod: 3s',
    ])]);
  });
  afterAll(async () => {
    await agent.kill9();
    if (mounted) execFileSync('umount', ['-l', root]);
    await agent.destroy();
  });

  it('a filled nodefs evicts BestEffort then Guaranteed; once freed (and the transition period over) the static pods come back', async () => {
    agent.write('gu.yaml', manifest('gu', GUARANTEED));
    agent.write('be.yaml', manifest('be', BESTEFFORT));
    const first = await Promise.all([running(agent, 'gu'), running(agent, 'be')]);
    writeFileSync(filler, Buffer.alloc(40 * Mi));
    const be = await failed(agent, 'be', 'Evicted', 30_000);
    expect(be.status!.message).toMatch(/^The node was low on resource: ephemeral-storage\. Threshold quantity: 32Mi, available: \d+(Ki)?\. $/);
    await failed(agent, 'gu', 'Evicted', 30_000);
    expect(evictionOrder(agent)).toEqual(['be', 'gu']);
    agent.write('new.yaml', manifest('new', GUARANTEED));
    expect((await failed(agent, 'new', 'Evicted')).status!.message).toBe('Pod was rejected: The node had condition: [DiskPressure]. ');

    rmSync(filler);
    const back = await Promise.all([running(agent, 'gu'), running(agent, 'be')]);
    for (const [i, p] of back.entries()) {
      expect(p.metadata.uid).toBe(first[i]!.metadata.uid);
      expect(p.status!.containerStatuses![0]!.containerID).not.toBe(first[i]!.status!.containerStatuses![0]!.containerID);
      expect(p.status!.reason).toBeUndefined();
    }
    // A pod refused under pressure stays refused, as kubelet's rejections do.
    expect((await agent.pod('new'))!.status!.phase).toBe('Failed');
    expect(agent.log()).toContain('pressure is gone: starting the evicted static pod again');
  });
});
