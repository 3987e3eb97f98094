import { createServer, type Server } from 'node:http';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RELOADABLE } from '../../agent/settings/index.js';
import { containersOf, freePort, manifest, removeTestContainers, TestAgent } from '../support/agent.js';

// SIGHUP applies every setting the table marks reloadable, and keeps every source running (a
// reload that changed fileCheckFrequency used to stop the manifest URL source for good).
// The agent starts with each of them at a value under which its effect cannot show within
// the test (1h periods, level warn); the reload sets values under which it shows, and the
// test waits for each effect. Needs root and a running Docker engine.

const agent = new TestAgent();
const config = join(agent.dir, 'config.yaml');
const outside = join(agent.dir, 'outside.yaml');
const logs = `podLogsDir: ${join(agent.dir, 'pod-logs')}\ncontainerLogsDir: ${join(agent.dir, 'container-logs')}\n`;
let body = '';
let requests = 0;
let server: Server;
let port = 0;

const pod = (name: string) => manifest(name, `  terminationGracePeriodSeconds: 0
  containers:
    - name: c
      image: localhost/bosun/busybox:1
      command: ["sleep", "3600"]
`);
const crashing = manifest('crash', `  terminationGracePeriodSeconds: 0
  restartPolicy: Always
  containers:
    - name: c
      image: localhost/bosun/busybox:1
      command: ["sh", "-c", "exit 1"]
`);

/** The config file's line for each reloadable setting: before the reload, after it. */
const VALUES: Record<string, [string, string]> = {
  fileCheckFrequencyMs: ['fileCheckFrequency: 1h', 'fileCheckFrequency: 1s'],
  httpCheckFrequencyMs: ['httpCheckFrequency: 1h', 'httpCheckFrequency: 1s'],
  syncFrequencyMs: ['syncFrequency: 1h', 'syncFrequency: 1s'],
  logLevel: ['logLevel: warn', 'logLevel: info'],
};
const configFile = (i: 0 | 1) => `kind: KubeletConfiguration\n${Object.values(VALUES).map((v) => v[i]).join('\n')}\n${logs}`;

const ids = async (name: string) => (await containersOf(agent.nodeName, `${name}-${agent.nodeName}`)).map((c) => c.Id).sort();
const restarts = async () => (await agent.pod('crash'))?.status?.containerStatuses?.[0]?.restartCount ?? -1;
/** Pod worker steps of kind "sync" (kubelet_pod_worker_duration_seconds) the agent made within `ms`. */
const podSyncs = async () => {
  const text = await (await fetch(`http://127.0.0.1:${agent.port}/metrics`)).text();
  return Number(/^kubelet_pod_worker_duration_seconds_count\{operation_type="sync"\} (\d+)/m.exec(text)?.[1] ?? 0);
};
const podSyncsIn = async (ms: number) => {
  const before = await podSyncs();
  await new Promise((r) => setTimeout(r, ms));
  return (await podSyncs()) - before;
};

beforeAll(async () => {
  await removeTestContainers();
  port = await freePort();
  body = pod('fromurl');
  server = createServer((_req, res) => {
    requests++;
    res.writeHead(200, { 'content-type': 'application/yaml' }).end(body);
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  writeFileSync(config, configFile(0));
  // A manifest that is a symlink out of the directory: an edit of its target makes no
  // inotify event in the directory, so only the periodic re-list (fileCheckFrequency) sees it.
  writeFileSync(outside, pod('linked1'));
  mkdirSync(agent.manifests, { recursive: true });
  agent.write('crash.yaml', crashing);
  symlinkSync(outside, join(agent.manifests, 'linked.yaml'));
  await agent.start(['--config', config, '--manifest-url', `http://127.0.0.1:${port}/pods.yaml`]);
});

afterAll(async () => {
  await agent.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

describe('SIGHUP', () => {
  it('applies every reloadable setting, and every source keeps following its input', async () => {
    // Every setting the table marks reloadable is changed here and its effect checked below.
    expect(Object.keys(VALUES).sort()).toEqual([...RELOADABLE].sort());

    await agent.waitPod('fromurl', (p) => p.status?.phase === 'Running', 'the URL pod Running');
    await agent.waitPod('linked1', (p) => p.status?.phase === 'Running', 'the symlinked pod Running');
    await agent.waitPod('crash', (p) => !!p.status?.containerStatuses?.[0]?.lastState?.terminated || !!p.status?.containerStatuses?.[0]?.state?.terminated, 'the crashing container exited once');
    const before = { fromurl: await ids('fromurl'), linked1: await ids('linked1') };
    // logLevel warn: no info line so far.
    expect(agent.log().split('\n').filter((l) => l.includes('"level":30'))).toEqual([]);
    // syncFrequency 1h: a pod in a crash back-off is synced at every 1 s tick all the same
    // (kubelet requeues it at the back-off's end, whatever its resync period): the back-off
    // (none before the first restart, then 10 s) ends without a reload.
    let count = 0;
    await agent.until(async () => (count = await restarts()) >= 2, 'the crashed container restarted twice with syncFrequency 1h', 90_000, () => `restartCount ${count}`);
    // The running pods, with nothing to do, are not synced again within the hour: the sync
    // count grows only by the crashing pod's ticks.
    const quietBefore = await podSyncsIn(6000);

    writeFileSync(config, configFile(1));
    const seen = requests;
    process.kill(agent.pid!, 'SIGHUP');
    // logLevel info: the reload's own info line is written.
    await agent.until(async () => agent.log().includes('SIGHUP: configuration reloaded'), 'the reload, logged at info', 30_000);
    const reload = agent.log().split('\n').filter((l) => l.includes('SIGHUP: configuration reloaded')).map((l) => JSON.parse(l) as { applied: string[] })[0]!;
    expect(reload.applied.sort()).toEqual([...RELOADABLE].sort());
    // The restarted sources read once at their start; what changes after that only a periodic
    // read at the new frequency can see.
    await agent.until(async () => requests > seen, 'the URL source fetched again after the reload', 30_000);
    await new Promise((r) => setTimeout(r, 3000));

    // httpCheckFrequency 1s
    body = pod('fromurl') + '---\n' + pod('later');
    await agent.waitPod('later', (p) => p.status?.phase === 'Running', 'a pod added to the URL after the reload', 90_000);
    // fileCheckFrequency 1s
    writeFileSync(outside, pod('linked1') + '---\n' + pod('linked2'));
    await agent.waitPod('linked2', (p) => p.status?.phase === 'Running', 'a pod added through the symlinked manifest after the reload', 90_000);
    // syncFrequency 1s: the four running pods are each synced again every 1 to 1.5 s.
    const busyAfter = await podSyncsIn(6000);
    expect(busyAfter, `pod syncs in 6 s: ${quietBefore} with syncFrequency 1h, ${busyAfter} with 1s`).toBeGreaterThanOrEqual(quietBefore + 8);

    // The pods that were running were left alone.
    expect({ fromurl: await ids('fromurl'), linked1: await ids('linked1') }).toEqual(before);
  }, 400_000);
});
