import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ImageImporter } from '../../agent/images.js';
import { silentLogger } from '../../agent/log.js';
import type { ImageService } from '../../cri/index.js';
import { waitFor } from '../support/common.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('ImageImporter', () => {
  it('keeps importing by looking now and then when the directory cannot be watched (EMFILE), instead of failing the agent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bosun-import-'));
    dirs.push(dir);
    const imported: string[] = [];
    const images = { importImage: async (file: string) => (imported.push(file), ['localhost/x:1']) } as unknown as ImageService;
    const noWatch = (() => {
      throw Object.assign(new Error('EMFILE: too many open files, watch'), { code: 'EMFILE' });
    }) as unknown as typeof import('node:fs').watch;
    const importer = new ImageImporter(dir, images, silentLogger, noWatch, 50);
    await importer.start();
    try {
      writeFileSync(join(dir, 'a.tar'), 'x');
      await waitFor('the archive imported', () => (imported.length === 1 ? true : undefined), 5_000);
      expect(imported).toEqual([join(dir, 'a.tar')]);
    } finally {
      importer.stop();
    }
  });
});
