import type { KubeObject, Pod } from '../../manifests/index.js';

// One desired set from several sources (kubelet's config.PodConfig, merged mode). A pod
// name claimed by two sources runs once: the first source in the list wins, and the
// conflict is reported.

export interface SourceSet {
  pods: Pod[];
  objects: KubeObject[];
  /** Pods named by a manifest that is invalid and has no last valid version. */
  held?: HeldPod[];
}

/**
 * A pod that its source names but cannot give (its manifest fails validation, and the agent
 * never read a valid version of it, e.g. after an upgrade that tightened validation). Its
 * running containers are kept, not terminated as no longer desired.
 */
export interface HeldPod {
  namespace: string;
  /** The pod's name as the agent runs it (static pods: `<name>-<node>`). */
  name: string;
  /** The file or URL. */
  source: string;
  /** Why the manifest is refused: `file: Pod "x": field: ...` lines. */
  messages: string[];
}

export class SourceMerger {
  private sets = new Map<string, SourceSet>();

  constructor(private readonly order: string[]) {}

  set(source: string, s: SourceSet): void {
    this.sets.set(source, s);
  }

  /** One source's latest objects (none before it listed). */
  objectsOf(source: string): KubeObject[] {
    return this.sets.get(source)?.objects ?? [];
  }

  /** Every configured source has listed at least once. */
  get ready(): boolean {
    return this.order.every((o) => this.sets.has(o));
  }

  merged(): { pods: Pod[]; objects: KubeObject[]; held: HeldPod[]; conflicts: string[] } {
    const pods: Pod[] = [];
    const objects: KubeObject[] = [];
    const held: HeldPod[] = [];
    const conflicts: string[] = [];
    const owner = new Map<string, string>();
    for (const source of this.order) {
      const s = this.sets.get(source);
      if (!s) continue;
      for (const p of s.pods) {
        const key = `${p.metadata.namespace}/${p.metadata.name}`;
        const first = owner.get(key);
        if (first) {
          conflicts.push(`Pod "${key}" from ${source} is ignored: ${first} already defines it`);
          continue;
        }
        owner.set(key, source);
        pods.push(p);
      }
      objects.push(...s.objects);
      held.push(...(s.held ?? []));
    }
    return { pods, objects, held, conflicts };
  }
}
