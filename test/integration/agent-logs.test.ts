import { execFile, spawn } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pod } from '../../manifests/index.js';
import { manifest, removeTestContainers, TestAgent } from '../support/agent.js';
import { BUSYBOX as BB, must } from '../support/common.js';

// Container logs on real containers: CRI-format files under podLogsDir with kubelet's
// symlinks, rotation by size, resuming after an agent restart, `bosun logs`, and
// termination messages (File, FallbackToLogsOnError). podLogsDir and containerLogsDir
// point into the test's own directory. Needs root and a running Docker engine.

const run = promisify(execFile);
const agent = new TestAgent();

const CLI = resolve('dist/agent/cli.js');
const podLogs = join(agent.dir, 'pod-logs');
const ctrLogs = join(agent.dir, 'container-logs');
const config = join(agent.dir, 'config.yaml');
const CRI_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) [FP] /;

function logDir(p: Pod, ctr: string): string {
  return join(podLogs, `default_${p.metadata.name}_${p.metadata.uid}`, ctr);
}

async function bosunLogs(args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [CLI, 'logs', ...args, '--server', `http://127.0.0.1:${agent.port}`, '--config', config]);
  return stdout;
}

/** Every line of a container's files, oldest file first (rotated ones gunzipped). */
function allLines(dir: string): string[] {
  const files = readdirSync(dir).filter((f) => f.startsWith('0.log'));
  const key = (f: string) => (f === '0.log' ? '~' : f.replace(/\.gz$/, ''));
  files.sort((a, b) => (key(a) < key(b) ? -1 : 1));
  return files.flatMap((f) => {
    const raw = readFileSync(join(dir, f));
    return (f.endsWith('.gz') ? gunzipSync(raw) : raw).toString().split('\n').filter(Boolean);
  });
}

const content = (line: string) => line.replace(CRI_LINE, '');

beforeAll(async () => {
  await removeTestContainers();
  writeFileSync(config, [`podLogsDir: ${podLogs}`, `containerLogsDir: ${ctrLogs}`, 'containerLogMaxSize: 1Mi', 'containerLogMaxFiles: 3', ''].join('\n'));
  await agent.start(['--config', config]);
});

afterAll(async () => {
  await agent.destroy();
});

