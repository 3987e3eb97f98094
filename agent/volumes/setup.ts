import { lstat, mkdir, readFile, readdir, readlink, realpath, rename, rm, stat, symlink, writeFile, chmod, open } from 'node:fs/promises';
import { constants } from 'node:fs';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import { beforeFirst, mustRun, runCommand } from '../../base/index.js';
import type { Mount } from '../../cri/index.js';
import type { ProjectedFile, VolumePlan } from './plan.js';

// The executor half of volumes: directories, tmpfs mounts, hostPath checks, and the atomic
// writer that publishes configMap/secret/downwardAPI files the way kubelet does
// (pkg/volume/util/atomic_writer.go): a timestamped directory, a `..data` symlink swapped
// with one rename, and per-entry symlinks into `..data`, so a reader sees the old set or
// the new set and never half of each.

/** A volume cannot be set up: the container waits (FailedMount) with this message. */
export class MountError extends Error {}

export async function setupVolume(plan: VolumePlan): Promise<void> {
  switch (plan.kind) {
    case 'hostPath':
      return checkHostPath(plan.path, plan.type);
    case 'emptyDir':
      await mkdir(plan.path, { recursive: true, mode: 0o777 });
      // As kubelet: a tmpfs root is left as the kernel makes it (1777, sticky), and the mode
      // is set only when its permission bits are not 0777 (mkdir under the umask).
      if (plan.tmpfs) await mountTmpfs(plan.path, plan.tmpfsBytes, null);
      if (((await stat(plan.path)).mode & 0o777) !== 0o777) await chmod(plan.path, 0o777);
      return;
    case 'projected':
      await mkdir(plan.path, { recursive: true, mode: 0o755 });
      // Secrets and the downward API never touch a disk-backed filesystem.
      if (plan.tmpfs) await mountTmpfs(plan.path);
      await writeAtomic(plan.path, plan.files);
  }
}

async function mounted(path: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info.split('\n').some((l) => l.split(' ')[4] === path);
}

/** `mode` null: the kernel's default for a tmpfs root (1777). */
async function mountTmpfs(path: string, sizeBytes?: number, mode: string | null = '0755'): Promise<void> {
  if (await mounted(path)) return;
  const opts = [...(mode ? [`mode=${mode}`] : []), ...(sizeBytes ? [`size=${sizeBytes}`] : [])];
  try {
    await mustRun(runCommand, 'mount', ['-t', 'tmpfs', ...(opts.length ? ['-o', opts.join(',')] : []), 'tmpfs', path]);
  } catch (err) {
    throw new MountError(`tmpfs on ${path}: ${(err as Error).message}`);
  }
}

/** hostPath types (pkg/volume/hostpath): create or check what is at the path. */
async function checkHostPath(path: string, type: string): Promise<void> {
  const st = await stat(path).catch(() => undefined);
  const fail = (what: string) => { throw new MountError(`hostPath type check failed: ${path} is not ${what}`); };
  switch (type) {
    case '':
      return;
    case 'DirectoryOrCreate':
      if (!st) await mkdir(path, { recursive: true, mode: 0o755 });
      else if (!st.isDirectory()) fail('a directory');
      return;
    case 'Directory':
      if (!st) throw new MountError(`hostPath type check failed: ${path} does not exist (type Directory)`);
      if (!st.isDirectory()) fail('a directory');
      return;
    case 'FileOrCreate':
      if (!st) {
        const parent = await stat(dirname(path)).catch(() => undefined);
        if (!parent?.isDirectory()) throw new MountError(`hostPath type check failed: parent directory of ${path} does not exist (type FileOrCreate)`);
        await (await open(path, 'a', 0o644)).close();
      } else if (!st.isFile()) fail('a file');
      return;
    case 'File':
      if (!st) throw new MountError(`hostPath type check failed: ${path} does not exist (type File)`);
      if (!st.isFile()) fail('a file');
      return;
    case 'Socket':
      if (!st?.isSocket()) fail('a socket file');
      return;
    case 'CharDevice':
      if (!st?.isCharacterDevice()) fail('a character device');
      return;
    case 'BlockDevice':
      if (!st?.isBlockDevice()) fail('a block device');
      return;
    default:
      throw new MountError(`hostPath: unsupported type "${type}"`);
  }
}

async function currentFiles(dir: string): Promise<Map<string, { data: Buffer; mode: number }>> {
  const out = new Map<string, { data: Buffer; mode: number }>();
  const data = join(dir, '..data');
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(join(data, rel), { withFileTypes: true })) {
      const r = rel ? join(rel, e.name) : e.name;
      if (e.isDirectory()) await walk(r);
      else out.set(r, { data: await readFile(join(data, r)), mode: (await stat(join(data, r))).mode & 0o777 });
    }
  };
  try {
    await walk('');
  } catch {
    // nothing published yet
  }
  return out;
}

/**
 * A payload path the writer accepts (atomic_writer.go validatePath): relative, no `..`
 * element, not starting with `..` (the writer's own entries), not too long. The API server
 * checks keys with IsConfigMapKey, but the objects may come from elsewhere: the writer is
 * the last door before the disk.
 */
