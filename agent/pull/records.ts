import { createHash } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileDurably } from '../../base/index.js';
import type { PulledRecord } from './verify.js';

// kubelet's image pull records (pullmanager/fs_pullrecords.go), under
// <root-dir>/image_manager (0700): pulled/sha256-<sha256 of the image id> holds the
// credentials that worked for that image (hashes and Secret coordinates, never the
// credentials), pulling/sha256-<sha256 of the image name> marks a pull under way, so an
// image whose pull the agent did not see finish still counts as pulled by it. Files are
// written whole (0600, temporary file, fsync, rename).

const MAX_BYTES = 1 << 20;

const fileName = (key: string) => `sha256-${createHash('sha256').update(key).digest('hex')}`;

export class PullRecords {
  readonly dir: string;
  private readonly intents = new Map<string, number>();

  constructor(rootDir: string) {
    this.dir = join(rootDir, 'image_manager');
  }

  /** The record of an image id; throws when a record exists but cannot be read (the caller then verifies). */
  async pulled(imageRef: string): Promise<PulledRecord | undefined> {
    let text: string;
    try {
      text = await readFile(join(this.dir, 'pulled', fileName(imageRef)), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    if (text.length > MAX_BYTES) throw new Error(`pull record of ${imageRef}: larger than ${MAX_BYTES} bytes`);
    const rec = JSON.parse(text) as PulledRecord;
    if (rec?.imageRef !== imageRef || typeof rec.credentialMapping !== 'object' || rec.credentialMapping === null) throw new Error(`pull record of ${imageRef}: not a record of this image`);
    return rec;
  }

  /** Every readable record (for pruning). */
  async listPulled(): Promise<PulledRecord[]> {
    const out: PulledRecord[] = [];
    for (const n of await readdir(join(this.dir, 'pulled')).catch(() => [] as string[])) {
      if (!n.startsWith('sha256-')) continue;
      try {
        const rec = JSON.parse(await readFile(join(this.dir, 'pulled', n), 'utf8')) as PulledRecord;
        if (typeof rec.imageRef === 'string' && fileName(rec.imageRef) === n) out.push(rec);
      } catch {
        // Unreadable: pulled() refuses it too, so the image is verified; left for a person to see.
      }
    }
    return out;
  }

  async deletePulled(imageRef: string): Promise<void> {
    await rm(join(this.dir, 'pulled', fileName(imageRef)), { force: true });
  }

  async writePulled(rec: PulledRecord): Promise<void> {
    await this.write('pulled', fileName(rec.imageRef), `${JSON.stringify({ kind: 'ImagePulledRecord', ...rec })}\n`);
  }

  /** A pull of this image starts: counted in memory, and on disk for the next agent. */
  async startPull(image: string): Promise<void> {
    this.intents.set(image, (this.intents.get(image) ?? 0) + 1);
    await this.write('pulling', fileName(image), `${JSON.stringify({ kind: 'ImagePullIntent', image })}\n`);
  }

  /** The pull ended (either way); the mark goes with the last pull of the image. */
  async endPull(image: string): Promise<void> {
    const n = (this.intents.get(image) ?? 1) - 1;
    if (n > 0) {
      this.intents.set(image, n);
      return;
    }
    this.intents.delete(image);
    await rm(join(this.dir, 'pulling', fileName(image)), { force: true });
  }

  async pullIntent(image: string): Promise<boolean> {
    if ((this.intents.get(image) ?? 0) > 0) return true;
    return readFile(join(this.dir, 'pulling', fileName(image))).then(() => true, () => false);
  }

  /** Pulls a previous agent started and never saw finish (images by name). */
  async leftoverIntents(): Promise<string[]> {
    const out: string[] = [];
    for (const n of await readdir(join(this.dir, 'pulling')).catch(() => [] as string[])) {
      const f = join(this.dir, 'pulling', n);
      try {
        const doc = JSON.parse(await readFile(f, 'utf8')) as { image?: unknown };
        if (typeof doc.image === 'string' && fileName(doc.image) === n) out.push(doc.image);
        else await rm(f, { force: true });
      } catch {
        await rm(f, { force: true });
      }
    }
    return out;
  }

  async dropIntent(image: string): Promise<void> {
    await rm(join(this.dir, 'pulling', fileName(image)), { force: true });
  }

  private write(sub: string, name: string, text: string): Promise<void> {
    return writeFileDurably(join(this.dir, sub), name, text);
  }
}

/** A credential's hash for the records (kubelet keeps a sha256 of the auth config, never the auth itself). */
export function credentialHash(auth: { username?: string; password?: string; identityToken?: string; registryToken?: string }): string {
  const canonical = JSON.stringify([auth.username ?? '', auth.password ?? '', auth.identityToken ?? '', auth.registryToken ?? '']);
  return createHash('sha256').update(canonical).digest('hex');
}
