import { execFileSync } from 'node:child_process';

// End-to-end tests run the real CLI as a separate process (so it can be killed with -9):
// compile it once before any test file runs.
export default function setup(): void {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
}
