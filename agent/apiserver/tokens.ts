import type { Pod } from '../../manifests/index.js';
import type { Logger } from '../log.js';
import { tokenKey, type TokenSource } from '../objects/store.js';
import { ApiRequestError, type ApiClient } from './client.js';

// Service-account tokens for the projected serviceAccountToken sources of the pods bound to
// this node (kubelet's token manager, pkg/kubelet/token/token_manager.go): each is asked for
// with the TokenRequest API, bound to the pod (name and UID, which NodeRestriction requires),
// kept in memory only, and asked for again once 80% of its lifetime has passed or it is older
// than 24 hours. Tokens of pods that left the node are dropped.

export interface IssuedToken {
  token: Buffer;
  /** When it was issued and when it expires (ms since the epoch). */
  issuedAt: number;
  expiresAt: number;
}

/** kubelet's requiresRefresh: past 80% of the lifetime, or older than a day. */
export function needsRefresh(t: Pick<IssuedToken, 'issuedAt' | 'expiresAt'>, now: number): boolean {
  if (now >= t.expiresAt) return true;
  const ttl = t.expiresAt - t.issuedAt;
  return now >= t.issuedAt + ttl * 0.8 || now - t.issuedAt > 24 * 3600_000;
}

interface Want {
  pod: Pod;
  source: TokenSource;
}

/** The token sources of each pod, by tokenKey. */
export function tokenSources(pods: Pod[]): Map<string, Want> {
  const out = new Map<string, Want>();
  for (const pod of pods) {
    for (const v of pod.spec.volumes ?? []) {
      for (const s of v.projected?.sources ?? []) {
        const t = s.serviceAccountToken;
        if (!t) continue;
        const source: TokenSource = { ...(t.audience ? { audience: t.audience } : {}), ...(t.expirationSeconds !== undefined ? { expirationSeconds: t.expirationSeconds } : {}) };
        out.set(tokenKey(pod.metadata.uid, source), { pod, source });
      }
    }
  }
  return out;
}

/** The TokenRequest body for one source of one pod. */
export function tokenRequest(pod: Pod, s: TokenSource): Record<string, unknown> {
  return {
    apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest',
    spec: {
      // No audience: the API server's own (its --api-audiences), as kubelet asks.
      audiences: s.audience ? [s.audience] : [],
      expirationSeconds: s.expirationSeconds ?? 3600,
      boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid },
    },
  };
}

export interface ServiceAccountTokensOptions {
  client: ApiClient;
  log: Logger;
  onChange: (tokens: ReadonlyMap<string, Buffer>) => void;
  now?: () => number;
  checkEveryMs?: number;
}

export class ServiceAccountTokens {
  private want = new Map<string, Want>();
  private issued = new Map<string, IssuedToken>();
  private inFlight = new Set<string>();
  private failedAt = new Map<string, number>();
  private timer?: NodeJS.Timeout;
  private reported = new Map<string, string>();
  readonly stats = { requests: 0, errors: 0 };

  constructor(private readonly o: ServiceAccountTokensOptions) {}

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  start(): void {
    this.timer = setInterval(() => this.refresh(), this.o.checkEveryMs ?? 10_000);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  setPods(pods: Pod[]): void {
    this.want = tokenSources(pods.filter((p) => !p.metadata.deletionTimestamp));
    let dropped = false;
    for (const k of this.issued.keys()) {
      if (this.want.has(k)) continue;
      this.issued.delete(k);
      dropped = true;
    }
    if (dropped) this.emit();
    this.refresh();
  }

  private emit(): void {
    this.o.onChange(new Map([...this.issued].map(([k, t]) => [k, t.token])));
  }

  private refresh(): void {
    const now = this.now();
    for (const [key, w] of this.want) {
      if (this.inFlight.has(key)) continue;
      const t = this.issued.get(key);
      if (t && !needsRefresh(t, now)) continue;
      // After a refusal, try again on the next check, not in a tight loop.
      const failed = this.failedAt.get(key);
      if (failed !== undefined && now - failed < (this.o.checkEveryMs ?? 10_000) / 2) continue;
      this.inFlight.add(key);
      void this.request(key, w).finally(() => this.inFlight.delete(key));
    }
  }

  private async request(key: string, w: Want): Promise<void> {
    const ns = w.pod.metadata.namespace || 'default';
    const sa = w.pod.spec.serviceAccountName || 'default';
    const pod = `${ns}/${w.pod.metadata.name}`;
    try {
      this.stats.requests++;
      const issuedAt = this.now();
      const tr = await this.o.client.request<{ status?: { token?: string; expirationTimestamp?: string } }>(
        'POST', `/api/v1/namespaces/${encodeURIComponent(ns)}/serviceaccounts/${encodeURIComponent(sa)}/token`, tokenRequest(w.pod, w.source));
      const token = tr.status?.token;
      const exp = Date.parse(tr.status?.expirationTimestamp ?? '');
      if (!token || !Number.isFinite(exp)) throw new Error('the TokenRequest answer has no token or expirationTimestamp');
      if (!this.want.has(key)) return; // the pod went meanwhile
      // The API server may extend the lifetime (--service-account-extend-token-expiration); the
      // refresh follows what was asked for, as kubelet's does.
      const asked = issuedAt + (w.source.expirationSeconds ?? 3600) * 1000;
      this.issued.set(key, { token: Buffer.from(token), issuedAt, expiresAt: Math.min(exp, asked) });
      this.failedAt.delete(key);
      if (this.reported.delete(key)) this.o.log.info({ pod, serviceAccount: sa }, 'service account token issued');
      this.emit();
    } catch (err) {
      this.stats.errors++;
      this.failedAt.set(key, this.now());
      const msg = err instanceof ApiRequestError ? `${err.code} ${err.message}` : (err as Error).message;
      if (this.reported.get(key) !== msg) this.o.log.warn({ pod, serviceAccount: sa }, `service account token: ${msg}`);
      this.reported.set(key, msg);
    }
  }
}
