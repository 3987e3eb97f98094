import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

// End-to-end tests run the real CLI as a separate process (so it can be killed with -9):
// compile it once before any test file runs. Type errors are `npm run typecheck`'s job
// (npm test runs it first); tsc still emits, so a half-edited file elsewhere in the tree
// does not stop the tests from running.
export default function setup(): void {
  const r = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (!existsSync('dist/agent/cli.js')) throw new Error(`build failed (tsc exit ${r.status})`);
}
