import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containersOf, docker, manifest, removeTestContainers, TestAgent } from '../support/agent.js';
import { readCgroup } from '../support/cgroups.js';
import { BUSYBOX as BB, must } from '../support/common.js';

// What the agent does with every pod-spec field it cannot act on, and with a manifest that a
// stricter validation refuses while its pod runs. The real CLI, the real Docker engine.
// Needs root and a running engine (scripts/setup-host.sh).

const agent = new TestAgent();

const sleeper = (name = 'c', extra = '') => `    - name: ${name}\n      image: ${BB}\n      command: ["sleep", "3600"]\n${extra}`;

interface Ev { type: string; reason: string; message: string; involvedObject: { name: string; uid: string } }
const events = async (): Promise<Ev[]> => ((await (await fetch(`http://127.0.0.1:${agent.port}/events`)).json()) as { items: Ev[] }).items;

beforeAll(async () => {
  await removeTestContainers();
  await agent.start();
});

afterAll(async () => {
  await agent.destroy();
});

describe('a manifest refused after an upgrade never stops what runs', () => {
  it('keeps the running pod of a file invalid at start, with one Warning event and log line naming file and field', async () => {
    agent.write('old.yaml', manifest('old', `  terminationGracePeriodSeconds: 1\n  containers:\n    - name: c\n      image: ${BB}\n      command: ["sleep", "3600"]\n`));
    const p = await agent.waitPod('old', (p) => p.status?.phase === 'Running', 'Running');
    const ids = async () => (await containersOf(agent.nodeName, p.metadata.name)).filter((c) => c.State === 'running').map((c) => c.Id).sort();
    const before = await ids();
    expect(before).toHaveLength(2);
    await agent.stop();
    // What an older bosun accepted and this one refuses: a field this version rejects.
    agent.write('old.yaml', manifest('old', `  terminationGracePeriodSeconds: 1\n  dnsConfig:\n    nameservers: ["not-an-ip"]\n  containers:\n    - name: c\n      image: ${BB}\n      command: ["sleep", "3600"]\n`));
    await agent.start();
    const file = `${agent.manifests}/old.yaml`;
    await agent.until(async () => agent.log().includes('invalid manifest: keeping its running pod'), 'the hold logged');
    // Long enough for several sync ticks and a re-list of the directory.
    await new Promise((r) => setTimeout(r, 5000));
    expect(await ids()).toEqual(before);
    const lines = agent.log().split('\n').filter((l) => l.includes('invalid manifest: keeping its running pod'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(file);
    expect(lines[0]).toContain('spec.dnsConfig.nameservers[0]');
    const held = (await events()).filter((e) => e.reason === 'InvalidManifest' && e.involvedObject.uid === p.metadata.uid);
    expect(held).toHaveLength(1);
    const e = must(held[0], 'the InvalidManifest event');
    expect(e.type).toBe('Warning');
    expect(e.message).toContain(file);
    expect(e.message).toContain('spec.dnsConfig.nameservers[0]');
    // Fixed: the held instance goes, the fixed one runs.
    agent.write('old.yaml', manifest('old', `  terminationGracePeriodSeconds: 1\n  containers:\n    - name: c\n      image: ${BB}\n      command: ["sleep", "3601"]\n`));
    await agent.waitPod('old', (q) => q.metadata.uid !== p.metadata.uid && q.status?.phase === 'Running', 'fixed instance Running');
    await agent.until(async () => (await containersOf(agent.nodeName)).every((c) => c.Labels['io.kubernetes.pod.uid'] !== p.metadata.uid), 'held instance removed');
    agent.remove('old.yaml');
  });
});

describe('pod-spec fields this node cannot honour', () => {
  it('refuses a volume it cannot serve at admission: Failed with the reason and the field, nothing created', async () => {
    agent.write('pvc.yaml', manifest('pvc', `  volumes:\n    - name: data\n      persistentVolumeClaim:\n        claimName: task-pv-claim\n  containers:\n${sleeper('c', '      volumeMounts:\n        - name: data\n          mountPath: /data\n')}`));
    const p = await agent.waitPod('pvc', (p) => p.status?.phase === 'Failed', 'Failed');
    expect(p.status!.reason).toBe('VolumeNotSupported');
    expect(p.status!.message).toBe('Pod was rejected: spec.volumes[0].persistentVolumeClaim (volume "data"): claims are provisioned and attached by volume controllers and drivers, and this node runs none');
    expect(await containersOf(agent.nodeName, p.metadata.name)).toEqual([]);
    agent.remove('pvc.yaml');
  });

  it('refuses runtimeClassName and hostUsers: false the same way', async () => {
    agent.write('rc.yaml', manifest('rc', `  runtimeClassName: gvisor\n  containers:\n${sleeper()}`) + '---\n' + manifest('userns', `  hostUsers: false\n  containers:\n${sleeper()}`));
    const rc = await agent.waitPod('rc', (p) => p.status?.phase === 'Failed', 'Failed');
    expect(rc.status).toMatchObject({ reason: 'RuntimeClassNotSupported', message: expect.stringContaining('spec.runtimeClassName') });
    const userns = await agent.waitPod('userns', (p) => p.status?.phase === 'Failed', 'Failed');
    expect(userns.status).toMatchObject({ reason: 'UserNamespacesNotSupported', message: expect.stringContaining('spec.hostUsers') });
    agent.remove('rc.yaml');
  });

  it('runs a static pod with scheduling fields, with one Warning event and one log line per field', async () => {
    agent.write('sched.yaml', manifest('sched', `  terminationGracePeriodSeconds: 0
  schedulerName: my-scheduler
  priorityClassName: system-node-critical
  topologySpreadConstraints:
    - maxSkew: 1
      topologyKey: zone
      whenUnsatisfiable: DoNotSchedule
  affinity:
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
        - weight: 10
          podAffinityTerm:
            topologyKey: kubernetes.io/hostname
  containers:
${sleeper()}`));
    const p = await agent.waitPod('sched', (p) => p.status?.phase === 'Running', 'Running');
    // Several sync ticks: still one of each.
    await new Promise((r) => setTimeout(r, 3000));
    const fields = ['spec.schedulerName', 'spec.priorityClassName', 'spec.topologySpreadConstraints', 'spec.affinity.podAntiAffinity'];
    const ev = (await events()).filter((e) => e.involvedObject.uid === p.metadata.uid && e.reason === 'FieldIgnored');
    expect(ev.map((e) => e.message.split(' ')[0]).sort()).toEqual([...fields].sort());
    expect(ev.every((e) => e.type === 'Warning' && e.message.includes('has no effect on this node'))).toBe(true);
    for (const f of fields) {
      expect(agent.log().split('\n').filter((l) => l.includes(`"field":"${f}"`))).toHaveLength(1);
    }
    agent.remove('sched.yaml');
  });

  it('setHostnameAsFQDN, lifecycle.stopSignal and pod-level resources work on the real engine and kernel', async () => {
    agent.write('fqdn.yaml', manifest('fqdn', `  terminationGracePeriodSeconds: 30
  hostname: db-0
  subdomain: db
  setHostnameAsFQDN: true
  resources:
    limits:
      memory: 96Mi
      cpu: 300m
  containers:
    - name: c
      image: ${BB}
      command: ["sh", "-c", "trap 'exit 7' USR1; while true; do sleep 1; done"]
      lifecycle:
        stopSignal: SIGUSR1
`));
    const p = await agent.waitPod('fqdn', (p) => p.status?.phase === 'Running', 'Running');
    expect((await agent.execIn('fqdn', 'c', ['hostname'])).trim()).toBe('db-0.db.default.svc.cluster.local');
    expect(p.status!.qosClass).toBe('Guaranteed');
    const c = (await containersOf(agent.nodeName, p.metadata.name)).find((x) => x.Labels['io.kubernetes.container.name'] === 'c')!;
    const info = await docker.getContainer(c.Id).inspect();
    expect((info.Config as { StopSignal?: string }).StopSignal).toBe('SIGUSR1');
    // The pod cgroup carries the pod-level limits (cgroup v1 here).
    const podCg = `${agent.cgroupRoot}/kubepods/pod${p.metadata.uid}`;
    expect(readCgroup('memory', podCg, 'memory.limit_in_bytes')).toBe(String(96 * 2 ** 20));
    expect(readCgroup('cpu', podCg, 'cpu.cfs_quota_us')).toBe('30000');
    // Stopping the pod sends SIGUSR1 first: the trap exits 7 long before the 30 s grace.
    const exited = docker.getContainer(c.Id).wait() as Promise<{ StatusCode: number }>;
    agent.remove('fqdn.yaml');
    expect((await exited).StatusCode).toBe(7);
  });
});

describe('in-place resize of a static pod by editing its file', () => {
  const resizable = (mem: string, cpu: string, policy = '') => manifest('resize', `  terminationGracePeriodSeconds: 0
  containers:
    - name: app
      image: ${BB}
      command: ["sleep", "3600"]
${policy}      resources:
        requests: { cpu: 100m, memory: 32Mi }
        limits: { cpu: ${cpu}, memory: ${mem} }
    - name: side
      image: ${BB}
      command: ["sleep", "3600"]
`);
  const ids = async (uid: string) => Object.fromEntries((await containersOf(agent.nodeName)).filter((c) => c.Labels['io.kubernetes.pod.uid'] === uid && c.State === 'running' && c.Labels['io.kubernetes.container.name'])
    .map((c) => [c.Labels['io.kubernetes.container.name'], c.Id]));
  const cgroupOf = async (id: string, ctrl: string) => {
    const pid = (await docker.getContainer(id).inspect()).State.Pid;
    const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.split(':')[1]!.split(',').includes(ctrl))!;
    return line.split(':')[2]!;
  };

  it('raises memory and lowers cpu in place: same UID and containers, restartCount 0, new cgroup values', async () => {
    agent.write('resize.yaml', resizable('64Mi', '500m'));
    const before = await agent.waitPod('resize', (p) => p.status?.phase === 'Running' && !!p.status.containerStatuses?.every((c) => c.state.running), 'Running');
    const idsBefore = await ids(before.metadata.uid);
    const app = idsBefore.app!;
    expect(readCgroup('memory', await cgroupOf(app, 'memory'), 'memory.limit_in_bytes')).toBe(String(64 * 2 ** 20));
    expect(readCgroup('cpu', await cgroupOf(app, 'cpu'), 'cpu.cfs_quota_us')).toBe('50000');

    agent.write('resize.yaml', resizable('128Mi', '200m'));
    await agent.until(async () => readCgroup('memory', await cgroupOf(app, 'memory'), 'memory.limit_in_bytes') === String(128 * 2 ** 20), 'memory limit raised in the cgroup');
    expect(readCgroup('cpu', await cgroupOf(app, 'cpu'), 'cpu.cfs_quota_us')).toBe('20000');
    // The pod cgroup follows (Burstable: pod<uid> under kubepods/burstable; the side container has no limits, so none at pod level).
    const after = await agent.waitPod('resize', (p) => p.status?.containerStatuses?.find((c) => c.name === 'app')?.resources?.limits?.memory === String(128 * 2 ** 20), 'status shows the new limits');
    expect(after.metadata.uid).toBe(before.metadata.uid);
    expect(await ids(after.metadata.uid)).toEqual(idsBefore);
    const st = after.status!.containerStatuses!.find((c) => c.name === 'app')!;
    expect(st.restartCount).toBe(0);
    expect(st.resources).toEqual({ limits: { cpu: '200m', memory: String(128 * 2 ** 20) }, requests: { cpu: '100m', memory: '32Mi' } });
    expect(st.allocatedResources).toEqual({ cpu: '100m', memory: '32Mi' });
  });

  it('restarts just the container whose resizePolicy says RestartContainer', async () => {
    const policy = '      resizePolicy:\n        - resourceName: memory\n          restartPolicy: RestartContainer\n';
    agent.write('resize.yaml', resizable('128Mi', '200m', policy));
    // Adding a resizePolicy is itself only a resize-class edit: same pod, nothing restarts.
    const p = await agent.waitPod('resize', (p) => p.status?.phase === 'Running', 'Running');
    const idsBefore = await ids(p.metadata.uid);
    agent.write('resize.yaml', resizable('96Mi', '200m', policy));
    const after = await agent.waitPod('resize', (q) => q.status?.containerStatuses?.find((c) => c.name === 'app')?.restartCount === 1 && !!q.status.containerStatuses.every((c) => c.state.running), 'app restarted once');
    expect(after.metadata.uid).toBe(p.metadata.uid);
    const idsAfter = await ids(after.metadata.uid);
    expect(idsAfter.side).toBe(idsBefore.side);
    expect(idsAfter.app).not.toBe(idsBefore.app);
    expect(readCgroup('memory', await cgroupOf(idsAfter.app!, 'memory'), 'memory.limit_in_bytes')).toBe(String(96 * 2 ** 20));
    expect(after.status!.containerStatuses!.find((c) => c.name === 'side')!.restartCount).toBe(0);
    agent.remove('resize.yaml');
  });
});
