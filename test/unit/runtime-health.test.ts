import { describe, expect, it } from 'vitest';
import { RuntimeError, type RuntimeEvent } from '../../cri/index.js';
import { FakeClock } from '../../base/index.js';
import { silentLogger } from '../../agent/log.js';
import { nextProbeDelay, RUNTIME_DOWN, RuntimeHealth } from '../../agent/runtime/health.js';
import { RetryGate, SANDBOX_RETRY } from '../../agent/pods/retry.js';
import { healthz } from '../../agent/server/healthz.js';
import { sleep, must } from '../support/common.js';

const gone = () => new RuntimeError('Unavailable', 'connect ENOENT /run/docker.sock');

/** An engine that is up or down at the test's command, with an event stream that can be cut. */
class FakeEngine {
  up = true;
  /** When false, subscribe() never says the stream is open (an engine still starting). */
  streams = true;
  calls = 0;
  subscriptions: { onEvent: (e: RuntimeEvent) => void; onError: (err: Error) => void; open: boolean }[] = [];

  private check<T>(v: T): Promise<T> {
    this.calls++;
    return this.up ? Promise.resolve(v) : Promise.reject(gone());
  }

  version() {
    return this.check({ runtimeName: 'fake', runtimeVersion: '1', runtimeApiVersion: 'v1' });
  }
  listPodSandboxes() {
    return this.check([]);
  }
  listContainers() {
    return this.check([]);
  }
  subscribe(onEvent: (e: RuntimeEvent) => void, onError: (err: Error) => void, onReady?: () => void) {
    const s = { onEvent, onError, open: true };
    this.subscriptions.push(s);
    if (!this.up) setTimeout(() => onError(gone()), 0);
    else if (this.streams) setTimeout(() => onReady?.(), 0);
    return () => { s.open = false; };
  }
  /** The engine stops: its open event stream ends. */
  stop() {
    this.up = false;
    for (const s of this.subscriptions) if (s.open) s.onError(new Error('Docker event stream ended'));
  }
}

function health(engine: FakeEngine, log = silentLogger) {
  return new RuntimeHealth({ runtime: engine, log, clock: new FakeClock(), initialDelayMs: 5, maxDelayMs: 20, probeTimeoutMs: 200 });
}

describe('RuntimeHealth (kubelet runtimeState)', () => {
  it('is up once the engine answers and its event stream is open; events reach the subscribers', async () => {
    const e = new FakeEngine();
    const h = health(e);
    await h.start();
    expect(h.ready()).toBe(true);
    const seen: RuntimeEvent[] = [];
    h.subscribe((ev) => seen.push(ev));
    e.subscriptions.at(-1)!.onEvent({ id: 'c1', type: 'started' });
    expect(seen).toEqual([{ id: 'c1', type: 'started' }]);
    h.stop();
  });

  it('goes down when the event stream ends, says so once, and reports kubelet\'s words', async () => {
    const e = new FakeEngine();
    const warnings: string[] = [];
    const log = { ...silentLogger, warn: (_: unknown, msg: string) => warnings.push(msg), info: () => undefined } as unknown as typeof silentLogger;
    const h = health(e, log);
    const changes: boolean[] = [];
    h.onChange((c) => changes.push(c.ready));
    await h.start();
    e.stop();
    expect(h.ready()).toBe(false);
    expect(h.condition()).toMatchObject({ ready: false, message: RUNTIME_DOWN });
    expect(h.condition().detail).toContain('event stream');
    // Later failures of the same outage are absorbed, not logged again.
    expect(h.failed(gone(), 'relist')).toBe(true);
    expect(h.failed(gone(), 'creating a pod sandbox')).toBe(true);
    expect(h.failed(new Error('invalid reference format'), 'pull')).toBe(false);
    await sleep(60);
    expect(warnings).toHaveLength(1);
    expect(changes).toEqual([true, false]); // up at start, then down once
    h.stop();
  });

  it('probes with a doubling back-off while the engine is away, and is up only when its event stream opens again', async () => {
    const e = new FakeEngine();
    const h = health(e);
    let ups = 0;
    h.onUp(() => ups++);
    await h.start();
    e.stop();
    e.calls = 0;
    await sleep(200);
    // 5, 10, 20, 20... ms: about ten probes of three calls in 200 ms, not a tight loop.
    expect(e.calls).toBeGreaterThan(0);
    expect(e.calls).toBeLessThanOrEqual(3 * 14);
    // The socket answers, but the engine does not stream events yet: not up.
    e.up = true;
    e.streams = false;
    await sleep(300);
    expect(h.ready()).toBe(false);
    e.streams = true;
    await sleep(300);
    expect(h.ready()).toBe(true);
    expect(ups).toBe(2); // at start, and once back
    // Only the stream opened last is the live one: an older one ending changes nothing.
    must(e.subscriptions[0], 'the first event stream').onError(new Error('old stream'));
    expect(h.ready()).toBe(true);
    h.stop();
  });

  it('starts down when the engine does not answer, and comes up when it does', async () => {
    const e = new FakeEngine();
    e.up = false;
    const h = health(e);
    await h.start();
    expect(h.condition()).toMatchObject({ ready: false, message: RUNTIME_DOWN });
    e.up = true;
    await sleep(100);
    expect(h.ready()).toBe(true);
    h.stop();
  });

  it('nextProbeDelay doubles up to the cap', () => {
    const seq: number[] = [];
    let d: number | undefined;
    for (let i = 0; i < 8; i++) seq.push((d = nextProbeDelay(d, 100, 5_000)));
    expect(seq).toEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000]);
  });
});

