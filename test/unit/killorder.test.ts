import { describe, expect, it } from 'vitest';
import type { ContainerStatus as RuntimeContainer, Runtime } from '../../cri/index.js';
import { GraceBudget, podGraceSeconds, stopSignalGrace, terminationOrder } from '../../agent/pods/killorder.js';
import type { SyncDeps } from '../../agent/pods/sync.js';
import { stopAll } from '../../agent/pods/sync.js';
import { L } from '../../agent/vocab/index.js';
import { ctr, pod, running, sandbox } from '../support/fixtures.js';
import { must } from '../support/common.js';

// Termination in kubelet's order and budget (issue 13, items 3 and 4): app containers
// first, sidecars after them in reverse order, one grace budget, at least 2 s after every
// stop signal.

const side = (name: string) => ctr(name, { restartPolicy: 'Always' });

describe('terminationOrder', () => {
  const p = pod({ initContainers: [ctr('i1'), side('s1'), side('s2'), side('s3')], containers: [ctr('a'), ctr('b')] });
  const rc = (name: string, id: string) => running(p, name.startsWith('s') ? side(name) : ctr(name), id);

  it('makes each sidecar wait for every app container and for the sidecars after it', () => {
    const order = terminationOrder(p, [rc('a', 'A'), rc('b', 'B'), rc('s1', 'S1'), rc('s2', 'S2'), rc('s3', 'S3')]);
    expect(order.get('A')).toEqual([]);
    expect(order.get('B')).toEqual([]);
    expect(order.get('S3')).toEqual(['A', 'B']);
    expect(order.get('S2')).toEqual(['A', 'B', 'S3']);
    expect(order.get('S1')).toEqual(['A', 'B', 'S2', 'S3']);
  });

  it('waits only for containers that run, and never makes a plain init container wait', () => {
    const order = terminationOrder(p, [rc('i1', 'I1'), rc('s1', 'S1')]);
    expect(order.get('I1')).toEqual([]);
    expect(order.get('S1')).toEqual([]);
  });

  it('tells an orphan sidecar from its annotations when the spec is gone', () => {
    const orphan = { ...rc('s1', 'S1'), annotations: { [L.containerType]: 'sidecar' } };
    const app = { ...rc('a', 'A'), annotations: { [L.containerType]: 'app' } };
    expect(terminationOrder(undefined, [orphan, app]).get('S1')).toEqual(['A']);
  });
});

describe('grace periods', () => {
  it('takes the deletion grace, then the pod grace, and turns a negative one into 1', () => {
    const p = pod({ containers: [ctr('a')], terminationGracePeriodSeconds: 7 });
    expect(podGraceSeconds(p)).toBe(7);
    expect(podGraceSeconds({ ...p, metadata: { ...p.metadata, deletionGracePeriodSeconds: 3 } })).toBe(3);
    expect(podGraceSeconds(p, 0)).toBe(0);
    expect(podGraceSeconds(p, -4)).toBe(1);
    expect(podGraceSeconds(pod({ containers: [ctr('a')], terminationGracePeriodSeconds: undefined }))).toBe(30);
  });

  it('leaves at least 2 s after the stop signal', () => {
    expect(stopSignalGrace(0)).toBe(2);
    expect(stopSignalGrace(1)).toBe(2);
    expect(stopSignalGrace(-3)).toBe(2);
    expect(stopSignalGrace(4.2)).toBe(5);
  });
});

/** Records stops: each container takes `exitMs` to exit once signalled. */
function recorder(exitMs: number) {
  const t0 = Date.now();
  const calls: { id: string; grace: number; at: number; done?: number }[] = [];
  const runtime = {
    stopContainer: async (id: string, grace: number) => {
      const call: { id: string; grace: number; at: number; done?: number } = { id, grace, at: Date.now() - t0 };
      calls.push(call);
      await new Promise((r) => setTimeout(r, exitMs));
      call.done = Date.now() - t0;
    },
    stopPodSandbox: async () => undefined,
  } as unknown as Runtime;
  const events = { emit: () => undefined };
  const log = { warn: () => undefined, info: () => undefined, child: () => log };
  const deps = { runtime, events, log, now: () => Date.now() } as unknown as SyncDeps;
  return { deps, calls };
}

