import { describe, expect, it } from 'vitest';
import { repoList } from '../conformance/run.js';
import {
  applyKnownReasons, mergeParts, parseGinkgoReport, parseListTests, parseResultsTable, partDate, partHeader, renderMerged, renderResults, selectSpecs, summarize,
} from '../conformance/results.js';

// The shape of ginkgo v2's --json-report (types.Report / types.SpecReport), trimmed to the
// fields the runner reads.
const report = JSON.stringify([{
  SuiteDescription: 'Kubernetes e2e suite',
  SpecReports: [
    { LeafNodeType: 'SynchronizedBeforeSuite', LeafNodeText: '', State: 'passed', RunTime: 1e9 },
    { ContainerHierarchyTexts: ['[sig-node] Pods'], LeafNodeType: 'It', LeafNodeText: 'should get a host IP [NodeConformance] [Conformance]', State: 'passed', RunTime: 12_345_000_000 },
    { ContainerHierarchyTexts: ['[sig-node] Security Context', 'when creating a pod'], LeafNodeType: 'It', LeafNodeText: 'should run privileged [NodeConformance]', State: 'failed', RunTime: 3e9, Failure: { Message: '\n  container failed: operation not permitted\nmore detail' } },
    { ContainerHierarchyTexts: ['[sig-node] Sysctls'], LeafNodeType: 'It', LeafNodeText: 'should reject invalid sysctls [NodeConformance]', State: 'skipped', Failure: { Message: 'Only supported for node OS distro [gci ubuntu]' } },
    { ContainerHierarchyTexts: ['[sig-node] Kubelet'], LeafNodeType: 'It', LeafNodeText: 'should restart [Serial] [NodeConformance]', State: 'skipped' },
    { ContainerHierarchyTexts: ['[sig-apps] Deployment'], LeafNodeType: 'It', LeafNodeText: 'should roll over', State: 'skipped' },
    { ContainerHierarchyTexts: ['[sig-node] Probing'], LeafNodeType: 'It', LeafNodeText: 'should time out [NodeConformance]', State: 'timedout', Failure: { Message: 'A suite timeout occurred' } },
  ],
}]);

