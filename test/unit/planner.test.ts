import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../base/index.js';
import { Backoff } from '../../agent/vocab/index.js';
import { backoffKey, computePodActions } from '../../agent/pods/planner.js';
import { ctr, exited, pod, running, sandbox } from '../support/fixtures.js';

const noBackoff = { isInBackOffSince: () => false, isInBackOffSinceUpdate: () => false, get: () => 0 };

describe('computePodActions', () => {
  it('creates a sandbox and starts every app container for a new pod', () => {
    const p = pod({ containers: [ctr('a'), ctr('b')] });
    const a = computePodActions(p, { sandboxes: [], containers: [] }, noBackoff);
    expect(a.createSandbox).toBe(true);
    expect(a.killPod).toBe(false);
    expect(a.attempt).toBe(0);
    expect(a.containersToStart.map((s) => [s.kind, s.index, s.attempt])).toEqual([['app', 0, 0], ['app', 1, 0]]);
  });

  it('does nothing when everything runs as specified', () => {
    const p = pod({ containers: [ctr('a')] });
    const a = computePodActions(p, { sandboxes: [sandbox('s1')], containers: [running(p, ctr('a'), 'c1')] }, noBackoff);
    expect(a).toMatchObject({ killPod: false, createSandbox: false, sandboxId: 's1', containersToStart: [], containersToKill: [] });
  });

  it('starts only the first init container in a new sandbox', () => {
    const p = pod({ initContainers: [ctr('i1'), ctr('i2')], containers: [ctr('a')] });
    const a = computePodActions(p, { sandboxes: [], containers: [] }, noBackoff);
    expect(a.containersToStart).toEqual([{ kind: 'init', index: 0, attempt: 0, restart: false }]);
  });

  it('runs init containers in order and app containers after the last one', () => {
    const p = pod({ initContainers: [ctr('i1'), ctr('i2')], containers: [ctr('a')] });
    const s = sandbox('s1');
    let a = computePodActions(p, { sandboxes: [s], containers: [running(p, ctr('i1'), 'c1')] }, noBackoff);
    expect(a.containersToStart).toEqual([]);
    a = computePodActions(p, { sandboxes: [s], containers: [exited(p, ctr('i1'), 'c1', 0)] }, noBackoff);
    expect(a.containersToStart).toEqual([{ kind: 'init', index: 1, attempt: 0, restart: false }]);
    a = computePodActions(p, { sandboxes: [s], containers: [exited(p, ctr('i1'), 'c1', 0), exited(p, ctr('i2'), 'c2', 0)] }, noBackoff);
    expect(a.containersToStart).toEqual([{ kind: 'app', index: 0, attempt: 0, restart: false }]);
  });

  it('retries a failed init container, or fails the pod under restartPolicy Never', () => {
    const spec = { initContainers: [ctr('i1')], containers: [ctr('a')] };
    const obs = (p: ReturnType<typeof pod>) => ({ sandboxes: [sandbox('s1')], containers: [exited(p, ctr('i1'), 'c1', 1)] });
    const always = pod(spec);
    expect(computePodActions(always, obs(always), noBackoff).containersToStart).toEqual([{ kind: 'init', index: 0, attempt: 1, restart: true }]);
    const never = pod({ ...spec, restartPolicy: 'Never' });
    const a = computePodActions(never, obs(never), noBackoff);
    expect(a.initFailed).toBe(true);
    expect(a.killPod).toBe(true);
    expect(a.containersToStart).toEqual([]);
  });

  it('lets the next init container run once a sidecar is running, and keeps it beside the app', () => {
    const side = ctr('log', { restartPolicy: 'Always' });
    const p = pod({ initContainers: [side, ctr('i2')], containers: [ctr('a')] });
    const s = sandbox('s1');
    const a = computePodActions(p, { sandboxes: [s], containers: [running(p, side, 'c1')] }, noBackoff);
    expect(a.containersToStart).toEqual([{ kind: 'init', index: 1, attempt: 0, restart: false }]);
    const b = computePodActions(p, { sandboxes: [s], containers: [exited(p, side, 'c1', 0), exited(p, ctr('i2'), 'c2', 0), running(p, ctr('a'), 'c3')] }, noBackoff);
    expect(b.containersToStart).toEqual([{ kind: 'init', index: 0, attempt: 1, restart: true }]);
  });

  it.each([
    ['Always', 0, true],
    ['Always', 1, true],
    ['OnFailure', 0, false],
    ['OnFailure', 2, true],
    ['Never', 0, false],
    ['Never', 2, false],
  ] as const)('restartPolicy %s with exit code %i restarts: %s', (policy, code, restarts) => {
    const p = pod({ restartPolicy: policy, containers: [ctr('a'), ctr('b')] });
    const a = computePodActions(p, { sandboxes: [sandbox('s1')], containers: [exited(p, ctr('a'), 'c1', code), running(p, ctr('b'), 'c2')] }, noBackoff);
    expect(a.containersToStart.length).toBe(restarts ? 1 : 0);
    if (restarts) expect(a.containersToStart[0]).toEqual({ kind: 'app', index: 0, attempt: 1, restart: true });
  });

  it('reports CrashLoopBackOff instead of starting while the back-off runs', () => {
    const clock = new FakeClock();
    const b = new Backoff(clock);
    const p = pod({ containers: [ctr('a')] });
    const finished = clock.now();
    b.next(backoffKey(p, ctr('a')));
    b.next(backoffKey(p, ctr('a')));
    const obs = { sandboxes: [sandbox('s1')], containers: [exited(p, ctr('a'), 'c1', 1, { attempt: 2, finishedAt: finished })] };
    clock.advance(19_000);
    let a = computePodActions(p, obs, b);
    expect(a.containersToStart).toEqual([]);
    expect(a.killPod).toBe(false);
    expect(a.backoffs).toEqual([{ name: 'a', reason: 'CrashLoopBackOff', message: 'back-off 20s restarting failed container=a pod=web_default(uid-1)' }]);
    clock.advance(1_000);
    a = computePodActions(p, obs, b);
    expect(a.containersToStart).toEqual([{ kind: 'app', index: 0, attempt: 3, restart: true }]);
  });

  it('backs off a container whose failed start left nothing behind', () => {
    const clock = new FakeClock();
    const b = new Backoff(clock);
    const p = pod({ containers: [ctr('a')] });
    b.next(backoffKey(p, ctr('a')));
    const obs = { sandboxes: [sandbox('s1')], containers: [] };
    expect(computePodActions(p, obs, b).backoffs.map((x) => x.name)).toEqual(['a']);
    clock.advance(10_000);
    expect(computePodActions(p, obs, b).containersToStart).toEqual([{ kind: 'app', index: 0, attempt: 0, restart: false }]);
  });

  it('releases the sandbox of a pod that has finished and never brings it back under Never', () => {
    const p = pod({ restartPolicy: 'Never', containers: [ctr('a')] });
    const done = computePodActions(p, { sandboxes: [sandbox('s1')], containers: [exited(p, ctr('a'), 'c1', 0)] }, noBackoff);
    expect(done.killPod).toBe(true);
    expect(done.createSandbox).toBe(false);
    const later = computePodActions(p, { sandboxes: [sandbox('s1', 0, 'notready')], containers: [exited(p, ctr('a'), 'c1', 0)] }, noBackoff);
    expect(later).toMatchObject({ killPod: false, createSandbox: false, containersToStart: [] });
  });

  it('under OnFailure recreates a lost sandbox only for containers that did not succeed', () => {
    const p = pod({ restartPolicy: 'OnFailure', containers: [ctr('a'), ctr('b')] });
    const a = computePodActions(p, { sandboxes: [sandbox('s1', 0, 'notready')], containers: [exited(p, ctr('a'), 'c1', 0), exited(p, ctr('b'), 'c2', 1)] }, noBackoff);
    expect(a.createSandbox).toBe(true);
    expect(a.attempt).toBe(1);
    expect(a.containersToStart).toEqual([{ kind: 'app', index: 1, attempt: 1, restart: false }]);
  });

  it('recreates a dead sandbox with the next attempt and kills what is left of the old one', () => {
    const p = pod({ containers: [ctr('a')] });
    const a = computePodActions(p, { sandboxes: [sandbox('s1', 2, 'notready')], containers: [running(p, ctr('a'), 'c1', { sandboxId: 's1' })] }, noBackoff);
    expect(a).toMatchObject({ createSandbox: true, killPod: true, attempt: 3 });
  });

  it('replaces a running container whose spec hash changed (a new image: what an API pod may change)', () => {
    const p = pod({ containers: [ctr('a', { image: 'localhost/bosun/other:1' })] });
    const a = computePodActions(p, { sandboxes: [sandbox('s1')], containers: [running(p, ctr('a'), 'c1')] }, noBackoff);
    expect(a.containersToKill.map((k) => [k.id, k.reason])).toEqual([['c1', 'SpecChanged']]);
    expect(a.containersToStart).toEqual([{ kind: 'app', index: 0, attempt: 1, restart: false }]);
  });

  it('keeps the newest dead container per name (for logs and --previous) and removes older ones', () => {
    const p = pod({ containers: [ctr('a')] });
    const cs = [0, 1, 2, 3].map((n) => exited(p, ctr('a'), `c${n}`, 1, { attempt: n }));
    const a = computePodActions(p, { sandboxes: [sandbox('s1')], containers: cs }, noBackoff);
    expect(a.containersToRemove.sort()).toEqual(['c0', 'c1', 'c2']);
    // With the container running again, the newest dead one is what --previous reads.
    const b = computePodActions(p, { sandboxes: [sandbox('s1')], containers: [...cs, running(p, ctr('a'), 'c4', { attempt: 4 })] }, noBackoff);
    expect(b.containersToRemove.sort()).toEqual(['c0', 'c1', 'c2']);
  });

  it('kills a second ready sandbox and starts over', () => {
    const p = pod({ containers: [ctr('a')] });
    const a = computePodActions(p, { sandboxes: [sandbox('s1', 0), sandbox('s2', 1)], containers: [] }, noBackoff);
    expect(a).toMatchObject({ killPod: true, createSandbox: true, attempt: 2 });
  });

  // Issue 13, items 1 and 2: the pod's history survives a dead sandbox (engine restart, reboot).
  describe('history across a dead sandbox (kuberuntime_gc.go evictSandboxes, computePodActions)', () => {
    it('keeps a dead sandbox that still holds the newest dead container of a name', () => {
      const p = pod({ containers: [ctr('a')] });
      const obs = {
        sandboxes: [sandbox('s1', 0, 'notready'), sandbox('s2', 1)],
        containers: [exited(p, ctr('a'), 'c3', 1, { attempt: 3, sandboxId: 's1' }), running(p, ctr('a'), 'c4', { attempt: 4, sandboxId: 's2' })],
      };
      const a = computePodActions(p, obs, noBackoff);
      expect(a.sandboxesToRemove).toEqual([]);
      expect(a.containersToRemove).toEqual([]);
      expect(a.containersToStart).toEqual([]);
    });

    it('removes a dead sandbox once the containers it holds are collected', () => {
      const p = pod({ containers: [ctr('a')] });
      const obs = {
        sandboxes: [sandbox('s1', 0, 'notready'), sandbox('s2', 1)],
        containers: [exited(p, ctr('a'), 'c3', 1, { attempt: 3, sandboxId: 's1' }), exited(p, ctr('a'), 'c4', 1, { attempt: 4, sandboxId: 's2' }), running(p, ctr('a'), 'c5', { attempt: 5, sandboxId: 's2' })],
      };
      const a = computePodActions(p, obs, noBackoff);
      expect(a.containersToRemove).toEqual(['c3']);
      expect(a.sandboxesToRemove).toEqual(['s1']);
    });

    it('removes a container that was created and never started outside the newest sandbox', () => {
      const p = pod({ containers: [ctr('a')] });
      const created = { ...running(p, ctr('a'), 'c0', { sandboxId: 's1' }), state: 'created' as const };
      const a = computePodActions(p, { sandboxes: [sandbox('s1', 0, 'notready'), sandbox('s2', 1)], containers: [created, running(p, ctr('a'), 'c1', { attempt: 1, sandboxId: 's2' })] }, noBackoff);
      expect(a.containersToRemove).toEqual(['c0']);
      expect(a.sandboxesToRemove).toEqual(['s1']);
    });

    it('never runs a finished OnFailure pod with init containers again after a reboot', () => {
      const p = pod({ restartPolicy: 'OnFailure', initContainers: [ctr('i1')], containers: [ctr('a')] });
      const obs = { sandboxes: [sandbox('s1', 0, 'notready')], containers: [exited(p, ctr('i1'), 'c1', 0), exited(p, ctr('a'), 'c2', 0)] };
      const a = computePodActions(p, obs, noBackoff);
      expect(a).toMatchObject({ createSandbox: false, killPod: false, containersToStart: [], sandboxesToRemove: [], containersToRemove: [] });
    });

    it('restarts an Always pod in a new sandbox from its first init container, counting on from the old attempts', () => {
      const p = pod({ initContainers: [ctr('i1')], containers: [ctr('a')] });
      const obs = { sandboxes: [sandbox('s1', 0, 'notready')], containers: [exited(p, ctr('i1'), 'c1', 0, { attempt: 0 }), exited(p, ctr('a'), 'c2', 137, { attempt: 4 })] };
      const a = computePodActions(p, obs, noBackoff);
      expect(a).toMatchObject({ createSandbox: true, attempt: 1 });
      expect(a.containersToStart).toEqual([{ kind: 'init', index: 0, attempt: 1, restart: false }]);
      // Then, in the new sandbox: the app container goes on with attempt 5.
      const next = { sandboxes: [sandbox('s1', 0, 'notready'), sandbox('s2', 1)], containers: [...obs.containers, exited(p, ctr('i1'), 'c3', 0, { attempt: 1, sandboxId: 's2' })] };
      const b = computePodActions(p, next, noBackoff);
      expect(b.containersToStart).toEqual([{ kind: 'app', index: 0, attempt: 5, restart: true }]);
      expect(b.sandboxesToRemove).toEqual([]);
    });

    it('a late-created empty sandbox is not taken for the pod sandbox (a create finished after the agent died)', () => {
      const p = pod({ containers: [ctr('a')] });
      const late = sandbox('s9', 0, 'notready', undefined, 5000);
      const a = computePodActions(p, { sandboxes: [sandbox('s1', 0, 'ready', '10.244.0.5', 1000), late], containers: [running(p, ctr('a'), 'c1')] }, noBackoff);
      expect(a).toMatchObject({ killPod: false, createSandbox: false, sandboxId: 's1', containersToStart: [] });
      expect(a.sandboxesToRemove).toEqual(['s9']);
    });

    it('a created container beside a running run of the same name is removed, not started again', () => {
      const p = pod({ containers: [ctr('a')] });
      const late = { ...running(p, ctr('a'), 'c2'), state: 'created' as const, createdAt: 9000 };
      const a = computePodActions(p, { sandboxes: [sandbox('s1')], containers: [running(p, ctr('a'), 'c1'), late] }, noBackoff);
      expect(a.containersToKill.map((k) => k.id)).toEqual(['c2']);
      expect(a.containersToStart).toEqual([]);
      expect(a.killPod).toBe(false);
    });
  });
});

