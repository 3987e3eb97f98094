import { defineConfig } from 'vitest/config';

// Integration tests share one Docker engine and one iptables: run files one at a time
// so that their cleanup cannot race another file's setup.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The systemd sandbox test (real systemd as PID 1 of its own namespaces) once took the
    // whole test run down with it on these machines (13:48 on 2026-12-03, cause not found):
    // it runs alone, `npm run test:systemd`, until that is understood.
    exclude: process.env.BOSUN_SUITES === 'all' ? ['**/node_modules/**'] : ['**/node_modules/**', 'test/integration/install-systemd.test.ts'],
    globalSetup: ['test/support/build.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
