import { PassThrough } from 'node:stream';
import { constants as zc, createDeflate, createInflate } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { Pod } from '../../manifests/index.js';
import { eventRow, matches, nodeObject, nodeRow, notFound, parseFieldSelector, parseLabelSelector, podRow, readOnly, SelectorError, wantsTable, type NodeFacts } from '../../agent/server/api.js';
import { Authenticator, parseTokenFile, TokenFileError } from '../../agent/server/auth.js';
import { EXEC_PROTOCOLS, exitStatus, frame, framing, parseResize, pickProtocol } from '../../agent/server/channels.js';
import { kubeconfig, serverURL } from '../../agent/server/kubeconfig.js';
import { parseLogQuery, pickLog } from '../../agent/server/logs.js';
import { coversNames, servingNames } from '../../agent/server/pki.js';
import { forwardPorts, route, streamOptions } from '../../agent/server/routes.js';
import { controlFrame, dataFrame, decodeHeaderBlock, encodeHeaderBlock, parseFrames, SPDY_DICTIONARY, SpdySession, SYN_REPLY, SYN_STREAM, PING, FLAG_FIN } from '../../agent/server/spdy.js';
import { buildSummary, nanoCores, resourceMetrics } from '../../agent/server/stats.js';
import type { CoreEvent } from '../../agent/events.js';
import { parse } from 'yaml';
import { must } from '../support/common.js';

describe('token file and authentication', () => {
  it('parses kube-apiserver token files: quoted groups, comments, errors by line', () => {
    const t = parseTokenFile('# comment\n\nabc,alice,1001,"ops,dev"\ndef,bob,\n', 'tokens.csv');
    expect(t).toEqual([
      { token: 'abc', user: { name: 'alice', uid: '1001', groups: ['ops', 'dev'], via: 'token' } },
      { token: 'def', user: { name: 'bob', uid: undefined, groups: [], via: 'token' } },
    ]);
    expect(() => parseTokenFile('abc,alice\n', 'f')).toThrow(/f:1: expected token,user,uid/);
    expect(() => parseTokenFile('a,b,c\na,d,e\n', 'f')).toThrow(/f:2: duplicate token/);
    expect(() => parseTokenFile('a,b,c,"x\n', 'f')).toThrow(TokenFileError);
  });

  it('takes a valid token or a verified certificate, refuses anything else with 401', () => {
    const a = new Authenticator(parseTokenFile('good,alice,1\n'));
    expect(a.authenticate('Bearer good', undefined, false)).toMatchObject({ ok: true, user: { name: 'alice' } });
    expect(a.authenticate('Bearer bad', undefined, false)).toMatchObject({ ok: false, status: 401 });
    expect(a.authenticate('Basic Zm9vOmJhcg==', undefined, false)).toMatchObject({ ok: false, status: 401 });
    expect(a.authenticate(undefined, undefined, false)).toMatchObject({ ok: false, reason: 'anonymous access is not allowed' });
    const cert = { subject: { CN: 'carol', O: ['ops', 'sre'] } };
    expect(a.authenticate(undefined, cert, true)).toEqual({ ok: true, user: { name: 'carol', groups: ['ops', 'sre'], via: 'x509' } });
    // Not verified against the client CA: no identity.
    expect(a.authenticate(undefined, cert, false).ok).toBe(false);
    // A wrong token is not rescued by a good certificate.
    expect(a.authenticate('Bearer bad', cert, true).ok).toBe(false);
  });
});