// e2e ephemeral_containers.go: a container added to a running pod starts, and is never restarted.
describe('ephemeral containers', () => {
  it('start once beside the running app, before initialization is done too, and never again', () => {
    const dbg = ctr('debugger');
    const p = pod({ containers: [ctr('a')], ephemeralContainers: [dbg] });
    const s = sandbox('s1');
    let a = computePodActions(p, { sandboxes: [s], containers: [running(p, ctr('a'), 'c1')] }, noBackoff);
    expect(a.containersToStart).toEqual([{ kind: 'ephemeral', index: 0, attempt: 0, restart: false }]);
    expect(a.containersToKill).toEqual([]);
    a = computePodActions(p, { sandboxes: [s], containers: [running(p, ctr('a'), 'c1'), running(p, dbg, 'e1')] }, noBackoff);
    expect(a.containersToStart).toEqual([]);
    // Exited (even with an error): it stays exited, whatever the restart policy.
    a = computePodActions(p, { sandboxes: [s], containers: [running(p, ctr('a'), 'c1'), exited(p, dbg, 'e1', 1)] }, noBackoff);
    expect(a.containersToStart).toEqual([]);
    expect(a.killPod).toBe(false);
    const withInit = pod({ initContainers: [ctr('i1')], containers: [ctr('a')], ephemeralContainers: [dbg] });
    a = computePodActions(withInit, { sandboxes: [s], containers: [running(withInit, ctr('i1'), 'c1')] }, noBackoff);
    expect(a.containersToStart).toEqual([{ kind: 'ephemeral', index: 0, attempt: 0, restart: false }]);
  });
});
