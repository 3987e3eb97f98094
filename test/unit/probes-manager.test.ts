import pino from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Container, Pod, Probe } from '../../manifests/index.js';
import { ProbeManager, type KillRequest, type ProbeEvent, type RunningContainer } from '../../probes/index.js';
import type { LogSink } from '../../base/index.js';
import { FakeTimers, ScriptedProber, deferred, flush, probedPod } from '../support/probes-fakes.js';

const exec = (p: Partial<Probe> = {}): Probe => ({ exec: { command: ['true'] }, ...p });
const S = 1000;

let timers: FakeTimers;
let prober: ScriptedProber;
let kills: KillRequest[];
let events: ProbeEvent[];
let changes: string[];
let randomValue: number;
let m: ProbeManager;

beforeEach(() => {
  timers = new FakeTimers();
  prober = new ScriptedProber(timers);
  kills = [];
  events = [];
  changes = [];
  randomValue = 0.5;
  m = new ProbeManager({
    runtime: { execSync: () => Promise.reject(new Error('not used')) },
    kubeVersion: { major: '1', minor: '0' },
    timers,
    random: () => randomValue,
    runProbe: prober.run,
    onKill: (k) => kills.push(k),
    onEvent: (e) => events.push(e),
  });
  m.onChange((uid) => changes.push(uid));
});

function app(probes: Partial<Pick<Container, 'livenessProbe' | 'readinessProbe' | 'startupProbe'>>, name = 'app'): Container {
  return { name, image: 'busybox', ...probes };
}

function run(id: string, opts: Partial<RunningContainer> = {}): RunningContainer {
  return { name: 'app', id, startedAt: timers.now(), adopted: false, ...opts };
}

const ready = (id = 'c1') => m.readiness('uid-1', 'app', id);
const started = (id = 'c1') => m.started('uid-1', 'app', id);

describe('initial results and defaults', () => {
  it('starts with readiness Failure, startup Unknown, liveness Success, and undefined without a probe', async () => {
    const pod = probedPod([app({ readinessProbe: exec(), startupProbe: exec(), livenessProbe: exec() }), app({}, 'plain')]);
    prober.set('startup', 'Failure');
    m.update(pod, '10.0.0.2', [run('c1'), run('p1', { name: 'plain' })]);
    expect(ready()).toBe(false);
    expect(started()).toBe(false);
    expect(m.readiness('uid-1', 'plain', 'p1')).toBeUndefined();
    expect(m.started('uid-1', 'plain', 'p1')).toBeUndefined();
    expect(m.readiness('uid-1', 'app', 'other-id')).toBe(false);
    await timers.advance(0);
    expect(kills).toEqual([]);
  });

  it('probes at once (initialDelay 0), then every 10 s, with a 1 s timeout', async () => {
    m.update(probedPod([app({ readinessProbe: exec() })]), undefined, [run('c1')]);
    await timers.advance(0);
    expect(prober.count('readiness')).toBe(1);
    expect(prober.calls[0]?.timeoutMs).toBe(1000);
    await timers.advance(9.9 * S);
    expect(prober.count('readiness')).toBe(1);
    await timers.advance(0.1 * S);
    expect(prober.count('readiness')).toBe(2);
    await timers.advance(30 * S);
    expect(prober.count('readiness')).toBe(5);
  });

  it('counts initialDelaySeconds from the container start, not from the first sync', async () => {
    const startedAt = timers.now() - 3 * S;
    m.update(probedPod([app({ readinessProbe: exec({ initialDelaySeconds: 5, periodSeconds: 2 }) })]), undefined, [run('c1', { startedAt })]);
    await timers.advance(1.9 * S);
    expect(prober.count('readiness')).toBe(0);
    await timers.advance(0.1 * S);
    expect(prober.calls.map((c) => c.at - startedAt)).toEqual([5 * S]);
    await timers.advance(2 * S);
    expect(prober.calls.map((c) => c.at - startedAt)).toEqual([5 * S, 7 * S]);
  });
});

