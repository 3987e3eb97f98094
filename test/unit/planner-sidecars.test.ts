import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../base/index.js';
import { Backoff, formatGoDuration } from '../../agent/vocab/index.js';
import { backoffKey, computePodActions } from '../../agent/pods/planner.js';
import { ctr, exited, pod, running, sandbox } from '../support/fixtures.js';

// Native sidecars in the planner, against kubelet's computeInitContainerActions and
// computePodActions (issue 13, items 3 and 7).

const noBackoff = { isInBackOffSince: () => false, isInBackOffSinceUpdate: () => false, get: () => 0 };
const side = (name: string, extra = {}) => ctr(name, { restartPolicy: 'Always', ...extra });
const probe = { exec: { command: ['test', '-f', 'started'] } };
const starts = (a: ReturnType<typeof computePodActions>) => a.containersToStart.map((s) => [s.kind, s.index, s.attempt]);

describe('computePodActions: sidecars', () => {
  it('holds the next init container back until a sidecar startup probe passes', () => {
    const [s1, s2] = [side('s1', { startupProbe: probe }), side('s2', { startupProbe: probe })];
    const p = pod({ initContainers: [s1, s2], containers: [ctr('a')] });
    const obs = { sandboxes: [sandbox('s1')], containers: [running(p, s1, 'c1')] };
    expect(starts(computePodActions(p, obs, noBackoff, new Map(), () => undefined))).toEqual([]);
    expect(starts(computePodActions(p, obs, noBackoff, new Map(), () => false))).toEqual([]);
    expect(starts(computePodActions(p, obs, noBackoff, new Map(), () => true))).toEqual([['init', 1, 0]]);
    // The last sidecar started: the app containers may run.
    const both = { sandboxes: [sandbox('s1')], containers: [running(p, s1, 'c1'), running(p, s2, 'c2')] };
    expect(starts(computePodActions(p, both, noBackoff, new Map(), (n) => n === 's1'))).toEqual([]);
    expect(starts(computePodActions(p, both, noBackoff, new Map(), () => true))).toEqual([['app', 0, 0]]);
  });

  it('kills a sidecar whose startup probe failed and starts nothing after it', () => {
    const s1 = side('s1', { startupProbe: probe });
    const p = pod({ initContainers: [s1], containers: [ctr('a')] });
    const kills = new Map([['c1', { reason: 'StartupProbe' as const, message: 'Container s1 failed startup probe, will be restarted' }]]);
    const a = computePodActions(p, { sandboxes: [sandbox('s1')], containers: [running(p, s1, 'c1')] }, noBackoff, kills, () => false);
    expect(a.containersToKill).toMatchObject([{ id: 'c1', keep: true }]);
    expect(a.containersToStart).toEqual([]);
  });

  it('restarts a running sidecar whose spec changed, and nothing else', () => {
    const p = pod({ initContainers: [side('s1', { image: 'localhost/bosun/other:1' })], containers: [ctr('a')] });
    const obs = { sandboxes: [sandbox('s1')], containers: [running(p, side('s1'), 'c1'), running(p, ctr('a'), 'c2')] };
    const a = computePodActions(p, obs, noBackoff);
    expect(a.containersToKill.map((k) => [k.id, k.reason])).toEqual([['c1', 'SpecChanged']]);
    expect(a.containersToStart).toEqual([{ kind: 'init', index: 0, attempt: 1, restart: false }]);
    expect(a.killPod).toBe(false);
  });

  it('stops the sidecars once every app container finished, and restarts none of them', () => {
    const p = pod({ restartPolicy: 'Never', initContainers: [side('s1'), side('s2')], containers: [ctr('a')] });
    // s2 crashed after the app finished: it is not started again, the pod is killed.
    const obs = { sandboxes: [sandbox('s1')], containers: [running(p, side('s1'), 'c1'), exited(p, side('s2'), 'c2', 1), exited(p, ctr('a'), 'c3', 0)] };
    const a = computePodActions(p, obs, noBackoff);
    expect(a.killPod).toBe(true);
    expect(a.createSandbox).toBe(false);
    expect(a.containersToStart).toEqual([]);
    expect(a.backoffs).toEqual([]);
  });

  it('keeps restarting a sidecar while an app container runs', () => {
    const p = pod({ restartPolicy: 'Never', initContainers: [side('s1')], containers: [ctr('a')] });
    const a = computePodActions(p, { sandboxes: [sandbox('s1')], containers: [exited(p, side('s1'), 'c1', 1), running(p, ctr('a'), 'c2')] }, noBackoff);
    expect(a.killPod).toBe(false);
    expect(a.containersToStart).toEqual([{ kind: 'init', index: 0, attempt: 1, restart: true }]);
  });

  it('never runs plain init containers again once app containers were created in the sandbox', () => {
    const p = pod({ initContainers: [ctr('i1'), side('s1'), ctr('i2')], containers: [ctr('a')] });
    // The records of i1 and i2 are gone (removed by hand or by GC); s1 and a still run.
    const a = computePodActions(p, { sandboxes: [sandbox('s1')], containers: [running(p, side('s1'), 'c1'), running(p, ctr('a'), 'c2')] }, noBackoff);
    expect(a.containersToStart).toEqual([]);
    // A lost sidecar record is started again.
    const b = computePodActions(p, { sandboxes: [sandbox('s1')], containers: [running(p, ctr('a'), 'c2')] }, noBackoff);
    expect(starts(b)).toEqual([['init', 1, 0]]);
  });

  it('does not recreate the sandbox of an OnFailure pod whose app containers succeeded', () => {
    const p = pod({ restartPolicy: 'OnFailure', initContainers: [ctr('i1'), side('s1')], containers: [ctr('a')] });
    const obs = { sandboxes: [sandbox('s1', 0, 'notready')], containers: [exited(p, ctr('i1'), 'c0', 0), exited(p, side('s1'), 'c1', 137), exited(p, ctr('a'), 'c2', 0)] };
    expect(computePodActions(p, obs, noBackoff)).toMatchObject({ createSandbox: false, killPod: false, containersToStart: [] });
  });

  it('prints the back-off as Go prints a duration', () => {
    const clock = new FakeClock();
    const b = new Backoff(clock);
    const p = pod({ containers: [ctr('a')] });
    for (let i = 0; i < 7; i++) b.next(backoffKey(p, ctr('a')));
    const a = computePodActions(p, { sandboxes: [sandbox('s1')], containers: [exited(p, ctr('a'), 'c1', 1, { attempt: 7, finishedAt: clock.now() })] }, b);
    expect(a.backoffs[0]?.message).toBe('back-off 5m0s restarting failed container=a pod=web_default(uid-1)');
  });
});

describe('formatGoDuration', () => {
  it.each([
    [0, '0s'], [500, '500ms'], [1500, '1.5s'], [10_000, '10s'], [40_000, '40s'], [80_000, '1m20s'],
    [160_000, '2m40s'], [300_000, '5m0s'], [3_600_000, '1h0m0s'], [3_723_000, '1h2m3s'],
  ])('%i ms is %s', (ms, text) => {
    expect(formatGoDuration(ms)).toBe(text);
  });
});
