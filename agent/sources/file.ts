import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { KubeObject, Pod } from '../../manifests/index.js';
import { CONFIG_SEEN_ANNOTATION, ManifestError, applyPodDefaults, formatFieldErrorBody, formatRFC3339Nano, parseManifests, staticPodFromManifest, validateParsed, validateStaticPodName } from '../../manifests/index.js';
import type { Logger } from '../log.js';
import type { HeldPod } from './merge.js';
import { qosClass } from '../pods/qos.js';

// The static manifest directory (kubelet's file source): inotify for quick reaction plus a
// full re-list every fileCheckFrequency, because inotify misses events on some filesystems
// and editors replace files in odd ways.

const MANIFEST_EXT = /\.(ya?ml|json)$/i;

export interface FileProblem {
  file: string;
  messages: string[];
}

export interface FileSnapshot {
  pods: Pod[];
  /** Non-Pod objects (ConfigMap, Secret, Service...) for the parts of the agent that use them. */
  objects: KubeObject[];
  problems: FileProblem[];
  /** Pods of files that are invalid and were never read valid: kept if they run. */
  held: HeldPod[];
}

interface FileEntry {
  key: string; // mtime + size + inode: unchanged files are not parsed again
  pods: Pod[];
  objects: KubeObject[];
  problem?: FileProblem;
  /** Some version of the file was valid since the agent started. */
  everValid: boolean;
  held: HeldPod[];
}

/**
 * Reads one manifest file. A file is taken whole or not at all: when any document in it is
 * invalid, none of it is applied and the last good version of the file stays in force, so
 * a half-saved edit never stops pods that were fine.
 */
export function readManifestText(text: string, file: string, nodeName: string, seen: (uid: string) => Date, source: 'file' | 'http' = 'file'): { pods: Pod[]; objects: KubeObject[]; messages: string[]; named: { namespace: string; name: string }[] } {
  const parsed = parseManifests(text, file);
  const messages = parsed.errors.map((e) => e.message);
  const pods: Pod[] = [];
  const objects: KubeObject[] = [];
  // The pods the file names, valid or not, as the agent would run them: what an invalid
  // file still identifies among the running pods.
  const named = parsed.objects.flatMap(({ object: o }) => o.kind === 'Pod' && typeof o.metadata?.name === 'string' && o.metadata.name
    ? [{ namespace: typeof o.metadata.namespace === 'string' && o.metadata.namespace ? o.metadata.namespace : 'default', name: `${o.metadata.name}-${nodeName.toLowerCase()}` }]
    : []);
  for (const p of parsed.objects) {
    const errs = validateParsed(p);
    if (errs.length) {
      messages.push(...errs.map((e) => e.message));
      continue;
    }
    if (p.object.kind !== 'Pod') {
      objects.push(p.object);
      continue;
    }
    const nameErrs = validateStaticPodName(String(p.object.metadata?.name ?? ''), nodeName);
    if (nameErrs.length) {
      messages.push(...nameErrs.map((fe) => new ManifestError({ source: file, documentIndex: p.index, kind: 'Pod', name: String(p.object.metadata?.name), field: fe.field, detail: formatFieldErrorBody(fe), fieldError: fe }).message));
      continue;
    }
    // The QoS class is part of the identity (a resize never moves a pod to another QoS
    // cgroup); BestEffort adds nothing, so pods without resources keep their UIDs.
    const qos = qosClass(applyPodDefaults(p.object));
    const pod = staticPodFromManifest(p.object, { nodeName, source, path: file, seen: new Date(0), ...(qos === 'BestEffort' ? {} : { identity: qos }) });
    pod.metadata.annotations = { ...pod.metadata.annotations, [CONFIG_SEEN_ANNOTATION]: formatRFC3339Nano(seen(pod.metadata.uid)) };
    pods.push(pod);
  }
  return { pods, objects, messages, named };
}

export class FileSource {
  private entries = new Map<string, FileEntry>();
  private seenAt = new Map<string, Date>();
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;
  private scanning?: Promise<void>;
  private rescanQueued = false;
  private reported = new Map<string, string>();

