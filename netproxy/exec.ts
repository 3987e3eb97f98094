// The one way netproxy runs programs: argv arrays (never a shell string), optional
// stdin, and the exit code handed back instead of thrown, because for iptables -C,
// conntrack -D and friends a non-zero exit is an answer, not a failure.

import { execa } from 'execa';

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export type Runner = (file: string, args: readonly string[], opts?: { input?: string; timeoutMs?: number }) => Promise<CommandResult>;

export const execaRunner: Runner = async (file, args, opts = {}) => {
  const r = await execa(file, args, {
    input: opts.input,
    reject: false,
    timeout: opts.timeoutMs ?? 120_000,
    stripFinalNewline: false,
    maxBuffer: 512 * 1024 * 1024,
  });
  if (r.failed && r.exitCode === undefined) {
    // Not started (ENOENT) or killed by the timeout: no answer at all.
    throw new Error(`${file}: ${r.originalMessage || r.shortMessage}`);
  }
  return { exitCode: r.exitCode ?? 1, stdout: r.stdout, stderr: r.stderr };
};

/** Runs and throws on a non-zero exit, with the command and its stderr in the message. */
export async function mustRun(run: Runner, file: string, args: readonly string[], opts?: { input?: string }): Promise<string> {
  const r = await run(file, args, opts);
  if (r.exitCode !== 0) throw new Error(`${file} ${args.join(' ')} failed (exit ${r.exitCode}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}
