import { afterAll, describe, expect, it } from 'vitest';
import { CI_SKIP, type ConformanceRun, runConformance } from './run.js';

// A fixed, named subset of upstream's [NodeConformance] specs, run by `npm test` (and alone
// by `npm run test:conformance-subset`): the real e2e.test against a control plane whose only
// node is a bosun agent, through the same runner as the whole focus (`npm run conformance`,
// test/conformance/RESULTS.md). Chosen to be quick and to touch the main node paths: pod IPs
// in status, a Secret and a ConfigMap volume, downward-API env, init containers, and a
// termination message.
export const SUBSET = [
  'Pods should get a host IP',
  'Secrets should be consumable from pods in volume \\[NodeConformance\\]',
  'ConfigMap should be consumable from pods in volume \\[NodeConformance\\]',
  'Downward API should provide pod name, namespace and IP address as env vars',
  'InitContainer \\[NodeConformance\\] should invoke init containers on a RestartNever pod',
  'on terminated container should report termination message if TerminationMessagePath is set \\[NodeConformance\\]',
];

describe('upstream NodeConformance subset on a bosun node', () => {
  let run: ConformanceRun | undefined;
  afterAll(() => {
    if (run) console.log(`conformance subset: ${run.line}`);
  });

  it(`passes every spec of the subset (${SUBSET.length})`, async () => {
    run = await runConformance({ focus: SUBSET.map((s) => `(${s})`).join('|'), skip: CI_SKIP, procs: 1, timeout: '30m', log: () => undefined });
    const failed = run.specs.filter((s) => s.outcome !== 'passed');
    expect(failed.map((s) => `${s.name}: ${s.reason}`), run.output.slice(-6000)).toEqual([]);
    expect(run.passed).toBe(SUBSET.length);
  }, 3600_000);
});
