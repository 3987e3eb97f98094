import { describe, expect, it } from 'vitest';
import type { Container, Pod } from '../../manifests/index.js';
import { applyPodDefaults } from '../../manifests/index.js';
import { silentLogger } from '../../agent/log.js';
import { FakeClock } from '../../base/index.js';
import { admitPod } from '../../agent/pods/admission.js';
import type { Observations, PodUsage, Threshold } from '../../agent/resources/index.js';
import {
  DEFAULT_EVICTION_HARD, EMPTY_STATE, EvictionManager, evaluate, evictionMessage, formatBinarySI, hardEvictionReservation, imagesInUse,
  nodeResources, nodeStatusFields, parseThresholdFlag, parseThresholds, planImageGC, pressureAdmission, rankForEviction,
} from '../../agent/resources/index.js';
import { DEFAULTS as RESOURCE_DEFAULTS } from '../../agent/config.js';
import { evictionThresholds } from '../../agent/resources/index.js';

const Mi = 2 ** 20;
const Gi = 2 ** 30;

function pod(name: string, containers: Container[]): Pod {
  return applyPodDefaults({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', uid: `uid-${name}` }, spec: { containers } });
}
const be = (name: string) => pod(name, [{ name: 'c', image: 'x' }]);
const burst = (name: string, memReq = '10Mi', cpuReq = '10m') => pod(name, [{ name: 'c', image: 'x', resources: { requests: { memory: memReq, cpu: cpuReq } } }]);
const guar = (name: string, mem = '64Mi', cpu = '100m') => pod(name, [{ name: 'c', image: 'x', resources: { limits: { memory: mem, cpu } } }]);

describe('thresholds', () => {
  it('parses the flag form and the map form, quantities and percentages', () => {
    expect(parseThresholdFlag('memory.available<100Mi, nodefs.available<10%', '--eviction-hard')).toEqual({ 'memory.available': '100Mi', 'nodefs.available': '10%' });
    expect(() => parseThresholdFlag('memory.available>1Gi', '--eviction-hard')).toThrow(/only "<"/);
    const t = parseThresholds({ 'memory.available': '100Mi', 'nodefs.available': '10%' }, { 'memory.available': '1Gi' }, { 'memory.available': 90_000 });
    expect(t).toEqual([
      { signal: 'memory.available', value: { quantity: 100 * Mi, text: '100Mi' }, gracePeriodMs: 0, hard: true },
      { signal: 'nodefs.available', value: { percentage: 0.1, text: '10%' }, gracePeriodMs: 0, hard: true },
      { signal: 'memory.available', value: { quantity: Gi, text: '1Gi' }, gracePeriodMs: 90_000, hard: false },
    ]);
  });

  it('refuses unknown signals, soft thresholds without a grace period, bad percentages; 0 turns a signal off', () => {
    expect(() => parseThresholds({ 'cpu.available': '1' }, {}, {})).toThrow(/unsupported eviction signal/);
    expect(() => parseThresholds({}, { 'memory.available': '1Gi' }, {})).toThrow(/grace period/);
    expect(() => parseThresholds({}, {}, { 'memory.available': 1000 })).toThrow(/no eviction soft threshold/);
    expect(() => parseThresholds({ 'nodefs.available': '120%' }, {}, {})).toThrow(/<= 100%/);
    expect(parseThresholds({ 'memory.available': '0' }, {}, {})).toEqual([]);
  });

  it('upstream defaults (plus pid.available<10%); a config evictionHard replaces them all', () => {
    expect(DEFAULT_EVICTION_HARD).toMatchObject({ 'memory.available': '100Mi', 'nodefs.available': '10%', 'nodefs.inodesFree': '5%', 'imagefs.available': '15%', 'pid.available': '10%' });
    expect(evictionThresholds(RESOURCE_DEFAULTS).map((t) => t.signal)).toContain('imagefs.available');
    expect(evictionThresholds({ ...RESOURCE_DEFAULTS, evictionHard: { 'memory.available': '1Gi' } }).map((t) => t.signal)).toEqual(['memory.available']);
  });
});

describe('node capacity and allocatable', () => {
  const machine = { cpuCores: 2, memoryBytes: 24 * Gi, ephemeralStorageBytes: 100 * Gi };
  it('allocatable = capacity - kubeReserved - systemReserved - hard eviction thresholds', () => {
    const thresholds = evictionThresholds(RESOURCE_DEFAULTS);
    const r = nodeResources(machine, { maxPods: 110, kubeReserved: { cpu: '100m', memory: '1Gi' }, systemReserved: { cpu: '200m', memory: '512Mi', 'ephemeral-storage': '1Gi' }, thresholds });
    expect(r.capacity).toEqual({ cpuMilli: 2000, memory: 24 * Gi, ephemeralStorage: 100 * Gi, pods: 110 });
    expect(r.allocatable).toEqual({ cpuMilli: 1700, memory: 24 * Gi - Gi - 512 * Mi - 100 * Mi, ephemeralStorage: 100 * Gi - Gi - 10 * Gi, pods: 110 });
    // kubepods enforces capacity - reserved, without the eviction thresholds.
    expect(r.enforced.memory).toBe(24 * Gi - Gi - 512 * Mi);
    expect(hardEvictionReservation(thresholds, { memory: 24 * Gi, ephemeralStorage: 100 * Gi })).toEqual({ memory: 100 * Mi, ephemeralStorage: 10 * Gi });
  });

  it('node status fields: quantities as the API prints them, pressure conditions with kubelet reasons', () => {
    const r = nodeResources(machine, { maxPods: 110, kubeReserved: {}, systemReserved: { cpu: '500m' }, thresholds: [] });
    const s = nodeStatusFields(r, new Set(['MemoryPressure']), Date.UTC(2026, 0, 1));
    expect(s.capacity).toEqual({ cpu: '2', memory: '24Gi', 'ephemeral-storage': '100Gi', pods: '110' });
    expect(s.allocatable.cpu).toBe('1500m');
    expect(s.conditions.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['MemoryPressure', 'True', 'KubeletHasInsufficientMemory'],
      ['DiskPressure', 'False', 'KubeletHasNoDiskPressure'],
      ['PIDPressure', 'False', 'KubeletHasSufficientPID'],
    ]);
    const later = nodeStatusFields(r, new Set(), Date.UTC(2026, 0, 1, 0, 5), s.conditions);
    expect(later.conditions[0]).toMatchObject({ status: 'False', lastTransitionTime: '2026-01-01T00:05:00Z' });
    expect(later.conditions[1]!.lastTransitionTime).toBe('2026-01-01T00:00:00Z');
    expect(formatBinarySI(16393728 * 1024)).toBe('16393728Ki');
    expect(formatBinarySI(1000)).toBe('1000');
  });
});

describe('admission against allocatable', () => {
  const allocatable = { cpuMilli: 1900, memory: 2 * Gi, ephemeralStorage: 10 * Gi, pods: 3 };
  it('OutOfcpu with upstream\'s message, used = what the admitted pods request', () => {
    const others = [burst('a', '10Mi', '100m')];
    expect(admitPod(pod('big', [{ name: 'c', image: 'x', resources: { requests: { cpu: '4' } } }]), others, { allocatable })).toEqual({
      ok: false, reason: 'OutOfcpu', message: "Node didn't have enough resource: cpu, requested: 4000, used: 100, capacity: 1900",
    });
    expect(admitPod(burst('fits', '10Mi', '1800m'), others, { allocatable }).ok).toBe(true);
    expect(admitPod(burst('over', '10Mi', '1801m'), others, { allocatable }).ok).toBe(false);
  });

  it('OutOfmemory, OutOfephemeral-storage, OutOfpods (before anything else); BestEffort pods fit anywhere', () => {
    expect(admitPod(guar('g', '3Gi'), [], { allocatable })).toMatchObject({ reason: 'OutOfmemory', message: `Node didn't have enough resource: memory, requested: ${3 * Gi}, used: 0, capacity: ${2 * Gi}` });
    expect(admitPod(pod('e', [{ name: 'c', image: 'x', resources: { requests: { 'ephemeral-storage': '11Gi' } } }]), [], { allocatable }).ok).toBe(false);
    expect(admitPod(be('x'), [be('a'), be('b'), be('c')], { allocatable })).toEqual({ ok: false, reason: 'OutOfpods', message: "Node didn't have enough resource: pods, requested: 1, used: 3, capacity: 3" });
    expect(admitPod(be('x'), [guar('a', '2Gi', '1900m')], { allocatable }).ok).toBe(true);
  });

  it('under pressure: MemoryPressure refuses BestEffort only, DiskPressure everything (the eviction manager\'s handler comes first)', () => {
    const mem = new Set(['MemoryPressure'] as const);
    expect(pressureAdmission(be('x'), mem)).toEqual({ reason: 'Evicted', message: 'The node had condition: [MemoryPressure]. ' });
    expect(pressureAdmission(burst('x'), mem)).toBeUndefined();
    expect(pressureAdmission({ ...be('t'), spec: { ...be('t').spec, tolerations: [{ key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' }] } }, mem)).toBeUndefined();
    expect(admitPod(guar('g'), [], { nodeConditions: new Set(['MemoryPressure', 'DiskPressure']) })).toEqual({ ok: false, reason: 'Evicted', message: 'The node had condition: [MemoryPressure DiskPressure]. ' });
  });
});

describe('evaluate: conditions, grace periods, transition period', () => {
  const hard: Threshold[] = parseThresholds({ 'memory.available': '1Gi' }, { 'nodefs.available': '20%' }, { 'nodefs.available': 30_000 });
  const obs = (memAvail: number, diskAvail: number): Observations => ({
    'memory.available': { available: memAvail, capacity: 8 * Gi },
    'nodefs.available': { available: diskAvail, capacity: 100 * Gi },
  });

  it('a hard threshold acts at once; the condition is held for the transition period after it clears', () => {
    let e = evaluate(hard, obs(512 * Mi, 50 * Gi), EMPTY_STATE, 0, 300_000);
    expect([...e.conditions]).toEqual(['MemoryPressure']);
    expect(e.actionable.map((t) => t.signal)).toEqual(['memory.available']);
    e = evaluate(hard, obs(2 * Gi, 50 * Gi), e.state, 10_000, 300_000);
    expect(e.actionable).toEqual([]);
    expect([...e.conditions]).toEqual(['MemoryPressure']);
    e = evaluate(hard, obs(2 * Gi, 50 * Gi), e.state, 299_999, 300_000);
    expect([...e.conditions]).toEqual(['MemoryPressure']);
    e = evaluate(hard, obs(2 * Gi, 50 * Gi), e.state, 300_000, 300_000);
    expect([...e.conditions]).toEqual([]);
  });

  it('a soft threshold raises the condition at once but evicts only after its grace period, and forgets when it clears', () => {
    let e = evaluate(hard, obs(4 * Gi, 10 * Gi), EMPTY_STATE, 0, 300_000);
    expect([...e.conditions]).toEqual(['DiskPressure']);
    expect(e.actionable).toEqual([]);
    e = evaluate(hard, obs(4 * Gi, 10 * Gi), e.state, 29_999, 300_000);
    expect(e.actionable).toEqual([]);
    e = evaluate(hard, obs(4 * Gi, 10 * Gi), e.state, 30_000, 300_000);
    expect(e.actionable.map((t) => t.signal)).toEqual(['nodefs.available']);
    e = evaluate(hard, obs(4 * Gi, 50 * Gi), e.state, 31_000, 300_000);
    e = evaluate(hard, obs(4 * Gi, 10 * Gi), e.state, 32_000, 300_000);
    expect(e.actionable).toEqual([]); // the grace period starts over
  });

  it('memory comes first when several thresholds are crossed; an unobserved signal is never crossed', () => {
    const both = evaluate(hard, obs(512 * Mi, 1 * Gi), { firstObservedAt: { 'nodefs.available/soft': -60_000 }, conditionLastObservedAt: {} }, 0, 0);
    expect(both.actionable.map((t) => t.signal)).toEqual(['memory.available', 'nodefs.available']);
    expect(evaluate(hard, {}, EMPTY_STATE, 0, 0).met).toEqual([]);
  });
});

describe('victims', () => {
  it('BestEffort first, then Burstable by usage above requests, then Guaranteed', () => {
    const u = (p: Pod, usage: number, request: number): PodUsage => ({ pod: p, usage, request });
    const ranked = rankForEviction([
      u(guar('g1', '1Gi'), 900 * Mi, Gi),
      u(burst('b-small-over', '100Mi'), 150 * Mi, 100 * Mi),
      u(be('be-small'), 5 * Mi, 0),
      u(burst('b-big-over', '100Mi'), 500 * Mi, 100 * Mi),
      u(burst('b-under', '1Gi'), 900 * Mi, Gi),
      u(be('be-big'), 50 * Mi, 0),
      u(guar('g2', '2Gi'), 100 * Mi, 2 * Gi),
    ]);
    expect(ranked.map((r) => r.pod.metadata.name)).toEqual(['be-big', 'be-small', 'b-big-over', 'b-small-over', 'b-under', 'g1', 'g2']);
  });

  it('eviction message as upstream: signal, threshold, available, containers over their request', () => {
    const [t] = parseThresholds({ 'memory.available': '100Mi' }, {}, {});
    expect(evictionMessage(t!, { available: 80 * Mi, capacity: 8 * Gi }, [{ name: 'hog', usage: Gi, request: 0 }, { name: 'ok', usage: 1 * Mi, request: 10 * Mi }]))
      .toBe('The node was low on resource: memory. Threshold quantity: 100Mi, available: 80Mi. Container hog was using 1Gi, request is 0, has larger consumption of memory. ');
    const [p] = parseThresholds({ 'pid.available': '10%' }, {}, {});
    expect(evictionMessage(p!, { available: 1000, capacity: 32768 })).toBe('The node was low on resource: pids. Threshold quantity: 3276, available: 1k. ');
  });
});

describe('EvictionManager', () => {
  it('evicts one pod per check in rank order, and readmits when the condition clears', async () => {
    const clock = new FakeClock(0);
    let available = 50 * Mi;
    const pods = [guar('g'), burst('b'), be('e')];
    const evicted: string[] = [];
    const readmitted: string[] = [];
    const m = new EvictionManager({
      thresholds: parseThresholds({ 'memory.available': '100Mi' }, {}, {}),
      monitoringPeriodMs: 10_000, pressureTransitionPeriodMs: 60_000, maxPodGracePeriodSeconds: 0, clock, log: silentLogger,
      observe: async () => ({ 'memory.available': { available, capacity: Gi } }),
      activePods: () => pods.filter((p) => !evicted.includes(p.metadata.name)),
      podStats: async () => ({ usage: 1 * Mi, containers: [{ name: 'c', usage: 1 * Mi }] }),
      podRequest: () => 0,
      evict: async (p, e) => {
        expect(e.graceSeconds).toBe(1);
        expect(e.message).toMatch(/^The node was low on resource: memory\. Threshold quantity: 100Mi, available: 50Mi\. /);
        evicted.push(p.metadata.name);
      },
      onConditions: (next) => { if (!next.has('MemoryPressure')) readmitted.push(...evicted); },
    });
    expect((await m.synchronize())?.metadata.name).toBe('e');
    expect((await m.synchronize())?.metadata.name).toBe('b');
    expect([...m.conditions()]).toEqual(['MemoryPressure']);
    available = 500 * Mi;
    expect(await m.synchronize()).toBeUndefined();
    clock.advance(60_000);
    await m.synchronize();
    expect([...m.conditions()]).toEqual([]);
    expect(readmitted).toEqual(['e', 'b']);
  });
});

describe('image GC plan', () => {
  const rec = (id: string, size: number, lastUsed: number, firstDetected = 0) => ({ id, size, lastUsed, firstDetected });
  const policy = { highThresholdPercent: 85, lowThresholdPercent: 80, minAgeMs: 120_000 };

  it('nothing below the high threshold', () => {
    expect(planImageGC([rec('a', 10, 0)], new Set(), { capacity: 100, available: 16 }, policy, 1e9)).toMatchObject({ usagePercent: 84, bytesToFree: 0, remove: [] });
  });

  it('over it: least recently used first down to the low threshold, never in use, never too young', () => {
    const images = [rec('new', 50, 0, 1e9 - 1000), rec('used', 50, 0), rec('old', 4, 100), rec('older', 3, 50), rec('recent', 30, 900)];
    const plan = planImageGC(images, new Set(['used']), { capacity: 1000, available: 140 }, policy, 1e9);
    // usage 86% -> free 200 - 140 = 60 bytes: older (3), old (4), recent (30) and still short.
    expect(plan).toMatchObject({ usagePercent: 86, bytesToFree: 60, remove: ['older', 'old', 'recent'], bytesFreed: 37 });
  });

  it('in use: any container\'s image (running or not), images pinned by reference (pause, desired pods)', () => {
    const images = [
      { id: 'sha256:p', repoTags: ['localhost/bosun/pause:3.10'], repoDigests: [], size: 1 },
      { id: 'sha256:b', repoTags: ['localhost/bosun/busybox:1'], repoDigests: [], size: 1 },
      { id: 'sha256:n', repoTags: ['nginx:latest'], repoDigests: [], size: 1 },
      { id: 'sha256:x', repoTags: ['x:1'], repoDigests: [], size: 1 },
    ];
    const dead = { imageRef: 'sha256:b', image: 'localhost/bosun/busybox:1' } as never;
    expect([...imagesInUse(images, [dead], ['localhost/bosun/pause:3.10', 'nginx'])].sort()).toEqual(['sha256:b', 'sha256:n', 'sha256:p']);
  });

  it('in use: an image the runtime pins, and an image whose other name a container uses (ids, not names, decide)', () => {
    const images = [
      { id: 'sha256:pin', repoTags: ['registry.k8s.io/pause:3.10'], repoDigests: [], size: 1, pinned: true },
      { id: 'sha256:two', repoTags: ['localhost/bosun/busybox:1', '127.0.0.1:5000/t/busybox:1'], repoDigests: [], size: 1 },
      { id: 'sha256:free', repoTags: ['x:1', 'x:2'], repoDigests: [], size: 1 },
    ];
    const byName = { imageRef: '', image: '127.0.0.1:5000/t/busybox:1' } as never;
    const used = imagesInUse(images, [byName], []);
    expect([...used].sort()).toEqual(['sha256:pin', 'sha256:two']);
    const plan = planImageGC(images.map((i) => ({ id: i.id, size: 1, firstDetected: 0, lastUsed: 0 })), used, { capacity: 10, available: 0 }, { highThresholdPercent: 85, lowThresholdPercent: 80, minAgeMs: 0 }, 1e9, true);
    expect(plan.remove).toEqual(['sha256:free']);
  });
});
