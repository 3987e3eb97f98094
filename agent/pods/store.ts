import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileDurably } from '../../base/index.js';
import type { Pod, PodStatus } from '../../manifests/index.js';
import type { Logger } from '../log.js';

// What a pod record must keep across agent restarts, because the runtime cannot tell it:
// that the pod was admitted (an admitted pod is never re-checked), that it was refused or
// evicted, and the final status of a pod that finished (so that no restart of the agent, the
// engine or the host runs finished work again, even if its containers are gone).
// One JSON file per pod UID under <root-dir>/pod-records (0700), each written whole
// (0600, write to a temporary file, fsync, rename), so a crash leaves the old or the new.

export interface PersistedPod {
  uid: string;
  admitted?: boolean;
  rejected?: { reason: string; message: string };
  evicted?: { reason: string; message: string; graceSeconds: number; tag?: string };
  /** Only for a pod in a terminal phase (Succeeded, Failed). */
  final?: PodStatus;
  /** While a resize waits (resize.ts): the resources still allocated, as a pod holding only names and resources. */
  allocated?: Pod;
}

// A pod UID comes from a source (a hash for static pods, the API server's UUID): it names a
// file only when it is a plain token.
const UID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const MAX_BYTES = 1 << 20;

export class PodRecordStore {
  readonly dir: string;
  /** Writes of one UID, in the order asked (evict() and the pod's worker may both write). */
  private readonly chains = new Map<string, Promise<void>>();

  constructor(rootDir: string, private readonly log: Logger) {
    this.dir = join(rootDir, 'pod-records');
  }

  async load(): Promise<Map<string, PersistedPod>> {
    const out = new Map<string, PersistedPod>();
    const names = await readdir(this.dir).catch(() => [] as string[]);
    for (const name of names) {
      if (!name.endsWith('.json')) {
        // A temporary file a crash left behind.
        if (name.endsWith('.tmp')) await rm(join(this.dir, name), { force: true });
        continue;
      }
      const uid = name.slice(0, -'.json'.length);
      if (!UID.test(uid)) continue;
      try {
        const text = await readFile(join(this.dir, name), 'utf8');
        if (text.length > MAX_BYTES) throw new Error(`larger than ${MAX_BYTES} bytes`);
        const rec = JSON.parse(text) as PersistedPod;
        if (rec.uid !== uid) throw new Error(`holds uid ${String(rec.uid)}`);
        out.set(uid, rec);
      } catch (err) {
        // A record that cannot be read is dropped: the pod is treated as new (what the
        // runtime still holds of it is adopted as usual).
        this.log.warn({ podUID: uid, file: join(this.dir, name), err: (err as Error).message }, 'pod record unreadable; ignored');
      }
    }
    return out;
  }

  save(rec: PersistedPod): Promise<void> {
    if (!UID.test(rec.uid)) return Promise.resolve();
    const text = JSON.stringify(rec);
    const next = (this.chains.get(rec.uid) ?? Promise.resolve()).then(() => this.write(rec.uid, text)).catch((err: Error) => {
      this.log.warn({ podUID: rec.uid, err: err.message }, 'pod record not saved');
    });
    this.chains.set(rec.uid, next);
    void next.then(() => { if (this.chains.get(rec.uid) === next) this.chains.delete(rec.uid); });
    return next;
  }

  private write(uid: string, text: string): Promise<void> {
    return writeFileDurably(this.dir, `${uid}.json`, text);
  }

  remove(uid: string): Promise<void> {
    if (!UID.test(uid)) return Promise.resolve();
    const next = (this.chains.get(uid) ?? Promise.resolve()).then(() => rm(join(this.dir, `${uid}.json`), { force: true })).catch(() => undefined);
    this.chains.set(uid, next);
    void next.then(() => { if (this.chains.get(uid) === next) this.chains.delete(uid); });
    return next;
  }
}