export function payloadPathProblem(p: string): string | undefined {
  if (p === '') return 'must not be empty';
  if (p.length > 4096) return 'must be no more than 4096 characters';
  if (p.startsWith('/')) return 'must be a relative path';
  if (p.split('/').includes('..')) return "must not contain '..'";
  if (p.startsWith('..')) return "must not start with '..'";
  if (p.includes('\0')) return 'must not contain a NUL byte';
  return undefined;
}

/** True when p (already resolved) is root or below it. */
export function isInside(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/**
 * root/rel with every symlink resolved, refused unless it stays inside root (also resolved).
 * For paths the agent reads on a pod's behalf: a seccomp profile under <root-dir>/seccomp.
 */
export async function resolveInside(root: string, rel: string): Promise<string> {
  const problem = payloadPathProblem(rel);
  if (problem) throw new MountError(problem);
  const realRoot = await realpath(root);
  const real = await realpath(join(realRoot, rel));
  if (!isInside(realRoot, real)) throw new MountError(`resolves outside ${realRoot}`);
  return real;
}

export async function writeAtomic(dir: string, files: ProjectedFile[]): Promise<boolean> {
  for (const f of files) {
    const problem = payloadPathProblem(f.path);
    // The key is the object's, the path the pod's: neither is a secret value.
    if (problem) throw new MountError(`invalid path ${JSON.stringify(f.path.slice(0, 256))}: ${problem}`);
  }
  const current = await currentFiles(dir);
  const same = current.size === files.length && files.every((f) => {
    const c = current.get(f.path);
    return c && c.mode === f.mode && c.data.equals(f.data);
  });
  if (same && (await lstat(join(dir, '..data')).catch(() => undefined))) return false;

  const ts = `..${new Date().toISOString().replace(/[-:]/g, '_').replace('Z', '')}.${process.hrtime.bigint() % 1000000n}`;
  const tsDir = join(dir, ts);
  await mkdir(tsDir, { mode: 0o755 });
  for (const f of files) {
    const target = join(tsDir, f.path);
    // Checked again after joining, as the disk will see it (`a/./../b` and the like).
    if (!isInside(tsDir, target) || target === tsDir) throw new MountError(`invalid path ${JSON.stringify(f.path.slice(0, 256))}: resolves outside the volume`);
    await mkdir(dirname(target), { recursive: true, mode: 0o755 });
    await writeFile(target, f.data, { mode: f.mode });
    await chmod(target, f.mode);
  }
  const old = await readlink(join(dir, '..data')).catch(() => undefined);
  await symlink(ts, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));

  // Top-level entries point into ..data; stale ones go after the swap.
  const tops = new Set(files.map((f) => beforeFirst(f.path, sep)));
  for (const t of tops) {
    const link = join(dir, t);
    const st = await lstat(link).catch(() => undefined);
    if (!st) await symlink(join('..data', t), link);
  }
  for (const e of await readdir(dir)) {
    if (e.startsWith('..') || tops.has(e)) continue;
    await rm(join(dir, e), { force: true, recursive: true });
  }
  if (old && old !== ts) await rm(join(dir, old), { recursive: true, force: true });
  return true;
}

/**
 * Resolves a subPath mount source inside its volume, creating it as a directory when it
 * does not exist (as kubelet does: with the volume root's mode, setgid and sticky bits
 * included, whatever the umask), and refusing anything that resolves outside the volume
 * (a symlink planted inside the volume that points elsewhere).
 */
export async function resolveMount(m: Mount & { subPath?: string; subPathShown?: string; volumeRoot: string }): Promise<Mount> {
  const { subPath, subPathShown, volumeRoot, ...mount } = m;
  if (!subPath) return mount;
  const root = await realpath(volumeRoot);
  const inside = (p: string) => isInside(root, p);
  // Walk one element at a time, so that nothing is created through a symlink that leads
  // out of the volume.
  let at = root;
  let mode: number | undefined;
  for (const part of subPath.split(sep).filter(Boolean)) {
    const next = join(at, part);
    if (!(await lstat(next).catch(() => undefined))) {
      mode ??= (await stat(root)).mode & 0o7777;
      await mkdir(next, { mode: 0o700 });
      // Through a handle that refuses a symlink: another container of the pod may swap the
      // new directory for a link to a host file between the two calls.
      const h = await open(next, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
      try {
        await h.chmod(mode);
      } finally {
        await h.close();
      }
    }
    at = await realpath(next);
    // Named as written (a subPathExpr's expansion may hold a secret), never by the resolved path.
    if (!inside(at)) throw new MountError(`subPath ${JSON.stringify((subPathShown ?? subPath).slice(0, 256))} resolves outside the volume`);
  }
  return { ...mount, hostPath: at };
}

/** Unmounts every tmpfs under the pod's directory, then removes it. */
export async function teardownPodDir(dir: string): Promise<void> {
  let info = '';
  try {
    info = await readFile('/proc/self/mountinfo', 'utf8');
  } catch {
    return;
  }
  const mounts = info.split('\n').map((l) => l.split(' ')[4]).filter((p): p is string => !!p && (p === dir || p.startsWith(dir + '/')));
  // Deepest first.
  for (const p of mounts.sort((a, b) => b.length - a.length)) await mustRun(runCommand, 'umount', [p]).catch(() => mustRun(runCommand, 'umount', ['-l', p]).catch(() => undefined));
  await rm(dir, { recursive: true, force: true });
}
