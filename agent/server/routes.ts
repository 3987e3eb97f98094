// Which endpoint a request is for (pure): kubelet's own paths and the slice of the core API
// kubectl needs. The server turns a Route into a handler call; nothing here does I/O.

import { hasLength } from '../../base/index.js';

export type StreamKind = 'exec' | 'attach' | 'portforward';

export type Route =
  | { kind: 'healthz'; check?: string }
  | { kind: 'pods' }
  | { kind: 'runningpods' }
  | { kind: 'metrics'; which: 'all' | 'probes' | 'resource' }
  | { kind: 'stats' }
  | { kind: 'configz' }
  | { kind: 'containerLogs'; namespace: string; pod: string; container: string }
  | { kind: 'stream'; stream: StreamKind; namespace: string; pod: string; uid?: string; container?: string; api: boolean }
  | { kind: 'run'; namespace: string; pod: string; uid?: string; container: string }
  | { kind: 'version' }
  | { kind: 'discovery'; doc: 'api' | 'api/v1' | 'apis' }
  | { kind: 'openapi'; doc?: 'v3' | 'v3/api/v1' }
  | { kind: 'list'; resource: Core; namespace?: string }
  | { kind: 'get'; resource: Core; namespace?: string; name: string }
  | { kind: 'podLog'; namespace: string; pod: string }
  /** A write; `verb` only for what a standalone node can write (writes.ts), the rest is refused. */
  | { kind: 'write'; resource: string; namespace?: string; name?: string; verb?: WriteVerb }
  | { kind: 'notFound' }
  | { kind: 'badMethod'; allow: string };

const seg = (s: string) => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

const READS = new Set(['GET', 'HEAD']);
const CORE = new Set(['pods', 'events', 'nodes', 'namespaces', 'configmaps', 'secrets', 'services']);
export type Core = 'pods' | 'events' | 'nodes' | 'namespaces' | 'configmaps' | 'secrets' | 'services';
const NAMESPACED = new Set(['pods', 'events', 'configmaps', 'secrets', 'services']);
const WRITABLE = new Set(['pods', 'configmaps', 'secrets', 'services']);
export type WriteVerb = 'create' | 'update' | 'patch' | 'delete';

export function route(method: string, pathname: string): Route {
  const parts = pathname.split('/').filter(Boolean).map(seg);
  const [head, ...rest] = parts;
  const read = READS.has(method);
  const readOnly = (r: Route): Route => (read ? r : { kind: 'badMethod', allow: 'GET, HEAD' });
  switch (head) {
    case undefined:
      return { kind: 'notFound' };
    case 'healthz':
      if (rest.length > 1) return { kind: 'notFound' };
      return readOnly({ kind: 'healthz', ...(rest[0] ? { check: rest[0] } : {}) });
    case 'pods':
      return rest.length ? { kind: 'notFound' } : readOnly({ kind: 'pods' });
    case 'runningpods':
      return rest.length ? { kind: 'notFound' } : readOnly({ kind: 'runningpods' });
    case 'metrics':
      if (rest.length === 0) return readOnly({ kind: 'metrics', which: 'all' });
      if (rest.length === 1 && (rest[0] === 'probes' || rest[0] === 'resource')) return readOnly({ kind: 'metrics', which: rest[0] });
      return { kind: 'notFound' };
    case 'stats':
      return rest.length === 1 && rest[0] === 'summary' ? readOnly({ kind: 'stats' }) : { kind: 'notFound' };
    case 'configz':
      return rest.length ? { kind: 'notFound' } : readOnly({ kind: 'configz' });
    case 'containerLogs':
      return hasLength(rest, 3) ? readOnly({ kind: 'containerLogs', namespace: rest[0], pod: rest[1], container: rest[2] }) : { kind: 'notFound' };
    case 'exec':
    case 'attach': {
      // /exec/{ns}/{pod}/{container} or /exec/{ns}/{pod}/{uid}/{container}
      if (!hasLength(rest, 3) && !hasLength(rest, 4)) return { kind: 'notFound' };
      if (method !== 'GET' && method !== 'POST') return { kind: 'badMethod', allow: 'GET, POST' };
      const [namespace, pod] = rest;
      return { kind: 'stream', stream: head, namespace, pod, ...(rest.length === 4 ? { uid: rest[2] } : {}), container: rest.length === 4 ? rest[3] : rest[2], api: false };
    }
    case 'portForward': {
      if (!hasLength(rest, 2) && !hasLength(rest, 3)) return { kind: 'notFound' };
      if (method !== 'GET' && method !== 'POST') return { kind: 'badMethod', allow: 'GET, POST' };
      return { kind: 'stream', stream: 'portforward', namespace: rest[0], pod: rest[1], ...(rest.length === 3 ? { uid: rest[2] } : {}), api: false };
    }
    case 'run': {
      if (!hasLength(rest, 3) && !hasLength(rest, 4)) return { kind: 'notFound' };
      if (method !== 'POST') return { kind: 'badMethod', allow: 'POST' };
      return { kind: 'run', namespace: rest[0], pod: rest[1], ...(rest.length === 4 ? { uid: rest[2] } : {}), container: rest.length === 4 ? rest[3] : rest[2] };
    }
    case 'version':
      return rest.length ? { kind: 'notFound' } : readOnly({ kind: 'version' });
    case 'openapi':
      if (!read) return { kind: 'badMethod', allow: 'GET, HEAD' };
      if (rest.length === 1 && rest[0] === 'v3') return { kind: 'openapi', doc: 'v3' };
      if (rest.length === 3 && rest.join('/') === 'v3/api/v1') return { kind: 'openapi', doc: 'v3/api/v1' };
      return { kind: 'openapi' };
    case 'apis':
      return rest.length ? { kind: 'notFound' } : readOnly({ kind: 'discovery', doc: 'apis' });
    case 'api':
      return apiRoute(method, rest);
  }
  return { kind: 'notFound' };
}