describe('routes', () => {
  it('maps kubelet paths and the core API', () => {
    expect(route('GET', '/healthz/syncloop')).toEqual({ kind: 'healthz', check: 'syncloop' });
    expect(route('GET', '/metrics/resource')).toEqual({ kind: 'metrics', which: 'resource' });
    expect(route('GET', '/stats/summary')).toEqual({ kind: 'stats' });
    expect(route('GET', '/containerLogs/ns/p/c')).toEqual({ kind: 'containerLogs', namespace: 'ns', pod: 'p', container: 'c' });
    expect(route('POST', '/exec/ns/p/uid1/c')).toEqual({ kind: 'stream', stream: 'exec', namespace: 'ns', pod: 'p', uid: 'uid1', container: 'c', api: false });
    expect(route('GET', '/portForward/ns/p')).toEqual({ kind: 'stream', stream: 'portforward', namespace: 'ns', pod: 'p', api: false });
    expect(route('GET', '/run/ns/p/c')).toEqual({ kind: 'badMethod', allow: 'POST' });
    expect(route('GET', '/api/v1/namespaces/ns/pods/p/exec')).toEqual({ kind: 'stream', stream: 'exec', namespace: 'ns', pod: 'p', api: true });
    expect(route('GET', '/api/v1/namespaces/ns/pods/p/log')).toEqual({ kind: 'podLog', namespace: 'ns', pod: 'p' });
    expect(route('GET', '/api/v1/pods')).toEqual({ kind: 'list', resource: 'pods' });
    expect(route('GET', '/api/v1/nodes/n1')).toEqual({ kind: 'get', resource: 'nodes', name: 'n1' });
    expect(route('DELETE', '/api/v1/namespaces/ns/pods/p')).toEqual({ kind: 'write', resource: 'pods', namespace: 'ns', name: 'p', verb: 'delete' });
    expect(route('POST', '/api/v1/namespaces/ns/configmaps')).toEqual({ kind: 'write', resource: 'configmaps', namespace: 'ns', verb: 'create' });
    expect(route('PATCH', '/api/v1/namespaces/ns/services/s')).toEqual({ kind: 'write', resource: 'services', namespace: 'ns', name: 's', verb: 'patch' });
    expect(route('PUT', '/api/v1/namespaces/ns/secrets/s')).toEqual({ kind: 'write', resource: 'secrets', namespace: 'ns', name: 's', verb: 'update' });
    // What a standalone node does not write: refused without a verb.
    expect(route('DELETE', '/api/v1/namespaces/ns/pods')).toEqual({ kind: 'write', resource: 'pods' });
    expect(route('PUT', '/api/v1/namespaces/ns/pods/p/status')).toEqual({ kind: 'write', resource: 'pods/status' });
    expect(route('POST', '/api/v1/namespaces/ns/events')).toEqual({ kind: 'write', resource: 'events' });
    expect(route('GET', '/api/v1/namespaces/ns/configmaps/c')).toEqual({ kind: 'get', resource: 'configmaps', namespace: 'ns', name: 'c' });
    expect(route('GET', '/openapi/v3')).toEqual({ kind: 'openapi', doc: 'v3' });
    expect(route('GET', '/openapi/v3/api/v1')).toEqual({ kind: 'openapi', doc: 'v3/api/v1' });
    expect(route('PUT', '/pods')).toEqual({ kind: 'badMethod', allow: 'GET, HEAD' });
    expect(route('GET', '/apis/apps/v1')).toEqual({ kind: 'notFound' });
  });

  it('reads exec options in the API\'s and kubelet\'s names, and port lists', () => {
    expect(streamOptions(new URLSearchParams('command=sh&command=-c&command=id&input=1&tty=1'))).toEqual({ command: ['sh', '-c', 'id'], stdin: true, stdout: true, stderr: true, tty: true });
    expect(streamOptions(new URLSearchParams('command=id&container=c&stdout=true&stderr=false'))).toEqual({ command: ['id'], container: 'c', stdin: false, stdout: true, stderr: false, tty: false });
    expect(forwardPorts(new URLSearchParams('ports=80,8080&ports=9090'))).toEqual([80, 8080, 9090]);
    expect(() => forwardPorts(new URLSearchParams('ports=0'))).toThrow(/invalid port/);
  });
});

const pod = (over: Partial<Pod['status']> = {}): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web', namespace: 'default', uid: 'u1', labels: { app: 'web', tier: 'fe' }, creationTimestamp: '2024-01-01T00:00:00Z' },
  spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'i' }] },
  status: { phase: 'Running', podIP: '10.244.0.5', containerStatuses: [{ name: 'c', ready: true, restartCount: 2, image: 'i', imageID: '', state: { running: { startedAt: '2024-01-01T00:00:00Z' } }, lastState: { terminated: { exitCode: 1, finishedAt: '2024-01-01T00:04:00Z' } } }], ...over },
} as Pod);

