import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PodList } from '../../manifests/index.js';
import { containersOf, freePort, removeTestContainers, TEST_NODE_PREFIX } from '../support/agent.js';
import { removeTestCgroups } from '../support/cgroups.js';

// bosun.service under a real systemd: systemd runs as PID 1 of its own PID, mount and cgroup
// namespaces on an overlay of this host's root (test/support/systemd-sandbox.sh says why),
// scripts/install.sh installs bosun in it exactly as on a real host, and the unit's promises
// are checked against the service manager itself: Type=notify readiness, Restart=always after
// kill -9, the watchdog, `systemctl reload` (SIGHUP), and `systemctl stop` leaving the pods
// running (KillMode=process). Needs root (namespaces, mounts); the engine is the host's Docker.

const run = promisify(execFile);
const SANDBOX = resolve('test/support/systemd-sandbox.sh');
const rand = Math.random().toString(36).slice(2, 8);
const nodeName = `${TEST_NODE_PREFIX}sd-${rand}`;
const base = mkdtempSync('/var/tmp/bosun-systemd-test-');
// The engine outside binds pod files from these paths: they are shared with the sandbox.
const shared = join(base, 'shared');
let pid = '';
let port = 0;

async function inside(...cmd: string[]): Promise<string> {
  const { stdout } = await run(SANDBOX, ['exec', pid, ...cmd], { timeout: 600_000, maxBuffer: 16 << 20 });
  return stdout.trim();
}

async function show(prop: string): Promise<string> {
  return inside('systemctl', 'show', '-P', prop, 'bosun.service');
}

/**
 * The service's main PID, refused unless it is one: with no agent running systemd says 0,
 * and `kill -9 0` signals the caller's whole process group, which is the test run itself
 * (how two full runs vanished on 2026-12-03).
 */
