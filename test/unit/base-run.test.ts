import { describe, expect, it } from 'vitest';
import { mustRun, runCommand } from '../../base/index.js';

describe('runCommand (the one way bosun runs programs)', () => {
  it('hands back a non-zero exit as an answer, with stdout, stderr and stdin', async () => {
    const r = await runCommand('sh', ['-c', 'cat; echo err >&2; exit 3'], { input: 'in\n' });
    expect(r).toEqual({ exitCode: 3, stdout: 'in\n', stderr: 'err\n' });
  });

  it('throws when the program cannot start or is killed by the timeout', async () => {
    await expect(runCommand('/nonexistent/bosun-no-such-program', [])).rejects.toThrow(/ENOENT/);
    await expect(runCommand('sleep', ['5'], { timeoutMs: 200 })).rejects.toThrow(/killed by SIGKILL/);
  });

  it('mustRun throws on a non-zero exit, naming the command and its stderr', async () => {
    await expect(mustRun(runCommand, 'sh', ['-c', 'echo nope >&2; exit 1'])).rejects.toThrow('sh -c echo nope >&2; exit 1 failed (exit 1): nope');
    expect(await mustRun(runCommand, 'echo', ['ok'])).toBe('ok\n');
  });
});
