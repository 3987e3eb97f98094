import type { RuntimeService } from '../../cri/index.js';
import { MAX_OUTPUT_BYTES, goQuote, type ProbeResult } from './common.js';

/** How long past its own timeout a runtime may take to answer before the probe gives up on it. */
const RUNTIME_SLACK_MS = 5_000;

export type ExecRuntime = Pick<RuntimeService, 'execSync'>;

export function execTimedOutText(command: string[]): string {
  return `command ${goQuote(command.join(' '))} timed out`;
}

/** stdout then stderr, cut at kubelet's 10 KiB (it does not interleave them either). */
export function combinedOutput(stdout: Buffer, stderr: Buffer): string {
  const all = Buffer.concat([stdout, stderr]);
  return all.subarray(0, MAX_OUTPUT_BYTES).toString('utf8');
}

/**
 * Runs the command through the engine's exec. The runtime kills the process when the
 * timeout passes; a runtime that does not answer at all (a hung engine) must not hang the
 * probe worker with it, hence the second, later deadline here.
 */
export async function execProbe(runtime: ExecRuntime, containerId: string, command: string[], timeoutMs: number): Promise<ProbeResult> {
  let guard: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((resolve) => {
    guard = setTimeout(() => resolve('hung'), timeoutMs + RUNTIME_SLACK_MS);
  });
  try {
    const r = await Promise.race([runtime.execSync(containerId, command, timeoutMs), hung]);
    if (r === 'hung' || r.timedOut) return { result: 'Failure', output: execTimedOutText(command) };
    return { result: r.exitCode === 0 ? 'Success' : 'Failure', output: combinedOutput(r.stdout, r.stderr) };
  } finally {
    clearTimeout(guard);
  }
}
