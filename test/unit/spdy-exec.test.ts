import { describe, expect, it } from 'vitest';
import { expectedStreams, splitJsonObjects } from '../../agent/server/spdy-exec.js';
import { forbiddenMessage, requestAttributes } from '../../agent/server/webhook.js';

describe('remotecommand over SPDY', () => {
  it('expects the error stream, then the ones the query asks for; stderr is folded into a TTY, resize comes with one', () => {
    expect(expectedStreams({ stdin: true, stdout: true, stderr: true, tty: false })).toEqual(['error', 'stdin', 'stdout', 'stderr']);
    expect(expectedStreams({ stdin: true, stdout: true, stderr: true, tty: true })).toEqual(['error', 'stdin', 'stdout', 'resize']);
    expect(expectedStreams({ stdin: false, stdout: true, stderr: false, tty: false })).toEqual(['error', 'stdout']);
  });

  it('splits the resize stream into TerminalSize objects whatever the chunking', () => {
    const all = '{"Width":80,"Height":24}{"Width":100,"Height":"}{"}\n{"Width":1,"Height":2}';
    const got: string[] = [];
    let rest = '';
    for (const ch of all) {
      const r = splitJsonObjects(rest + ch);
      got.push(...r.objects);
      rest = r.rest;
    }
    expect(got.map((o) => JSON.parse(o))).toEqual([{ Width: 80, Height: 24 }, { Width: 100, Height: '}{' }, { Width: 1, Height: 2 }]);
    expect(rest).toBe('');
  });
});

describe('webhook authorization attributes (kubelet GetRequestAttributes)', () => {
  it('maps method and path to verb and nodes subresource; pods, healthz and configz fall back to proxy', () => {
    expect(requestAttributes('POST', '/exec/default/web/c', 'n1')).toEqual({ attrs: { verb: 'create', resource: 'nodes', subresource: 'proxy', name: 'n1' } });
    expect(requestAttributes('GET', '/containerLogs/default/web/c', 'n1').attrs.subresource).toBe('proxy');
    expect(requestAttributes('GET', '/stats/summary', 'n1').attrs).toMatchObject({ verb: 'get', subresource: 'stats' });
    expect(requestAttributes('GET', '/metrics/cadvisor', 'n1').attrs.subresource).toBe('metrics');
    expect(requestAttributes('GET', '/logs/syslog', 'n1').attrs.subresource).toBe('log');
    expect(requestAttributes('GET', '/pods', 'n1')).toEqual({ attrs: { verb: 'get', resource: 'nodes', subresource: 'pods', name: 'n1' }, fallback: { verb: 'get', resource: 'nodes', subresource: 'proxy', name: 'n1' } });
    expect(forbiddenMessage({ name: 'alice', groups: [], via: 'token' }, requestAttributes('POST', '/exec/a/b/c', 'n1').attrs)).toBe('Forbidden (user=alice, verb=create, resource=nodes, subresource=proxy)');
  });
});
