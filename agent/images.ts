import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { RunAgain } from '../base/index.js';
import type { ImageService } from '../cri/index.js';
import type { Logger } from './log.js';

// Air-gapped nodes (as with k3s's agent/images): image archives dropped into
// <root-dir>/images are loaded into the engine at start and whenever one is added.

const ARCHIVE = /\.(tar|tar\.gz|tgz|tar\.zst)$/i;

export class ImageImporter {
  private done = new Map<string, string>();
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private readonly scanner = new RunAgain(() => this.scanOnce());

  constructor(
    private readonly dir: string,
    private readonly images: ImageService,
    private readonly log: Logger,
    private readonly watchDir: typeof watch = watch,
    private readonly pollMs = 30_000,
  ) {}

  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await this.scan();
    try {
      this.watcher = this.watchDir(this.dir, { persistent: false }, () => void this.scan());
      this.watcher.on('error', (err) => this.poll(err));
    } catch (err) {
      // Out of inotify instances (EMFILE) must not stop the agent: look now and then instead.
      this.poll(err as Error);
    }
  }

  stop(): void {
    this.watcher?.close();
    clearInterval(this.timer);
  }

  private poll(err: Error): void {
    if (this.timer) return;
    this.log.warn({ dir: this.dir, err: err.message }, `cannot watch the image archive directory; looking every ${this.pollMs / 1000}s`);
    this.timer = setInterval(() => void this.scan(), this.pollMs);
    this.timer.unref();
  }

  /** Loads what is new; calls while a pass runs make one more pass after it. */
  scan(): Promise<void> {
    return this.scanner.run();
  }

  private async scanOnce(): Promise<void> {
    for (const name of (await readdir(this.dir)).filter((n) => ARCHIVE.test(n) && !n.startsWith('.')).sort()) {
      const file = join(this.dir, name);
      let key: string;
      try {
        const st = await stat(file);
        key = `${st.size}:${st.mtimeMs}`;
      } catch {
        continue;
      }
      if (this.done.get(file) === key) continue;
      try {
        const tags = await this.images.importImage(file);
        this.done.set(file, key);
        this.log.info({ file, images: tags }, 'imported image archive');
      } catch (err) {
        // A file still being copied in fails to load; the watch fires again when it grows.
        this.log.warn({ file, err: (err as Error).message }, 'cannot import image archive');
      }
    }
  }
}
