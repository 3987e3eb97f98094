import type { KubeObject } from '../../manifests/index.js';

// ConfigMaps and Secrets for pods on this node, without an API server: the documents found
// in the manifest directory are the objects of their namespace. Values are bytes.

export type ObjectData = Record<string, Buffer>;

export interface ObjectLookup {
  configMap(namespace: string, name: string): ObjectData | undefined;
  secret(namespace: string, name: string): ObjectData | undefined;
  /**
   * The token the API server issued for a pod's projected serviceAccountToken source;
   * undefined while none is issued. Absent on a node without an API server.
   */
  serviceAccountToken?(podUID: string, source: TokenSource): Buffer | undefined;
}

/** A projected serviceAccountToken source, as the token's key needs it. */
export interface TokenSource {
  audience?: string;
  expirationSeconds?: number;
}

/** One token per pod, audience and lifetime (kubelet's token manager keys them the same way). */
export function tokenKey(podUID: string, s: TokenSource): string {
  return `${podUID}/${s.audience ?? ''}/${s.expirationSeconds ?? 3600}`;
}

function key(ns: string | undefined, name: string | undefined): string {
  return `${ns || 'default'}/${name ?? ''}`;
}

function decode(obj: KubeObject): ObjectData {
  const out: ObjectData = {};
  const bin = (obj.kind === 'Secret' ? obj.data : obj.binaryData) as Record<string, string> | undefined;
  const text = (obj.kind === 'Secret' ? obj.stringData : obj.data) as Record<string, string> | undefined;
  for (const [k, v] of Object.entries(bin ?? {})) out[k] = Buffer.from(String(v), 'base64');
  // stringData wins over data for the same key, as the API server merges it.
  for (const [k, v] of Object.entries(text ?? {})) out[k] = Buffer.from(String(v), 'utf8');
  return out;
}

export class ObjectStore implements ObjectLookup {
  private configMaps = new Map<string, ObjectData>();
  private secrets = new Map<string, ObjectData>();
  private tokens?: ReadonlyMap<string, Buffer>;
  private version = 0;

  /** Replaces everything from one listing; returns true when anything changed. */
  replace(objects: KubeObject[]): boolean {
    const cms = new Map<string, ObjectData>();
    const secrets = new Map<string, ObjectData>();
    for (const o of objects) {
      if (o.kind === 'ConfigMap') cms.set(key(o.metadata?.namespace, o.metadata?.name), decode(o));
      else if (o.kind === 'Secret') secrets.set(key(o.metadata?.namespace, o.metadata?.name), decode(o));
    }
    const changed = !sameMaps(cms, this.configMaps) || !sameMaps(secrets, this.secrets);
    this.configMaps = cms;
    this.secrets = secrets;
    if (changed) this.version++;
    return changed;
  }

  configMap(namespace: string, name: string): ObjectData | undefined {
    return this.configMaps.get(key(namespace, name));
  }

  secret(namespace: string, name: string): ObjectData | undefined {
    return this.secrets.get(key(namespace, name));
  }

  /** The tokens of the pods' projected serviceAccountToken sources (with an API server only). */
  setTokens(tokens: ReadonlyMap<string, Buffer>): boolean {
    const prev = this.tokens;
    this.tokens = tokens;
    const changed = !prev || prev.size !== tokens.size || [...tokens].some(([k, v]) => !prev.get(k)?.equals(v));
    if (changed) this.version++;
    return changed;
  }

  get serviceAccountToken(): ((podUID: string, source: TokenSource) => Buffer | undefined) | undefined {
    const tokens = this.tokens;
    return tokens ? (uid, s) => tokens.get(tokenKey(uid, s)) : undefined;
  }

  /** Grows on every change: pods that use objects re-sync when it moves. */
  get generation(): number {
    return this.version;
  }
}

function sameMaps(a: Map<string, ObjectData>, b: Map<string, ObjectData>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (!w) return false;
    const keys = Object.keys(v);
    if (keys.length !== Object.keys(w).length) return false;
    for (const [kk, vb] of Object.entries(v)) if (!w[kk] || !vb.equals(w[kk])) return false;
  }
  return true;
}
