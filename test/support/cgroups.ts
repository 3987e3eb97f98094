import { readdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

// Test agents put their kubepods hierarchy under a cgroup root of their own (/<node name>),
// so that nothing they do touches the host's /kubepods or another agent's. These remove it.

export const CGROUP_MOUNT = '/sys/fs/cgroup';

/** Removes a cgroup directory in one hierarchy after its child cgroups; returns what stayed. */
function rmTree(dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const left: string[] = [];
  for (const e of entries) if (e.isDirectory()) left.push(...rmTree(join(dir, e.name)));
  try {
    rmdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') left.push(`${dir}: ${(err as Error).message}`);
  }
  return left;
}

function hierarchies(): string[] {
  try {
    return readdirSync(CGROUP_MOUNT, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(CGROUP_MOUNT, e.name));
  } catch {
    return [];
  }
}

/**
 * Removes the cgroup tree `/<root>` from every hierarchy (retrying briefly: the engine
 * removes a container's own cgroup just after the container). Without a root: the trees of
 * test agents (bosun-test-*) older than 10 minutes, left by interrupted runs.
 */
export async function removeTestCgroups(root?: string, prefix = 'bosun-test-'): Promise<string[]> {
  const targets: string[] = [];
  for (const h of hierarchies()) {
    if (root) {
      targets.push(join(h, root));
      continue;
    }
    for (const e of readdirSync(h, { withFileTypes: true })) {
      if (!e.isDirectory() || !e.name.startsWith(prefix)) continue;
      const p = join(h, e.name);
      try {
        if (statSync(p).ctimeMs < Date.now() - 600_000) targets.push(p);
      } catch {
        // gone
      }
    }
  }
  let left: string[] = [];
  for (let i = 0; i < 20; i++) {
    left = targets.flatMap(rmTree);
    if (left.length === 0) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  return left;
}

/** Reads one cgroup file of a hierarchy, trimmed. */
export function readCgroup(controller: string, path: string, file: string): string {
  return readFileSync(join(CGROUP_MOUNT, controller, path, file), 'utf8').trim();
}
