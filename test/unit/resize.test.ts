import { describe, expect, it } from 'vitest';
import { containerHashWithoutResources, L } from '../../agent/vocab/index.js';
import { type BackoffView, computePodActions, resizedResources } from '../../agent/pods/planner.js';
import { readManifestText } from '../../agent/sources/file.js';
import type { LinuxContainerResources } from '../../cri/index.js';
import { createHash } from 'node:crypto';
import { applyPodDefaults, canonicalJSON, parseManifests, type Container } from '../../manifests/index.js';
import { ctr, pod, running, sandbox } from '../support/fixtures.js';
import { checkResize, resizeConditions, resourcesDiffer, withAllocatedResources } from '../../agent/pods/resize.js';

// In-place resize of static pods: the identity of a pod and of its containers leaves out
// resources and resizePolicy, and the planner turns a change of limits into a resize (or a
// restart where resizePolicy asks for one).

const NOBACKOFF: BackoffView = { isInBackOffSince: () => false, isInBackOffSinceUpdate: () => false, get: () => 0 };
const res = (cpuQuota: number, memoryLimitInBytes: number): LinuxContainerResources => ({ cpuShares: 102, cpuQuota, cpuPeriod: 100_000, memoryLimitInBytes });
const limits = (cpu: string, memory: string): Container['resources'] => ({ requests: { cpu: '100m', memory: '32Mi' }, limits: { cpu, memory } });
/** The desired cgroup values as compute.ts would give them, for the two limits used here. */
const desiredOf = (c: Container) => res(c.resources?.limits?.cpu === '200m' ? 20_000 : 50_000, c.resources?.limits?.memory === '128Mi' ? 128 * 2 ** 20 : 64 * 2 ** 20);

function observedWith(p: ReturnType<typeof pod>, _c: Container, applied: Container, actual?: LinuxContainerResources) {
  const st = running(p, applied, 'c1', { sandboxId: 's1' });
  st.annotations[L.containerHashNoResources] = containerHashWithoutResources(applied);
  if (actual) st.resources = actual;
  return { sandboxes: [sandbox('s1')], containers: [st] };
}

describe('static pod identity', () => {
  const doc = (limit: string, image = 'busybox:1', policy = '') =>
    `apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n    - name: c\n      image: ${image}\n${policy}      resources:\n        requests: { cpu: 100m, memory: 32Mi }\n        limits: { cpu: 500m, memory: ${limit} }\n`;
  const uid = (text: string) => readManifestText(text, '/m/web.yaml', 'node1', () => new Date(0)).pods[0]!.metadata.uid;

  it('keeps the UID across an edit of resources or resizePolicy, not across any other edit', () => {
    const base = uid(doc('64Mi'));
    expect(uid(doc('128Mi'))).toBe(base);
    expect(uid(doc('64Mi', 'busybox:1', '      resizePolicy:\n        - { resourceName: cpu, restartPolicy: NotRequired }\n'))).toBe(base);
    expect(uid(doc('64Mi', 'busybox:2'))).not.toBe(base);
  });

  it('changes the UID when the edit moves the pod to another QoS class', () => {
    const burstable = uid(doc('64Mi'));
    const guaranteed = uid(doc('64Mi').replace('requests: { cpu: 100m, memory: 32Mi }', 'requests: { cpu: 500m, memory: 64Mi }'));
    expect(guaranteed).not.toBe(burstable);
  });

  it('leaves the UID of a pod without resources as it always was', () => {
    const text = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n    - name: c\n      image: busybox:1\n';
    // The md5 of host, source and the whole defaulted content, as before resize existed:
    // an upgrade does not restart pods without resources.
    const parsed = parseManifests(text, '/m/web.yaml').objects[0]!.object;
    const legacy = createHash('md5').update('host:node1').update('file:/m/web.yaml').update(canonicalJSON(applyPodDefaults(parsed))).digest('hex');
    expect(uid(text)).toBe(legacy);
  });
});

