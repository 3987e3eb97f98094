import { createServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, manifest, removeTestContainers, TestAgent } from '../support/agent.js';

// SIGHUP applies the source frequencies live and keeps every source running: a reload that
// changed fileCheckFrequency used to stop the manifest URL source for good.
// Needs root and a running Docker engine.

const agent = new TestAgent();
const config = join(agent.dir, 'config.yaml');
const logs = `podLogsDir: ${join(agent.dir, 'pod-logs')}\ncontainerLogsDir: ${join(agent.dir, 'container-logs')}\n`;
let body = '';
let server: Server;
let port = 0;

const pod = (name: string) => manifest(name, `  terminationGracePeriodSeconds: 0
  containers:
    - name: c
      image: localhost/bosun/busybox:1
      command: ["sleep", "3600"]
`);

beforeAll(async () => {
  await removeTestContainers();
  port = await freePort();
  body = pod('fromurl');
  server = createServer((_req, res) => void res.writeHead(200, { 'content-type': 'application/yaml' }).end(body));
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  writeFileSync(config, `kind: KubeletConfiguration\nfileCheckFrequency: 2s\nhttpCheckFrequency: 1s\n${logs}`);
  await agent.start(['--config', config, '--manifest-url', `http://127.0.0.1:${port}/pods.yaml`]);
});

afterAll(async () => {
  await agent.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

describe('SIGHUP and the pod sources', () => {
  it('a changed fileCheckFrequency and httpCheckFrequency apply live; both sources keep following their input', async () => {
    await agent.waitPod('fromurl', (p) => p.status?.phase === 'Running', 'the URL pod Running');
    writeFileSync(config, `kind: KubeletConfiguration\nfileCheckFrequency: 3s\nhttpCheckFrequency: 2s\n${logs}`);
    process.kill(agent.pid!, 'SIGHUP');
    await agent.until(async () => agent.log().includes('SIGHUP: configuration reloaded'), 'the reload', 10_000);
    const reload = agent.log().split('\n').filter((l) => l.includes('SIGHUP: configuration reloaded')).map((l) => JSON.parse(l) as { applied: string[] })[0]!;
    expect(reload.applied.sort()).toEqual(['fileCheckFrequencyMs', 'httpCheckFrequencyMs']);
    body = pod('fromurl') + '---\n' + pod('later');
    agent.write('file.yaml', pod('fromfile'));
    await agent.waitPod('later', (p) => p.status?.phase === 'Running', 'a pod added to the URL after the reload');
    await agent.waitPod('fromfile', (p) => p.status?.phase === 'Running', 'a pod added to the directory after the reload');
    expect((await agent.pod('fromurl'))?.status?.phase).toBe('Running');
  });
});
