// Reading upstream's e2e suite results (ginkgo's --json-report) and writing RESULTS.md:
// pure functions, used by test/conformance/run.ts and unit-tested in
// test/unit/conformance-results.test.ts.

export type Outcome = 'passed' | 'failed' | 'skipped';

export interface SpecResult {
  /** The full spec text as ginkgo prints it: container texts and the It text, space-joined. */
  name: string;
  outcome: Outcome;
  /** For a failure or a skip: why (first line of ginkgo's failure/skip message, or the known reason). */
  reason: string;
  seconds: number;
  /** A suite setup or tear-down node that failed (not a spec): kept whatever the focus. */
  setup?: true;
}

interface GinkgoSpecReport {
  ContainerHierarchyTexts?: string[] | null;
  LeafNodeType?: string;
  LeafNodeText?: string;
  State?: string;
  RunTime?: number;
  Failure?: { Message?: string } | null;
}

interface GinkgoReport {
  SpecReports?: GinkgoSpecReport[] | null;
}

/** A failure or skip whose cause is this machine, not bosun: the spec's name matches, the reason is given. */
export interface KnownReason {
  match: RegExp;
  reason: string;
}

const MAX_REASON = 300;

function firstLine(s: string): string {
  const line = s.split('\n').map((l) => l.trim()).find((l) => l.length > 0) ?? '';
  return line.length > MAX_REASON ? `${line.slice(0, MAX_REASON - 1)}…` : line;
}

function outcomeOf(state: string): Outcome {
  if (state === 'passed') return 'passed';
  if (state === 'skipped' || state === 'pending') return 'skipped';
  // failed, panicked, interrupted, aborted, timedout: not a pass.
  return 'failed';
}

/**
 * The It specs of a ginkgo JSON report (an array of suite reports). Setup nodes
 * (SynchronizedBeforeSuite and the like) are left out unless they failed, since a failed
 * suite setup is why every spec after it did not run.
 */
export function parseGinkgoReport(json: string): SpecResult[] {
  const reports = JSON.parse(json) as GinkgoReport[];
  if (!Array.isArray(reports)) throw new Error('ginkgo JSON report: not an array of suite reports');
  const out: SpecResult[] = [];
  for (const r of reports) {
    for (const s of r.SpecReports ?? []) {
      const state = s.State ?? 'unknown';
      const isIt = s.LeafNodeType === 'It';
      if (!isIt && outcomeOf(state) !== 'failed') continue;
      const name = [...(isIt ? [] : [s.LeafNodeType]), ...(s.ContainerHierarchyTexts ?? []), s.LeafNodeText].filter((t) => t).join(' ');
      const outcome = outcomeOf(state);
      const message = s.Failure?.Message ?? '';
      out.push({
        name,
        outcome,
        reason: outcome === 'passed' ? '' : firstLine(message) || state,
        seconds: Math.round((s.RunTime ?? 0) / 1e8) / 10,
        ...(isIt ? {} : { setup: true as const }),
      });
    }
  }
  return out;
}

/**
 * The specs a run is about: their names match `focus` and not `skip` (ginkgo reports every
 * spec of the suite, the filtered-out ones as skipped). Those matching `notRun` are kept as
 * skipped with that pattern as the reason (e.g. [Serial] in a run that leaves them out).
 */
export function selectSpecs(all: SpecResult[], focus: RegExp, notRun?: { pattern: RegExp; reason: string }): SpecResult[] {
  return all
    .filter((s) => s.setup || focus.test(s.name))
    .map((s) => (notRun && notRun.pattern.test(s.name) && s.outcome === 'skipped' ? { ...s, reason: notRun.reason } : s));
}

/** Replaces the reason of failures and skips that a known machine limit explains. */
export function applyKnownReasons(specs: SpecResult[], known: KnownReason[]): SpecResult[] {
  return specs.map((s) => {
    if (s.outcome === 'passed') return s;
    const k = known.find((x) => x.match.test(s.name));
    return k ? { ...s, reason: `${k.reason} (suite: ${s.reason})` } : s;
  });
}

export function summarize(specs: SpecResult[]): { passed: number; failed: number; skipped: number; line: string } {
  const n = (o: Outcome) => specs.filter((s) => s.outcome === o).length;
  const passed = n('passed');
  const failed = n('failed');
  const skipped = n('skipped');
  return { passed, failed, skipped, line: `${passed} passed, ${failed} failed, ${skipped} skipped` };
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export interface RunInfo {
  date: string;
  version: string;
  runtime: string;
  focus: string;
  skip: string;
  procs: number;
  minutes: number;
}

/** RESULTS.md: the closing line, how the run was made, then failures, skips and passes, each sorted by name. */
export function renderResults(specs: SpecResult[], info: RunInfo): string {
  const sum = summarize(specs);
  const order: Outcome[] = ['failed', 'skipped', 'passed'];
  const rows = [...specs].sort((a, b) => order.indexOf(a.outcome) - order.indexOf(b.outcome) || a.name.localeCompare(b.name));
  return [
    '# Kubernetes NodeConformance on a bosun node',
    '',
    `**${sum.line}**`,
    '',
    `Upstream's e2e suite (k8s.io/kubernetes ${info.version} test/e2e, unmodified) against a cluster whose only node is bosun`,
    `(runtime ${info.runtime}), run by \`npm run conformance\` (test/conformance/run.ts) on ${info.date} in ${info.minutes} min`,
    `with ${info.procs} ginkgo process(es). Focus \`${info.focus}\`, skip \`${info.skip}\`.`,
    '',
    '| Test | Result | Reason |',
    '| --- | --- | --- |',
    ...rows.map((s) => `| ${cell(s.name)} | ${s.outcome} | ${cell(s.reason)} |`),
    '',
  ].join('\n');
}