describe('core API objects', () => {
  it('selectors', () => {
    const l = parseLabelSelector('app=web,tier in (fe,be),!canary,env notin (prod)');
    expect(matches(l, (k) => ({ app: 'web', tier: 'fe' } as Record<string, string>)[k])).toBe(true);
    expect(matches(l, (k) => ({ app: 'web', tier: 'fe', canary: '1' } as Record<string, string>)[k])).toBe(false);
    expect(() => parseFieldSelector('spec.foo=bar', ['metadata.name'], 'pods')).toThrow(SelectorError);
    expect(() => parseFieldSelector('metadata.name in (a)', ['metadata.name'], 'pods')).toThrow(SelectorError);
  });

  it('Tables as kubectl asks for them', () => {
    expect(wantsTable('application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json')).toBe('v1');
    expect(wantsTable('application/json')).toBeUndefined();
    expect(wantsTable(undefined)).toBeUndefined();
    const row = podRow(pod(), Date.parse('2024-01-01T00:10:00Z'), 'Metadata');
    expect(row.cells).toEqual(['web', '1/1', 'Running', '2 (6m ago)', '10m', '10.244.0.5', 'n1', '<none>', '<none>']);
    expect(row.object).toMatchObject({ kind: 'PartialObjectMetadata', metadata: { name: 'web', namespace: 'default' } });
    const ev = { metadata: { name: 'web.1', namespace: 'default', uid: 'e', creationTimestamp: '' }, involvedObject: { kind: 'Pod', name: 'web', namespace: 'default', uid: 'u1', apiVersion: 'v1', fieldPath: 'spec.containers{c}' }, reason: 'Started', message: 'Started container c', source: { component: 'kubelet', host: 'n1' }, firstTimestamp: '2024-01-01T00:00:00Z', lastTimestamp: '2024-01-01T00:09:00Z', count: 3, type: 'Normal' } as unknown as CoreEvent;
    expect(eventRow(ev, Date.parse('2024-01-01T00:10:00Z'), 'None').cells).toEqual(['60s', 'Normal', 'Started', 'pod/web', 'spec.containers{c}', 'kubelet, n1', 'Started container c', '10m', 3, 'web.1']);
  });

  it('the Node object and its row', () => {
    const facts: NodeFacts = { name: 'n1', uid: 'x', createdAt: '2024-01-01T00:00:00Z', address: '192.0.2.2', hostname: 'n1', podCIDR: '10.244.0.0/16', unschedulable: true, cpus: 4, memoryBytes: 8 * 1024 ** 3, ephemeralBytes: 100 * 1024 ** 3, maxPods: 110, machineID: 'm', systemUUID: 's', bootID: 'b', kernelVersion: '6.1', osImage: 'Debian', containerRuntimeVersion: 'docker://20.10', arch: 'amd64', port: 10250, ready: true, readyMessage: 'ok', heartbeat: '2024-01-01T00:01:00Z' };
    const n = nodeObject(facts);
    expect(n.metadata.labels).toMatchObject({ 'kubernetes.io/hostname': 'n1', 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' });
    expect(n.status).toMatchObject({ capacity: { cpu: '4', memory: '8388608Ki', pods: '110', 'ephemeral-storage': '104857600Ki' }, addresses: [{ type: 'InternalIP', address: '192.0.2.2' }, { type: 'Hostname', address: 'n1' }] });
    expect(nodeRow(n, Date.parse('2024-01-01T01:00:00Z'), 'None').cells.slice(0, 5)).toEqual(['n1', 'Ready,SchedulingDisabled', '<none>', '60m', 'v1.36.3-bosun']);
  });

  it('Status objects', () => {
    expect(notFound('pods', 'x')).toMatchObject({ code: 404, reason: 'NotFound', message: 'pods "x" not found' });
    expect(readOnly('DELETE', '/etc/kubernetes/manifests')).toMatchObject({ code: 405, reason: 'MethodNotAllowed', message: expect.stringContaining('edit the manifest directory (/etc/kubernetes/manifests)') });
    expect(readOnly('DELETE', '/etc/kubernetes/manifests', true)).toMatchObject({ code: 405, message: expect.stringContaining('through its API server') });
  });
});

describe('channel protocol', () => {
  it('frames, exit statuses, resize messages, protocol choice', () => {
    expect(frame(1, 'hi')).toEqual(Buffer.from([1, 0x68, 0x69]));
    expect(exitStatus(0)).toMatchObject({ status: 'Success' });
    expect(exitStatus(7)).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '7' }] } });
    expect(parseResize(Buffer.from('{"Width":80,"Height":24}'))).toEqual({ width: 80, height: 24 });
    expect(parseResize(Buffer.from('{"Width":-1}'))).toBeUndefined();
    expect(parseResize(Buffer.from('nope'))).toBeUndefined();
    expect(pickProtocol(['v5.channel.k8s.io', 'v4.channel.k8s.io'], ['v5.channel.k8s.io', 'v4.channel.k8s.io'])).toBe('v5.channel.k8s.io');
    expect(pickProtocol(['base64.channel.k8s.io'], ['v5.channel.k8s.io'])).toBeUndefined();
  });

  it('exec speaks the protocols kubelet keeps, base64 ones as text messages with an ASCII channel digit', () => {
    expect(pickProtocol(['channel.k8s.io'], EXEC_PROTOCOLS)).toBe('channel.k8s.io');
    expect(pickProtocol(['base64.channel.k8s.io'], EXEC_PROTOCOLS)).toBe('base64.channel.k8s.io');
    const sent: [unknown, unknown][] = [];
    const ws = { send: (d: unknown, o: { binary: boolean }) => sent.push([d, o.binary]) } as never;
    framing('base64.channel.k8s.io').send(ws, 1, Buffer.from('hi'));
    framing('channel.k8s.io').send(ws, 2, Buffer.from('hi'));
    expect(sent).toEqual([['1aGk=', false], [Buffer.from([2, 0x68, 0x69]), true]]);
    expect(framing('base64.channel.k8s.io').read(Buffer.from('0aGk='), false)).toEqual({ channel: 0, body: Buffer.from('hi') });
    expect(framing('base64.channel.k8s.io').read(Buffer.from('x'), false)).toBeUndefined();
    expect(framing('v4.channel.k8s.io').read(Buffer.from([0, 0x68]), true)).toEqual({ channel: 0, body: Buffer.from('h') });
  });
});

