import { existsSync } from 'node:fs';
import { resolveConfig } from '../config.js';
import { parseCommand, type Command } from '../settings/index.js';
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
export const DOCTOR_COMMAND: Command = {
  name: 'doctor',
  usage: 'doctor [--config FILE] [flags of run]',
  summary: 'Check this host for the agent as these flags configure it: [PASS]/[WARN]/[FAIL] with the fix; exit 1 on any FAIL.',
  description: '--config defaults to /etc/bosun/config.yaml when it exists (the installed service).',
  config: true,
  settings: 'all',
};

export async function doctorMain(argv: string[]): Promise<number> {
  const { flags, config } = parseCommand(DOCTOR_COMMAND, argv);
  const cfg = resolveConfig(flags, config ?? (existsSync(INSTALLED_CONFIG) ? INSTALLED_CONFIG : undefined));
  const facts = await gatherFacts(cfg);
  const results = runChecks(facts);
  process.stdout.write(formatResults(results));
  return exitCode(results);
}