describe('planning a resize', () => {
  it('finds which of cpu and memory changed', () => {
    expect(resizedResources(res(50_000, 64), res(50_000, 64))).toEqual([]);
    expect(resizedResources(res(50_000, 64), res(20_000, 128))).toEqual(['cpu', 'memory']);
    expect(resizedResources(res(50_000, 64), { ...res(50_000, 64), cpuShares: 204 })).toEqual(['cpu']);
  });

  it('resizes a running container in place when only its limits changed', () => {
    const old = ctr('app', { resources: limits('500m', '64Mi') });
    const now = ctr('app', { resources: limits('200m', '128Mi') });
    const p = pod({ containers: [now] });
    const a = computePodActions(p, observedWith(p, now, old, res(50_000, 64 * 2 ** 20)), NOBACKOFF, new Map(), undefined, desiredOf);
    expect(a.containersToKill).toEqual([]);
    expect(a.containersToStart).toEqual([]);
    expect(a.containersToResize).toEqual([{ id: 'c1', name: 'app', resources: res(20_000, 128 * 2 ** 20) }]);
  });

  it('does nothing once the runtime reports the new limits', () => {
    const old = ctr('app', { resources: limits('500m', '64Mi') });
    const now = ctr('app', { resources: limits('200m', '128Mi') });
    const p = pod({ containers: [now] });
    const a = computePodActions(p, observedWith(p, now, old, res(20_000, 128 * 2 ** 20)), NOBACKOFF, new Map(), undefined, desiredOf);
    expect(a.containersToResize ?? []).toEqual([]);
    expect(a.containersToKill).toEqual([]);
  });

  it('restarts the container where resizePolicy says RestartContainer for a changed resource', () => {
    const policy: Container['resizePolicy'] = [{ resourceName: 'memory', restartPolicy: 'RestartContainer' }, { resourceName: 'cpu', restartPolicy: 'NotRequired' }];
    const old = ctr('app', { resources: limits('500m', '64Mi'), resizePolicy: policy });
    const memOnly = ctr('app', { resources: limits('500m', '128Mi'), resizePolicy: policy });
    const p = pod({ containers: [memOnly] });
    const a = computePodActions(p, observedWith(p, memOnly, old, res(50_000, 64 * 2 ** 20)), NOBACKOFF, new Map(), undefined, desiredOf);
    expect(a.containersToKill).toEqual([expect.objectContaining({ id: 'c1', reason: 'Resized' })]);
    expect(a.containersToStart).toEqual([{ kind: 'app', index: 0, attempt: 1, restart: false }]);
    // A cpu-only change under the same policy is done in place.
    const cpuOnly = ctr('app', { resources: limits('200m', '64Mi'), resizePolicy: policy });
    const q = pod({ containers: [cpuOnly] });
    const b = computePodActions(q, observedWith(q, cpuOnly, old, res(50_000, 64 * 2 ** 20)), NOBACKOFF, new Map(), undefined, desiredOf);
    expect(b.containersToKill).toEqual([]);
    expect(b.containersToResize).toHaveLength(1);
  });

  it('resizes a running sidecar in place, and restarts only it where its resizePolicy asks', () => {
    const policy: Container['resizePolicy'] = [{ resourceName: 'memory', restartPolicy: 'RestartContainer' }];
    const app = ctr('app');
    const oldSide = ctr('side', { restartPolicy: 'Always', resources: limits('500m', '64Mi') });
    const side = ctr('side', { restartPolicy: 'Always', resources: limits('200m', '64Mi') });
    const observe = (p: ReturnType<typeof pod>, applied: Container) => {
      const st = running(p, applied, 'side1', { sandboxId: 's1' });
      st.annotations[L.containerHashNoResources] = containerHashWithoutResources(applied);
      st.resources = res(50_000, 64 * 2 ** 20);
      const a = running(p, app, 'app1', { sandboxId: 's1' });
      a.annotations[L.containerHashNoResources] = containerHashWithoutResources(app);
      return { sandboxes: [sandbox('s1')], containers: [st, a] };
    };
    const p = pod({ initContainers: [side], containers: [app] });
    const a = computePodActions(p, observe(p, oldSide), NOBACKOFF, new Map(), undefined, desiredOf);
    expect(a.containersToKill).toEqual([]);
    expect(a.containersToStart).toEqual([]);
    expect(a.containersToResize).toEqual([{ id: 'side1', name: 'side', resources: res(20_000, 64 * 2 ** 20) }]);
    const memSide = ctr('side', { restartPolicy: 'Always', resources: limits('500m', '128Mi'), resizePolicy: policy });
    const q = pod({ initContainers: [memSide], containers: [app] });
    const b = computePodActions(q, observe(q, { ...oldSide, resizePolicy: policy }), NOBACKOFF, new Map(), undefined, desiredOf);
    expect(b.containersToKill).toEqual([expect.objectContaining({ id: 'side1', reason: 'Resized' })]);
    expect(b.containersToStart).toEqual([{ kind: 'init', index: 0, attempt: 1, restart: false }]);
  });

  it('recreates the container where the runtime cannot report its limits, or for a container made before the resize hash', () => {
    const old = ctr('app', { resources: limits('500m', '64Mi') });
    const now = ctr('app', { resources: limits('200m', '128Mi') });
    const p = pod({ containers: [now] });
    const noReport = computePodActions(p, observedWith(p, now, old), NOBACKOFF, new Map(), undefined, desiredOf);
    expect(noReport.containersToKill).toEqual([expect.objectContaining({ reason: 'SpecChanged' })]);
    const legacy = observedWith(p, now, old, res(50_000, 64 * 2 ** 20));
    delete legacy.containers[0]!.annotations[L.containerHashNoResources];
    expect(computePodActions(p, legacy, NOBACKOFF, new Map(), undefined, desiredOf).containersToKill).toEqual([expect.objectContaining({ reason: 'SpecChanged' })]);
  });
});