describe('SPDY/3.1 server side', () => {
  it('has the 1423-byte SPDY/3 dictionary and round-trips frames and header blocks', () => {
    expect(SPDY_DICTIONARY.length).toBe(1423);
    const h = { streamtype: 'data', port: '8080', requestid: '0' };
    expect(decodeHeaderBlock(encodeHeaderBlock(h))).toEqual(h);
    const bytes = Buffer.concat([controlFrame(PING, 0, Buffer.from([0, 0, 0, 1])), dataFrame(3, FLAG_FIN, Buffer.from('abc')), Buffer.from([0x80])]);
    const { frames, rest } = parseFrames(bytes);
    expect(frames).toEqual([{ control: true, type: PING, flags: 0, data: Buffer.from([0, 0, 0, 1]) }, { control: false, streamId: 3, flags: FLAG_FIN, data: Buffer.from('abc') }]);
    expect(rest).toEqual(Buffer.from([0x80]));
  });

  it('accepts a stream the client opens (compressed headers), replies, carries data both ways, answers pings', async () => {
    const client = new PassThrough();
    const server = new PassThrough();
    // The session reads what the client writes and writes into `server`.
    const duplex = new (await import('node:stream')).Duplex({
      read() {},
      write(chunk, _e, cb) {
        server.write(chunk);
        cb();
      },
    });
    client.on('data', (d: Buffer) => duplex.push(d));
    const got: { headers: Record<string, string>; data: string }[] = [];
    const session = new SpdySession(duplex, (s) => {
      s.reply();
      let data = '';
      s.on('data', (d: Buffer) => (data += d.toString()));
      s.on('end', () => {
        got.push({ headers: s.headers, data });
        s.end('pong-data');
      });
    });
    // The client's side: one zlib context with the dictionary for its header blocks.
    const deflate = createDeflate({ dictionary: SPDY_DICTIONARY });
    const compress = (b: Buffer) => new Promise<Buffer>((res) => {
      const out: Buffer[] = [];
      const on = (c: Buffer) => out.push(c);
      deflate.on('data', on);
      deflate.write(b);
      deflate.flush(zc.Z_SYNC_FLUSH, () => {
        deflate.off('data', on);
        res(Buffer.concat(out));
      });
    });
    const syn = Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 0, 0, 0, 0, 0]), await compress(encodeHeaderBlock({ streamtype: 'data', port: '80', requestid: '7' }))]);
    client.write(controlFrame(SYN_STREAM, 0, syn));
    client.write(dataFrame(1, 0, Buffer.from('hello ')));
    client.write(dataFrame(1, FLAG_FIN, Buffer.from('server')));
    client.write(controlFrame(PING, 0, Buffer.from([0, 0, 0, 5])));
    const received: Buffer[] = [];
    server.on('data', (d: Buffer) => received.push(d));
    for (let i = 0; i < 100 && !Buffer.concat(received).includes(Buffer.from('pong-data')); i++) await new Promise((r) => setTimeout(r, 10));
    expect(got).toEqual([{ headers: { streamtype: 'data', port: '80', requestid: '7' }, data: 'hello server' }]);
    const frames = parseFrames(Buffer.concat(received)).frames;
    const reply = frames.find((f) => f.control && f.type === SYN_REPLY)!;
    expect(reply.data.readUInt32BE(0)).toBe(1);
    // The reply's header block inflates with the dictionary (an empty set).
    const inflate = createInflate({ dictionary: SPDY_DICTIONARY });
    const block = await new Promise<Buffer>((res) => {
      const out: Buffer[] = [];
      inflate.on('data', (c: Buffer) => out.push(c));
      inflate.write(reply.data.subarray(4));
      inflate.flush(zc.Z_SYNC_FLUSH, () => res(Buffer.concat(out)));
    });
    expect(decodeHeaderBlock(block)).toEqual({});
    expect(frames.some((f) => f.control && f.type === PING && f.data.readUInt32BE(0) === 5)).toBe(true);
    const data = frames.filter((f) => !f.control && f.streamId === 1);
    expect(Buffer.concat(data.map((f) => f.data)).toString()).toBe('pong-data');
    expect(must(data.at(-1), 'a data frame').flags & FLAG_FIN).toBe(FLAG_FIN);
    session.close();
    deflate.close();
    inflate.close();
  });
});

