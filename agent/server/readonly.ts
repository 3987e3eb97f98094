import { createServer, type Server } from 'node:http';
import type { PodList } from '../../manifests/index.js';
import type { CoreEvent } from '../events.js';
import type { PodView } from '../pods/manager.js';
import { healthz } from './healthz.js';

// kubelet's read-only port: GET /pods (this node's pods with status) and /healthz.
// Nothing here can change a pod, and nothing here returns secret values.

export interface ReadOnlyHandlers {
  pods(): PodView[];
  events(): CoreEvent[];
  /** Prometheus text for /metrics and /metrics/probes. */
  metrics(which: 'all' | 'probes'): Promise<{ contentType: string; body: string }>;
  healthy(): boolean;
  /** Why the container runtime is not ready, undefined while it is. */
  runtimeDown?(): string | undefined;
}

export function podList(views: PodView[]): PodList {
  return {
    apiVersion: 'v1',
    kind: 'PodList',
    metadata: {},
    items: views.map(({ pod, status }) => ({ ...pod, status })),
  };
}

export function startReadOnlyServer(h: ReadOnlyHandlers, port: number, address: string): Promise<Server> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' }).end('method not allowed\n');
      return;
    }
    const hz = /^\/healthz(?:\/([a-z]+))?$/.exec(url.pathname);
    if (hz) {
      const r = healthz(h.healthy, h.runtimeDown, hz[1], url.searchParams.has('verbose'));
      res.writeHead(r.status, { 'content-type': 'text/plain' }).end(r.body);
      return;
    }
    if (url.pathname === '/pods' || url.pathname === '/pods/') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(podList(h.pods())));
      return;
    }
    if (url.pathname === '/metrics' || url.pathname === '/metrics/probes') {
      h.metrics(url.pathname === '/metrics' ? 'all' : 'probes').then(
        (m) => res.writeHead(200, { 'content-type': m.contentType }).end(m.body),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(err.message),
      );
      return;
    }
    if (url.pathname === '/events' || url.pathname === '/events/') {
      const items = h.events().filter((e) => !url.searchParams.get('namespace') || e.involvedObject.namespace === url.searchParams.get('namespace'));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ apiVersion: 'v1', kind: 'EventList', metadata: {}, items }));
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
