import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CheckpointWriter, checkpointPath } from '../../agent/apiserver/pods.js';
import type { Logger } from '../../agent/log.js';
import type { Pod } from '../../manifests/index.js';

// The API pods' checkpoint on disk: saves that overlap (a write slower than the debounce on
// a loaded machine) used to share one temporary file, and the second rename failed with
// ENOENT ("pod checkpoint not saved"). Real files in a temporary directory.
describe('API pods checkpoint writer', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('writes overlapping saves one at a time and ends with the latest set', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bosun-ckpt-'));
    dirs.push(dir);
    const warnings: unknown[] = [];
    const log = { warn: (...a: unknown[]) => warnings.push(a) } as unknown as Logger;
    const w = new CheckpointWriter(dir, log);
    const pod = (i: number) => ({ metadata: { name: `p${i}`, namespace: 'default', uid: `u${i}` }, spec: { containers: [{ name: 'c', image: 'x', env: [{ name: 'BIG', value: 'v'.repeat(200_000) }] }] } }) as unknown as Pod;
    for (let i = 0; i < 30; i++) w.save([pod(i)]);
    await w.idle();
    expect(warnings).toEqual([]);
    const saved = JSON.parse(readFileSync(checkpointPath(dir), 'utf8')) as { pods: Pod[] };
    expect(saved.pods.map((p) => p.metadata.name)).toEqual(['p29']);
    expect(readdirSync(join(dir, 'checkpoints'))).toEqual(['api-pods.json']);
  });
});
