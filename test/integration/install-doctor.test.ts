import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

// `bosun doctor` on this very machine: the real engine, kernel and iptables.

const run = promisify(execFile);
const CLI = resolve('dist/agent/cli.js');

async function doctor(args: string[] = []): Promise<{ code: number; out: string }> {
  try {
    const { stdout } = await run(process.execPath, [CLI, 'doctor', ...args], { timeout: 60_000 });
    return { code: 0, out: stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

let busy: Server | undefined;
afterAll(() => busy?.close());

describe('bosun doctor on this host', () => {
  it('prints every check with a fix under each non-pass; IPVS unavailable; exit code follows FAILs', async () => {
    const { code, out } = await doctor();
    const lines = out.trimEnd().split('\n');
    const checks = lines.filter((l) => l.startsWith('['));
    for (const name of ['engine', 'cgroup driver', 'cgroups', 'pause image', 'iptables', 'iptables matches', 'ip_forward', 'br_netfilter', 'ipvs', 'conntrack', 'swap', 'port 10250', 'port 10248', 'clock']) {
      expect(checks.filter((l) => l.startsWith(`[PASS] ${name}: `) || l.startsWith(`[WARN] ${name}: `) || l.startsWith(`[FAIL] ${name}: `)), name).toHaveLength(1);
    }
    expect(checks.filter((l) => / dir \//.test(l))).toHaveLength(3);
    lines.forEach((l, i) => {
      if (/^\[(WARN|FAIL)\]/.test(l)) expect(lines[i + 1], l).toMatch(/^ {7}fix: \S/);
    });
    // This kernel has no IPVS: a warning that says why, not a failure.
    expect(out).toMatch(/^\[WARN\] ipvs: unavailable: .*\/proc\/net\/ip_vs missing/m);
    // What DESIGN.md says this machine has.
    expect(out).toMatch(/^\[PASS\] engine: docker 20\.10/m);
    expect(out).toMatch(/^\[PASS\] iptables: iptables v1\.8\.\d+ \(nf_tables\): nft backend/m);
    expect(out).toMatch(/^\[PASS\] iptables matches: statistic, recent, comment, addrtype, conntrack, mark, MASQUERADE, DNAT$/m);
    expect(out).toMatch(/^\[PASS\] pause image: localhost\/bosun\/pause:3\.10 present$/m);
    expect(lines.at(-1)).toMatch(/^\d+ passed, \d+ warnings, \d+ failed$/);
    expect(code).toBe(/^\[FAIL\]/m.test(out) ? 1 : 0);
    // The match probe left no chain behind.
    for (const table of ['filter', 'nat']) {
      const { stdout } = await run('iptables', ['-w', '5', '-t', table, '-S']);
      expect(stdout).not.toContain('BOSUN-DOCTOR');
    }
  });

  it('fails, exit 1, when a port bosun needs is held by another program', async () => {
    busy = createServer();
    await new Promise<void>((r) => busy!.listen(0, '127.0.0.1', () => r()));
    const port = (busy.address() as { port: number }).port;
    const { code, out } = await doctor(['--read-only-port', String(port)]);
    expect(out).toMatch(new RegExp(`^\\[FAIL\\] port ${port}: in use by .*\\(pid ${process.pid}\\) on 127\\.0\\.0\\.1; bosun needs it for the read-only API$`, 'm'));
    expect(out).toMatch(/ {7}fix: stop that process, or give bosun another port \(--read-only-port\)/);
    expect(code).toBe(1);
  });
});
