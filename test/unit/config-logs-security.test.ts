import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../agent/config.js';

const dir = mkdtempSync(join(tmpdir(), 'bosun-cfg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('log and security settings', () => {
  it('has kubelet\'s defaults', () => {
    expect(resolveConfig({})).toMatchObject({
      podLogsDir: '/var/log/pods',
      containerLogsDir: '/var/log/containers',
      containerLogMaxSize: 10 * 1024 * 1024,
      containerLogMaxFiles: 5,
      allowedUnsafeSysctls: [],
      seccompDefault: false,
    });
  });

  it('reads them from the file and flags', () => {
    const f = join(dir, 'c.yaml');
    writeFileSync(f, 'containerLogMaxSize: 1Mi\ncontainerLogMaxFiles: 3\ncontainerLogsDir: /tmp/c\nallowedUnsafeSysctls: ["net.core.*", kernel.msgmax]\nseccompDefault: true\n');
    expect(resolveConfig({}, f)).toMatchObject({ containerLogMaxSize: 1048576, containerLogMaxFiles: 3, containerLogsDir: '/tmp/c', allowedUnsafeSysctls: ['net.core.*', 'kernel.msgmax'], seccompDefault: true });
    expect(resolveConfig({ 'container-log-max-size': '500Ki', 'allowed-unsafe-sysctls': 'net.core.somaxconn' }, f)).toMatchObject({ containerLogMaxSize: 512000, allowedUnsafeSysctls: ['net.core.somaxconn'] });
  });

  it('refuses what kubelet refuses', () => {
    expect(() => resolveConfig({ 'container-log-max-files': '1' })).toThrow('--container-log-max-files: Invalid value: "1": must be greater than 1');
    expect(() => resolveConfig({ 'container-log-max-size': 'big' })).toThrow('--container-log-max-size: Invalid value: "big"');
    expect(() => resolveConfig({ 'allowed-unsafe-sysctls': 'kernel.pid_max' })).toThrow('the sysctls "kernel.pid_max" are not known to be namespaced');
  });
});
