import type { KubeObject } from '../../manifests/index.js';

// ConfigMaps and Secrets for pods on this node, without an API server: the documents found
// in the manifest directory are the objects of their namespace. Values are bytes.

export type ObjectData = Record<string, Buffer>;

export interface ObjectLookup {
  configMap(namespace: string, name: string): ObjectData | undefined;
  secret(namespace: string, name: string): ObjectData | undefined;
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
    for (const kk of keys) if (!w[kk] || !v[kk].equals(w[kk])) return false;
  }
  return true;
}
