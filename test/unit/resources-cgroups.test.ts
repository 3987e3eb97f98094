import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Container, Pod } from '../../manifests/index.js';
import { applyPodDefaults } from '../../manifests/index.js';
import { silentLogger } from '../../agent/log.js';
import {
  CgroupSystemd, CgroupV1, CgroupV2, kubepodsName, PodCgroups, podName, podUidOfChild, qosName, rootName, runtimeCgroupParent,
  sliceProperties, startSliceArgv, toCgroupfs, toSystemd,
} from '../../agent/resources/index.js';

// Cgroup naming for both drivers, and the v1 and v2 executors on a fake cgroup tree in a
// temp dir (this machine is v1; v2 hosts are what most real nodes run).

const UID = '1c5b7a3e-8f0d-4c1b-9a55-0d2e1f3a4b5c';

describe('cgroup names', () => {
  it('cgroupfs: /kubepods, /kubepods/burstable/pod<uid>, Guaranteed pods right under kubepods', () => {
    const root = rootName('/');
    expect(toCgroupfs(kubepodsName(root))).toBe('/kubepods');
    expect(toCgroupfs(podName(root, 'Guaranteed', UID))).toBe(`/kubepods/pod${UID}`);
    expect(toCgroupfs(podName(root, 'Burstable', UID))).toBe(`/kubepods/burstable/pod${UID}`);
    expect(toCgroupfs(podName(root, 'BestEffort', UID))).toBe(`/kubepods/besteffort/pod${UID}`);
    expect(toCgroupfs(qosName(rootName('/custom/root'), 'Burstable'))).toBe('/custom/root/kubepods/burstable');
  });

  it('systemd: nested slices, "-" in the uid escaped as "_"', () => {
    const root = rootName('/');
    const u = UID.replace(/-/g, '_');
    expect(toSystemd(kubepodsName(root))).toBe('/kubepods.slice');
    expect(toSystemd(podName(root, 'Burstable', UID))).toBe(`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${u}.slice`);
    expect(toSystemd(podName(root, 'BestEffort', UID))).toBe(`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${u}.slice`);
    expect(toSystemd(podName(root, 'Guaranteed', UID))).toBe(`/kubepods.slice/kubepods-pod${u}.slice`);
    expect(toSystemd([])).toBe('/');
  });

  it('the engine gets the cgroupfs path, or the leaf slice unit with systemd', () => {
    const name = podName([], 'Burstable', UID);
    expect(runtimeCgroupParent(name, 'cgroupfs')).toBe(`/kubepods/burstable/pod${UID}`);
    expect(runtimeCgroupParent(name, 'systemd')).toBe(`kubepods-burstable-pod${UID.replace(/-/g, '_')}.slice`);
  });

  it('pod UIDs back from child names, for both drivers', () => {
    expect(podUidOfChild(`pod${UID}`, 'cgroupfs')).toBe(UID);
    expect(podUidOfChild('burstable', 'cgroupfs')).toBeUndefined();
    expect(podUidOfChild(`kubepods-burstable-pod${UID.replace(/-/g, '_')}.slice`, 'systemd')).toBe(UID);
    expect(podUidOfChild('kubepods-burstable.slice', 'systemd')).toBeUndefined();
  });

  it('a systemd cgroup root given as a slice', () => {
    expect(rootName('/system.slice/foo-bar.slice')).toEqual(['foo', 'bar']);
    expect(toSystemd(kubepodsName(rootName('foo.slice')))).toBe('/foo.slice/foo-kubepods.slice');
  });
});