describe('conformance results', () => {
  it('reads the It specs of a ginkgo JSON report with outcome, first line of the reason and seconds', () => {
    const specs = parseGinkgoReport(report);
    expect(specs).toHaveLength(6);
    expect(specs[0]).toEqual({ name: '[sig-node] Pods should get a host IP [NodeConformance] [Conformance]', outcome: 'passed', reason: '', seconds: 12.3 });
    expect(specs[1]).toMatchObject({ name: '[sig-node] Security Context when creating a pod should run privileged [NodeConformance]', outcome: 'failed', reason: 'container failed: operation not permitted' });
    expect(specs[2]).toMatchObject({ outcome: 'skipped', reason: 'Only supported for node OS distro [gci ubuntu]' });
    // A timed-out spec is no pass.
    expect(specs[5]).toMatchObject({ outcome: 'failed', reason: 'A suite timeout occurred' });
  });

  it('keeps a failed suite setup node: it is why nothing ran', () => {
    const r = JSON.stringify([{ SpecReports: [{ LeafNodeType: 'SynchronizedBeforeSuite', State: 'failed', Failure: { Message: 'nodes not schedulable' } }] }]);
    const specs = selectSpecs(parseGinkgoReport(r), /\[NodeConformance\]/);
    expect(specs).toHaveLength(1);
    expect(specs[0]).toMatchObject({ name: 'SynchronizedBeforeSuite', outcome: 'failed', reason: 'nodes not schedulable', setup: true });
  });

  it('selects the focus, marks what the skip pattern left out, counts, and names known machine limits', () => {
    const specs = applyKnownReasons(selectSpecs(parseGinkgoReport(report), /\[NodeConformance\]/, { pattern: /\[Serial\]/, reason: 'not run: [Serial]' }), [{ match: /should run privileged/, reason: 'no CAP_SYS_ADMIN here' }]);
    expect(specs.map((s) => s.name)).not.toContain('[sig-apps] Deployment should roll over');
    expect(specs.find((s) => s.name.includes('[Serial]'))?.reason).toBe('not run: [Serial]');
    expect(specs.find((s) => s.name.includes('privileged'))?.reason).toBe('no CAP_SYS_ADMIN here (suite: container failed: operation not permitted)');
    expect(summarize(specs).line).toBe('1 passed, 2 failed, 2 skipped');
  });

  it('renders RESULTS.md with the closing line and one row per spec, failures first, pipes escaped', () => {
    const specs = [...parseGinkgoReport(report).slice(0, 3), { name: 'a | b', outcome: 'failed' as const, reason: 'x|y', seconds: 1 }];
    const md = renderResults(specs, { date: 'd', version: 'v1.36.3', runtime: 'docker', focus: 'F', skip: 'S', procs: 2, minutes: 3 });
    expect(md).toContain('**1 passed, 2 failed, 1 skipped**');
    const rows = md.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| Test') && !l.startsWith('| ---'));
    expect(rows).toContain('| a \\| b | failed | x\\|y |');
    expect(rows.map((r) => r.split(' | ')[1])).toEqual(['failed', 'failed', 'skipped', 'passed']);
  });

  it('points every registry of the suite at the test registry, and the invalid one at a closed local port', () => {
    const l = repoList('127.0.0.1:5555');
    expect(l).toContain('promoterE2eRegistry: 127.0.0.1:5555/e2e-test-images\n');
    expect(l).toContain('gcRegistry: 127.0.0.1:5555\n');
    expect(l).toContain('invalidRegistry: 127.0.0.1:9/invalid\n');
    for (const line of l.trim().split('\n')) expect(line).toMatch(/: 127\.0\.0\.1:/);
  });

  it('reads back the table it renders, escaped pipes included', () => {
    const specs = [...parseGinkgoReport(report).slice(0, 3), { name: 'a | b', outcome: 'failed' as const, reason: 'x|y', seconds: 1 }];
    const md = renderResults(specs, { date: '2026-12-03 15:00 UTC', version: 'v1.36.3', runtime: 'docker', focus: 'F|G', skip: 'S', procs: 2, minutes: 3 });
    const back = parseResultsTable(md);
    expect(back.map((s) => [s.name, s.outcome, s.reason]).sort()).toEqual(specs.map((s) => [s.name, s.outcome, s.reason]).sort());
    expect(partDate(md)).toBe('2026-12-03 15:00');
    expect(partHeader(md)).toBe('1 passed, 2 failed, 1 skipped; docker, 2026-12-03 15:00 UTC, 3 min, 2 process(es), focus `F|G`, skip `S`');
  });

  it('merges parts: the latest part that ran a spec wins; a suite skip reason is kept; the rest is not run', () => {
    const names = ['A', 'B', 'C', 'D'];
    const early = { name: 'p1', date: '2026-12-03 13:00', specs: [
      { name: 'A', outcome: 'failed' as const, reason: 'boom', seconds: 0 },
      { name: 'B', outcome: 'passed' as const, reason: '', seconds: 0 },
      { name: 'C', outcome: 'skipped' as const, reason: 'Only supported for node OS distro [gci ubuntu]', seconds: 0 },
    ] };
    const late = { name: 'p2', date: '2026-12-03 14:00', specs: [
      { name: 'A', outcome: 'passed' as const, reason: '', seconds: 0 },
      // A later part that did not run B (interrupted) does not undo B's result.
      { name: 'B', outcome: 'skipped' as const, reason: 'not run: interrupted', seconds: 0 },
    ] };
    const merged = mergeParts(names, [late, early], () => 'not run: time');
    expect(merged.map((s) => [s.name, s.outcome, s.reason])).toEqual([
      ['A', 'passed', ''], ['B', 'passed', ''], ['C', 'skipped', 'Only supported for node OS distro [gci ubuntu]'], ['D', 'skipped', 'not run: time'],
    ]);
    const md = renderMerged(merged, [{ name: 'p1', header: 'h1' }], 'intro');
    expect(md).toContain('**2 passed, 0 failed, 2 skipped** (1 of the skipped were not run)');
    expect(md).toContain('- `p1`: h1');
  });

  it('lists the focus from e2e.test --list-tests', () => {
    const out = '    k8s.io/kubernetes@v1.36.3/test/e2e/common/network/networking.go:85: [sig-network] X should work [NodeConformance] [Conformance]\n'
      + '    k8s.io/kubernetes@v1.36.3/test/e2e/apps/deployment.go:10: [sig-apps] Deployment should roll\n';
    expect(parseListTests(out, /\[NodeConformance\]/)).toEqual(['[sig-network] X should work [NodeConformance] [Conformance]']);
  });
});