describe('resize allocation (canResizePod)', () => {
  const NODE = { cpuMilli: 2000, memory: 4 * 2 ** 30, ephemeralStorage: 10 * 2 ** 30, pods: 110 };
  const sized = (cpu: string, memory: string, uid = 'uid-1', name = 'web') => {
    const p = pod({ containers: [ctr('c', { resources: { requests: { cpu, memory }, limits: { cpu, memory } } })] }, name);
    p.metadata.uid = uid;
    return p;
  };

  it('allocates a resize that fits beside the other pods', () => {
    expect(checkResize(sized('1', '1Gi'), [sized('500m', '1Gi', 'uid-2', 'other')], { allocatable: NODE })).toEqual({ ok: true });
  });

  it('is Infeasible beyond allocatable, memory checked first, with upstream\'s message', () => {
    expect(checkResize(sized('3', '8Gi'), [], { allocatable: NODE })).toEqual({ ok: false, reason: 'Infeasible', message: `Node didn't have enough capacity: memory, requested: ${8 * 2 ** 30}, capacity: ${4 * 2 ** 30}` });
    expect(checkResize(sized('3', '1Gi'), [], { allocatable: NODE })).toEqual({ ok: false, reason: 'Infeasible', message: "Node didn't have enough capacity: cpu, requested: 3000, capacity: 2000" });
  });

  it('is Deferred when it fits the node but not beside the other admitted pods', () => {
    expect(checkResize(sized('1500m', '1Gi'), [sized('1', '1Gi', 'uid-2', 'other')], { allocatable: NODE })).toEqual({
      ok: false, reason: 'Deferred', message: "Node didn't have enough resource: cpu, requested: 1500, used: 1000, capacity: 2000",
    });
  });

  it('plans with the allocated resources until the edit is allocated; sidecars and pod-level resources too', () => {
    const old = sized('500m', '64Mi');
    old.spec.initContainers = [ctr('side', { restartPolicy: 'Always', resources: { limits: { memory: '32Mi' } } })];
    old.spec.resources = { limits: { memory: '256Mi' } };
    const edit = structuredClone(old);
    edit.spec.containers[0]!.resources = { requests: { cpu: '1', memory: '128Mi' }, limits: { cpu: '1', memory: '128Mi' } };
    edit.spec.initContainers![0]!.resources = { limits: { memory: '64Mi' } };
    edit.spec.resources = { limits: { memory: '512Mi' } };
    edit.spec.containers.push(ctr('new', { resources: { limits: { memory: '16Mi' } } }));
    expect(resourcesDiffer(edit, old)).toBe(true);
    const planned = withAllocatedResources(edit, old);
    expect(planned.spec.containers[0]!.resources).toEqual(old.spec.containers[0]!.resources);
    expect(planned.spec.initContainers![0]!.resources).toEqual({ limits: { memory: '32Mi' } });
    expect(planned.spec.resources).toEqual({ limits: { memory: '256Mi' } });
    expect(planned.spec.containers[1]!.resources).toEqual({ limits: { memory: '16Mi' } });
    expect(resourcesDiffer(withAllocatedResources(old, old), old)).toBe(false);
  });

  it('reports PodResizePending and PodResizeInProgress as conditions, keeping their times while unchanged', () => {
    const pending = { reason: 'Infeasible', message: 'Node didn\'t have enough capacity: cpu, requested: 3000, capacity: 2000' };
    const first = resizeConditions({ pending }, '2026-01-01T00:00:00Z', []);
    expect(first).toEqual([{ type: 'PodResizePending', status: 'True', lastProbeTime: '2026-01-01T00:00:00Z', lastTransitionTime: '2026-01-01T00:00:00Z', ...pending }]);
    expect(resizeConditions({ pending }, '2026-01-01T00:01:00Z', first)[0]!.lastTransitionTime).toBe('2026-01-01T00:00:00Z');
    expect(resizeConditions({ inProgress: { reason: 'Error', message: 'x' } }, 'T', [])).toEqual([{ type: 'PodResizeInProgress', status: 'True', lastProbeTime: 'T', lastTransitionTime: 'T', reason: 'Error', message: 'x' }]);
    expect(resizeConditions(undefined, 'T', first)).toEqual([]);
  });
});
