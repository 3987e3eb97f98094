import { readFileSync, statSync } from 'node:fs';
import type { Logger } from '../log.js';
import type { KeyringEntry } from './keyring.js';
import { parseDockerConfig } from './keyring.js';

// Node-level credentials from a docker config file, as kubelet reads <root-dir>/config.json
// (pkg/credentialprovider/config.go, the first of its preferred paths). Re-read when the
// file changes; a broken file gives no credentials and one warning per change.

export function nodeDockerConfig(path: string, log: Logger): () => KeyringEntry[] {
  let stamp = '';
  let entries: KeyringEntry[] = [];
  return () => {
    let now = '';
    try {
      const st = statSync(path);
      now = `${st.size}:${st.mtimeMs}:${st.ino}`;
    } catch {
      now = '';
    }
    if (now === stamp) return entries;
    stamp = now;
    entries = [];
    if (!now) return entries;
    try {
      if (statSync(path).size > 1 << 20) throw new Error(`${path}: larger than 1 MiB`);
      entries = parseDockerConfig(readFileSync(path, 'utf8'), path);
    } catch (err) {
      log.warn({ file: path }, `cannot read node registry credentials: ${(err as Error).message}`);
    }
    return entries;
  };
}
