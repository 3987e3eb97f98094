import { defineConfig } from 'vitest/config';

// Integration tests share one Docker engine and one iptables: run files one at a time
// so that their cleanup cannot race another file's setup.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['**/node_modules/**'],
    globalSetup: ['test/support/build.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
