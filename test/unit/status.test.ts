import { describe, expect, it } from 'vitest';
import { computePodStatus } from '../../agent/pods/status.js';
import type { ObservedPod } from '../../agent/vocab/index.js';
import { ctr, exited, pod, running, sandbox } from '../support/fixtures.js';
import { must } from '../support/common.js';

const NOW = Date.UTC(2026, 10, 22, 10, 0, 0);

function status(p: ReturnType<typeof pod>, observed: ObservedPod, waiting: Record<string, { reason: string; message?: string }> = {}) {
  return computePodStatus({ pod: p, observed, waiting: new Map(Object.entries(waiting)), now: NOW, hostIP: '192.0.2.1', runtimeName: 'docker' });
}

describe('computePodStatus', () => {
  it('is Pending with ContainerCreating before anything runs', () => {
    const p = pod({ containers: [ctr('a')] });
    const s = status(p, { sandboxes: [], containers: [] });
    expect(s.phase).toBe('Pending');
    expect(must(s.containerStatuses?.[0], 'a container status').state).toEqual({ waiting: { reason: 'ContainerCreating' } });
    expect(s.conditions!.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [a]' });
    expect(s.qosClass).toBe('BestEffort');
  });

  it('is Running and Ready with the sandbox IP when all containers run', () => {
    const p = pod({ containers: [ctr('a')] });
    const s = status(p, { sandboxes: [sandbox('s1')], containers: [running(p, ctr('a'), 'abc')] });
    expect(s.phase).toBe('Running');
    expect(s.podIP).toBe('10.244.0.5');
    expect(s.hostIP).toBe('192.0.2.1');
    expect(s.containerStatuses![0]).toMatchObject({ ready: true, started: true, restartCount: 0, containerID: 'docker://abc', imageID: 'sha256:abc' });
    expect(s.conditions!.map((c) => [c.type, c.status])).toEqual([
      ['PodReadyToStartContainers', 'True'], ['Initialized', 'True'], ['Ready', 'True'], ['ContainersReady', 'True'], ['PodScheduled', 'True'],
    ]);
  });

  it('shows CrashLoopBackOff with the last run in lastState, and stays Running under Always', () => {
    const p = pod({ containers: [ctr('a')] });
    const s = status(p, { sandboxes: [sandbox('s1')], containers: [exited(p, ctr('a'), 'c2', 1, { attempt: 3 })] }, { a: { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container=a' } });
    expect(s.phase).toBe('Running');
    const c = must(s.containerStatuses?.[0], 'a container status');
    expect(c.state.waiting?.reason).toBe('CrashLoopBackOff');
    expect(c.lastState.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
    expect(c.restartCount).toBe(3);
  });

  it('reports OOMKilled from the runtime and Completed for exit 0', () => {
    const p = pod({ restartPolicy: 'Never', containers: [ctr('a'), ctr('b')] });
    const s = status(p, { sandboxes: [sandbox('s1')], containers: [exited(p, ctr('a'), 'c1', 137, { reason: 'OOMKilled' }), exited(p, ctr('b'), 'c2', 0)] });
    expect(must(s.containerStatuses?.[0], 'a container status').state.terminated).toMatchObject({ reason: 'OOMKilled', exitCode: 137 });
    expect(must(s.containerStatuses?.[1], 'the second container status').state.terminated).toMatchObject({ reason: 'Completed', exitCode: 0 });
    expect(s.phase).toBe('Failed');
  });

  it('shows the runtime\'s reason of a start that failed as it is: StartError (containerd), ContainerCannotRun (Docker)', () => {
    const p = pod({ restartPolicy: 'Never', containers: [ctr('a'), ctr('b')] });
    const a = { ...exited(p, ctr('a'), 'c1', 128, { reason: 'StartError' }), message: 'failed to create containerd task: exec: "/x": no such file' };
    const b = { ...exited(p, ctr('b'), 'c2', 127, { reason: 'ContainerCannotRun' }), message: 'OCI runtime create failed' };
    const s = status(p, { sandboxes: [sandbox('s1')], containers: [a, b] });
    expect(s.containerStatuses?.[0]?.state.terminated).toMatchObject({ reason: 'StartError', exitCode: 128, message: a.message });
    expect(s.containerStatuses?.[1]?.state.terminated).toMatchObject({ reason: 'ContainerCannotRun', exitCode: 127, message: b.message });
    expect(s.phase).toBe('Failed');
  });

  it('shows a waiting reason on a container that ended only when it will run again (ShouldContainerBeRestarted)', () => {
    const run = (policy: 'Never' | 'Always') => {
      const p = pod({ restartPolicy: policy, containers: [ctr('a')] });
      const failed = { ...exited(p, ctr('a'), 'c1', 127, { reason: 'ContainerCannotRun' }), message: 'exec: no such file' };
      return status(p, { sandboxes: [sandbox('s1')], containers: [failed] }, { a: { reason: 'RunContainerError', message: 'exec: no such file' } }).containerStatuses![0];
    };
    expect(run('Never')).toMatchObject({ state: { terminated: { reason: 'ContainerCannotRun', exitCode: 127 } }, lastState: {} });
    expect(run('Always')).toMatchObject({ state: { waiting: { reason: 'RunContainerError' } }, lastState: { terminated: { reason: 'ContainerCannotRun' } } });
  });

  it.each([
    ['Never', [0, 0], 'Succeeded'],
    ['Never', [0, 1], 'Failed'],
    ['OnFailure', [0, 0], 'Succeeded'],
    ['OnFailure', [0, 1], 'Running'],
    ['Always', [0, 0], 'Running'],
  ] as const)('phase under %s with exit codes %j is %s', (policy, codes, phase) => {
    const p = pod({ restartPolicy: policy, containers: [ctr('a'), ctr('b')] });
    const s = status(p, { sandboxes: [sandbox('s1')], containers: [exited(p, ctr('a'), 'c1', codes[0]), exited(p, ctr('b'), 'c2', codes[1])] });
    expect(s.phase).toBe(phase);
  });

  it('is Pending with PodInitializing while init containers run, and Failed when one fails under Never', () => {
    const p = pod({ initContainers: [ctr('i')], containers: [ctr('a')] });
    const s = status(p, { sandboxes: [sandbox('s1')], containers: [running(p, ctr('i'), 'c1')] });
    expect(s.phase).toBe('Pending');
    expect(must(s.containerStatuses?.[0], 'a container status').state.waiting?.reason).toBe('PodInitializing');
    expect(s.conditions!.find((c) => c.type === 'Initialized')).toMatchObject({ status: 'False', message: 'containers with incomplete status: [i]' });
    const never = pod({ restartPolicy: 'Never', initContainers: [ctr('i')], containers: [ctr('a')] });
    expect(status(never, { sandboxes: [sandbox('s1')], containers: [exited(never, ctr('i'), 'c1', 2)] }).phase).toBe('Failed');
  });

  it('keeps lastTransitionTime while a condition holds and a terminal phase forever', () => {
    const p = pod({ restartPolicy: 'Never', containers: [ctr('a')] });
    const first = status(p, { sandboxes: [sandbox('s1')], containers: [exited(p, ctr('a'), 'c1', 0)] });
    const later = computePodStatus({ pod: p, observed: { sandboxes: [], containers: [] }, waiting: new Map(), previous: first, now: NOW + 60_000, hostIP: '192.0.2.1', runtimeName: 'docker' });
    expect(later.phase).toBe('Succeeded');
    const t = (s: typeof first, type: string) => s.conditions!.find((c) => c.type === type)!.lastTransitionTime;
    expect(t(later, 'PodScheduled')).toBe(t(first, 'PodScheduled'));
  });

  it('reports the waiting reason of an image problem', () => {
    const p = pod({ containers: [ctr('a')] });
    const s = status(p, { sandboxes: [sandbox('s1')], containers: [] }, { a: { reason: 'ErrImageNeverPull', message: 'Container image "x" is not present with pull policy of Never' } });
    expect(must(s.containerStatuses?.[0], 'a container status').state.waiting).toEqual({ reason: 'ErrImageNeverPull', message: 'Container image "x" is not present with pull policy of Never' });
    expect(s.phase).toBe('Pending');
  });
});

describe('ephemeral container statuses (e2e ephemeral_containers.go waits for Running)', () => {
  it('reports each one in ephemeralContainerStatuses, never ready, and leaves the pod\'s own readiness alone', () => {
    const dbg = ctr('debugger');
    const p = pod({ containers: [ctr('a')], ephemeralContainers: [dbg] });
    let s = status(p, { sandboxes: [sandbox('s1')], containers: [running(p, ctr('a'), 'abc')] });
    expect(s.ephemeralContainerStatuses).toEqual([expect.objectContaining({ name: 'debugger', state: { waiting: { reason: 'ContainerCreating' } } })]);
    s = status(p, { sandboxes: [sandbox('s1')], containers: [running(p, ctr('a'), 'abc'), running(p, dbg, 'e1')] });
    expect(s.ephemeralContainerStatuses![0]).toMatchObject({ name: 'debugger', ready: false, containerID: 'docker://e1', state: { running: {} } });
    expect(s.containerStatuses!.map((c) => c.name)).toEqual(['a']);
    expect(s.conditions!.find((c) => c.type === 'Ready')!.status).toBe('True');
  });
});
