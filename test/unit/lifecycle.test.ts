import { chmodSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../agent/config.js';
import { acquireRootDirLock, diffConfig, LockError, Notifier, rootDirHolder } from '../../agent/lifecycle.js';
import { silentLogger } from '../../agent/log.js';

const dir = mkdtempSync(join(tmpdir(), 'bosun-lifecycle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('root-dir lock', () => {
  it('admits one holder per root dir, names it, and frees on release', async () => {
    const root = join(dir, 'root');
    const lock = await acquireRootDirLock(root);
    expect(readFileSync(join(root, 'bosun.pid'), 'utf8')).toBe(`${process.pid}\n`);
    expect(await rootDirHolder(root)).toBe(process.pid);
    // The same directory through a symlink is the same lock.
    symlinkSync(root, join(dir, 'link'));
    await expect(acquireRootDirLock(join(dir, 'link'))).rejects.toThrow(LockError);
    await expect(acquireRootDirLock(root)).rejects.toThrow(`another bosun (pid ${process.pid}) is running with --root-dir ${root}`);
    const other = await acquireRootDirLock(join(dir, 'other'));
    await other.release();
    await lock.release();
    expect(await rootDirHolder(root)).toBeUndefined();
    await (await acquireRootDirLock(root)).release();
  });
});

describe('SIGHUP reload', () => {
  it('splits changed settings into live and restart-needed', () => {
    const next = { ...DEFAULTS, logLevel: 'debug', fileCheckFrequencyMs: 5000, podCIDR: '10.50.0.0/16', clusterDNS: ['10.96.0.10'] };
    expect(diffConfig(DEFAULTS, next)).toEqual({ live: ['fileCheckFrequencyMs', 'logLevel'], restart: ['clusterDNS', 'podCIDR'] });
    expect(diffConfig(DEFAULTS, { ...DEFAULTS, clusterDNS: [] })).toEqual({ live: [], restart: [] });
  });
});

describe('sd_notify through systemd-notify', () => {
  // A stand-in for systemd-notify that records its arguments.
  const fake = join(dir, 'fake-notify');
  const out = join(dir, 'notify.out');
  writeFileSync(fake, `#!/bin/sh\necho "$NOTIFY_SOCKET $*" >> ${out}\n`);
  chmodSync(fake, 0o755);
  const sent = () => { try { return readFileSync(out, 'utf8').trim().split('\n'); } catch { return []; } };

  it('is a no-op without NOTIFY_SOCKET', async () => {
    const n = new Notifier(silentLogger, {}, fake);
    await n.notify('READY=1');
    expect(n.enabled).toBe(false);
    expect(n.startWatchdog(() => true)).toBeUndefined();
    expect(sent()).toEqual([]);
  });

  it('sends fields without blocking on the barrier, one argument each', async () => {
    const n = new Notifier(silentLogger, { NOTIFY_SOCKET: '/run/x.sock' }, fake);
    await n.notify('READY=1', 'STATUS=two\nlines');
    expect(sent()).toEqual(['/run/x.sock --no-block READY=1 STATUS=two lines']);
  });

  it('pings the watchdog at half of WATCHDOG_USEC, only while healthy, only for its own pid', async () => {
    rmSync(out, { force: true });
    expect(new Notifier(silentLogger, { NOTIFY_SOCKET: '/s', WATCHDOG_USEC: '200000', WATCHDOG_PID: '1' }, fake).startWatchdog(() => true)).toBeUndefined();
    let healthy = true;
    const n = new Notifier(silentLogger, { NOTIFY_SOCKET: '/s', WATCHDOG_USEC: '200000' }, fake);
    expect(n.startWatchdog(() => healthy)).toBe(100);
    await new Promise((r) => setTimeout(r, 450));
    healthy = false;
    const pings = sent().length;
    expect(pings).toBeGreaterThanOrEqual(3);
    expect(sent().every((l) => l === '/s --no-block WATCHDOG=1')).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    n.stopWatchdog();
    expect(sent().length).toBeLessThanOrEqual(pings + 1); // one may have been in flight
  });
});
