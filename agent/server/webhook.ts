import { createHash } from 'node:crypto';
import type { User } from './auth.js';

// kubelet's webhook authentication and authorization (--authentication-token-webhook,
// --authorization-mode=Webhook; pkg/kubelet/server/auth.go): a bearer token the node does not
// know is sent to the API server as a TokenReview, and every request is checked with a
// SubjectAccessReview on the Node object: verb from the HTTP method, resource "nodes", a
// subresource from the path. Answers are cached as kubelet caches them (tokens 2 minutes;
// allowed 5 minutes, denied 30 seconds).

/** The part of the API client the reviews need (agent/apiserver's ApiClient has it). */
export interface ReviewClient {
  request<T>(method: string, path: string, body?: unknown): Promise<T>;
}

export interface RequestAttributes {
  verb: string;
  resource: 'nodes';
  subresource: string;
  name: string;
}

const VERBS: Record<string, string> = { GET: 'get', HEAD: 'get', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

/**
 * The attributes kubelet checks for a request: the subresource follows the path (/stats ->
 * stats, /metrics -> metrics, /logs -> log, /pods -> pods, /healthz -> healthz, /configz ->
 * configz, /spec -> spec, /checkpoint -> checkpoint), anything else (exec, attach,
 * portForward, containerLogs, run) is "proxy". With fine-grained authorization the first
 * three newer ones fall back to "proxy" when refused: `fallback` says so.
 */
export function requestAttributes(method: string, path: string, nodeName: string): { attrs: RequestAttributes; fallback?: RequestAttributes } {
  const verb = VERBS[method.toUpperCase()] ?? method.toLowerCase();
  const seg = path.split('/')[1] ?? '';
  const sub = ({ stats: 'stats', metrics: 'metrics', logs: 'log', spec: 'spec', checkpoint: 'checkpoint', pods: 'pods', healthz: 'healthz', configz: 'configz' } as Record<string, string>)[seg] ?? 'proxy';
  const attrs: RequestAttributes = { verb, resource: 'nodes', subresource: sub, name: nodeName };
  return ['pods', 'healthz', 'configz'].includes(sub) ? { attrs, fallback: { ...attrs, subresource: 'proxy' } } : { attrs };
}

/** kubelet's message for a refused request. */
export function forbiddenMessage(user: User, a: RequestAttributes): string {
  return `Forbidden (user=${user.name}, verb=${a.verb}, resource=${a.resource}, subresource=${a.subresource})`;
}

interface Cached<T> { value: T; until: number }

export class WebhookAuth {
  private tokens = new Map<string, Cached<User | undefined>>();
  private decisions = new Map<string, Cached<boolean>>();

  constructor(private readonly client: ReviewClient, private readonly now: () => number = Date.now) {}

  /** The user a TokenReview names for this token; undefined when the API server says it is not valid. */
  async reviewToken(token: string): Promise<User | undefined> {
    const key = createHash('sha256').update(token).digest('hex');
    const hit = this.tokens.get(key);
    if (hit && hit.until > this.now()) return hit.value;
    const r = await this.client.request<{ status?: { authenticated?: boolean; user?: { username?: string; uid?: string; groups?: string[] } } }>(
      'POST', '/apis/authentication.k8s.io/v1/tokenreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } });
    const u = r.status?.authenticated && r.status.user?.username
      ? { name: r.status.user.username, ...(r.status.user.uid ? { uid: r.status.user.uid } : {}), groups: r.status.user.groups ?? [], via: 'token' as const }
      : undefined;
    this.remember(this.tokens, key, u, 120_000);
    return u;
  }

  /** True when a SubjectAccessReview allows the user these attributes. */
  async allowed(user: User, a: RequestAttributes): Promise<boolean> {
    const key = JSON.stringify([user.name, user.uid ?? '', user.groups, a]);
    const hit = this.decisions.get(key);
    if (hit && hit.until > this.now()) return hit.value;
    const r = await this.client.request<{ status?: { allowed?: boolean } }>('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview',
      spec: { user: user.name, ...(user.uid ? { uid: user.uid } : {}), groups: user.groups, resourceAttributes: { verb: a.verb, resource: a.resource, subresource: a.subresource, name: a.name } },
    });
    const ok = r.status?.allowed === true;
    this.remember(this.decisions, key, ok, ok ? 300_000 : 30_000);
    return ok;
  }

  private remember<T>(m: Map<string, Cached<T>>, key: string, value: T, ttl: number): void {
    if (m.size > 4096) m.clear(); // a bound, not an LRU: a flood of distinct keys only costs reviews
    m.set(key, { value, until: this.now() + ttl });
  }
}
