// The one way bosun runs programs: node:child_process with an argv array (never a shell
// string), optional stdin, and the exit code handed back instead of thrown, because for
// iptables -C, conntrack -D and friends a non-zero exit is an answer, not a failure.

import { spawn } from 'node:child_process';

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export type Runner = (file: string, args: readonly string[], opts?: { input?: string; timeoutMs?: number }) => Promise<CommandResult>;

const MAX_OUTPUT = 512 * 1024 * 1024;

export const runCommand: Runner = (file, args, opts = {}) =>
  new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 120_000, killSignal: 'SIGKILL' });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    const collect = (into: Buffer[]) => (b: Buffer) => {
      size += b.length;
      if (size > MAX_OUTPUT) child.kill('SIGKILL');
      else into.push(b);
    };
    child.stdout.on('data', collect(out));
    child.stderr.on('data', collect(err));
    // Not started (ENOENT): no answer at all.
    child.on('error', (e) => reject(new Error(`${file}: ${e.message}`)));
    child.on('close', (code, signal) => {
      const stderr = Buffer.concat(err).toString();
      // Killed (the timeout, or output past the limit): no answer either.
      if (code === null) reject(new Error(`${file}: killed by ${signal}${size > MAX_OUTPUT ? ' (output too large)' : ''}${stderr ? `: ${stderr.trim()}` : ''}`));
      else resolve({ exitCode: code, stdout: Buffer.concat(out).toString(), stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });

/** Runs and throws on a non-zero exit, with the command and its stderr in the message. */
export async function mustRun(run: Runner, file: string, args: readonly string[], opts?: { input?: string; timeoutMs?: number }): Promise<string> {
  const r = await run(file, args, opts);
  if (r.exitCode !== 0) throw new Error(`${file} ${args.join(' ')} failed (exit ${r.exitCode}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}
