import type { Pod } from '../../manifests/index.js';
import type { ApiClient } from './client.js';
import type { Logger } from '../log.js';
import { Reflector, type KObj } from './reflector.js';

// The ConfigMaps and Secrets of the pods bound to this node, each watched on its own (kubelet's
// watch-based configmap and secret managers, pkg/kubelet/util/manager): the Node authorizer
// lets a node read exactly the objects its pods reference, one name at a time (a list or
// watch with the field selector metadata.name=<name> in the object's namespace), and nothing
// cluster-wide. A watch starts when the first pod referencing the object arrives and stops
// when the last one goes.

export interface ObjectRef {
  kind: 'ConfigMap' | 'Secret';
  namespace: string;
  name: string;
}

export function refKey(r: ObjectRef): string {
  return `${r.kind}/${r.namespace}/${r.name}`;
}

/**
 * Every ConfigMap and Secret a pod names (podutil.VisitPodConfigmapNames and
 * VisitPodSecretNames): volumes, projected sources, env and envFrom of every container
 * kind, and image pull secrets.
 */
export function podReferences(pod: Pod): ObjectRef[] {
  const ns = pod.metadata.namespace || 'default';
  const out = new Map<string, ObjectRef>();
  const add = (kind: ObjectRef['kind'], name: string | undefined) => {
    if (!name) return;
    const r = { kind, namespace: ns, name };
    out.set(refKey(r), r);
  };
  for (const s of pod.spec.imagePullSecrets ?? []) add('Secret', s.name);
  for (const v of pod.spec.volumes ?? []) {
    add('ConfigMap', v.configMap?.name);
    add('Secret', v.secret?.secretName);
    for (const src of v.projected?.sources ?? []) {
      add('ConfigMap', src.configMap?.name);
      add('Secret', src.secret?.name);
    }
  }
  for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
    for (const e of c.envFrom ?? []) {
      add('ConfigMap', e.configMapRef?.name);
      add('Secret', e.secretRef?.name);
    }
    for (const e of c.env ?? []) {
      add('ConfigMap', e.valueFrom?.configMapKeyRef?.name);
      add('Secret', e.valueFrom?.secretKeyRef?.name);
    }
  }
  return [...out.values()];
}

/** The references of a set of pods, deduplicated. */
export function referencedObjects(pods: Pod[]): Map<string, ObjectRef> {
  const out = new Map<string, ObjectRef>();
  for (const p of pods) for (const r of podReferences(p)) out.set(refKey(r), r);
  return out;
}

export interface ReferencedObjectsOptions {
  client: ApiClient;
  log: Logger;
  /** The watched objects changed (an object appeared, changed or went). */
  onChange: (objects: KObj[]) => void;
}

export class ReferencedObjects {
  private watches = new Map<string, Reflector>();
  private running = false;

  constructor(private readonly o: ReferencedObjectsOptions) {}

  start(): void {
    this.running = true;
  }

  /** The pods bound to this node now: watches follow their references. */
  setPods(pods: Pod[]): void {
    if (!this.running) return;
    const want = referencedObjects(pods);
    let changed = false;
    for (const [key, r] of want) {
      if (this.watches.has(key)) continue;
      const plural = r.kind === 'ConfigMap' ? 'configmaps' : 'secrets';
      const w = new Reflector({
        client: this.o.client, log: this.o.log, kind: r.kind, apiVersion: 'v1',
        path: `/api/v1/namespaces/${encodeURIComponent(r.namespace)}/${plural}`,
        fieldSelector: `metadata.name=${r.name}`,
        onChange: () => this.emit(),
      });
      this.watches.set(key, w);
      w.start();
    }
    for (const [key, w] of this.watches) {
      if (want.has(key)) continue;
      this.watches.delete(key);
      void w.stop();
      changed = true;
    }
    if (changed) this.emit();
  }

  /** How many objects are watched (one watch each). */
  get size(): number {
    return this.watches.size;
  }

  private emit(): void {
    const objects: KObj[] = [];
    for (const w of this.watches.values()) objects.push(...w.snapshot());
    this.o.onChange(objects);
  }

  async stop(): Promise<void> {
    this.running = false;
    const all = [...this.watches.values()];
    this.watches.clear();
    await Promise.all(all.map((w) => w.stop()));
  }
}