describe('logs, stats, pki, kubeconfig', () => {
  it('log queries and which file to read', () => {
    expect(parseLogQuery(new URLSearchParams('tailLines=5&timestamps=true&follow=1'))).toEqual({ tailLines: 5, timestamps: true, previous: false, follow: true });
    expect(parseLogQuery(new URLSearchParams('sinceSeconds=0'))).toMatchObject({ code: 400 });
    expect(parseLogQuery(new URLSearchParams('sinceSeconds=5&sinceTime=2024-01-01T00:00:00Z'))).toMatchObject({ code: 400 });
    const p = pod();
    expect(pickLog(p, p.status!, { container: 'x', timestamps: false, previous: false, follow: false }, '/nonexistent')).toMatchObject({ code: 400, message: 'container x is not valid for pod web' });
    expect(pickLog(p, p.status!, { timestamps: false, previous: true, follow: false }, '/nonexistent')).toMatchObject({ message: 'previous terminated container "c" in pod "web" not found' });
  });

  it('CPU rates and the summary shape', async () => {
    expect(nanoCores({ t: 2000, ns: 3e9 }, { t: 1000, ns: 2.5e9 })).toBe(5e8);
    expect(nanoCores({ t: 2000, ns: 3e9 })).toBeUndefined();
    const stats = { timestamp: 2000, cpuUsageCoreNanoSeconds: 4e9, memoryUsageBytes: 300, memoryWorkingSetBytes: 200, memoryRssBytes: 100, pageFaults: 1, majorPageFaults: 0, networks: [], writableLayerBytes: 10 };
    const fs = { capacityBytes: 1000, availableBytes: 400, usedBytes: 600, inodes: 100, inodesFree: 40 };
    const s = buildSummary({
      nodeName: 'n1', nodeStartTime: 0,
      node: { time: 2000, cpuUsageCoreNanoSeconds: 9e9, memory: { totalBytes: 1000, availableBytes: 600, freeBytes: 500, pageFaults: 0, majorPageFaults: 0 }, interfaces: [{ name: 'eth0', rxBytes: 1, rxErrors: 0, txBytes: 2, txErrors: 0 }], fs, maxPid: 100, processes: 10 },
      previousNode: { time: 1000, cpuUsageCoreNanoSeconds: 8e9 },
      pods: [{ name: 'p', namespace: 'ns', uid: 'u', startTime: 0, containers: [{ name: 'c', startTime: 0, stats, previous: { timestamp: 1000, cpuUsageCoreNanoSeconds: 3e9 }, logsBytes: 5 }], sandbox: { ...stats, networks: [{ name: 'eth0', rxBytes: 7, rxErrors: 0, txBytes: 8, txErrors: 0 }] }, volumes: [{ name: 'v', usedBytes: 3, inodesUsed: 1 }] }],
    }) as { node: Record<string, Record<string, unknown>>; pods: Record<string, unknown>[] };
    expect(s.node.cpu).toMatchObject({ usageNanoCores: 1e9, usageCoreNanoSeconds: 9e9 });
    expect(s.node.memory).toMatchObject({ workingSetBytes: 400, usageBytes: 500 });
    expect(s.pods[0]).toMatchObject({ cpu: { usageNanoCores: 1e9 }, network: { rxBytes: 7 }, 'ephemeral-storage': { usedBytes: 18 }, volume: [{ name: 'v', usedBytes: 3 }] });
    const m = await resourceMetrics(s, false);
    expect(m.body).toMatch(/^container_cpu_usage_seconds_total\{(?=[^}]*container="c")(?=[^}]*namespace="ns")(?=[^}]*pod="p")[^}]*\} 4$/m);
    expect(m.body).toContain('scrape_error 0');
  });

  it('serving names and the kubeconfig', () => {
    expect(servingNames('n1', ['192.0.2.2'])).toEqual({ dns: ['localhost', 'n1'], ips: ['127.0.0.1', '::1', '192.0.2.2'] });
    expect(coversNames('not a cert', { dns: [], ips: [] })).toBe(false);
    expect(serverURL('0.0.0.0', 10250)).toBe('https://127.0.0.1:10250');
    expect(serverURL('::1', 10250)).toBe('https://[::1]:10250');
    const kc = parse(kubeconfig({ nodeName: 'n1', server: 'https://127.0.0.1:10250', caPem: 'PEM', user: 'bosun-admin', token: 't' }));
    expect(kc).toMatchObject({ kind: 'Config', 'current-context': 'bosun-n1', clusters: [{ cluster: { server: 'https://127.0.0.1:10250', 'certificate-authority-data': Buffer.from('PEM').toString('base64') } }], users: [{ user: { token: 't' } }] });
  });
});

describe('KUBE_VERSION', () => {
  it('is the release of the control plane the cluster tests run (scripts/cluster/k8s/go.mod), tagged -bosun', async () => {
    const { KUBE_VERSION } = await import('../../agent/vocab/index.js');
    const { readFileSync } = await import('node:fs');
    const pinned = /^\s*k8s\.io\/kubernetes (v\d+\.\d+\.\d+)\b/m.exec(readFileSync('scripts/cluster/k8s/go.mod', 'utf8'))?.[1];
    expect(pinned).toBeDefined();
    expect(KUBE_VERSION.gitVersion).toBe(`${pinned}-bosun`);
    expect(`v${KUBE_VERSION.major}.${KUBE_VERSION.minor}.`).toBe(pinned?.replace(/\d+$/, ''));
  });
});
