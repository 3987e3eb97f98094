import { describe, expect, it } from 'vitest';
import type { Container, Pod } from '../../manifests/index.js';
import { applyPodDefaults } from '../../manifests/index.js';
import { qosClass } from '../../agent/vocab/index.js';
import {
  containerResources, cpuMax, milliCPUToQuota, milliCPUToShares, oomScoreAdj, podCgroupResources, podLimits, podRequests,
  qosCgroupResources, sharesToWeight,
} from '../../agent/resources/index.js';

// The resource math against upstream's own test tables (pkg/kubelet/cm helpers_linux_test.go,
// pkg/kubelet/qos policy_test.go, pkg/apis/core/v1/helper/qos qos_test.go).

const GiB = 1024 ** 3;

function pod(containers: Container[], extra: Partial<Pod['spec']> = {}): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default', uid: 'u1' }, spec: { containers, ...extra } };
}

const c = (name: string, requests?: Record<string, string>, limits?: Record<string, string>): Container => ({
  name, image: 'x', resources: { ...(requests ? { requests } : {}), ...(limits ? { limits } : {}) },
});

describe('cpu shares, quota, weight', () => {
  it('MilliCPUToShares: 0 and tiny requests get the minimum of 2, 1 CPU is 1024, capped at 262144', () => {
    expect(milliCPUToShares(0)).toBe(2);
    expect(milliCPUToShares(1)).toBe(2); // 1*1024/1000 = 1 -> 2
    expect(milliCPUToShares(2)).toBe(2);
    expect(milliCPUToShares(3)).toBe(3);
    expect(milliCPUToShares(100)).toBe(102);
    expect(milliCPUToShares(500)).toBe(512);
    expect(milliCPUToShares(1000)).toBe(1024);
    expect(milliCPUToShares(1500)).toBe(1536);
    expect(milliCPUToShares(256_000)).toBe(262144);
    expect(milliCPUToShares(1_000_000)).toBe(262144);
  });

  it('MilliCPUToQuota: no limit is no quota, at least 1000 us, period 100 ms', () => {
    expect(milliCPUToQuota(0)).toBe(0);
    expect(milliCPUToQuota(1)).toBe(1000); // 100 us -> the kernel's minimum
    expect(milliCPUToQuota(2)).toBe(1000);
    expect(milliCPUToQuota(10)).toBe(1000);
    expect(milliCPUToQuota(11)).toBe(1100);
    expect(milliCPUToQuota(100)).toBe(10_000);
    expect(milliCPUToQuota(1000)).toBe(100_000);
    expect(milliCPUToQuota(1500)).toBe(150_000);
    expect(milliCPUToQuota(50, 50_000)).toBe(2500);
  });

  it('cgroup v2 weight from shares (runc), and cpu.max', () => {
    expect(sharesToWeight(0)).toBe(0);
    expect(sharesToWeight(2)).toBe(1);
    expect(sharesToWeight(1024)).toBe(39);
    expect(sharesToWeight(262144)).toBe(10000);
    expect(sharesToWeight(102)).toBe(4);
    expect(cpuMax(0)).toBe('max 100000');
    expect(cpuMax(10_000)).toBe('10000 100000');
  });
});

