import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matchGroups } from '../../base/index.js';
import { DEFAULTS, loadConfigFile, type AgentConfig } from '../../agent/config.js';
import { FILE_KEYS } from '../../agent/settings/index.js';
import type { Pod, PodList } from '../../manifests/index.js';
import { containersOf, docker, freePort, removeTestContainers, TEST_NODE_PREFIX } from '../support/agent.js';
import { must } from '../support/common.js';

// scripts/install.sh into the real locations of this machine, the unit checked with
// systemd-analyze, then bosun started exactly as the unit starts it (systemd is not PID 1
// here: the test reads ExecStart, EnvironmentFile and ExecReload from the installed unit and
// plays systemd's part, including a NOTIFY_SOCKET), a pod from /etc/kubernetes/manifests,
// SIGTERM and restart without touching the pod, an upgrade in place, and --uninstall.
//
// Another bosun may run on this machine (the quick start: default root dir, node name = host
// name, same manifest directory). The test agent has its own node name and root dir, so
// neither touches the other's containers; the quick-start agent does run its own copy of the
// test pod while the test manifest is there, and removes it when the file goes.

const run = promisify(execFile);
const INSTALL = resolve('scripts/install.sh');
const UNIT = '/etc/systemd/system/bosun.service';
const MARKER = '/etc/bosun/.bosun-test-install';
const INSTALLED = ['/opt/bosun', '/usr/local/bin/bosun', '/etc/bosun', UNIT, '/etc/systemd/system/multi-user.target.wants/bosun.service'];
// systemd's PATH for system services: the unit must not depend on ours.
const SYSTEMD_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

// An install that this test did not make is somebody's real one: leave it alone.
// The directories install.sh creates when missing; uninstall removes them only if it made them.
const DIRS = ['/etc/kubernetes/manifests', '/var/lib/bosun', '/var/log/pods'];
const existedBefore = new Set(DIRS.filter((d) => existsSync(d)));
const foreign = !existsSync(MARKER) && INSTALLED.some((p) => existsSync(p));
const found = INSTALLED.filter((p) => existsSync(p));
// In CI a skip would hide a missing test: fail and name what is in the way.
if (foreign && process.env.CI) throw new Error(`install-service: bosun looks installed on this machine (${found.join(', ')}) and this test did not install it; uninstall it first`);
if (foreign) console.warn(`install-service: skipped, bosun is installed on this machine (${found.join(', ')}; no test marker); uninstall it first`);
const havePython = spawnSync('python3', ['--version']).status === 0;

const rand = Math.random().toString(36).slice(2, 8);
const nodeName = `${TEST_NODE_PREFIX}inst-${rand}`;
const podName = `bosun-install-test-${rand}`;
const fullName = `${podName}-${nodeName}`;
const manifestFile = `/etc/kubernetes/manifests/${podName}.yaml`;
const dir = mkdtempSync(join(tmpdir(), 'bosun-install-test-'));
const logFile = join(dir, 'agent.log');
let port = 0;

async function sh(cmd: string, args: string[], timeout = 600_000): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(cmd, args, { timeout, maxBuffer: 16 << 20 });
    return { code: 0, out: stdout + stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === 'number' ? x.code : -1, out: `${x.stdout ?? ''}${x.stderr ?? ''}${String(e)}` };
  }
}

// ---------------------------------------------------------------- playing systemd

/** A NOTIFY_SOCKET: a unix datagram socket with SO_PASSCRED, so each message carries its sender's pid. */
class NotifyListener {
  readonly path = join(dir, `notify-${Math.random().toString(36).slice(2, 6)}.sock`);
  readonly messages: { pid: number; fields: string[] }[] = [];
  private proc?: ChildProcess;

  async start(): Promise<void> {
    const script = [
      'import socket, struct, sys, json',
      's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
      's.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)',
      's.bind(sys.argv[1])',
      'print("{}", flush=True)',
      'while True:',
      '    msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))',
      '    pid = [struct.unpack("iII", d[:12])[0] for (l, t, d) in anc if l == socket.SOL_SOCKET and t == socket.SCM_CREDENTIALS]',
      '    print(json.dumps({"pid": pid[0] if pid else -1, "fields": msg.decode().split("\\n")}), flush=True)',
    ].join('\n');
    this.proc = spawn('python3', ['-u', '-c', script, this.path], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    await new Promise<void>((res) => {
      this.proc!.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          const m = JSON.parse(buf.slice(0, nl)) as { pid?: number; fields?: string[] };
          buf = buf.slice(nl + 1);
          if (m.fields) this.messages.push({ pid: m.pid!, fields: m.fields });
          else res();
        }
      });
    });
  }

  has(pid: number, field: string): boolean {
    return this.messages.some((m) => m.pid === pid && m.fields.includes(field));
  }

  stop(): void {
    this.proc?.kill();
  }
}