describe('thresholds', () => {
  it('needs successThreshold successes in a row to become ready and failureThreshold failures to stop', async () => {
    const pod = probedPod([app({ readinessProbe: exec({ periodSeconds: 1, successThreshold: 2, failureThreshold: 3 }) })]);
    m.update(pod, undefined, [run('c1')]);
    expect(changes).toEqual(['uid-1']); // a new container: not ready
    changes.length = 0;
    await timers.advance(0);
    expect(ready()).toBe(false);
    await timers.advance(1 * S);
    expect(ready()).toBe(true);
    expect(changes).toEqual(['uid-1']);

    prober.set('readiness', 'Failure');
    await timers.advance(2 * S);
    expect(ready()).toBe(true);
    prober.set('readiness', 'Success'); // breaks the run of failures
    await timers.advance(1 * S);
    prober.set('readiness', 'Failure');
    await timers.advance(2 * S);
    expect(ready()).toBe(true);
    await timers.advance(1 * S);
    expect(ready()).toBe(false);
    expect(changes).toEqual(['uid-1', 'uid-1']);
    const unhealthy = events.filter((e) => e.reason === 'Unhealthy');
    expect(unhealthy).toHaveLength(5);
    expect(unhealthy[0]).toMatchObject({
      type: 'Warning',
      container: 'app',
      containerId: 'c1',
      probeType: 'readiness',
      message: 'Readiness probe failed: readiness said Failure',
      pod: { name: 'web', namespace: 'default', uid: 'uid-1' },
    });
  });

  it('kills after failureThreshold consecutive liveness failures, once, then waits for a new container', async () => {
    const pod = probedPod([app({ livenessProbe: exec({ periodSeconds: 10, failureThreshold: 3, terminationGracePeriodSeconds: 7 }) })]);
    prober.set('liveness', { result: 'Failure', output: 'HTTP probe failed with statuscode: 500' });
    const t0 = timers.now();
    m.update(pod, undefined, [run('c1')]);
    await timers.advance(19 * S);
    expect(kills).toEqual([]);
    await timers.advance(1 * S);
    expect(kills).toEqual([
      {
        pod: { name: 'web', namespace: 'default', uid: 'uid-1' },
        container: 'app',
        init: false,
        containerId: 'c1',
        reason: 'LivenessProbe',
        message: 'Container app failed liveness probe, will be restarted',
        gracePeriodSeconds: 7,
      },
    ]);
    expect(prober.calls.map((c) => c.at - t0)).toEqual([0, 10 * S, 20 * S]);
    expect(events.map((e) => e.message)).toEqual(Array(3).fill('Liveness probe failed: HTTP probe failed with statuscode: 500'));

    // On hold: the dying container is not probed again, nor killed twice.
    m.update(pod, undefined, [run('c1')]);
    await timers.advance(60 * S);
    expect(prober.count('liveness')).toBe(3);
    expect(kills).toHaveLength(1);
    expect(changes).toEqual([]); // liveness is not part of the readiness/startup stream

    // Gone, then a new instance: probing starts over, and it can be killed again.
    m.update(pod, undefined, []);
    m.update(pod, undefined, [run('c2')]);
    await timers.advance(20 * S);
    expect(prober.count('liveness')).toBe(6);
    expect(kills.map((k) => k.containerId)).toEqual(['c1', 'c2']);
  });

  it('says "will be restarted" only when the restart policy restarts it, and omits an unset grace period', async () => {
    const pod = probedPod([app({ livenessProbe: exec({ failureThreshold: 1 }) })], { restartPolicy: 'Never' });
    prober.set('liveness', 'Failure');
    m.update(pod, undefined, [run('c1')]);
    await timers.advance(0);
    expect(kills).toHaveLength(1);
    expect(kills[0]?.message).toBe('Container app failed liveness probe');
    expect(kills[0]).not.toHaveProperty('gracePeriodSeconds');
  });

  it('throws away results of probes that could not run (after 3 tries) and says so', async () => {
    m.update(probedPod([app({ livenessProbe: exec({ failureThreshold: 1 }) })]), undefined, [run('c1')]);
    prober.set('liveness', new Error('port http not found in container "app"'));
    await timers.advance(0);
    expect(prober.count('liveness')).toBe(3);
    expect(kills).toEqual([]);
    expect(events.map((e) => e.message)).toEqual([
      'Liveness probe errored and resulted in unknown state: port http not found in container "app"',
    ]);
    await timers.advance(10 * S);
    expect(prober.count('liveness')).toBe(6);
  });

  it('counts a Warning as a success and reports it as ProbeWarning', async () => {
    m.update(probedPod([app({ readinessProbe: exec() })]), undefined, [run('c1')]);
    prober.set('readiness', { result: 'Warning', output: 'Probe terminated redirects, Response body: ' });
    await timers.advance(0);
    expect(ready()).toBe(true);
    expect(events).toMatchObject([{ type: 'Warning', reason: 'ProbeWarning', message: 'Readiness probe warning: Probe terminated redirects, Response body: ' }]);
  });
});