  constructor(
    private readonly dir: string,
    private readonly nodeName: string,
    private readonly log: Logger,
    private readonly onUpdate: (s: FileSnapshot) => void,
    private readonly periodMs = 20_000,
  ) {}

  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await this.scan();
    try {
      this.watcher = watch(this.dir, { persistent: false }, () => {
        clearTimeout(this.debounce);
        // Editors write a file in several steps: read once they settle.
        this.debounce = setTimeout(() => void this.scan(), 100);
      });
      this.watcher.on('error', (err) => this.log.warn({ err: err.message, dir: this.dir }, 'manifest directory watch failed; relying on the periodic re-list'));
    } catch (err) {
      this.log.warn({ err: (err as Error).message, dir: this.dir }, 'cannot watch manifest directory; relying on the periodic re-list');
    }
    this.timer = setInterval(() => void this.scan(), this.periodMs);
  }

  stop(): void {
    this.watcher?.close();
    clearInterval(this.timer);
    clearTimeout(this.debounce);
  }

  /** Re-reads the directory; concurrent calls coalesce into one more pass. */
  scan(): Promise<void> {
    if (this.scanning) {
      this.rescanQueued = true;
      return this.scanning;
    }
    this.scanning = (async () => {
      do {
        this.rescanQueued = false;
        await this.scanOnce();
      } while (this.rescanQueued);
      this.scanning = undefined;
    })();
    return this.scanning;
  }

  private seen = (uid: string): Date => {
    let d = this.seenAt.get(uid);
    if (!d) this.seenAt.set(uid, (d = new Date()));
    return d;
  };

  private async scanOnce(): Promise<void> {
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((n) => !n.startsWith('.') && MANIFEST_EXT.test(n)).sort();
    } catch (err) {
      this.log.error({ err: (err as Error).message, dir: this.dir }, 'cannot read manifest directory');
      return;
    }
    const next = new Map<string, FileEntry>();
    for (const name of names) {
      const file = join(this.dir, name);
      const prev = this.entries.get(file);
      let key: string;
      try {
        const st = await stat(file);
        if (!st.isFile()) continue;
        key = `${st.mtimeMs}:${st.size}:${st.ino}`;
      } catch {
        continue; // removed between readdir and stat
      }
      if (prev && prev.key === key) {
        next.set(file, prev);
        continue;
      }
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        if (prev) next.set(file, prev);
        this.report(file, [`${file}: ${(err as Error).message}`]);
        continue;
      }
      const r = readManifestText(text, file, this.nodeName, this.seen);
      if (r.messages.length) {
        // Keep what the file last said when it was valid. A file never read valid (an
        // upgrade that tightened validation, a file broken while the agent was down) still
        // names its pods: those that run are held, not stopped.
        const everValid = prev?.everValid ?? false;
        const held = everValid ? [] : r.named.map((n) => ({ ...n, source: file, messages: r.messages }));
        next.set(file, { key, pods: prev?.pods ?? [], objects: prev?.objects ?? [], problem: { file, messages: r.messages }, everValid, held });
        this.report(file, r.messages, !!prev?.pods.length);
      } else {
        next.set(file, { key, pods: r.pods, objects: r.objects, everValid: true, held: [] });
        this.report(file, []);
      }
    }
    for (const file of this.reported.keys()) if (!next.has(file)) this.reported.delete(file);
    this.entries = next;
    this.emit();
  }

  private report(file: string, messages: string[], keptPrevious = false): void {
    const text = messages.join('\n');
    if (this.reported.get(file) === text) return;
    this.reported.set(file, text);
    if (messages.length) {
      this.log.error({ file, errors: messages, keptPrevious }, keptPrevious ? 'invalid manifest: keeping the last valid version of this file' : 'invalid manifest: file ignored');
    }
  }

  private emit(): void {
    const pods: Pod[] = [];
    const objects: KubeObject[] = [];
    const problems: FileProblem[] = [];
    const held: HeldPod[] = [];
    const owner = new Map<string, string>();
    for (const [file, e] of this.entries) {
      if (e.problem) problems.push(e.problem);
      held.push(...e.held);
      for (const p of e.pods) {
        const full = `${p.metadata.namespace}/${p.metadata.name}`;
        const first = owner.get(full);
        if (first) {
          problems.push({ file, messages: [`${file}: Pod "${p.metadata.name}": metadata.name: Duplicate value: also defined in ${first}; this copy is ignored`] });
          continue;
        }
        owner.set(full, file);
        pods.push(p);
      }
      objects.push(...e.objects);
    }
    const live = new Set(pods.map((p) => p.metadata.uid));
    for (const uid of this.seenAt.keys()) if (!live.has(uid)) this.seenAt.delete(uid);
    this.onUpdate({ pods, objects, problems, held });
  }
}