interface UnitRun {
  proc: ChildProcess;
  notify?: NotifyListener;
  exited: Promise<number | null>;
}

/** The unit's EnvironmentFile, read as systemd reads it (KEY=VALUE, # comments, optional quotes). */
function environmentFile(unit: string): Record<string, string> {
  const file = must(/^EnvironmentFile=-?(.+)$/m.exec(unit)?.[1], 'EnvironmentFile= in the unit').trim();
  const env: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = matchGroups(/^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/, line, 2);
    if (m) env[m[1]] = m[2].trim().replace(/^"(.*)"$/, '$1');
  }
  return env;
}

/** A unit command line with systemd's expansion: $VAR splits into words, ${VAR} stays one. */
function commandLine(unit: string, key: string, vars: Record<string, string>): string[] {
  const line = must(new RegExp(`^${key}=(.+)$`, 'm').exec(unit)?.[1], `${key}= in the unit`).trim();
  return line.split(/\s+/).flatMap((w) => {
    if (/^\$[A-Za-z_]\w*$/.test(w)) return (vars[w.slice(1)] ?? '').split(/\s+/).filter(Boolean);
    if (/^\$\{\w+\}$/.test(w)) return [vars[w.slice(2, -1)] ?? ''];
    return [w];
  });
}

async function startLikeUnit(): Promise<UnitRun> {
  const unit = readFileSync(UNIT, 'utf8');
  const env = environmentFile(unit);
  const argv = commandLine(unit, 'ExecStart', env);
  let notify: NotifyListener | undefined;
  if (havePython) {
    notify = new NotifyListener();
    await notify.start();
  }
  const out = openSync(logFile, 'a');
  const proc = spawn(must(argv[0], 'a command'), argv.slice(1), {
    env: { PATH: SYSTEMD_PATH, ...env, ...(notify ? { NOTIFY_SOCKET: notify.path, WATCHDOG_USEC: '2000000' } : {}) },
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, notify, exited };
}

async function stopUnit(u: UnitRun | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (!u) return null;
  if (u.proc.exitCode === null && u.proc.signalCode === null) u.proc.kill(signal);
  const code = await u.exited;
  u.notify?.stop();
  return code;
}

async function until(cond: () => Promise<boolean> | boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await Promise.resolve().then(cond).catch(() => false))) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n--- agent log tail ---\n${readLog().split('\n').slice(-20).join('\n')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const readLog = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');

async function testPod(): Promise<Pod | undefined> {
  const list = (await (await fetch(`http://127.0.0.1:${port}/pods`)).json()) as PodList;
  return list.items.find((p) => p.metadata.name === fullName);
}

async function podContainers(): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  for (const c of await containersOf(nodeName, fullName)) {
    const info = await docker.getContainer(c.Id).inspect();
    ids.set(c.Id, `${info.State.Running}:${info.State.StartedAt}`);
  }
  return ids;
}

/** Containers of the test pod under any node name (the quick-start agent's copy included). */
async function anyCopyOfTestPod(): Promise<string[]> {
  const all = await docker.listContainers({ all: true, filters: { label: ['io.kubernetes.pod.name'] } });
  return all.filter((c) => c.Labels['io.kubernetes.pod.name']?.startsWith(`${podName}-`)).map((c) => c.Id);
}

// ---------------------------------------------------------------- the test

let agent: UnitRun | undefined;

