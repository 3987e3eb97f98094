import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { formatCriLine, parseCriLine, planRotated, resumePoint, rfc3339Nano, rotatedFiles, rotatedName, rotationStamp, shouldRotate, timestampNanos } from '../../agent/logs/format.js';
import { lastLogText, readLogFile, Renderer } from '../../agent/logs/read.js';
import { CriLogWriter } from '../../agent/logs/writer.js';
import { sinceParam, splitTimestamp, Demuxer } from '../../cri/docker/logs.js';

const TS = '2024-05-01T10:00:00.123456789Z';

describe('CRI log lines', () => {
  it('formats full and partial messages', () => {
    expect(formatCriLine(TS, 'stdout', Buffer.from('hello\n')).toString()).toBe(`${TS} stdout F hello\n`);
    expect(formatCriLine(TS, 'stderr', Buffer.from('part')).toString()).toBe(`${TS} stderr P part\n`);
    expect(formatCriLine(TS, 'stdout', Buffer.from('\n')).toString()).toBe(`${TS} stdout F \n`);
  });

  it('parses what it formats, and tolerates older and shorter forms', () => {
    const l = parseCriLine(Buffer.from(`${TS} stderr P a b  c`))!;
    expect({ ...l, content: l.content.toString() }).toEqual({ timestamp: TS, stream: 'stderr', partial: true, content: 'a b  c' });
    expect(parseCriLine(Buffer.from(`${TS} stdout F `))!.content.toString()).toBe('');
    expect(parseCriLine(Buffer.from('2024-05-01T10:00:00.1+02:00 stdout F x'))!.timestamp).toBe('2024-05-01T10:00:00.1+02:00');
    // No tag (CRI logs before tags existed): a full line.
    expect(parseCriLine(Buffer.from(`${TS} stdout hello`))).toMatchObject({ partial: false });
    expect(parseCriLine(Buffer.from(`${TS} stdout hello`))!.content.toString()).toBe('hello');
    expect(parseCriLine(Buffer.from('garbage line'))).toBeUndefined();
    expect(parseCriLine(Buffer.from(`${TS} stdin F x`))).toBeUndefined();
  });

  it('compares timestamps exactly and prints them as Go does', () => {
    expect(timestampNanos('2024-05-01T10:00:00.000000001Z') - timestampNanos('2024-05-01T10:00:00Z')).toBe(1n);
    expect(timestampNanos('2024-05-01T12:00:00+02:00')).toBe(timestampNanos('2024-05-01T10:00:00Z'));
    expect(rfc3339Nano('2024-05-01T10:00:00.120000000Z')).toBe('2024-05-01T10:00:00.12Z');
    expect(rfc3339Nano('2024-05-01T10:00:00.000000000Z')).toBe('2024-05-01T10:00:00Z');
    expect(sinceParam(TS)).toBe('1714557600.123456789');
    expect(sinceParam('2024-05-01T10:00:00Z')).toBe('1714557600.000000000');
  });

  it('renders partial lines back into one, with one timestamp per line', () => {
    const lines = [`${TS} stdout P ab`, `${TS} stdout F cd`, `2024-05-01T10:00:01.5Z stdout F ef`].map((l) => parseCriLine(Buffer.from(l))!);
    expect(new Renderer(false).render(lines).toString()).toBe('abcd\nef\n');
    expect(new Renderer(true).render(lines).toString()).toBe('2024-05-01T10:00:00.123456789Z abcd\n2024-05-01T10:00:01.5Z ef\n');
  });

  it('resumes after the last timestamp, counting the lines that share it', () => {
    const b = (s: string) => Buffer.from(s);
    expect(resumePoint([])).toBeUndefined();
    expect(resumePoint([b(`2024-05-01T10:00:00.1Z stdout F a`), b(`${TS} stdout P b`), b(`${TS} stdout F c`)])).toEqual({ timestamp: TS, count: 2 });
    expect(resumePoint([b(`${TS} stdout F a`), b('not a line')])).toEqual({ timestamp: TS, count: 1 });
  });
});

