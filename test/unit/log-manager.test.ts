import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ContainerStatus as RuntimeContainer } from '../../cri/index.js';
import { logFileAttempt, lostAttemptFilesToRemove } from '../../agent/logs/format.js';
import { LogManager, logSymlinkPath } from '../../agent/logs/manager.js';
import { createLogger } from '../../agent/log.js';
import { restartCountFromLogNames } from '../../agent/pods/prepare.js';
import { waitFor } from '../support/common.js';

describe('log files of containers the engine lost', () => {
  it('reads the attempt of a log file and of its rotations', () => {
    expect(logFileAttempt('3.log')).toBe(3);
    expect(logFileAttempt('3.log.20260101-000000')).toBe(3);
    expect(logFileAttempt('3.log.20260101-000000-001.gz')).toBe(3);
    expect(logFileAttempt('x3.log')).toBeUndefined();
    expect(logFileAttempt('3.logs')).toBeUndefined();
  });

  it('keeps the lost attempt and every attempt a container writes; older lost attempts go', () => {
    const names = ['0.log', '1.log', '1.log.20260101-000000.gz', '2.log', '3.log', '3.log.20260101-000000', 'other.txt'];
    // 3 was lost, 1 is still held by the engine (its newest dead container).
    expect(lostAttemptFilesToRemove(names, 3, new Set([1]))).toEqual(['0.log', '2.log']);
    // The newest lost attempt is never removed, nor anything newer.
    expect(lostAttemptFilesToRemove(names, 0, new Set())).toEqual([]);
    // What stays is what the restart count is recovered from.
    const left = names.filter((n) => !lostAttemptFilesToRemove(names, 3, new Set()).includes(n));
    expect(restartCountFromLogNames(left)).toBe(4);
  });
});

describe('LogManager', () => {
  let root: string;
  let manager: LogManager | undefined;
  afterEach(async () => {
    await manager?.stop();
    manager = undefined;
    rmSync(root, { recursive: true, force: true });
  });

  function setup() {
    root = mkdtempSync(join(tmpdir(), 'bosun-logmgr-'));
    const podLogsDir = join(root, 'pods');
    const containerLogsDir = join(root, 'containers');
    const pods = new Map<string, RuntimeContainer[]>();
    const source = { uids: () => [...pods.keys()], get: (uid: string) => ({ containers: pods.get(uid) ?? [] }) };
    // The engine's record holds nothing new: the copier ends at once and leaves the file as it is.
    const runtime = { followLogs: () => ({ done: Promise.resolve(), stop: () => undefined }) };
    const m = new LogManager({ runtime, source, policy: { maxSize: 1 << 20, maxFiles: 5 }, containerLogsDir, podLogsDir, log: createLogger({ level: 'silent' }), periodMs: 3_600_000 });
    const dir = join(podLogsDir, 'default_web_u1', 'app');
    const container = (id: string, attempt: number, state: RuntimeContainer['state']): RuntimeContainer => {
      const logPath = join(dir, `${attempt}.log`);
      mkdirSync(dirname(logPath), { recursive: true });
      if (!existsSync(logPath)) writeFileSync(logPath, `2026-01-01T00:00:00.000000000Z stdout F run ${attempt}\n`);
      return {
        id, podSandboxId: 's1', metadata: { name: 'app', attempt }, state, createdAt: attempt, startedAt: attempt, finishedAt: 0, exitCode: 0,
        image: 'busybox', imageRef: 'busybox', labels: { 'io.kubernetes.pod.name': 'web', 'io.kubernetes.pod.namespace': 'default', 'io.kubernetes.pod.uid': 'u1' }, annotations: {}, logPath,
      };
    };
    manager = m;
    return { m, pods, dir, containerLogsDir, podLogsDir, container };
  }

  /** The link itself, dangling or not (existsSync follows it). */
  const linked = (path: string) => lstatSync(path, { throwIfNoEntry: false }) !== undefined;
  const files = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort() : []);

  it('keeps the files of a container that vanished without the agent removing it', async () => {
    const { m, pods, dir, containerLogsDir, container } = setup();
    const c0 = container('c0', 0, 'exited');
    const c1 = container('c1', 1, 'running');
    pods.set('u1', [c0, c1]);
    m.sync();
    const link1 = logSymlinkPath(containerLogsDir, c1);
    await waitFor('symlink of attempt 1', () => (linked(link1)) || undefined);
    // The engine loses both: the newest lost attempt stays, with its symlink, and the
    // restart count goes on from it.
    pods.set('u1', []);
    m.sync();
    await waitFor('older lost attempt removed', () => (!files(dir).includes('0.log')) || undefined);
    expect(files(dir)).toEqual(['1.log']);
    expect(linked(link1)).toBe(true);
    expect(restartCountFromLogNames(files(dir))).toBe(2);
  });

  it('removes the files of a container the agent removed, and no other', async () => {
    const { m, pods, dir, containerLogsDir, container } = setup();
    const c0 = container('c0', 0, 'exited');
    const c1 = container('c1', 1, 'exited');
    const c2 = container('c2', 2, 'running');
    pods.set('u1', [c0, c1, c2]);
    m.sync();
    await waitFor('symlink of attempt 0', () => (linked(logSymlinkPath(containerLogsDir, c0))) || undefined);
    // Container GC removes the oldest; the newest dead one and the running one stay.
    m.removed(c0);
    pods.set('u1', [c1, c2]);
    m.sync();
    await waitFor('removed container files', () => (!files(dir).includes('0.log')) || undefined);
    expect(files(dir)).toEqual(['1.log', '2.log']);
    expect(linked(logSymlinkPath(containerLogsDir, c0))).toBe(false);
    expect(linked(logSymlinkPath(containerLogsDir, c1))).toBe(true);
  });

  it('a removal reported before the manager saw the container (right after an agent start) still takes its files', async () => {
    const { m, pods, dir, container } = setup();
    const c0 = container('c0', 0, 'exited');
    m.removed(c0);
    pods.set('u1', []);
    m.sync();
    await waitFor('files of the removed container', () => (!files(dir).includes('0.log')) || undefined);
  });

  it('sweeps symlinks into its pod log root whose file is gone, and leaves others alone', async () => {
    const { m, containerLogsDir, podLogsDir } = setup();
    mkdirSync(containerLogsDir, { recursive: true });
    const dead = join(containerLogsDir, 'web_default_app-deadbeef.log');
    symlinkSync(join(podLogsDir, 'default_web_gone', 'app', '0.log'), dead);
    const foreign = join(containerLogsDir, 'web_default_app-cafe.log');
    symlinkSync(join(root, 'elsewhere', '0.log'), foreign);
    m.start();
    await waitFor('dead symlink removed', () => (!linked(dead)) || undefined);
    expect(linked(foreign)).toBe(true);
  });
});
