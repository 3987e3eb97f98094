import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { KubeObject, Pod } from '../../manifests/index.js';
import { CONFIG_SEEN_ANNOTATION, MAX_MANIFEST_BYTES, ManifestError, applyPodDefaults, capBytes, formatFieldErrorBody, formatRFC3339Nano, parseManifests, staticPodFromManifest, validateParsed, validateStaticPodName } from '../../manifests/index.js';
import { RunAgain } from '../../base/index.js';
import type { Logger } from '../log.js';
import type { HeldPod } from './merge.js';
import { qosClass } from '../vocab/index.js';

// The static manifest directory (kubelet's file source): inotify for quick reaction plus a
// full re-list every fileCheckFrequency, because inotify misses events on some filesystems
// and editors replace files in odd ways.

const MANIFEST_EXT = /\.(ya?ml|json)$/i;

/** Errors reported for one file or body: the first ones say what is wrong, a thousand more say nothing new. */
const MAX_MESSAGES = 20;

function capMessages(messages: string[]): string[] {
  if (messages.length <= MAX_MESSAGES) return messages;
  return [...messages.slice(0, MAX_MESSAGES), `... and ${messages.length - MAX_MESSAGES} more errors`];
}

/** A failure of our own code on one input: reported against that input, with its stack in the log. */
export function internalError(source: string, err: unknown, log: Logger): string {
  log.error({ source, err: err instanceof Error ? err.stack : String(err) }, 'internal error while reading a manifest; the input is ignored');
  return capBytes(`${source}: internal error while reading this manifest (see the agent log): ${err instanceof Error ? err.message : String(err)}`);
}

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
  /** Written through the kubelet API (kubectl), in MANAGED_DIR. */
  managed: boolean;
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
export function readManifestText(text: string, file: string, nodeName: string, seen: (uid: string) => Date, source: 'file' | 'http' = 'file', managed = false): { pods: Pod[]; objects: KubeObject[]; messages: string[]; named: { namespace: string; name: string }[] } {
  const parsed = parseManifests(text, file);
  const messages = parsed.errors.map((e) => e.message);
  // The pods the file names, valid or not, as the agent would run them: what an invalid
  // file still identifies among the running pods.
  const named = parsed.objects.flatMap(({ object: o }) => o.kind === 'Pod' && typeof o.metadata?.name === 'string' && o.metadata.name
    ? [{ namespace: typeof o.metadata.namespace === 'string' && o.metadata.namespace ? o.metadata.namespace : 'default', name: managed ? o.metadata.name : `${o.metadata.name}-${nodeName.toLowerCase()}` }]
    : []);
  // A document that did not parse voids the file (duplicate keys, depth): nothing of it applies.
  if (messages.length) return { pods: [], objects: [], messages: capMessages(messages), named };
  const pods: Pod[] = [];
  const objects: KubeObject[] = [];
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
    const nameErrs = managed ? [] : validateStaticPodName(String(p.object.metadata?.name ?? ''), nodeName);
    if (nameErrs.length) {
      messages.push(...nameErrs.map((fe) => new ManifestError({ source: file, documentIndex: p.index, kind: 'Pod', name: String(p.object.metadata?.name), field: fe.field, detail: formatFieldErrorBody(fe), fieldError: fe }).message));
      continue;
    }
    // The QoS class is part of the identity (a resize never moves a pod to another QoS
    // cgroup); BestEffort adds nothing, so pods without resources keep their UIDs.
    const qos = qosClass(applyPodDefaults(p.object));
    const pod = staticPodFromManifest(p.object, { nodeName, source, path: file, seen: new Date(0), keepName: managed, ...(qos === 'BestEffort' ? {} : { identity: qos }) });
    pod.metadata.annotations = { ...pod.metadata.annotations, [CONFIG_SEEN_ANNOTATION]: formatRFC3339Nano(seen(pod.metadata.uid)) };
    pods.push(pod);
  }
  return { pods, objects, messages: capMessages(messages), named };
}

class TooBig extends Error {}

/**
 * The subdirectory of the manifest directory that kubectl writes to (agent/server/writes.ts).
 * Its files are read as the others are, but their pods keep the names the client gave: a
 * client that created pod "web" reads, replaces and deletes pod "web".
 */
export const MANAGED_DIR = 'kubectl';

/** One valid file's contents, as the kubelet API needs them to serve and to refuse writes. */
export interface SourceFile {
  file: string;
  managed: boolean;
  /** The pods as the agent runs them (names included). */
  pods: Pod[];
  objects: KubeObject[];
}

export class FileSource {
  private entries = new Map<string, FileEntry>();
  private seenAt = new Map<string, Date>();
  private watcher?: FSWatcher;
  private managedWatcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;
  /** The next pass reads every file (a full pass); else only files not read before. */
  private fullWanted = true;
  private readonly scanner = new RunAgain(() => this.scanOnce().catch((err: unknown) => {
    this.log.error({ dir: this.dir, err: err instanceof Error ? err.stack : String(err) }, 'manifest directory scan failed; the next change or re-list starts again');
  }));
  private reported = new Map<string, string>();