describe('startup probe', () => {
  it('holds off liveness and readiness until it succeeds once, then stops', async () => {
    const pod = probedPod([
      app({
        startupProbe: exec({ periodSeconds: 1, failureThreshold: 30 }),
        readinessProbe: exec({ periodSeconds: 5 }),
        livenessProbe: exec({ periodSeconds: 5 }),
      }),
    ]);
    prober.set('startup', 'Failure');
    m.update(pod, undefined, [run('c1')]);
    changes.length = 0;
    await timers.advance(4 * S);
    expect(prober.count('startup')).toBe(5);
    expect(prober.count('readiness') + prober.count('liveness')).toBe(0);
    expect(started()).toBe(false);

    prober.set('startup', 'Success');
    const passedAt = timers.now() + 1 * S;
    await timers.advance(1 * S);
    expect(started()).toBe(true);
    // The gated probes run right away (kubelet triggers readiness at once), then on their period.
    expect(prober.calls.filter((c) => c.kind !== 'startup').map((c) => [c.kind, c.at - passedAt])).toEqual([
      ['readiness', 0],
      ['liveness', 0],
    ]);
    expect(ready()).toBe(true);
    expect(changes).toEqual(['uid-1', 'uid-1']);
    await timers.advance(20 * S);
    expect(prober.count('startup')).toBe(6);
    expect(prober.count('readiness')).toBe(5);
  });

  it('starts over for a restarted container: startup Unknown, readiness Failure, gated again', async () => {
    const pod = probedPod([app({ startupProbe: exec({ periodSeconds: 1 }), readinessProbe: exec({ periodSeconds: 1 }) })]);
    m.update(pod, undefined, [run('c1')]);
    await timers.advance(0);
    expect([started(), ready()]).toEqual([true, true]);

    prober.set('startup', 'Failure');
    m.update(pod, undefined, [run('c2')]);
    expect([started('c2'), ready('c2'), ready('c1')]).toEqual([false, false, false]);
    const before = prober.count('readiness');
    await timers.advance(5 * S);
    expect(prober.count('readiness')).toBe(before);
    expect(prober.calls.filter((c) => c.kind === 'startup').map((c) => c.containerId).slice(-2)).toEqual(['c2', 'c2']);
  });

  it('kills a container that never starts, with reason StartupProbe', async () => {
    const pod = probedPod([app({ startupProbe: exec({ periodSeconds: 1, failureThreshold: 3 }), livenessProbe: exec() })]);
    prober.set('startup', 'Failure');
    m.update(pod, undefined, [run('c1')]);
    await timers.advance(2 * S);
    expect(kills).toMatchObject([{ reason: 'StartupProbe', message: 'Container app failed startup probe, will be restarted' }]);
    expect(prober.count('liveness')).toBe(0);
    await timers.advance(10 * S);
    expect(prober.count('startup')).toBe(3);
  });
});

