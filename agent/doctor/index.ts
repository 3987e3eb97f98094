import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { FLAGS, resolveConfig } from '../config.js';
import { INSTALLED_CONFIG } from '../lifecycle.js';
import { exitCode, formatResults, runChecks } from './checks.js';
import { gatherFacts } from './gather.js';

export type { CheckResult, Status } from './checks.js';
export { exitCode, formatResults, runChecks } from './checks.js';
export type { Facts } from './facts.js';
export { gatherFacts } from './gather.js';

/**
 * `bosun doctor [--config FILE] [run flags]`: preflight checks for this host, for the agent
 * as these flags would configure it (by default as the installed service is configured).
 * Exit code 0 when nothing FAILs, 1 otherwise.
 */
export async function doctorMain(argv: string[]): Promise<number> {
  const options: Record<string, { type: 'string' }> = { config: { type: 'string' } };
  for (const f of Object.keys(FLAGS)) options[f] = { type: 'string' };
  const { values } = parseArgs({ args: argv, options, strict: true });
  const { config, ...flags } = values as Record<string, string | undefined>;
  const cfg = resolveConfig(flags, config ?? (existsSync(INSTALLED_CONFIG) ? INSTALLED_CONFIG : undefined));
  const facts = await gatherFacts(cfg);
  const results = runChecks(facts);
  process.stdout.write(formatResults(results));
  return exitCode(results);
}