  constructor(
    private readonly dir: string,
    private readonly nodeName: string,
    private readonly log: Logger,
    private readonly onUpdate: (s: FileSnapshot) => void,
    private readonly periodMs = 20_000,
    /** How long the directory must be quiet before a full pass reads what changed. */
    private readonly settleMs = 100,
  ) {}

  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await this.scan();
    try {
      this.watcher = watch(this.dir, { persistent: false }, () => this.changed());
      this.watcher.on('error', (err) => this.log.warn({ err: err.message, dir: this.dir }, 'manifest directory watch failed; relying on the periodic re-list'));
    } catch (err) {
      this.log.warn({ err: (err as Error).message, dir: this.dir }, 'cannot watch manifest directory; relying on the periodic re-list');
    }
    this.timer = setInterval(() => void this.scan(), this.periodMs);
  }

  /** The files read, in the order they were: hand-written first, then MANAGED_DIR's. */
  files(): SourceFile[] {
    return [...this.entries].map(([file, e]) => ({ file, managed: e.managed, pods: e.pods, objects: e.objects }));
  }

  stop(): void {
    this.managedWatcher?.close();
    this.watcher?.close();
    clearInterval(this.timer);
    clearTimeout(this.debounce);
  }

  /**
   * Re-reads the directory; concurrent calls coalesce into one more pass. Never rejects: a
   * failure of the pass itself (a bug, since each file's errors are its own) is logged with
   * its stack, and the next change or re-list starts a fresh pass.
   */
  scan(): Promise<void> {
    this.fullWanted = true;
    return this.scanner.run();
  }

  /**
   * A change in the directory. Editors write a file in several steps, so the full pass that
   * may change or stop pods waits until the events settle (100 ms after the last). A file
   * that is new and already reads valid is started at once, as kubelet reads a manifest on
   * its inotify event: a new file read half-written is at worst invalid (skipped until the
   * full pass) or short of pods (added by the full pass); nothing running is touched.
   */
  private changed(): void {
    void this.scanner.run();
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.scan();
    }, this.settleMs);
  }

  private seen = (uid: string): Date => {
    let d = this.seenAt.get(uid);
    if (!d) this.seenAt.set(uid, (d = new Date()));
    return d;
  };

  private async scanOnce(): Promise<void> {
    const full = this.fullWanted;
    this.fullWanted = false;
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((n) => !n.startsWith('.') && MANIFEST_EXT.test(n)).sort();
    } catch (err) {
      this.log.error({ err: (err as Error).message, dir: this.dir }, 'cannot read manifest directory');
      return;
    }
    const managedDir = join(this.dir, MANAGED_DIR);
    const managed = await readdir(managedDir).then((ns) => ns.filter((n) => !n.startsWith('.') && MANIFEST_EXT.test(n)).sort(), () => [] as string[]);
    if (managed.length) this.watchManaged(managedDir);
    const next = new Map<string, FileEntry>();
    // A quick pass keeps every file it knows as it was, removed ones included.
    if (!full) for (const [file, e] of this.entries) next.set(file, e);
    let added = false;
    for (const [file, isManaged] of [...names.map((n) => [join(this.dir, n), false] as const), ...managed.map((n) => [join(managedDir, n), true] as const)]) {
      const prev = this.entries.get(file);
      if (prev && !full) continue; // kept above
      let key: string;
      let size: number;
      try {
        const st = await stat(file);
        if (!st.isFile()) continue;
        key = `${st.mtimeMs}:${st.size}:${st.ino}`;
        size = st.size;
      } catch {
        continue; // removed between readdir and stat
      }
      if (prev && prev.key === key) {
        next.set(file, prev);
        continue;
      }
      let r: ReturnType<typeof readManifestText>;
      try {
        // Checked before reading: a huge file is never held in memory.
        if (size > MAX_MANIFEST_BYTES) throw new TooBig(`${file}: Too long: ${size} bytes: a manifest may have at most ${MAX_MANIFEST_BYTES} bytes`);
        const text = await readFile(file, 'utf8');
        r = readManifestText(text, file, this.nodeName, this.seen, 'file', isManaged);
      } catch (err) {
        const message = err instanceof TooBig ? err.message
          : (err as NodeJS.ErrnoException).code ? `${file}: ${(err as Error).message}`
          : internalError(file, err, this.log);
        r = { pods: [], objects: [], messages: [message], named: [] };
      }
      if (!full) {
        if (r.messages.length || !r.pods.length) continue;
        next.set(file, { key, managed: isManaged, pods: r.pods, objects: r.objects, everValid: true, held: [] });
        added = true;
        continue;
      }
      if (r.messages.length) {
        // Keep what the file last said when it was valid. A file never read valid (an
        // upgrade that tightened validation, a file broken while the agent was down) still
        // names its pods: those that run are held, not stopped.
        const everValid = prev?.everValid ?? false;
        const held = everValid ? [] : r.named.map((n) => ({ ...n, source: file, messages: r.messages }));
        next.set(file, { key, managed: isManaged, pods: prev?.pods ?? [], objects: prev?.objects ?? [], problem: { file, messages: r.messages }, everValid, held });
        this.report(file, r.messages, !!prev?.pods.length);
      } else {
        next.set(file, { key, managed: isManaged, pods: r.pods, objects: r.objects, everValid: true, held: [] });
        this.report(file, []);
      }
    }
    if (!full) {
      if (!added) return;
      this.entries = next;
      this.emit();
      return;
    }
    for (const file of this.reported.keys()) if (!next.has(file)) this.reported.delete(file);
    this.entries = next;
    this.emit();
  }

  /** Changes made in MANAGED_DIR by hand are seen at once too, not only at the next re-list. */
  private watchManaged(dir: string): void {
    if (this.managedWatcher) return;
    try {
      this.managedWatcher = watch(dir, { persistent: false }, () => this.changed());
      this.managedWatcher.on('error', () => {
        this.managedWatcher?.close();
        this.managedWatcher = undefined;
      });
    } catch {
      // The periodic re-list still sees it.
    }
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
