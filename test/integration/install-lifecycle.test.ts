import { execFile, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containersOf, docker, manifest, removeTestContainers, TEST_NODE_PREFIX, TestAgent } from '../support/agent.js';
import { BUSYBOX as BB } from '../support/common.js';

// The agent's own lifecycle with the real CLI and engine: one agent per root dir, SIGHUP,
// and `bosun drain` / `bosun uncordon`.

const run = promisify(execFile);
const CLI = resolve('dist/agent/cli.js');

const agent = new TestAgent();
const root = join(agent.dir, 'root');
const config = join(agent.dir, 'config.yaml');
// Pod log directories go under the test's own dir, not /var/log/pods.
const logsDir = `podLogsDir: ${join(agent.dir, 'logs')}\n`;
const other = TEST_NODE_PREFIX + 'lock-' + Math.random().toString(36).slice(2, 6);

beforeAll(async () => {
  await removeTestContainers();
  mkdirSync(agent.manifests, { recursive: true });
  writeFileSync(config, `kind: KubeletConfiguration\nlogLevel: info\n${logsDir}`);
  await agent.start(['--config', config]);
});

afterAll(async () => {
  await agent.destroy();
  await removeTestContainers(other);
});

// Never 0: process.kill(0, ...) would signal this test run's own process group.
const agentPid = () => {
  const pid = Number(readFileSync(join(root, 'bosun.pid'), 'utf8'));
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`no agent pid in ${join(root, 'bosun.pid')}`);
  return pid;
};

/** Runs the CLI to completion (exit code, never a throw). */
async function cli(args: string[], timeout = 90_000): Promise<{ code: number; out: string; err: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { timeout });
    return { code: 0, out: stdout, err: stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === 'number' ? x.code : -1, out: x.stdout ?? '', err: x.stderr ?? String(e) };
  }
}

describe('one agent per root dir', () => {
  it('a second agent on the same root dir refuses to start, naming the first; after kill -9 the lock is free', async () => {
    const args = ['run', '--root-dir', root, '--node-name', other, '--pod-manifest-path', join(agent.dir, 'empty'), '--read-only-port', '0'];
    const second = await cli(args, 30_000);
    expect(second.code).toBe(1);
    expect(second.err).toContain(`bosun: another bosun (pid ${agentPid()}) is running with --root-dir ${root}: stop it first`);

    const first = agentPid();
    await agent.kill9();
    // The kernel dropped the lock with the process: no stale lock to clean up.
    const p = spawn(process.execPath, [CLI, ...args], { stdio: 'ignore' });
    try {
      await agent.until(async () => { try { return agentPid() === p.pid; } catch { return false; } }, 'the second agent to take the lock', 30_000);
      expect(p.pid).not.toBe(first);
    } finally {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await exited;
    }
    await agent.start(['--config', config]);
  });
});

describe('SIGHUP', () => {
  it('re-reads the config file: applies logLevel live, names what needs a restart, survives a broken file', async () => {
    const records = () => agent.log().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const reloaded = () => records().filter((l) => l.msg === 'SIGHUP: configuration reloaded');
    // warn: the "reloaded" info record is already suppressed, the restart warning is not.
    writeFileSync(config, `kind: KubeletConfiguration\nlogLevel: warn\npodCIDR: 10.99.0.0/16\n${logsDir}`);
    process.kill(agentPid(), 'SIGHUP');
    await agent.until(async () => agent.log().includes('SIGHUP: these settings changed'), 'the restart warning', 10_000);
    expect(records().find((l) => typeof l.msg === 'string' && l.msg.startsWith('SIGHUP: these settings changed'))).toMatchObject({ settings: ['podCIDR'] });
    expect(reloaded()).toEqual([]);
    // Back to info (and the old podCIDR): logged, with what was applied.
    writeFileSync(config, `kind: KubeletConfiguration\nlogLevel: info\n${logsDir}`);
    process.kill(agentPid(), 'SIGHUP');
    await agent.until(async () => reloaded().length === 1, 'the reload to be logged', 10_000);
    expect(reloaded()[0]).toMatchObject({ applied: ['logLevel'] });

    writeFileSync(config, `kind: KubeletConfiguration\nlogLevel: loud\n${logsDir}`);
    process.kill(agentPid(), 'SIGHUP');
    await agent.until(async () => agent.log().includes('configuration not reloaded'), 'the failed reload', 10_000);
    expect(agent.log()).toContain(`logLevel: Unsupported value: \\"loud\\"`);
    expect((await fetch(`http://127.0.0.1:${agent.port}/healthz`)).ok).toBe(true);
    writeFileSync(config, `kind: KubeletConfiguration\n${logsDir}`);
  });
});

