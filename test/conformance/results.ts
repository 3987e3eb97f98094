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

/** The rows of a RESULTS.md-shaped table (renderResults' output): the inverse of its `cell`. */
export function parseResultsTable(md: string): SpecResult[] {
  const out: SpecResult[] = [];
  for (const line of md.split('\n')) {
    if (!line.startsWith('| ') || line.startsWith('| Test |') || line.startsWith('| ---')) continue;
    // Cells are split on " | " not preceded by a backslash (an escaped pipe stays in its cell).
    const cells = line.slice(2, -2).split(/(?<!\\) \| /).map((c) => c.replace(/\\\|/g, '|'));
    if (cells.length !== 3) continue;
    const [name, outcome, reason] = cells as [string, string, string];
    if (outcome !== 'passed' && outcome !== 'failed' && outcome !== 'skipped') continue;
    out.push({ name, outcome, reason: reason.trim(), seconds: 0 });
  }
  return out;
}

export interface PartResults {
  /** The part's name (its file under test/conformance/parts/, without .md). */
  name: string;
  /** When it ran (renderResults' date): a later part's result for a spec replaces an earlier one's. */
  date: string;
  specs: SpecResult[];
}

/** The run date a part's RESULTS-shaped file states ("run by ... on 2026-12-03 12:42 UTC"). */
export function partDate(md: string): string {
  return / on (\d{4}-\d\d-\d\d \d\d:\d\d) UTC/.exec(md)?.[1] ?? '';
}

/** A part's closing line and how it ran, from its RESULTS-shaped file, for the merged file's list of parts. */
export function partHeader(md: string): string {
  const line = /^\*\*(.*)\*\*$/m.exec(md)?.[1] ?? '?';
  const flat = md.replace(/\n/g, ' ');
  const how = /\(runtime (\w+)\), run by .*? on (.*? UTC) in (\d+) min with (\d+) ginkgo process\(es\)\. Focus `(.*?)`, skip `(.*?)`\./.exec(flat);
  return how ? `${line}; ${how[1]}, ${how[2]}, ${how[3]} min, ${how[4]} process(es), focus \`${how[5]}\`, skip \`${how[6]}\`` : line;
}

/**
 * One result per spec of `names` (the whole focus) from runs of parts of it: a spec that ran
 * (passed or failed) takes the result of the latest part that ran it; one that no part ran
 * keeps a part's skip reason when the suite gave one (not a mere "not run"), else `notRun`.
 */
export function mergeParts(names: string[], parts: PartResults[], notRun: (name: string) => string): SpecResult[] {
  const byDate = [...parts].sort((a, b) => a.date.localeCompare(b.date));
  return names.map((name) => {
    let ran: SpecResult | undefined;
    let skipped: SpecResult | undefined;
    for (const p of byDate) {
      const s = p.specs.find((x) => x.name === name);
      if (!s) continue;
      if (s.outcome !== 'skipped') ran = s;
      else if (!s.reason.startsWith('not run')) skipped = s;
    }
    return ran ?? skipped ?? { name, outcome: 'skipped', reason: notRun(name), seconds: 0 };
  });
}

/** Names of `e2e.test --list-tests` ("    file.go:85: [sig-x] name") that match `focus`. */
export function parseListTests(out: string, focus: RegExp): string[] {
  const names = out.split('\n').map((l) => /^\s*\S+\.go:\d+: (.*)$/.exec(l)?.[1]?.trim()).filter((n): n is string => !!n && focus.test(n));
  return [...new Set(names)];
}

/** RESULTS.md made of several parts: the closing line over all of them, then each part's run, then every spec. */
export function renderMerged(specs: SpecResult[], parts: { name: string; header: string }[], intro: string): string {
  const sum = summarize(specs);
  const notRun = specs.filter((s) => s.outcome === 'skipped' && s.reason.startsWith('not run')).length;
  const order: Outcome[] = ['failed', 'skipped', 'passed'];
  const rows = [...specs].sort((a, b) => order.indexOf(a.outcome) - order.indexOf(b.outcome) || a.name.localeCompare(b.name));
  return [
    '# Kubernetes NodeConformance on a bosun node',
    '',
    `**${sum.line}**${notRun ? ` (${notRun} of the skipped were not run)` : ''}`,
    '',
    intro,
    '',
    ...parts.map((p) => `- \`${p.name}\`: ${p.header}`),
    '',
    '| Test | Result | Reason |',
    '| --- | --- | --- |',
    ...rows.map((s) => `| ${cell(s.name)} | ${s.outcome} | ${cell(s.reason)} |`),
    '',
  ].join('\n');
}