describe('container logs', () => {
  it('writes CRI log files with kubelet\'s symlink, and bosun logs reads them', async () => {
    agent.write('talk.yaml', manifest('talk', `  terminationGracePeriodSeconds: 0
  containers:
    - name: c
      image: ${BB}
      # The engine copies stdout and stderr in separate routines: a pause keeps the order.
      command: ["sh", "-c", "echo first; echo oops >&2; sleep 0.5; for i in 1 2 3; do echo line-$i; done; sleep 3600"]
    - name: quiet
      image: ${BB}
      command: ["sleep", "3600"]
`));
    const p = await agent.waitPod('talk', (p) => p.status?.phase === 'Running', 'Running');
    const file = join(logDir(p, 'c'), '0.log');
    await agent.until(async () => existsSync(file) && readFileSync(file, 'utf8').includes('line-3'), 'log written');
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    for (const l of lines) expect(l).toMatch(CRI_LINE);
    expect(lines.filter((l) => l.includes(' stdout F ')).map(content)).toEqual(['first', 'line-1', 'line-2', 'line-3']);
    expect(lines.filter((l) => l.includes(' stderr F ')).map(content)).toEqual(['oops']);
    const id = p.status!.containerStatuses!.find((s) => s.name === 'c')!.containerID!.replace('docker://', '');
    const link = join(ctrLogs, `${p.metadata.name}_default_c-${id}.log`);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe(file);

    const name = p.metadata.name;
    const all = await bosunLogs([name, '-c', 'c']);
    expect(all.split('\n').filter(Boolean).sort()).toEqual(['first', 'line-1', 'line-2', 'line-3', 'oops']);
    expect(await bosunLogs([name, '-c', 'c', '--tail', '2'])).toBe('line-2\nline-3\n');
    expect(await bosunLogs([name, '-c', 'c', '--tail', '1', '--timestamps'])).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z line-3\n$/);
    // Without -c the first container is taken, with kubectl's notice.
    const { stdout, stderr } = await run(process.execPath, [CLI, 'logs', name, '--server', `http://127.0.0.1:${agent.port}`, '--config', config]);
    expect(stdout).toContain('line-3');
    expect(stderr).toBe('Defaulted container "c" out of: c, quiet\n');
    // No agent needed: the files are found by name alone.
    const offline = await run(process.execPath, [CLI, 'logs', name, '-c', 'c', '--tail', '1', '--server', 'http://127.0.0.1:1', '--config', config]);
    expect(offline.stdout).toBe('line-3\n');
    await expect(bosunLogs([name, '-c', 'c', '--previous'])).rejects.toThrow(/previous terminated container "c" in pod "[^"]+" not found/);
  });

  it('keeps each run in its own file: --previous reads the run before', async () => {
    agent.write('crash.yaml', manifest('crash', `  terminationGracePeriodSeconds: 0
  containers:
    - name: c
      image: ${BB}
      command: ["sh", "-c", "echo run-at-$(cat /proc/sys/kernel/random/uuid); sleep 1; exit 1"]
`));
    const p = await agent.waitPod('crash', (p) => (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1, 'restarted', 60_000);
    const dir = logDir(p, 'c');
    await agent.until(async () => existsSync(join(dir, '1.log')) && readFileSync(join(dir, '1.log'), 'utf8').includes('run-at-'), 'second run logged');
    const first = readFileSync(join(dir, '0.log'), 'utf8');
    expect(first.trim().split('\n')).toHaveLength(1);
    const prev = await bosunLogs([p.metadata.name, '--previous']);
    expect(prev).toBe(`${content(first.trim())}\n`);
    const cur = await bosunLogs([p.metadata.name]);
    expect(cur).toMatch(/^run-at-[0-9a-f-]{36}\n$/);
    expect(cur).not.toBe(prev);
    agent.remove('crash.yaml');
  });

  it('rotates at containerLogMaxSize, keeps containerLogMaxFiles files, compresses all but the newest rotated one', async () => {
    // About 6.5 MB of CRI lines through a 1 MiB x 3 files policy.
    agent.write('flood.yaml', manifest('flood', `  terminationGracePeriodSeconds: 0
  restartPolicy: Never
  containers:
    - name: c
      image: ${BB}
      command: ["sh", "-c", "seq 1 50000 | sed 's/$/ ....................................................................../'"]
`));
    const p = await agent.waitPod('flood', (p) => p.status?.phase === 'Succeeded', 'Succeeded', 60_000);
    const dir = logDir(p, 'c');
    await agent.until(async () => existsSync(join(dir, '0.log')) && readFileSync(join(dir, '0.log'), 'utf8').includes('50000 ...'), 'all output copied', 30_000);
    // Compression runs in the background after a rotation.
    await agent.until(async () => readdirSync(dir).filter((f) => f.endsWith('.gz')).length === 1 && !readdirSync(dir).some((f) => f.endsWith('.tmp')), 'rotated files settled', 15_000);
    const files = readdirSync(dir).sort();
    expect(files).toHaveLength(3);
    expect(files.filter((f) => /^0\.log\.\d{8}-\d{6}(-\d{3})?\.gz$/.test(f))).toHaveLength(1);
    expect(files.filter((f) => /^0\.log\.\d{8}-\d{6}(-\d{3})?$/.test(f))).toHaveLength(1);
    for (const f of files) if (!f.endsWith('.gz')) expect(statSync(join(dir, f)).size).toBeLessThanOrEqual(1024 * 1024);
    // What is kept is one unbroken run of lines, ending with the last one written.
    const seqs = allLines(dir).map((l) => {
      expect(l).toMatch(CRI_LINE);
      return Number(content(l).split(' ')[0]);
    });
    expect(seqs[seqs.length - 1]).toBe(50000);
    expect(seqs[0]).toBeGreaterThan(1);
    const first = must(seqs[0], 'a sequence number');
    seqs.forEach((n, i) => expect(n).toBe(first + i));
    // bosun logs reads the live file only, as kubelet does.
    const tail = await bosunLogs([p.metadata.name, '--tail', '1']);
    expect(tail.startsWith('50000 ')).toBe(true);
    agent.remove('flood.yaml');
  });

  it('resumes after an agent restart without losing or repeating a line', async () => {
    agent.write('ticker.yaml', manifest('ticker', `  terminationGracePeriodSeconds: 0
  containers:
    - name: c
      image: ${BB}
      command: ["sh", "-c", "i=0; while true; do i=$((i+1)); echo tick-$i; echo tock-$i >&2; sleep 0.05; done"]
`));
    const p = await agent.waitPod('ticker', (p) => p.status?.phase === 'Running', 'Running');
    const file = join(logDir(p, 'c'), '0.log');
    await agent.until(async () => existsSync(file) && readFileSync(file, 'utf8').includes('tick-5'), 'ticking');
    await agent.kill9();
    await new Promise((r) => setTimeout(r, 1500)); // output the engine keeps while no agent copies it
    await agent.start(['--config', config]);
    const before = readFileSync(file, 'utf8').trim().split('\n').length;
    await agent.until(async () => readFileSync(file, 'utf8').trim().split('\n').length > before + 40, 'copying again');
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    for (const stream of ['tick', 'tock']) {
      const nums = lines.map(content).filter((l) => l.startsWith(`${stream}-`)).map((l) => Number(l.slice(stream.length + 1)));
      nums.forEach((n, i) => expect(n, `${stream} line ${i}`).toBe(i + 1));
    }
    agent.remove('ticker.yaml');
  });

  it('bosun logs -f follows until the container stops', async () => {
    agent.write('finite.yaml', manifest('finite', `  terminationGracePeriodSeconds: 0
  restartPolicy: Never
  containers:
    - name: c
      image: ${BB}
      command: ["sh", "-c", "sleep 1; for i in 1 2 3 4 5; do echo step-$i; sleep 0.4; done"]
`));
    const p = await agent.waitPod('finite', (p) => p.status?.phase === 'Running', 'Running');
    await agent.until(async () => existsSync(join(logDir(p, 'c'), '0.log')), 'log file');
    const child = spawn(process.execPath, [CLI, 'logs', '-f', p.metadata.name, '--server', `http://127.0.0.1:${agent.port}`, '--config', config]);
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const code = await new Promise<number | null>((r) => {
      const t = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.once('exit', (c) => {
        clearTimeout(t);
        r(c);
      });
    });
    expect(code).toBe(0);
    expect(out).toBe('step-1\nstep-2\nstep-3\nstep-4\nstep-5\n');
    agent.remove('finite.yaml');
  });

  it('reports termination messages from the file and, on error, from the end of the log', async () => {
    agent.write('term.yaml', [
      manifest('term-file', `  restartPolicy: Never
  containers:
    - name: c
      image: ${BB}
      command: ["sh", "-c", "echo ignored; printf 'all done' > /dev/termination-log; exit 0"]
`),
      manifest('term-path', `  restartPolicy: Never
  containers:
    - name: c
      image: ${BB}
      terminationMessagePath: /tmp/why
      securityContext: { runAsUser: 65534 }
      command: ["sh", "-c", "echo 'custom path, any user' > /tmp/why; exit 3"]
`),
      manifest('term-logs', `  restartPolicy: Never
  containers:
    - name: c
      image: ${BB}
      terminationMessagePolicy: FallbackToLogsOnError
      command: ["sh", "-c", "seq 1 100; sleep 0.3; echo failing >&2; exit 2"]
`),
      manifest('term-logs-ok', `  restartPolicy: Never
  containers:
    - name: c
      image: ${BB}
      terminationMessagePolicy: FallbackToLogsOnError
      command: ["sh", "-c", "echo fine; exit 0"]
`),
    ].join('---\n'));
    const done = (p: Pod) => !!p.status?.containerStatuses?.[0]?.state.terminated;
    const term = async (name: string) => must((await agent.waitPod(name, done, 'terminated')).status?.containerStatuses?.[0]?.state.terminated, `${name} terminated`);
    expect(await term('term-file')).toMatchObject({ exitCode: 0, reason: 'Completed', message: 'all done' });
    expect(await term('term-path')).toMatchObject({ exitCode: 3, reason: 'Error', message: 'custom path, any user\n' });
    const fromLogs = await term('term-logs');
    expect(fromLogs).toMatchObject({ exitCode: 2, reason: 'Error' });
    // The last 80 lines of the log: 22..100 and the error line.
    const expected = [...Array.from({ length: 79 }, (_, i) => String(i + 22)), 'failing', ''].join('\n');
    expect(fromLogs.message).toBe(expected);
    // A clean exit never falls back to the logs.
    expect((await term('term-logs-ok')).message).toBeUndefined();
  });

  it('removes the log files and symlinks with the pod', async () => {
    const p = (await agent.pod('talk'))!;
    const dir = join(podLogs, `default_${p.metadata.name}_${p.metadata.uid}`);
    expect(existsSync(dir)).toBe(true);
    agent.remove('talk.yaml');
    await agent.until(async () => !existsSync(dir), 'pod log directory removed', 30_000);
    await agent.until(async () => readdirSync(ctrLogs).filter((f) => f.startsWith(`${p.metadata.name}_`)).length === 0, 'symlinks removed', 10_000);
  });
});