describe('stopAll', () => {
  const p = pod({ initContainers: [side('s1'), side('s2'), side('s3')], containers: [ctr('a')], terminationGracePeriodSeconds: 30 });
  const cs: RuntimeContainer[] = [running(p, ctr('a'), 'A'), running(p, side('s1'), 'S1'), running(p, side('s2'), 'S2'), running(p, side('s3'), 'S3')];

  it('signals the app container first, then the sidecars in reverse order, inside one budget', async () => {
    const { deps, calls } = recorder(50);
    await stopAll(deps, { sandboxes: [sandbox('s1')], containers: cs }, 30, p);
    expect(calls.map((c) => c.id)).toEqual(['A', 'S3', 'S2', 'S1']);
    for (const [i, next] of calls.slice(1).entries()) expect(next.at).toBeGreaterThanOrEqual(must(calls[i]?.done, `call ${i} done`));
    // What is left of the one budget, not a fresh 30 s for each.
    for (const c of calls) expect(c.grace).toBeLessThanOrEqual(30);
  });

  it('gives every stop signal 2 s even with a grace period of 0, and does not wait for turns', async () => {
    const { deps, calls } = recorder(10);
    await stopAll(deps, { sandboxes: [sandbox('s1')], containers: cs }, 0, p);
    expect(calls.map((c) => c.grace)).toEqual([2, 2, 2, 2]);
    expect(Math.max(...calls.map((c) => c.at))).toBeLessThan(10);
  });
});

// A second delete with a shorter gracePeriodSeconds, or an eviction, while a pod is being
// stopped (kubelet's calculateEffectiveGracePeriod and UpdatePod's cancel of the termination
// under way): the grace only ever decreases, and the stop goes on with the shorter one.
describe('GraceBudget', () => {
  it('takes only a shorter grace, at least 1 s, counted from the cut', () => {
    let now = 0;
    const b = new GraceBudget(() => now, 30);
    try {
      now = 10_000;
      expect(b.left()).toBe(20);
      expect(b.shorten(30)).toBe(false);
      expect(b.shorten(45)).toBe(false);
      expect(b.left()).toBe(20);
      expect(b.shorten(5)).toBe(true);
      expect(b.seconds).toBe(5);
      expect(b.left()).toBe(5);
      expect(b.shorten(0)).toBe(true);
      expect(b.seconds).toBe(1);
      expect(b.shorten(-3)).toBe(false);
    } finally {
      b.dispose();
    }
  });

  it('aborts its signal when the cut budget runs out', async () => {
    const b = new GraceBudget(() => Date.now(), 300);
    try {
      expect(b.signal.aborted).toBe(false);
      b.shorten(1);
      await new Promise((r) => b.signal.addEventListener('abort', r, { once: true }));
      expect(b.left()).toBeLessThanOrEqual(0.05);
    } finally {
      b.dispose();
    }
  });
});

describe('stopAll with a budget cut while it runs', () => {
  const p = pod({ containers: [ctr('a', { lifecycle: { preStop: { sleep: { seconds: 30 } } } })], terminationGracePeriodSeconds: 60 });
  const cs = [running(p, ctr('a', { lifecycle: { preStop: { sleep: { seconds: 30 } } } }), 'A')];

  it('cuts the preStop sleep at the new deadline and stops with what is left (never less than 2 s)', async () => {
    const { deps, calls } = recorder(10);
    const budget = new GraceBudget(deps.now, 60);
    const t0 = Date.now();
    setTimeout(() => budget.shorten(1), 100);
    try {
      await stopAll(deps, { sandboxes: [sandbox('s1')], containers: cs }, budget, p);
    } finally {
      budget.dispose();
    }
    expect(calls.map((c) => [c.id, c.grace])).toEqual([['A', 2]]);
    // The stop came when the 1 s budget ran out, not after the 30 s hook.
    expect(calls[0]?.at).toBeGreaterThanOrEqual(1000);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('stops a container again with the shorter grace while the engine waits out the first', async () => {
    const t0 = Date.now();
    const calls: { grace: number; at: number }[] = [];
    const waiting: (() => void)[] = [];
    // The engine: a stop waits grace x 100 ms for the container to exit, then kills it; a kill ends every stop under way.
    const runtime = {
      stopContainer: (_id: string, grace: number) => {
        calls.push({ grace, at: Date.now() - t0 });
        return new Promise<void>((resolve) => {
          waiting.push(resolve);
          setTimeout(() => waiting.splice(0).forEach((r) => r()), grace * 100);
        });
      },
      stopPodSandbox: async () => undefined,
    } as unknown as Runtime;
    const log = { warn: () => undefined, info: () => undefined, child: () => log };
    const deps = { runtime, events: { emit: () => undefined }, log, now: () => Date.now() } as unknown as SyncDeps;
    const plain = pod({ containers: [ctr('a')], terminationGracePeriodSeconds: 60 });
    const budget = new GraceBudget(deps.now, 60);
    setTimeout(() => budget.shorten(3), 200);
    try {
      await stopAll(deps, { sandboxes: [sandbox('s1')], containers: [running(plain, ctr('a'), 'A')] }, budget, plain);
    } finally {
      budget.dispose();
    }
    expect(calls.map((c) => c.grace)).toEqual([60, 3]);
    // Over when the second stop killed it (300 ms), not after the first one's 6 s.
    expect(Date.now() - t0).toBeLessThan(3000);
  });
});