describe('bosun drain', () => {
  const ctr = (cmd: string) => `    - name: app\n      image: ${BB}\n      command: ["sh", "-c", ${JSON.stringify(cmd)}]\n`;
  const podOf = (name: string) => `${name}-${agent.nodeName}`;

  it('terminates every pod with its preStop and grace period, stays cordoned across a restart, uncordon brings them back', async () => {
    // One exits on SIGTERM at once; one ignores it and is killed when its 3 s grace runs out;
    // one ignores SIGTERM too but its preStop hook makes it exit 3 (so 3 proves the hook ran).
    agent.write('graceful.yaml', manifest('graceful', `  terminationGracePeriodSeconds: 30\n  containers:\n${ctr('trap "exit 0" TERM; while true; do sleep 1; done')}`));
    agent.write('stubborn.yaml', manifest('stubborn', `  terminationGracePeriodSeconds: 3\n  containers:\n${ctr('trap "" TERM; while true; do sleep 1; done')}`));
    agent.write('hooked.yaml', manifest('hooked', `  terminationGracePeriodSeconds: 20\n  containers:\n${ctr('trap "" TERM; while [ ! -f /tmp/stop ]; do sleep 0.2; done; exit 3')}      lifecycle:\n        preStop:\n          exec:\n            command: ["touch", "/tmp/stop"]\n`));
    for (const n of ['graceful', 'stubborn', 'hooked']) await agent.waitPod(n, (p) => p.status?.phase === 'Running', 'Running');

    const deaths: { pod: string; container: string; exitCode: number; at: number }[] = [];
    const events = await docker.getEvents({ filters: { type: ['container'], event: ['die'], label: [`bosun.io/node-name=${agent.nodeName}`] } });
    let buf = '';
    events.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const e = JSON.parse(buf.slice(0, nl)) as { Actor: { Attributes: Record<string, string> } };
        buf = buf.slice(nl + 1);
        const a = e.Actor.Attributes;
        deaths.push({ pod: a['io.kubernetes.pod.name'] ?? '', container: a['io.kubernetes.container.name'] ?? '', exitCode: Number(a.exitCode), at: Date.now() });
      }
    });
    try {
      const t0 = Date.now();
      const r = await cli(['drain', '--root-dir', root]);
      const took = Date.now() - t0;
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      expect(r.out).toContain(`node/${agent.nodeName} cordoned\n`);
      expect(r.out).toContain(`terminating pod/default/${podOf('graceful')}\n`);
      expect(r.out).toContain(`pod/default/${podOf('stubborn')} terminated\n`);
      expect(r.out.trimEnd().split('\n').pop()).toBe(`node/${agent.nodeName} drained`);
      // Grace honoured: the stubborn pod held the drain for its 3 s, then was killed.
      expect(took).toBeGreaterThanOrEqual(3000);
      expect(took).toBeLessThan(25_000);
      await agent.until(async () => deaths.filter((d) => d.container === 'app').length === 3, 'the app containers to die', 5000);
      expect(deaths.find((d) => d.pod === podOf('graceful') && d.container === 'app')?.exitCode).toBe(0);
      expect(deaths.find((d) => d.pod === podOf('stubborn') && d.container === 'app')?.exitCode).toBe(137);
      expect(deaths.find((d) => d.pod === podOf('hooked') && d.container === 'app')?.exitCode).toBe(3);
    } finally {
      (events as unknown as { destroy(): void }).destroy();
    }
    expect(await containersOf(agent.nodeName)).toEqual([]);
    expect(await agent.pods()).toEqual([]);

    // Cordoned survives a restart: nothing starts again.
    await agent.stop();
    await agent.start(['--config', config]);
    expect(agent.log()).toContain('node is cordoned (bosun drain)');
    await new Promise((r) => setTimeout(r, 3000));
    expect(await containersOf(agent.nodeName)).toEqual([]);

    const u = await cli(['uncordon', '--root-dir', root]);
    expect(u).toMatchObject({ code: 0, out: `node/${agent.nodeName} uncordoned\n` });
    for (const n of ['graceful', 'stubborn', 'hooked']) await agent.waitPod(n, (p) => p.status?.phase === 'Running', 'Running after uncordon');
  });

  it('explains what is wrong when no agent runs on that root dir', async () => {
    const r = await cli(['drain', '--root-dir', join(agent.dir, 'nowhere')]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`no bosun agent is running with --root-dir ${join(agent.dir, 'nowhere')}`);
  });
});