describe('QoS class (upstream boundary cases)', () => {
  it('BestEffort: nothing requested or limited, zero quantities included, other resources ignored', () => {
    expect(qosClass(pod([c('a')]))).toBe('BestEffort');
    expect(qosClass(pod([c('a', { cpu: '0', memory: '0' }, { cpu: '0' })]))).toBe('BestEffort');
    expect(qosClass(pod([c('a', { 'ephemeral-storage': '1Gi' }, { 'nvidia.com/gpu': '1' })]))).toBe('BestEffort');
  });

  it('Guaranteed: cpu and memory limits equal to requests in every container, init containers included', () => {
    expect(qosClass(pod([c('a', { cpu: '100m', memory: '100Mi' }, { cpu: '100m', memory: '100Mi' })]))).toBe('Guaranteed');
    expect(qosClass(pod([c('a', { cpu: '0.1', memory: '100Mi' }, { cpu: '100m', memory: '104857600' })]))).toBe('Guaranteed');
    expect(qosClass(pod([c('a', {}, { cpu: '1', memory: '1Gi' })], { initContainers: [c('i', { cpu: '1' }, { cpu: '1' })] }))).toBe('Burstable');
  });

  it('limits without requests: Burstable as written (upstream compares the counts), Guaranteed once defaulted', () => {
    const p = pod([c('a', undefined, { cpu: '1', memory: '1Gi' })]);
    expect(qosClass(p)).toBe('Burstable');
    expect(qosClass(applyPodDefaults(p))).toBe('Guaranteed');
  });

  it('Burstable: requests below limits, one resource only, or one container without limits', () => {
    expect(qosClass(pod([c('a', { cpu: '100m', memory: '100Mi' }, { cpu: '200m', memory: '100Mi' })]))).toBe('Burstable');
    expect(qosClass(pod([c('a', { cpu: '1' }, { cpu: '1' })]))).toBe('Burstable');
    expect(qosClass(pod([c('a', { cpu: '1', memory: '1Gi' }, { cpu: '1', memory: '1Gi' }), c('b')]))).toBe('Burstable');
    expect(qosClass(pod([c('a', { memory: '1m' })]))).toBe('Burstable');
  });
});

describe('container resources (kuberuntime calculateLinuxResources)', () => {
  const memCap = 4 * GiB;
  const opts = { memoryCapacity: memCap, podPidsLimit: 1024 };

  it('Guaranteed: shares from the request, quota from the limit, memory and swap equal, OOM -997, pids', () => {
    const p = applyPodDefaults(pod([c('a', undefined, { cpu: '100m', memory: '32Mi' })]));
    expect(containerResources(p, p.spec.containers[0]!, opts)).toEqual({
      cpuShares: 102, cpuPeriod: 100000, cpuQuota: 10000, memoryLimitInBytes: 32 * 2 ** 20, memorySwapLimitInBytes: 32 * 2 ** 20, oomScoreAdj: -997, pidsLimit: 1024,
    });
  });

  it('BestEffort: 2 shares, no quota, no memory limit, OOM 1000', () => {
    const p = pod([c('a')]);
    expect(containerResources(p, p.spec.containers[0]!, { memoryCapacity: memCap })).toEqual({ cpuShares: 2, cpuPeriod: 100000, cpuQuota: 0, oomScoreAdj: 1000 });
  });

  it('a cpu limit without a request: shares from the limit (kubelet repeats the API default)', () => {
    const p = pod([c('a', { memory: '1Gi' }, { cpu: '2' })]);
    expect(containerResources(p, p.spec.containers[0]!, opts)).toMatchObject({ cpuShares: 2048, cpuQuota: 200000 });
  });

  it('cpuCFSQuota off: no quota and no period', () => {
    const p = pod([c('a', { cpu: '1' }, { cpu: '1' })]);
    const r = containerResources(p, p.spec.containers[0]!, { memoryCapacity: memCap, cpuCFSQuota: false });
    expect(r.cpuQuota).toBeUndefined();
    expect(r.cpuPeriod).toBeUndefined();
  });
});

describe('OOM score (qos.GetContainerOOMScoreAdjust)', () => {
  const cap = 4 * GiB;
  const burstable = (memRequest?: string) => pod([c('a', memRequest ? { memory: memRequest } : { cpu: '100m' })]);

  it('by QoS: Guaranteed -997, BestEffort 1000', () => {
    const g = applyPodDefaults(pod([c('a', undefined, { cpu: '1', memory: '1Gi' })]));
    expect(oomScoreAdj(g, g.spec.containers[0]!, cap)).toBe(-997);
    const be = pod([c('a')]);
    expect(oomScoreAdj(be, be.spec.containers[0]!, cap)).toBe(1000);
  });

  it('Burstable: 1000 - 1000*request/capacity, clamped to [3, 999]', () => {
    const score = (req?: string) => { const p = burstable(req); return oomScoreAdj(p, p.spec.containers[0]!, cap); };
    expect(score()).toBe(999); // no memory request: 1000 -> 999, above BestEffort never
    expect(score('1')).toBe(999);
    expect(score('1Gi')).toBe(750);
    expect(score('2Gi')).toBe(500);
    expect(score(`${cap - 1}`)).toBe(3); // 1000 - 999 = 1 -> 3
    expect(score('4Gi')).toBe(3);
    expect(score('8Gi')).toBe(3);
    expect(score(`${Math.floor(cap * 0.0015)}`)).toBe(999);
    expect(score(`${Math.ceil(cap * 0.0025)}`)).toBe(998);
  });

  it('a sidecar takes the most protected score of the app containers; node-critical pods get -997', () => {
    const p = pod([c('app', { memory: '2Gi' })], { initContainers: [{ ...c('side', { memory: '1Mi' }), restartPolicy: 'Always' }] });
    expect(oomScoreAdj(p, p.spec.initContainers![0]!, cap)).toBe(500);
    const crit = pod([c('a')], { priority: 2_000_001_000 });
    expect(oomScoreAdj(crit, crit.spec.containers[0]!, cap)).toBe(-997);
  });
});