describe('RetryGate (sandbox creation and removal back-off)', () => {
  it('holds a retry for the back-off and reports a repeated failure once', () => {
    const clock = new FakeClock();
    const g = new RetryGate(clock, SANDBOX_RETRY);
    expect(g.waiting('u1', 'sandbox')).toBe(false);
    expect(g.failed('u1', 'sandbox', 'network bosun not found')).toBe(true);
    expect(g.waiting('u1', 'sandbox')).toBe(true);
    expect(g.waiting('u2', 'sandbox')).toBe(false);
    clock.advance(9_999);
    expect(g.waiting('u1', 'sandbox')).toBe(true);
    clock.advance(2);
    expect(g.waiting('u1', 'sandbox')).toBe(false);
    expect(g.failed('u1', 'sandbox', 'network bosun not found')).toBe(false);
    expect(g.failed('u1', 'sandbox', 'another error')).toBe(true);
    g.succeeded('u1', 'sandbox');
    expect(g.waiting('u1', 'sandbox')).toBe(false);
    expect(g.failed('u1', 'sandbox', 'another error')).toBe(true);
    g.forget('u1');
    expect(g.waiting('u1', 'sandbox')).toBe(false);
  });
});

describe('/healthz runtime check', () => {
  const down = () => 'container runtime is down (relist: connect ENOENT /var/run/docker.sock)';
  it('fails, naming the runtime, while the engine is away', () => {
    expect(healthz(() => true, () => undefined, undefined, false)).toEqual({ status: 200, body: 'ok' });
    expect(healthz(() => true, down, undefined, false)).toEqual({ status: 500, body: `runtime failed: ${down()}` });
    expect(healthz(() => true, down, 'runtime', false).status).toBe(500);
    expect(healthz(() => true, down, 'ping', false)).toEqual({ status: 200, body: 'ok' });
    expect(healthz(() => true, down, 'nope', false).status).toBe(404);
    const v = healthz(() => true, down, undefined, true);
    expect(v.status).toBe(500);
    expect(v.body).toContain('[+]syncloop ok\n[-]runtime failed: container runtime is down');
    expect(v.body).toContain('healthz check failed');
    expect(healthz(() => false, undefined, undefined, true).body).toContain('[-]syncloop failed');
  });
});