function apiRoute(method: string, rest: string[]): Route {
  if (rest.length === 0) return READS.has(method) ? { kind: 'discovery', doc: 'api' } : { kind: 'badMethod', allow: 'GET, HEAD' };
  if (rest[0] !== 'v1') return { kind: 'notFound' };
  const p = rest.slice(1);
  const read = READS.has(method);
  const guard = (r: Route, resource: string): Route => (read ? r : { kind: 'write', resource });
  const last = p.at(-1);
  if (last === undefined) return read ? { kind: 'discovery', doc: 'api/v1' } : { kind: 'badMethod', allow: 'GET, HEAD' };
  // Cluster-scoped paths and lists across namespaces: /api/v1/{resource}[/{name}]
  if ((hasLength(p, 1) || hasLength(p, 2)) && CORE.has(p[0])) {
    const resource = p[0] as Core;
    if (p.length === 1) return guard({ kind: 'list', resource }, resource);
    if (resource === 'namespaces' || resource === 'nodes') return guard({ kind: 'get', resource, name: p[1] }, resource);
    return { kind: 'notFound' };
  }
  // /api/v1/namespaces/{ns}/{resource}[/{name}[/{subresource}]]
  const [top, namespace, resource, name, sub] = p;
  if (top === 'namespaces' && namespace !== undefined && resource !== undefined) {
    if (!NAMESPACED.has(resource)) return read ? { kind: 'notFound' } : { kind: 'write', resource };
    if (name === undefined) {
      if (read) return { kind: 'list', resource: resource as Core, namespace };
      return WRITABLE.has(resource) && method === 'POST' ? { kind: 'write', resource, namespace, verb: 'create' } : { kind: 'write', resource };
    }
    if (sub === undefined) {
      if (read) return { kind: 'get', resource: resource as Core, namespace, name };
      const verb = ({ PUT: 'update', PATCH: 'patch', DELETE: 'delete' } as Record<string, WriteVerb>)[method];
      return WRITABLE.has(resource) && verb ? { kind: 'write', resource, namespace, name, verb } : { kind: 'write', resource };
    }
    if (p.length === 5 && resource === 'pods') {
      if (sub === 'log') return read ? { kind: 'podLog', namespace, pod: name } : { kind: 'badMethod', allow: 'GET' };
      if (sub === 'exec' || sub === 'attach' || sub === 'portforward') {
        if (method !== 'GET' && method !== 'POST') return { kind: 'badMethod', allow: 'GET, POST' };
        return { kind: 'stream', stream: sub, namespace, pod: name, api: true };
      }
      return read ? { kind: 'notFound' } : { kind: 'write', resource: `pods/${sub}` };
    }
  }
  return read ? { kind: 'notFound' } : { kind: 'write', resource: last };
}

/** The exec/attach options from the query: kubelet's names (input/output/error) and the API's (stdin/stdout/stderr). */
export function streamOptions(q: URLSearchParams): { command: string[]; container?: string; stdin: boolean; stdout: boolean; stderr: boolean; tty: boolean } {
  const flag = (...names: string[]) => names.some((n) => ['1', 'true', 'True'].includes(q.get(n) ?? ''));
  const present = (...names: string[]) => names.some((n) => q.has(n));
  return {
    command: q.getAll('command'),
    ...(q.get('container') ? { container: q.get('container')! } : {}),
    stdin: flag('stdin', 'input'),
    // Unset stdout and stderr default to true, as PodExecOptions documents.
    stdout: present('stdout', 'output') ? flag('stdout', 'output') : true,
    stderr: present('stderr', 'error') ? flag('stderr', 'error') : true,
    tty: flag('tty'),
  };
}

/** `ports=80,8080` or repeated `ports`/`port` parameters (kubelet's websocket port forwarding). */
export function forwardPorts(q: URLSearchParams): number[] {
  const raw = [...q.getAll('ports'), ...q.getAll('port')].flatMap((v) => v.split(','));
  return raw.map((v) => v.trim()).filter(Boolean).map((v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new RangeError(`invalid port ${JSON.stringify(v)}`);
    return n;
  });
}