describe('pod requests and limits (component-helpers resource)', () => {
  it('app containers add up; a plain init container counts on its own with the sidecars before it; overhead on top', () => {
    const p = pod([c('a', { cpu: '100m', memory: '100Mi' }), c('b', { cpu: '200m' })], {
      initContainers: [
        { ...c('side', { cpu: '50m', memory: '10Mi' }), restartPolicy: 'Always' },
        c('init', { cpu: '1', memory: '50Mi' }),
      ],
      overhead: { cpu: '10m', memory: '1Mi' },
    });
    // apps + sidecar = 350m / 110Mi; init moment = 1000m + 50m sidecar / 60Mi -> max per resource.
    expect(podRequests(p)).toEqual({ cpuMilli: 1050 + 10, memory: (110 + 1) * 2 ** 20, ephemeralStorage: 0 });
  });

  it('requests default from limits', () => {
    expect(podRequests(pod([c('a', undefined, { cpu: '1', memory: '1Gi' })]))).toMatchObject({ cpuMilli: 1000, memory: GiB });
  });

  it('limits declared only when every container declares them', () => {
    const l = podLimits(pod([c('a', {}, { cpu: '1', memory: '1Gi' }), c('b', {}, { cpu: '1' })]));
    expect(l).toMatchObject({ cpuMilli: 2000, cpuLimitsDeclared: true, memoryLimitsDeclared: false });
  });
});

describe('pod cgroup (ResourceConfigForPod) and QoS levels', () => {
  it('Guaranteed: shares, quota and memory from the sums', () => {
    const p = applyPodDefaults(pod([c('a', undefined, { cpu: '100m', memory: '32Mi' }), c('b', undefined, { cpu: '1', memory: '64Mi' })]));
    expect(podCgroupResources(p, { podPidsLimit: 100 })).toEqual({ cpuShares: 1126, cpuQuota: 110000, cpuPeriod: 100000, memoryLimit: 96 * 2 ** 20, pidsLimit: 100 });
  });

  it('Burstable: quota only when every container limits cpu, memory only when every container limits memory', () => {
    const p = pod([c('a', { cpu: '100m' }, { cpu: '200m', memory: '64Mi' }), c('b', { cpu: '100m' })]);
    expect(podCgroupResources(p)).toEqual({ cpuShares: 204 });
    const q = pod([c('a', { cpu: '100m' }, { cpu: '200m', memory: '64Mi' })]);
    expect(podCgroupResources(q)).toEqual({ cpuShares: 102, cpuQuota: 20000, cpuPeriod: 100000, memoryLimit: 64 * 2 ** 20 });
  });

  it('BestEffort: the minimum shares only', () => {
    expect(podCgroupResources(pod([c('a')]), { podPidsLimit: -1 })).toEqual({ cpuShares: 2 });
  });

  it('burstable level: the shares of its pods\' requests; besteffort: 2', () => {
    const pods = [pod([c('a', { cpu: '250m' })]), pod([c('b', { cpu: '250m' })]), applyPodDefaults(pod([c('g', undefined, { cpu: '1', memory: '1Gi' })])), pod([c('be')])];
    expect(qosCgroupResources(pods)).toEqual({ burstable: { cpuShares: 512 }, besteffort: { cpuShares: 2 } });
    expect(qosCgroupResources([])).toEqual({ burstable: { cpuShares: 2 }, besteffort: { cpuShares: 2 } });
  });
});
