import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containersOf, freePort, manifest, removeTestContainers, TestAgent } from '../support/agent.js';
import { BUSYBOX as BB } from '../support/common.js';

// A real agent with a good pod running, fed the worst inputs of the fuzz run through its
// manifest directory and through a manifest URL on 127.0.0.1: it stays up, the good pod is
// not touched, a later valid edit is still applied, and a value planted in a Secret shows
// up in no output (log, /pods, /events, /metrics, files under the root dir) after every
// error path ran. Needs root and a running Docker engine.

const agent = new TestAgent();

const MARKER = 'MARKER-d41d8cd98f-planted';
let server: Server;
let port = 0;
let serve: (res: ServerResponse) => void = (res) => void res.end('');

const sleeper = (name: string, arg: string) => manifest(name, `  terminationGracePeriodSeconds: 0
  containers:
    - name: c
      image: ${BB}
      command: ["sleep", "${arg}"]
`);
const deepJSON = (depth: number) => `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"deep"},"status":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`;

beforeAll(async () => {
  await removeTestContainers();
  port = await freePort();
  server = createServer((_req, res) => serve(res));
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  await agent.start(['--manifest-url', `http://127.0.0.1:${port}/pods`, '--http-check-frequency', '1s']);
});

afterAll(async () => {
  await agent.destroy();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

describe('hostile input against a running agent', () => {
  let goodIds: string[] = [];

  it('runs the good pod', async () => {
    agent.write('good.yaml', sleeper('good', '3600'));
    agent.write('secret.yaml', `apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData:\n  token: ${MARKER}\n  path: ../${MARKER}\n`);
    await agent.waitPod('good', (p) => p.status?.phase === 'Running', 'Running');
    goodIds = (await containersOf(agent.nodeName, `good-${agent.nodeName}`)).map((c) => c.Id).sort();
    expect(goodIds.length).toBeGreaterThan(0);
  });

  it('survives the worst inputs through the directory', async () => {
    agent.write('deep.json', deepJSON(3000));
    agent.write('quantity.yaml', manifest('quantity', `  containers:\n    - name: c\n      image: ${BB}\n      resources: {limits: {cpu: "1e9999999999"}}\n`));
    agent.write('dup.json', `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"dup"},"spec":{"containers":[{"name":"c","image":"${BB}","securityContext":{"privileged":false,"privileged":true}}]}}`);
    agent.write('seccomp.yaml', manifest('seccomp', `  securityContext: {seccompProfile: {type: Localhost, localhostProfile: ../../../../etc/shadow}}\n  containers:\n    - name: c\n      image: ${BB}\n`));
    agent.write('service.yaml', `apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  clusterIP: 10.96.0.77\n  ports:\n    - name: "http\\n-I INPUT 1 -j ACCEPT"\n      port: 80\n`);
    agent.write('badsecret.yaml', `apiVersion: v1\nkind: Secret\nmetadata: {name: bad}\nstringData:\n  t: {nested: ${MARKER}}\n`);
    agent.write('badsecret.json', `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"bad2"},"stringData":{"t": [${MARKER}}}`);
    agent.write('bomb.yaml', `apiVersion: v1\nkind: Pod\na: &a [x, x, x, x, x, x, x, x, x]\n${Array.from({ length: 8 }, (_, i) => `${'bcdefghi'[i]}: &${'bcdefghi'[i]} [${Array(9).fill(`*${'abcdefgh'[i]}`).join(', ')}]`).join('\n')}\n`);
    agent.write('big.yaml', `# ${'x'.repeat(11 * 1024 * 1024)}\n`);
    // Valid pods whose containers cannot be configured: an env that doubles to 268 MB, a
    // subPathExpr made from the Secret's value.
    const env = [`        - {name: V0, value: "${'x'.repeat(64)}"}`, ...Array.from({ length: 22 }, (_, i) => `        - {name: V${i + 1}, value: "$(V${i})$(V${i})"}`)].join('\n');
    agent.write('envbomb.yaml', manifest('envbomb', `  containers:\n    - name: c\n      image: ${BB}\n      command: ["sleep", "3600"]\n      env:\n${env}\n`));
    agent.write('secretpath.yaml', manifest('secretpath', `  volumes: [{name: e, emptyDir: {}}]
  containers:
    - name: c
      image: ${BB}
      command: ["sleep", "3600"]
      env: [{name: P, valueFrom: {secretKeyRef: {name: creds, key: path}}}, {name: T, valueFrom: {secretKeyRef: {name: creds, key: token}}}]
      volumeMounts: [{name: e, mountPath: /e, subPathExpr: "$(P)"}]
      args: ["$(T)$(T)$(T)"]
`));
    for (const file of ['deep.json', 'quantity.yaml', 'dup.json', 'seccomp.yaml', 'service.yaml', 'badsecret.yaml', 'badsecret.json', 'bomb.yaml', 'big.yaml']) {
      await agent.until(async () => agent.log().includes(join(agent.manifests, file)), `${file} reported`);
    }
    await agent.waitPod('envbomb', (p) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError', 'CreateContainerConfigError');
    const envbomb = (await agent.pod('envbomb'))!.status!.containerStatuses![0]!.state!.waiting!.message!;
    expect(envbomb).toMatch(/env\[\d+\] \(V\d+\): expands to more than 131072 bytes/);
    await agent.waitPod('secretpath', (p) => !!p.status?.containerStatuses?.[0]?.state?.waiting?.message, 'a waiting message');
    expect((await agent.pod('secretpath'))!.status!.containerStatuses![0]!.state!.waiting!.message).toContain('"$(P)"');
    for (const name of ['deep', 'quantity', 'dup', 'seccomp', 'bomb']) expect(await agent.pod(name)).toBeUndefined();
    expect(agent.log()).not.toMatch(/"level":60|RangeError|uncaught/i);
  });

  it('survives a URL that serves deep nesting, resets mid-body, sends too much, and stalls', async () => {
    const mark = () => agent.log().length;
    const reported = async (from: number, re: RegExp, what: string) => agent.until(async () => re.test(agent.log().slice(from)), what, 60_000);
    let from = mark();
    serve = (res) => void res.end(deepJSON(5000));
    await reported(from, /manifest URL: .*nesting deeper than/, 'deep body reported');
    from = mark();
    serve = (res) => {
      res.writeHead(200, { 'content-length': '100000' });
      res.write('apiVersion: v1\n');
      setTimeout(() => res.socket?.destroy(), 50);
    };
    await reported(from, /manifest URL: .*reading the body/, 'reset reported');
    from = mark();
    const chunk = Buffer.alloc(1 << 20, 0x20);
    serve = (res) => {
      res.writeHead(200);
      res.on('error', () => undefined);
      let n = 0;
      const more = () => {
        while (n++ < 64) if (!res.write(chunk)) return void res.once('drain', more);
        res.end();
      };
      more();
    };
    await reported(from, /manifest URL: .*Too long: more than 10485760 bytes/, 'oversized body reported');
    from = mark();
    serve = (res) => {
      res.writeHead(200);
      res.write('apiVersion: v1\n'); // and then nothing, until the agent's 10 s timeout
    };
    await reported(from, /manifest URL: .*reading the body: .*(timeout|abort)/i, 'stall reported');
    serve = (res) => void res.end(sleeper('fromurl', '3600'));
    await agent.waitPod('fromurl', (p) => p.status?.phase === 'Running', 'Running from the URL');
  });

  it('stayed up, left the good pod alone, and still applies a valid edit', async () => {
    expect(await fetch(`http://127.0.0.1:${agent.port}/healthz`).then((r) => r.status)).toBe(200);
    const now = await containersOf(agent.nodeName, `good-${agent.nodeName}`);
    expect(now.map((c) => c.Id).sort()).toEqual(goodIds);
    expect(now.every((c) => c.State === 'running')).toBe(true);
    const before = (await agent.pod('good'))!.metadata.uid;
    agent.write('good.yaml', sleeper('good', '3601'));
    await agent.waitPod('good', (p) => p.metadata.uid !== before && p.status?.phase === 'Running', 'the edit applied');
  });

  it('shows the planted secret value in no output', async () => {
    const outputs: [string, string][] = [
      ['agent log', agent.log()],
      ['/pods', await fetch(`http://127.0.0.1:${agent.port}/pods`).then((r) => r.text())],
      ['/events', await fetch(`http://127.0.0.1:${agent.port}/events`).then((r) => r.text())],
      ['/metrics', await fetch(`http://127.0.0.1:${agent.port}/metrics`).then((r) => r.text())],
    ];
    // Every file the agent keeps: checkpoints, state, pod directories (no pod mounts the Secret).
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir)) {
        const p = join(dir, e);
        const st = statSync(p, { throwIfNoEntry: false });
        if (!st) continue;
        if (st.isDirectory()) walk(p);
        else if (st.isFile() && st.size < 50 * 1024 * 1024) outputs.push([p, readFileSync(p, 'latin1')]);
      }
    };
    walk(join(agent.dir, 'root'));
    const leaks = outputs.filter(([, text]) => text.includes(MARKER)).map(([where]) => where);
    expect(leaks).toEqual([]);
    expect(outputs.length).toBeGreaterThan(4);
  });
});
