import type { Reporter, TestCase } from 'vitest/node';

// Prints the plain closing line ("N passed, N failed, N skipped") that CI reads, after
// vitest's own summary.
export default class SummaryReporter implements Reporter {
  private counts = { passed: 0, failed: 0, skipped: 0 };

  onTestCaseResult(test: TestCase): void {
    const s = test.result().state;
    if (s === 'passed') this.counts.passed++;
    else if (s === 'failed') this.counts.failed++;
    else this.counts.skipped++;
  }

  onTestRunEnd(): void {
    const { passed, failed, skipped } = this.counts;
    process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  }
}