describe('scheduling', () => {
  it('never overlaps runs of one probe when a run outlasts the period', async () => {
    const slow = deferred<{ result: 'Success'; output: string }>();
    prober.set('liveness', () => slow.promise);
    m.update(probedPod([app({ livenessProbe: exec({ periodSeconds: 1, timeoutSeconds: 1 }) })]), undefined, [run('c1')]);
    const t0 = timers.now();
    await timers.advance(5.5 * S);
    expect(prober.count('liveness')).toBe(1);
    prober.set('liveness', 'Success');
    slow.resolve({ result: 'Success', output: '' });
    await flush();
    await timers.advance(0);
    // The late run is followed at once (as a Go ticker's buffered tick), then by the period.
    expect(prober.calls.map((c) => c.at - t0)).toEqual([0, 5.5 * S]);
    await timers.advance(1 * S);
    expect(prober.calls.map((c) => c.at - t0)).toEqual([0, 5.5 * S, 6.5 * S]);
  });

  it('keeps a fixed period when probes are quick', async () => {
    prober.set('readiness', async () => {
      await flush();
      return { result: 'Success', output: '' };
    });
    const t0 = timers.now();
    m.update(probedPod([app({ readinessProbe: exec({ periodSeconds: 3 }) })]), undefined, [run('c1')]);
    await timers.advance(9 * S);
    expect(prober.calls.map((c) => c.at - t0)).toEqual([0, 3 * S, 6 * S, 9 * S]);
  });

  it('spreads the first probe of an adopted container within one period', async () => {
    const pod = probedPod([app({ readinessProbe: exec({ periodSeconds: 10 }) }), app({ readinessProbe: exec({ periodSeconds: 10 }) }, 'side')]);
    randomValue = 0.37;
    const t0 = timers.now();
    // Started long ago, as containers found running after an agent restart are.
    const old = t0 - 3_600 * S;
    m.update(pod, undefined, [run('c1', { adopted: true, startedAt: old }), run('s1', { name: 'side', startedAt: old })]);
    await timers.advance(20 * S);
    const at = (name: string) => prober.calls.filter((c) => c.container === name).map((c) => c.at - t0);
    expect(at('side')).toEqual([0, 10 * S, 20 * S]);
    expect(at('app')).toEqual([3.7 * S, 13.7 * S]);

    // Only the first probe: a restarted container is probed at once.
    m.update(pod, undefined, [run('c2', { adopted: false }), run('s1', { name: 'side', startedAt: old })]);
    await timers.advance(0);
    expect(prober.calls.at(-1)).toMatchObject({ container: 'app', containerId: 'c2', at: t0 + 20 * S });
  });

  it('keeps an adopted container started and ready, and spreads its first readiness probe', async () => {
    const pod = probedPod([app({ startupProbe: exec({ periodSeconds: 10 }), readinessProbe: exec({ periodSeconds: 10 }) })]);
    randomValue = 0.6;
    const t0 = timers.now();
    prober.set('readiness', 'Failure');
    m.update(pod, undefined, [run('c1', { adopted: true, startedAt: t0 - 60 * S })]);
    // What it had before the agent restarted, without waiting for a probe (kubelet since 1.35).
    expect(started()).toBe(true);
    expect(ready()).toBe(true);
    await timers.advance(6 * S);
    // The startup probe passed long ago and is not run again; readiness is probed and corrects.
    expect(prober.calls.map((c) => [c.kind, c.at - t0])).toEqual([['readiness', 6 * S]]);
    await timers.advance(20 * S);
    expect(ready()).toBe(false);
    // A new container starts over: not started, not ready.
    m.update(pod, undefined, [run('c2')]);
    expect(started('c2')).toBe(false);
    expect(ready('c2')).toBe(false);
  });

  it('keeps the jitter within one period', async () => {
    const pod = probedPod([app({ readinessProbe: exec({ periodSeconds: 4 }) })]);
    randomValue = 0.999;
    const t0 = timers.now();
    m.update(pod, undefined, [run('c1', { adopted: true, startedAt: t0 - 60 * S })]);
    await timers.advance(4 * S);
    expect(prober.calls.map((c) => c.at - t0)).toEqual([3.996 * S]);
  });
});