function pod(containers: Container[], uid = UID): Pod {
  return applyPodDefaults({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default', uid }, spec: { containers } });
}
const guaranteed = pod([{ name: 'a', image: 'x', resources: { limits: { cpu: '100m', memory: '32Mi' } } }]);
const burstable = pod([{ name: 'a', image: 'x', resources: { requests: { cpu: '250m' }, limits: { cpu: '500m', memory: '64Mi' } } }], 'b-1');
const besteffort = pod([{ name: 'a', image: 'x' }], 'be-1');

describe('cgroup v2 on a fake tree', () => {
  let mount: string;
  beforeEach(() => {
    mount = mkdtempSync(join(tmpdir(), 'cgv2-'));
    writeFileSync(join(mount, 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids rdma misc\n');
  });
  afterEach(() => rmSync(mount, { recursive: true, force: true }));
  const read = (...p: string[]) => readFileSync(join(mount, ...p), 'utf8');

  it('creates kubepods, the QoS levels and pod cgroups with cpu.weight, cpu.max, memory.max, pids.max', async () => {
    let active: Pod[] = [];
    const pc = new PodCgroups({ manager: new CgroupV2('cgroupfs', mount), root: [], podPidsLimit: 512, log: silentLogger, activePods: () => active });
    await pc.init({ cpuShares: 2048, memoryLimit: 8 * 2 ** 30 });
    expect(read('kubepods', 'cpu.weight')).toBe('79');
    expect(read('kubepods', 'memory.max')).toBe(String(8 * 2 ** 30));
    expect(read('kubepods', 'besteffort', 'cpu.weight')).toBe('1');
    // Controllers delegated down to the pods' level.
    expect(read('cgroup.subtree_control')).toBe('cpu cpuset memory pids io hugetlb');
    expect(read('kubepods', 'cgroup.subtree_control')).toContain('memory');

    active = [guaranteed, burstable, besteffort];
    expect(await pc.ensurePod(guaranteed)).toBe(`/kubepods/pod${UID}`);
    expect(read('kubepods', `pod${UID}`, 'cpu.weight')).toBe('4');
    expect(read('kubepods', `pod${UID}`, 'cpu.max')).toBe('10000 100000');
    expect(read('kubepods', `pod${UID}`, 'memory.max')).toBe(String(32 * 2 ** 20));
    expect(read('kubepods', `pod${UID}`, 'pids.max')).toBe('512');

    expect(await pc.ensurePod(burstable)).toBe('/kubepods/burstable/podb-1');
    expect(read('kubepods', 'burstable', 'podb-1', 'cpu.max')).toBe('50000 100000');
    expect(read('kubepods', 'burstable', 'podb-1', 'memory.max')).toBe(String(64 * 2 ** 20));
    // The burstable level follows its pods' requests: 250m -> 256 shares -> weight 10.
    expect(read('kubepods', 'burstable', 'cpu.weight')).toBe('10');

    expect(await pc.ensurePod(besteffort)).toBe('/kubepods/besteffort/podbe-1');
    expect(read('kubepods', 'besteffort', 'podbe-1', 'cpu.weight')).toBe('1');
    expect(existsSync(join(mount, 'kubepods', 'besteffort', 'podbe-1', 'memory.max'))).toBe(false);

    expect([...(await pc.list()).keys()].sort()).toEqual([UID, 'b-1', 'be-1'].sort());
    await pc.removePod('b-1');
    expect(existsSync(join(mount, 'kubepods', 'burstable', 'podb-1'))).toBe(false);
    // Orphans: not kept, and old enough.
    const removed = await pc.removeOrphans((uid) => uid === UID, 0, Date.now() + 1000);
    expect(removed).toEqual(['be-1']);
    expect(existsSync(join(mount, 'kubepods', `pod${UID}`))).toBe(true);
  });

  it('usage: memory.current minus inactive_file, pids.current; a container child by its id', async () => {
    const m = new CgroupV2('cgroupfs', mount);
    const dir = join(mount, 'kubepods', 'podx');
    mkdirSync(join(dir, 'abc'), { recursive: true });
    writeFileSync(join(dir, 'memory.current'), '1048576\n');
    writeFileSync(join(dir, 'memory.stat'), 'anon 100\ninactive_file 4096\nactive_file 1\n');
    writeFileSync(join(dir, 'pids.current'), '7\n');
    writeFileSync(join(dir, 'abc', 'memory.current'), '8192\n');
    expect(await m.usage(['kubepods', 'podx'])).toEqual({ memoryUsage: 1048576, memoryWorkingSet: 1048576 - 4096, pids: 7 });
    expect((await m.usage(['kubepods', 'podx'], 'abc')).memoryUsage).toBe(8192);
  });
});

describe('cgroup v1 on a fake tree', () => {
  let mount: string;
  beforeEach(() => {
    mount = mkdtempSync(join(tmpdir(), 'cgv1-'));
    for (const c of ['cpu', 'cpuacct', 'cpuset', 'memory', 'pids', 'devices']) mkdirSync(join(mount, c));
    writeFileSync(join(mount, 'cpuset', 'cpuset.cpus'), '0-3\n');
    writeFileSync(join(mount, 'cpuset', 'cpuset.mems'), '0\n');
  });
  afterEach(() => rmSync(mount, { recursive: true, force: true }));
  const read = (...p: string[]) => readFileSync(join(mount, ...p), 'utf8');

  it('one directory per controller; cpu.shares, cfs quota/period, memory.limit_in_bytes, pids.max; cpuset copied from the parent', async () => {
    const m = new CgroupV1('cgroupfs', mount);
    const name = podName([], 'Guaranteed', UID);
    await m.ensure(name, { cpuShares: 102, cpuQuota: 10000, cpuPeriod: 100000, memoryLimit: 33554432, pidsLimit: 100 });
    for (const c of ['cpu', 'cpuacct', 'cpuset', 'memory', 'pids']) expect(existsSync(join(mount, c, 'kubepods', `pod${UID}`))).toBe(true);
    expect(read('cpu', 'kubepods', `pod${UID}`, 'cpu.shares')).toBe('102');
    expect(read('cpu', 'kubepods', `pod${UID}`, 'cpu.cfs_quota_us')).toBe('10000');
    expect(read('cpu', 'kubepods', `pod${UID}`, 'cpu.cfs_period_us')).toBe('100000');
    expect(read('memory', 'kubepods', `pod${UID}`, 'memory.limit_in_bytes')).toBe('33554432');
    expect(read('pids', 'kubepods', `pod${UID}`, 'pids.max')).toBe('100');
    expect(read('cpuset', 'kubepods', 'cpuset.cpus')).toBe('0-3');
    expect(read('cpuset', 'kubepods', `pod${UID}`, 'cpuset.mems')).toBe('0');
    // No quota is -1; no pids limit is "max".
    await m.update(name, { cpuQuota: 0, pidsLimit: -1 });
    expect(read('cpu', 'kubepods', `pod${UID}`, 'cpu.cfs_quota_us')).toBe('-1');
    expect(read('pids', 'kubepods', `pod${UID}`, 'pids.max')).toBe('max');
    // The engine's container cgroup (in devices too) goes with the pod's.
    mkdirSync(join(mount, 'devices', 'kubepods', `pod${UID}`, 'c1'), { recursive: true });
    await m.remove(name);
    for (const c of ['cpu', 'memory', 'devices']) expect(existsSync(join(mount, c, 'kubepods', `pod${UID}`))).toBe(false);
    expect(existsSync(join(mount, 'cpu', 'kubepods'))).toBe(true);
  });

  it('usage: usage_in_bytes minus total_inactive_file', async () => {
    const m = new CgroupV1('cgroupfs', mount);
    const dir = join(mount, 'memory', 'kubepods', 'podx');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'memory.usage_in_bytes'), '10000\n');
    writeFileSync(join(dir, 'memory.stat'), 'cache 5\ninactive_file 99\ntotal_inactive_file 1000\n');
    expect(await m.usage(['kubepods', 'podx'])).toEqual({ memoryUsage: 10000, memoryWorkingSet: 9000, pids: 0 });
  });
});

describe('systemd driver', () => {
  it('slices through StartTransientUnit with systemd units for the limits (v1 and v2)', () => {
    const res = { cpuShares: 102, cpuQuota: 10000, cpuPeriod: 100000, memoryLimit: 33554432, pidsLimit: 100 };
    expect(sliceProperties(res, 2)).toEqual(['8',
      'Description', 's', 'bosun pod cgroup', 'CPUAccounting', 'b', 'true', 'MemoryAccounting', 'b', 'true', 'TasksAccounting', 'b', 'true',
      'CPUWeight', 't', '4', 'CPUQuotaPerSecUSec', 't', '100000', 'MemoryMax', 't', '33554432', 'TasksMax', 't', '100']);
    expect(sliceProperties({ cpuShares: 2 }, 1)).toContain('CPUShares');
    const argv = startSliceArgv(podName([], 'Burstable', UID), res, 2);
    expect(argv.slice(0, 8)).toEqual(['call', 'org.freedesktop.systemd1', '/org/freedesktop/systemd1', 'org.freedesktop.systemd1.Manager', 'StartTransientUnit', 'ssa(sv)a(sa(sv))', `kubepods-burstable-pod${UID.replace(/-/g, '_')}.slice`, 'replace']);
    expect(argv.at(-1)).toBe('0');
  });

  it('creates missing parent slices, then the pod slice, then writes the files at the systemd paths', async () => {
    const mount = mkdtempSync(join(tmpdir(), 'cgsd-'));
    const calls: string[][] = [];
    // A fake systemd: StartTransientUnit makes the slice's directory.
    const m = new CgroupSystemd(2, mount, async (argv) => {
      calls.push(argv);
      if (argv[4] === 'StartTransientUnit') {
        const unit = argv[6]!;
        const parts = unit.slice(0, -'.slice'.length).split('-');
        const path = parts.map((_, i) => `${parts.slice(0, i + 1).join('-')}.slice`).join('/');
        mkdirSync(join(mount, path), { recursive: true });
      }
    });
    try {
      const name = podName([], 'Burstable', UID);
      await m.ensure(name, { cpuShares: 256, memoryLimit: 1048576 });
      expect(calls.map((c) => c[6])).toEqual(['kubepods.slice', 'kubepods-burstable.slice', `kubepods-burstable-pod${UID.replace(/-/g, '_')}.slice`]);
      const dir = join(mount, 'kubepods.slice', 'kubepods-burstable.slice', `kubepods-burstable-pod${UID.replace(/-/g, '_')}.slice`);
      expect(readFileSync(join(dir, 'cpu.weight'), 'utf8')).toBe('10');
      expect(readFileSync(join(dir, 'memory.max'), 'utf8')).toBe('1048576');
      await m.remove(name);
      expect(calls.at(-1)?.[4]).toBe('StopUnit');
      expect(existsSync(dir)).toBe(false);
    } finally {
      rmSync(mount, { recursive: true, force: true });
    }
  });
});