describe('the engine stream', () => {
  it('demultiplexes frames split anywhere', () => {
    const frame = (t: number, s: string) => {
      const h = Buffer.alloc(8);
      h[0] = t;
      h.writeUInt32BE(Buffer.byteLength(s), 4);
      return Buffer.concat([h, Buffer.from(s)]);
    };
    const all = Buffer.concat([frame(1, `${TS} out\n`), frame(2, `${TS} err`), frame(3, 'engine trouble')]);
    const got: string[] = [];
    const d = new Demuxer((t, p) => got.push(`${t}:${p.toString()}`));
    for (let i = 0; i < all.length; i += 5) d.push(all.subarray(i, i + 5));
    expect(got).toEqual([`1:${TS} out\n`, `2:${TS} err`, '3:engine trouble']);
    const m = splitTimestamp(Buffer.from(`${TS} x y\n`))!;
    expect([m.timestamp, m.data.toString()]).toEqual([TS, 'x y\n']);
  });
});

describe('rotation', () => {
  it('decides when to rotate', () => {
    const policy = { maxSize: 100, maxFiles: 3 };
    expect(shouldRotate(0, 500, policy)).toBe(false); // never an empty file
    expect(shouldRotate(60, 40, policy)).toBe(false);
    expect(shouldRotate(61, 40, policy)).toBe(true);
  });

  it('names rotated files so that they sort in rotation order', () => {
    const now = Date.parse('2024-05-01T10:00:00.5Z');
    expect(rotationStamp(now)).toBe('20240501-100000');
    expect(rotatedName('0.log', now, [])).toBe('0.log.20240501-100000');
    expect(rotatedName('0.log', now, ['0.log.20240501-100000.gz'])).toBe('0.log.20240501-100000-001');
    // A suffix freed by cleanup is never reused: the newest must sort last.
    expect(rotatedName('0.log', now, ['0.log.20240501-100000-002'])).toBe('0.log.20240501-100000-003');
    const names = ['0.log.20240501-100001', '0.log.20240501-100000-001.gz', '0.log', '1.log.20240501-090000', '0.log.20240501-100000.gz', '0.log.tmp'];
    expect(rotatedFiles('0.log', names)).toEqual(['0.log.20240501-100000.gz', '0.log.20240501-100000-001.gz', '0.log.20240501-100001']);
  });

  it('keeps maxFiles - 1 rotated files and compresses all but the newest', () => {
    expect(planRotated(['a.gz', 'b', 'c', 'd'], 3)).toEqual({ remove: ['a.gz', 'b'], compress: ['c'] });
    expect(planRotated(['a'], 5)).toEqual({ remove: [], compress: [] });
    expect(planRotated(['a', 'b'], 2)).toEqual({ remove: ['a'], compress: [] });
  });
});

describe('CriLogWriter', () => {
  let dir = '';
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('appends, rotates by size, compresses and prunes, and resumes', async () => {
    dir = mkdtempSync(join(tmpdir(), 'bosun-logs-'));
    const path = join(dir, '0.log');
    let now = Date.parse('2024-05-01T10:00:00Z');
    const w = new CriLogWriter(path, { maxSize: 200, maxFiles: 3 }, (e) => { throw e; }, () => now);
    const line = (i: number) => formatCriLine(`2024-05-01T10:00:00.${String(i).padStart(9, '0')}Z`, 'stdout', Buffer.from(`line ${i}\n`));
    for (let i = 1; i <= 20; i++) {
      w.append(line(i));
      if (i % 3 === 0) w.flush();
      now += 400;
    }
    w.close();
    await w.settled();
    const files = readdirSync(dir).sort();
    expect(files.length).toBe(3);
    expect(files.filter((f) => f.endsWith('.gz'))).toHaveLength(1);
    const text = (f: string) => (f.endsWith('.gz') ? gunzipSync(readFileSync(join(dir, f))) : readFileSync(join(dir, f))).toString();
    for (const f of files) if (!f.endsWith('.gz')) expect(Buffer.byteLength(text(f))).toBeLessThanOrEqual(200);
    const live = readLogFile(path).lines.map((l) => l.content.toString());
    expect(live[live.length - 1]).toBe('line 20');
    // Reopening: resumes from the last line, even with a torn half line at the end.
    writeFileSync(path, readFileSync(path, 'utf8') + '2024-05-01T10:00:01Z stdout F torn', { flag: 'w' });
    const again = new CriLogWriter(path, { maxSize: 200, maxFiles: 3 });
    expect(again.resumePoint()).toEqual({ timestamp: '2024-05-01T10:00:00.000000020Z', count: 1 });
    again.close();
    expect(readFileSync(path, 'utf8').endsWith('line 20\n')).toBe(true);
    expect(lastLogText(path, 2, 9)).toBe('\nline 20\n');
  });
});