describe('container and worker lifecycle', () => {
  it('resets on a new container ID and drops the old container’s late result', async () => {
    const pod = probedPod([app({ readinessProbe: exec({ periodSeconds: 1 }) })]);
    m.update(pod, undefined, [run('c1')]);
    await timers.advance(0);
    expect(ready()).toBe(true);
    changes.length = 0;

    const late = deferred<{ result: 'Success'; output: string }>();
    prober.set('readiness', () => late.promise);
    await timers.advance(1 * S); // a run for c1 is in flight
    prober.set('readiness', 'Failure');
    m.update(pod, undefined, [run('c2')]);
    expect(ready('c2')).toBe(false);
    expect(changes).toEqual(['uid-1']);
    late.resolve({ result: 'Success', output: '' });
    await flush();
    expect(ready('c2')).toBe(false);
    await timers.advance(0);
    expect(prober.calls.at(-1)).toMatchObject({ containerId: 'c2' });
  });

  it('idles while the container is not running and reports it not ready', async () => {
    const pod = probedPod([app({ readinessProbe: exec({ periodSeconds: 1 }) })]);
    m.update(pod, undefined, [run('c1')]);
    await timers.advance(0);
    expect(ready()).toBe(true);
    m.update(pod, undefined, []);
    expect(ready()).toBe(false);
    const n = prober.count('readiness');
    await timers.advance(10 * S);
    expect(prober.count('readiness')).toBe(n);
    expect(timers.pending).toBe(0);
  });

  it('stops workers with the pod, and with a probe that left the spec', async () => {
    const both = probedPod([app({ readinessProbe: exec({ periodSeconds: 1 }), livenessProbe: exec({ periodSeconds: 1 }) })]);
    m.update(both, undefined, [run('c1')]);
    await timers.advance(0);
    expect(timers.pending).toBe(2);

    m.update(probedPod([app({ livenessProbe: exec({ periodSeconds: 1 }) })]), undefined, [run('c1')]);
    expect(ready()).toBeUndefined();
    expect(timers.pending).toBe(1);

    m.removePod('uid-1');
    expect(timers.pending).toBe(0);
    expect(m.readiness('uid-1', 'app', 'c1')).toBeUndefined();
    expect(changes.at(-1)).toBe('uid-1');
    const n = prober.calls.length;
    await timers.advance(10 * S);
    expect(prober.calls.length).toBe(n);
    expect(m.metrics.probeTotal()).toEqual([]);
  });

  it('silences liveness and startup once the pod is being deleted, and keeps probing readiness', async () => {
    const pod = probedPod([app({ livenessProbe: exec({ periodSeconds: 1, failureThreshold: 1 }), readinessProbe: exec({ periodSeconds: 1 }) })]);
    m.update(pod, undefined, [run('c1')]);
    await timers.advance(0);
    prober.set('liveness', 'Failure');
    const deleting = { ...pod, metadata: { ...pod.metadata, deletionTimestamp: '2026-01-01T00:00:01Z' } } as Pod;
    m.update(deleting, undefined, [run('c1')]);
    await timers.advance(5 * S);
    expect(kills).toEqual([]);
    expect(prober.count('liveness')).toBe(1);
    expect(prober.count('readiness')).toBe(6);
  });

  it('probes sidecars (restartable init containers) and marks their kills and events as init', async () => {
    const sidecar: Container = { name: 'proxy', image: 'busybox', restartPolicy: 'Always', livenessProbe: exec({ failureThreshold: 1 }) };
    const pod = probedPod([app({})], { initContainers: [sidecar], restartPolicy: 'Never' });
    prober.set('liveness', 'Failure');
    m.update(pod, undefined, [run('p1', { name: 'proxy' })]);
    await timers.advance(0);
    expect(kills).toMatchObject([{ container: 'proxy', init: true, message: 'Container proxy failed liveness probe, will be restarted' }]);
    expect(events[0]).toMatchObject({ container: 'proxy', init: true });
  });

  it('stop() cancels everything', async () => {
    m.update(probedPod([app({ readinessProbe: exec() })]), undefined, [run('c1')]);
    m.stop();
    expect(timers.pending).toBe(0);
    await timers.advance(30 * S);
    expect(prober.calls).toEqual([]);
  });
});

describe('metrics', () => {
  it('counts results per probe and reports every duration', async () => {
    const durations: [string, number][] = [];
    m.metrics.onDuration((l, s) => durations.push([l.probe_type, s]));
    m.update(probedPod([app({ readinessProbe: exec({ periodSeconds: 1 }), livenessProbe: exec({ periodSeconds: 1 }) })]), undefined, [
      run('c1'),
    ]);
    prober.set('liveness', 'Failure');
    await timers.advance(1 * S);
    const totals = m.metrics.probeTotal().map((t) => [t.labels.probe_type, t.labels.result, t.value]);
    expect(totals).toEqual(
      expect.arrayContaining([
        ['Readiness', 'successful', 2],
        ['Liveness', 'failed', 2],
      ]),
    );
    expect(m.metrics.probeTotal()[0]?.labels).toMatchObject({ container: 'app', pod: 'web', namespace: 'default', pod_uid: 'uid-1' });
    expect(durations).toHaveLength(4);
    expect(durations.every(([, s]) => s === 0)).toBe(true);
  });
});

it('accepts a pino logger', () => {
  const log: LogSink = pino({ level: 'silent' });
  expect(() => new ProbeManager({ runtime: { execSync: () => Promise.reject(new Error('x')) }, kubeVersion: { major: '1', minor: '0' }, log, onKill: () => undefined }).stop()).not.toThrow();
});
