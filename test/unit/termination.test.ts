import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { computePodStatus } from '../../agent/pods/status.js';
import { readTerminationMessage, TerminationMessages } from '../../agent/pods/termination.js';
import { ctr, exited, pod, sandbox } from '../support/fixtures.js';
import { must } from '../support/common.js';

const dir = mkdtempSync(join(tmpdir(), 'bosun-term-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const logLine = (s: string, stream = 'stdout') => `2024-05-01T10:00:00.000000001Z ${stream} F ${s}\n`;

describe('termination messages', () => {
  const spec = ctr('c');
  const p = pod({ restartPolicy: 'Never', containers: [spec] });

  it('reads the last 4096 bytes of the mounted file', async () => {
    const c = { ...exited(p, spec, 'c1', 1), mounts: [{ containerPath: '/dev/termination-log', hostPath: file('big', 'x'.repeat(5000) + 'END'), readonly: false }] };
    const m = await readTerminationMessage(c, spec);
    expect(m).toHaveLength(4096);
    expect(m!.endsWith('END')).toBe(true);
    // A custom path is looked up among the mounts by its container path.
    const custom = { ...spec, terminationMessagePath: '/tmp/why' };
    const c2 = { ...exited(p, spec, 'c2', 1), mounts: [{ containerPath: '/tmp/why', hostPath: file('why', 'because'), readonly: false }] };
    expect(await readTerminationMessage(c2, custom)).toBe('because');
  });

  it('falls back to the end of the log only on error and when the file is empty', async () => {
    const log = file('0.log', Array.from({ length: 100 }, (_, i) => logLine(String(i + 1))).join('') + logLine('boom', 'stderr'));
    const empty = file('empty', '');
    const fallback = { ...spec, terminationMessagePolicy: 'FallbackToLogsOnError' as const };
    const mounts = [{ containerPath: '/dev/termination-log', hostPath: empty, readonly: false }];
    let flushed = 0;
    const logs = { flush: async () => void flushed++ };
    const failed = { ...exited(p, spec, 'c3', 2), mounts, logPath: log };
    const m = await readTerminationMessage(failed, fallback, logs);
    expect(m!.split('\n')).toEqual([...Array.from({ length: 79 }, (_, i) => String(i + 22)), 'boom', '']);
    expect(flushed).toBe(1);
    expect(await readTerminationMessage({ ...failed, exitCode: 0 }, fallback, logs)).toBeUndefined();
    expect(await readTerminationMessage({ ...failed, reason: 'StartError' }, fallback, logs)).toBeUndefined();
    expect(await readTerminationMessage({ ...failed, reason: 'ContainerCannotRun' }, fallback, logs)).toBeUndefined();
    expect(await readTerminationMessage(failed, spec, logs)).toBeUndefined();
    const written = { ...failed, mounts: [{ containerPath: '/dev/termination-log', hostPath: file('said', 'said so'), readonly: false }] };
    expect(await readTerminationMessage(written, fallback, logs)).toBe('said so');
  });

  it('waits for the log copy of every exited run with a log before its end is reported, not only for the fallback', async () => {
    const flushed: string[] = [];
    const logs = { flush: async (c: { id: string }) => void flushed.push(c.id) };
    const ok = { ...exited(p, spec, 'c5', 0), logPath: file('ok.log', logLine('done')) };
    expect(await readTerminationMessage(ok, spec, logs)).toBeUndefined();
    expect(await readTerminationMessage({ ...ok, id: 'c6', reason: 'StartError' }, spec, logs)).toBeUndefined();
    expect(flushed).toEqual(['c5']);
  });

  it('reads each exited run once and puts the message into the status', async () => {
    const msgFile = file('once', 'first');
    const c = { ...exited(p, spec, 'c4', 1), mounts: [{ containerPath: '/dev/termination-log', hostPath: msgFile, readonly: false }] };
    const tm = new TerminationMessages();
    const observed = { sandboxes: [sandbox('s1')], containers: [c] };
    expect(await tm.collect(p, observed)).toEqual(new Map([['c4', 'first']]));
    writeFileSync(msgFile, 'changed later');
    const messages = await tm.collect(p, observed);
    expect(messages.get('c4')).toBe('first');
    const status = computePodStatus({ pod: p, observed: { sandboxes: [sandbox('s1')], containers: [{ ...c, message: 'engine said' }] }, waiting: new Map(), now: 5000, hostIP: '192.0.2.2', runtimeName: 'docker', messages });
    expect(must(status.containerStatuses?.[0]?.state.terminated, 'a terminated state').message).toBe('engine said: first');
  });
});