describe.skipIf(foreign)('install.sh and bosun.service on this machine', () => {
  let firstInstall = { code: -1, out: '' };

  beforeAll(async () => {
    if (existsSync(MARKER)) await sh(INSTALL, ['--uninstall']); // left by an interrupted run
    await removeTestContainers();
    port = await freePort();
    firstInstall = await sh(INSTALL, []);
    if (existsSync('/etc/bosun')) writeFileSync(MARKER, `${process.pid}\n`);
  }, 900_000);

  afterAll(async () => {
    await stopUnit(agent, 'SIGKILL');
    rmSync(manifestFile, { force: true });
    await removeTestContainers(nodeName);
    // The quick-start agent (if any) terminates its copy once the file is gone; then make sure.
    await until(async () => (await anyCopyOfTestPod()).length === 0, 'copies of the test pod to go', 20_000).catch(() => undefined);
    await Promise.all((await anyCopyOfTestPod()).map((id) => docker.getContainer(id).remove({ force: true }).catch(() => undefined)));
    if (existsSync(MARKER)) await sh(INSTALL, ['--uninstall']);
    rmSync(dir, { recursive: true, force: true });
  }, 300_000);

  it('installs the build, the command, the config, the env file, the directories and the unit', async () => {
    expect(firstInstall.out).toContain('install: installed bosun');
    expect(firstInstall.code).toBe(0);
    for (const p of ['/opt/bosun/dist/agent/cli.js', '/opt/bosun/node_modules/dockerode', '/opt/bosun/package.json', '/etc/bosun/config.yaml', '/etc/bosun/bosun.env', UNIT, '/etc/kubernetes/manifests', '/var/lib/bosun', '/var/log/pods']) {
      expect(existsSync(p), p).toBe(true);
    }
    // Production dependencies only.
    expect(existsSync('/opt/bosun/node_modules/vitest')).toBe(false);
    expect(existsSync('/opt/bosun/node_modules/typescript')).toBe(false);
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    expect((await sh('/usr/local/bin/bosun', ['version'])).out).toBe(`bosun v${pkg.version}\n`);
    expect(readFileSync('/etc/bosun/config.yaml', 'utf8')).toBe(readFileSync('scripts/config.yaml', 'utf8'));
    expect(readFileSync('/etc/bosun/bosun.env', 'utf8')).toMatch(/^BOSUN_ARGS=$/m);
    // PID 1 is not systemd here: nothing was started, and the script said what to do.
    expect(firstInstall.out).toContain('systemd is not PID 1 here');
    expect(firstInstall.out).toContain('/usr/local/bin/bosun run --config /etc/bosun/config.yaml $BOSUN_ARGS');
  });

  it('ships a config whose every commented default is the real default', () => {
    const text = readFileSync('/etc/bosun/config.yaml', 'utf8');
    expect(loadConfigFile('/etc/bosun/config.yaml')).toEqual({});
    const documented = [...text.matchAll(/^# ([a-zA-Z]+): (.+)$/gm)].filter(([, key]) => key !== 'nodeName' && key !== 'nodeIP');
    expect(documented.length).toBeGreaterThanOrEqual(15);
    for (const [, key, value] of documented) {
      const f = join(dir, 'one.yaml');
      writeFileSync(f, `${key}: ${value}\n`);
      const k = FILE_KEYS[key!]?.field as keyof AgentConfig;
      expect(k, key).toBeDefined();
      expect(loadConfigFile(f), key).toEqual({ [k]: DEFAULTS[k] });
    }
  });

  it('installs a unit that passes systemd-analyze verify and suits a node agent', async () => {
    const v = await sh('systemd-analyze', ['verify', UNIT], 60_000);
    expect(v.out.split('\n').filter((l) => l.includes('bosun.service')), v.out).toEqual([]);
    expect(v.code).toBe(0);
    const unit = readFileSync(UNIT, 'utf8');
    for (const line of ['Type=notify', 'NotifyAccess=main', 'KillMode=process', 'Delegate=yes', 'OOMScoreAdjust=-999', 'Restart=always', 'LimitNOFILE=1048576', 'EnvironmentFile=-/etc/bosun/bosun.env', 'ExecStart=/usr/local/bin/bosun run --config /etc/bosun/config.yaml $BOSUN_ARGS']) {
      expect(unit).toContain(`\n${line}\n`);
    }
    expect(unit).toMatch(/^WatchdogSec=\d+/m);
    expect(unit).toMatch(/^RestartSec=\d+/m);
    expect(unit).toMatch(/^After=.*\bdocker\.service\b.*\bcontainerd\.service\b/m);
    expect(unit).toMatch(/^Wants=.*\bdocker\.service\b/m);
  });

  it('runs as the unit runs it: the pod from /etc/kubernetes/manifests Running, READY after the first sync, watchdog pings, reload', async () => {
    writeFileSync(manifestFile, [
      'apiVersion: v1', 'kind: Pod', `metadata:\n  name: ${podName}`, 'spec:', '  terminationGracePeriodSeconds: 2', '  containers:',
      '    - name: app', '      image: localhost/bosun/busybox:1', `      command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]`, '',
    ].join('\n'));
    // Pod logs of the test agent stay in the test's dir (podLogsDir has no flag).
    appendFileSync('/etc/bosun/config.yaml', `podLogsDir: ${join(dir, 'logs')}\n`);
    writeFileSync('/etc/bosun/bosun.env', `# written by test/integration/install-service.test.ts\nBOSUN_ARGS=--node-name ${nodeName} --root-dir ${join(dir, 'root')} --read-only-port ${port}\n`);
    agent = await startLikeUnit();
    await until(async () => (await testPod())?.status?.phase === 'Running', 'the test pod Running');
    expect((await podContainers()).size).toBe(2); // sandbox + app
    if (agent.notify) {
      const pid = agent.proc.pid!;
      // The wrapper execs node: the agent is the main PID, and systemd-notify speaks for it.
      await until(() => agent!.notify!.has(pid, 'READY=1'), 'READY=1 from the main pid', 10_000);
      await until(() => agent!.notify!.has(pid, 'WATCHDOG=1'), 'a WATCHDOG=1 ping from the main pid', 10_000);
      expect(agent.notify.messages.every((m) => m.pid === pid), JSON.stringify(agent.notify.messages)).toBe(true);
      expect(agent.notify.messages.find((m) => m.fields.includes('READY=1'))!.fields.find((f) => f.startsWith('STATUS='))).toMatch(/^STATUS=first sync done/);
    }
    // systemctl reload: the unit's ExecReload, with $MAINPID.
    appendFileSync('/etc/bosun/config.yaml', 'fileCheckFrequency: 5s\n');
    const reload = commandLine(readFileSync(UNIT, 'utf8'), 'ExecReload', { MAINPID: String(agent.proc.pid) });
    expect((await sh(must(reload[0], 'the ExecReload command'), reload.slice(1))).code).toBe(0);
    await until(() => readLog().includes('SIGHUP: configuration reloaded'), 'the reload', 10_000);
    expect(readLog()).toMatch(/"applied":\["fileCheckFrequencyMs"\].*SIGHUP: configuration reloaded/);
  });

  it('SIGTERM stops the agent and no pod container; a restart adopts them, same IDs, nothing restarted', async () => {
    const before = await podContainers();
    expect([...before.values()].every((s) => s.startsWith('true:'))).toBe(true);
    const pid = agent!.proc.pid!;
    expect(await stopUnit(agent)).toBe(0);
    if (agent!.notify) expect(agent!.notify.has(pid, 'STOPPING=1')).toBe(true);
    expect(await podContainers()).toEqual(before);

    agent = await startLikeUnit();
    await until(async () => (await testPod())?.status?.phase === 'Running', 'the test pod Running after the restart');
    if (agent.notify) await until(() => agent!.notify!.has(agent!.proc.pid!, 'READY=1'), 'READY=1 again', 10_000);
    expect(await podContainers()).toEqual(before);
    expect(must((await testPod())?.status?.containerStatuses?.[0], 'the test pod\'s container status').restartCount).toBe(0);
  });

  it('re-running install.sh upgrades in place, keeps the edited config and env, and says to restart the running agent', async () => {
    const build = readFileSync('/opt/bosun/BUILD', 'utf8');
    const again = await sh(INSTALL, []);
    expect(again.code, again.out).toBe(0);
    expect(again.out).toContain('kept your /etc/bosun/config.yaml');
    expect(readFileSync('/etc/bosun/config.yaml', 'utf8')).toContain('fileCheckFrequency: 5s');
    expect(readFileSync('/etc/bosun/bosun.env', 'utf8')).toContain(`--node-name ${nodeName}`);
    expect(readFileSync('/opt/bosun/BUILD', 'utf8')).not.toBe(build);
    expect(again.out).toContain(`an agent from /opt/bosun is running (pid ${agent!.proc.pid}`);
    expect(readdirSync('/opt').filter((d) => d.startsWith('bosun'))).toEqual(['bosun']);
    // The restart onto the new build adopts the pod too.
    const before = await podContainers();
    expect(await stopUnit(agent)).toBe(0);
    agent = await startLikeUnit();
    await until(async () => (await testPod())?.status?.phase === 'Running', 'the test pod Running on the new build');
    expect(await podContainers()).toEqual(before);
  });

  it('--uninstall leaves no bosun files behind, and the pods and their data alone', async () => {
    rmSync(manifestFile);
    await until(async () => !(await testPod()), 'the test pod to be gone', 30_000);
    // The agent is still running: uninstall stops it (pods keep running).
    const out = await sh(INSTALL, ['--uninstall']);
    expect(out.code, out.out).toBe(0);
    expect(out.out).toContain('stopping the agent running from /opt/bosun');
    expect(await agent!.exited).toBe(0);
    for (const p of INSTALLED) expect(existsSync(p), p).toBe(false);
    expect(readdirSync('/opt').filter((d) => d.startsWith('bosun'))).toEqual([]);
    expect(readdirSync('/tmp').filter((d) => d.startsWith('bosun-install.'))).toEqual([]);
    // Kept when they were there before (pods' manifests and data); gone when install made them.
    for (const d of DIRS) expect(existsSync(d), d).toBe(existedBefore.has(d));
    expect(out.out).toMatch(/install: bosun uninstalled\n$/);
    // --purge refuses while pod containers run (they may use /var/lib/bosun): one of ours
    // runs for the check, so that the refusal, and never a purge, is what this test sees.
    const c = await docker.createContainer({ Image: 'localhost/bosun/busybox:1', Cmd: ['sleep', '300'], Labels: { 'bosun.io/node-name': nodeName }, HostConfig: { NetworkMode: 'none' } });
    try {
      await c.start();
      const purge = await sh(INSTALL, ['--uninstall', '--purge']);
      expect(purge.code).toBe(1);
      expect(purge.out).toContain('run `bosun drain` first');
    } finally {
      await c.remove({ force: true });
    }
  });
});