async function mainPid(): Promise<string> {
  const p = await show('MainPID');
  if (!/^[1-9][0-9]*$/.test(p)) throw new Error(`bosun.service has no main process (MainPID=${JSON.stringify(p)})`);
  return p;
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

async function runningPodContainer(): Promise<string | undefined> {
  const r = await fetch(`http://127.0.0.1:${port}/pods`).catch(() => undefined);
  if (!r?.ok) return undefined;
  const list = (await r.json()) as PodList;
  const cs = list.items.find((p) => p.metadata.name === `web-${nodeName}`)?.status?.containerStatuses?.[0];
  return cs?.state?.running ? cs.containerID : undefined;
}

beforeAll(async () => {
  port = await freePort();
  mkdirSync(join(shared, 'manifests'), { recursive: true });
  // The checkout is shared too: the sandbox's /tmp is its own, and a checkout there (as CI's
  // clone may be) would not exist inside for scripts/install.sh to build from.
  pid = (await run(SANDBOX, ['start', base, shared, process.cwd()], { timeout: 60_000 })).stdout.trim();
  // Written before the install, which never overwrites bosun.env: the agent's first start
  // already uses the test's node name, directories and ports.
  const args = [
    `--node-name ${nodeName}`, `--pod-manifest-path ${shared}/manifests`, `--root-dir ${shared}/root`,
    `--read-only-port ${port}`, '--port 0', '--healthz-port 0', '--proxy-mode none',
    `--cgroup-root /${nodeName}`, '--file-check-frequency 2s',
  ].join(' ');
  await inside('sh', '-c', `mkdir -p /etc/bosun && printf 'BOSUN_ARGS=%s\\n' "$1" > /etc/bosun/bosun.env && printf 'podLogsDir: %s\\ncontainerLogsDir: %s\\n' "$2" "$3" > /etc/bosun/config.yaml`,
    'sh', args, `${shared}/pod-logs`, `${shared}/container-logs`);
  writeFileSync(join(shared, 'manifests', 'web.yaml'), [
    'apiVersion: v1', 'kind: Pod', 'metadata: {name: web}', 'spec:', '  containers:',
    '  - {name: c, image: localhost/bosun/busybox:1, command: [sleep, "3600"]}', '',
  ].join('\n'));
}, 120_000);

afterAll(async () => {
  if (pid) await run(SANDBOX, ['stop', pid]).catch(() => undefined);
  await removeTestContainers(nodeName);
  await removeTestCgroups(nodeName);
  rmSync(base, { recursive: true, force: true });
});

describe('bosun.service under a real systemd (PID 1 of its own namespaces)', () => {
  it('scripts/install.sh enables and starts it; Type=notify: active only once the agent said READY=1', async () => {
    const out = await inside(resolve('scripts/install.sh'));
    expect(out).toContain('bosun.service: active');
    expect(await show('ActiveState')).toBe('active');
    expect(await show('UnitFileState')).toBe('enabled');
    expect(await show('StatusText')).toMatch(/first sync done/);
    expect(await inside('systemctl', 'show', '-P', 'Type', 'bosun.service')).toBe('notify');
  }, 600_000); // the install builds bosun: minutes on a loaded machine

  it('runs the pod of its manifest directory on the host engine', async () => {
    const id = await until('the pod running', runningPodContainer, 90_000);
    expect(id).toMatch(/^docker:\/\//);
  });

  it('Restart=always: kill -9 of the agent brings a new agent that adopts the pod (same container)', async () => {
    const before = await runningPodContainer();
    const oldPid = await mainPid();
    await inside('kill', '-9', oldPid);
    const newPid = await until('a new main pid', async () => {
      const p = await show('MainPID');
      return p !== oldPid && p !== '0' && (await show('ActiveState')) === 'active' ? p : undefined;
    }, 60_000);
    expect(newPid).not.toBe(oldPid);
    expect(Number(await show('NRestarts'))).toBeGreaterThanOrEqual(1);
    expect(await until('the pod running again', runningPodContainer)).toBe(before);
  });

  it('the watchdog: an agent that stops answering is killed and restarted by systemd', async () => {
    // 60 s in the shipped unit; a drop-in shortens it for the test.
    await inside('sh', '-c', 'mkdir -p /etc/systemd/system/bosun.service.d && printf "[Service]\\nWatchdogSec=4s\\n" > /etc/systemd/system/bosun.service.d/test-watchdog.conf && systemctl daemon-reload && systemctl restart bosun.service');
    const stopped = await mainPid();
    const restarts = Number(await show('NRestarts'));
    await inside('kill', '-STOP', stopped);
    await until('systemd to restart the frozen agent', async () => {
      const p = await show('MainPID');
      return p !== stopped && p !== '0' && (await show('ActiveState')) === 'active' ? p : undefined;
    }, 60_000);
    expect(Number(await show('NRestarts'))).toBeGreaterThan(restarts);
    const journal = await inside('journalctl', '-u', 'bosun.service', '--no-pager', '-o', 'cat');
    expect(journal).toMatch(/[Ww]atchdog timeout/);
  });

  it('systemctl reload sends SIGHUP: the agent re-reads its config and keeps running', async () => {
    const main = await mainPid();
    await inside('systemctl', 'reload', 'bosun.service');
    await until('the reload in the journal', async () => {
      const j = await inside('journalctl', '-u', 'bosun.service', '--no-pager', '-o', 'cat', `_PID=${main}`);
      return /reload/i.test(j) ? j : undefined;
    }, 30_000);
    expect(await show('MainPID')).toBe(main);
    expect(await show('ActiveState')).toBe('active');
  });

  it('systemctl stop stops the agent only (KillMode=process): the pod keeps running', async () => {
    const before = await runningPodContainer();
    await inside('systemctl', 'stop', 'bosun.service');
    expect(await show('ActiveState')).toBe('inactive');
    const cs = await containersOf(nodeName);
    const app = cs.find((c) => before?.endsWith(c.Id));
    expect(app?.State).toBe('running');
  });
});
