// issue 13 item 5: recreating a sandbox does not bypass CrashLoopBackOff. kubelet's
// doBackOff (kuberuntime_manager.go) checks every container start against the newest
// exited container of that name, whatever sandbox it ran in; the planner only gates
// restarts inside the same sandbox, so the executor checks the first start in a new one.

import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../base/index.js';
import { silentLogger } from '../../agent/log.js';
import { Backoff, CONTAINER_BACKOFF } from '../../agent/vocab/index.js';
import { backoffKey, computePodActions } from '../../agent/pods/planner.js';
import { crashBackoff, type SyncDeps } from '../../agent/pods/sync.js';
import { ctr, exited, pod, sandbox } from '../support/fixtures.js';
import { must } from '../support/common.js';

function deps(clock: FakeClock): SyncDeps {
  const backoff = new Backoff(clock, CONTAINER_BACKOFF);
  return { backoff, pullBackoff: new Backoff(clock), log: silentLogger, now: () => clock.now() } as unknown as SyncDeps;
}

describe('a new sandbox keeps the crash back-off', () => {
  const c = ctr('app');
  const p = pod({ containers: [c] });

  it('holds the first start in a new sandbox while the last run is inside its back-off', () => {
    const clock = new FakeClock(100_000);
    const d = deps(clock);
    // The container crash-looped: two restarts recorded, so the delay is 20 s.
    d.backoff.next(backoffKey(p, c));
    d.backoff.next(backoffKey(p, c));
    const finishedAt = clock.now() - 5_000;
    // The sandbox died (engine restart): the planner asks for a new one and a first start.
    const observed = { sandboxes: [sandbox('s1', 0, 'notready')], containers: [exited(p, c, 'c1', 1, { attempt: 2, finishedAt })] };
    const a = computePodActions(p, observed, d.backoff);
    expect(a.createSandbox).toBe(true);
    expect(a.containersToStart).toEqual([{ kind: 'app', index: 0, attempt: 3, restart: false }]);
    expect(crashBackoff(d, p, c, must(a.containersToStart[0], 'a start'), observed)).toMatch(/^back-off 20s restarting failed container=app/);
    clock.advance(15_001);
    // Past the delay: it starts, and the start is recorded (the next delay doubles).
    expect(crashBackoff(d, p, c, must(a.containersToStart[0], 'a start'), observed)).toBeUndefined();
    expect(d.backoff.get(backoffKey(p, c))).toBe(40_000);
  });

  it('lets a container that never crashed start at once in a new sandbox', () => {
    const clock = new FakeClock(100_000);
    const d = deps(clock);
    const observed = { sandboxes: [sandbox('s1', 0, 'notready')], containers: [exited(p, c, 'c1', 137, { finishedAt: clock.now() - 1_000 })] };
    const s = must(computePodActions(p, observed, d.backoff).containersToStart[0], 'a start');
    expect(crashBackoff(d, p, c, s, observed)).toBeUndefined();
    // A pod never run has nothing to back off from.
    expect(crashBackoff(d, p, c, s, { sandboxes: [], containers: [] })).toBeUndefined();
  });
});

describe('containers an engine shutdown cut short', () => {
  it('are removed once the pod has a newer sandbox; the newest sandbox\'s are left to the start path', () => {
    const c = ctr('app');
    const p = pod({ containers: [c] });
    // Sandbox s1 was made while dockerd was stopping; its app container was created, never started.
    const orphan = { ...exited(p, c, 'c-orphan', 0, { attempt: 1, sandboxId: 's1' }), state: 'created' as const, finishedAt: 0 };
    const ran = exited(p, c, 'c-ran', 137, { attempt: 0, sandboxId: 's0' });
    const a = computePodActions(p, { sandboxes: [sandbox('s2', 2), sandbox('s1', 1, 'notready'), sandbox('s0', 0, 'notready')], containers: [orphan, ran] }, new Backoff(new FakeClock()));
    expect(a.containersToRemove).toContain('c-orphan');
    expect(a.containersToRemove).not.toContain('c-ran');
    const inNewest = { ...orphan, id: 'c-new', podSandboxId: 's2' };
    const b = computePodActions(p, { sandboxes: [sandbox('s2', 2)], containers: [inNewest] }, new Backoff(new FakeClock()));
    expect(b.containersToRemove).not.toContain('c-new');
  });
});
