import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rm, rmdir, stat, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { CgroupResources } from './compute.js';
import { cpuMax, sharesToWeight } from './compute.js';
import type { CgroupDriver, CgroupName } from './cgroup-names.js';
import { cgroupPath, sliceUnit } from './cgroup-names.js';

// The cgroup executors (kubelet's cgroupManager): create a cgroup with its limits, update,
// read usage, remove. cgroup v1 keeps one tree per controller (/sys/fs/cgroup/cpu/...,
// /sys/fs/cgroup/memory/...), v2 one unified tree with cpu.weight / cpu.max / memory.max /
// pids.max. The systemd driver names the same cgroups as slices and asks systemd to create
// them. Everything takes the mount root, so tests run the same code on a fake tree.

export const CGROUP_MOUNT = '/sys/fs/cgroup';
const CGROUP2_MAGIC = 0x63677270;

export type CgroupVersion = 1 | 2;

/** Memory and pids of one cgroup, as the eviction manager reads them. */
export interface CgroupUsage {
  /** Usage minus inactive file pages: kubelet's working set. */
  memoryWorkingSet: number;
  memoryUsage: number;
  pids: number;
}

export interface CgroupManager {
  readonly version: CgroupVersion;
  readonly driver: CgroupDriver;
  /** Where a name lives below each hierarchy ("/kubepods/burstable/pod<uid>"). */
  path(name: CgroupName): string;
  exists(name: CgroupName): Promise<boolean>;
  /** Creates the cgroup (and its parents) and applies `res`. */
  ensure(name: CgroupName, res: CgroupResources): Promise<void>;
  /** Applies `res` to an existing cgroup. */
  update(name: CgroupName, res: CgroupResources): Promise<void>;
  /** Removes the cgroup from every hierarchy, after its (empty) children. */
  remove(name: CgroupName): Promise<void>;
  /** Names of the child cgroups (last components). */
  children(name: CgroupName): Promise<string[]>;
  /** Usage of the cgroup, or of its child directory `child` (a container's, named by the engine). */
  usage(name: CgroupName, child?: string): Promise<CgroupUsage>;
  /** When the cgroup was made (its directory's change time), or undefined when it does not exist. */
  createdAt(name: CgroupName): Promise<number | undefined>;
}

async function ctime(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).ctimeMs;
  } catch {
    return undefined;
  }
}

/** v2 when the mount is cgroup2 itself; v1 (or hybrid, whose v2 part has no controllers) else. */
export async function detectCgroupVersion(mount = CGROUP_MOUNT): Promise<CgroupVersion> {
  try {
    return (await statfs(mount)).type === CGROUP2_MAGIC ? 2 : 1;
  } catch {
    return 1;
  }
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

async function readNumber(path: string): Promise<number> {
  const t = (await readText(path))?.trim();
  const n = t === undefined || t === 'max' ? NaN : Number(t);
  return Number.isFinite(n) ? n : 0;
}

function statValue(text: string | undefined, key: string): number {
  const m = text?.match(new RegExp(`^${key} (\\d+)$`, 'm'));
  return m ? Number(m[1]) : 0;
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function write(path: string, value: string | number): Promise<void> {
  try {
    await writeFile(path, String(value));
  } catch (err) {
    throw new Error(`writing ${value} to ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** Removes a cgroup directory after its child cgroups; a missing one is no error. */
async function rmdirTree(dir: string): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for (const e of entries) if (e.isDirectory()) await rmdirTree(join(dir, e.name));
  try {
    await rmdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    // A fake tree (tests) holds plain files that a real cgroupfs shows as virtual ones.
    if (code === 'ENOTEMPTY' && !(await isCgroupfs(dir))) return rm(dir, { recursive: true, force: true });
    throw new Error(`removing cgroup ${dir}: ${(err as Error).message}`, { cause: err });
  }
}

async function isCgroupfs(dir: string): Promise<boolean> {
  try {
    const t = (await statfs(dir)).type;
    return t === CGROUP2_MAGIC || t === 0x27e0eb;
  } catch {
    return false;
  }
}

/** v1 controllers a pod cgroup is created in (the rest are made by runc for the containers). */
export const V1_CONTROLLERS = ['cpu', 'cpuacct', 'cpuset', 'memory', 'pids'] as const;

/** cgroup v1, one directory per controller (libcontainer's fs manager). */
export class CgroupV1 implements CgroupManager {
  readonly version = 1 as const;
  constructor(
    readonly driver: CgroupDriver = 'cgroupfs',
    private readonly mount = CGROUP_MOUNT,
  ) {}

  path(name: CgroupName): string {
    return cgroupPath(name, this.driver);
  }

  private dir(controller: string, name: CgroupName): string {
    return join(this.mount, controller, this.path(name));
  }

  async exists(name: CgroupName): Promise<boolean> {
    for (const c of ['cpu', 'memory']) if (!(await isDir(this.dir(c, name)))) return false;
    return true;
  }

  async ensure(name: CgroupName, res: CgroupResources): Promise<void> {
    for (const c of V1_CONTROLLERS) {
      if (!(await isDir(join(this.mount, c)))) continue;
      await this.mkdirs(c, name);
    }
    await this.update(name, res);
  }

  /** Level by level, so that a new cpuset cgroup gets its parent's cpus and mems (it starts empty). */
  private async mkdirs(controller: string, name: CgroupName): Promise<void> {
    const path = this.path(name).split('/').filter(Boolean);
    let dir = join(this.mount, controller);
    for (const part of path) {
      const parent = dir;
      dir = join(dir, part);
      if (await isDir(dir)) continue;
      await mkdir(dir).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw new Error(`creating cgroup ${dir}: ${err.message}`, { cause: err });
      });
      if (controller === 'cpuset') {
        for (const f of ['cpuset.cpus', 'cpuset.mems']) {
          if ((await readText(join(dir, f)))?.trim()) continue;
          const v = (await readText(join(parent, f)))?.trim();
          if (v) await write(join(dir, f), v);
        }
      }
    }
  }

  async update(name: CgroupName, res: CgroupResources): Promise<void> {
    const cpu = this.dir('cpu', name);
    if (res.cpuShares !== undefined) await write(join(cpu, 'cpu.shares'), res.cpuShares);
    if (res.cpuPeriod !== undefined) await write(join(cpu, 'cpu.cfs_period_us'), res.cpuPeriod);
    if (res.cpuQuota !== undefined) await write(join(cpu, 'cpu.cfs_quota_us'), res.cpuQuota > 0 ? res.cpuQuota : -1);
    if (res.memoryLimit !== undefined) await write(join(this.dir('memory', name), 'memory.limit_in_bytes'), res.memoryLimit > 0 ? res.memoryLimit : -1);
    if (res.pidsLimit !== undefined && (await isDir(this.dir('pids', name)))) await write(join(this.dir('pids', name), 'pids.max'), res.pidsLimit > 0 ? res.pidsLimit : 'max');
  }

  async remove(name: CgroupName): Promise<void> {
    // Every hierarchy: runc also made the containers' cgroups in devices, freezer, blkio,
    // the named systemd one and the hybrid unified one.
    let hierarchies: string[];
    try {
      hierarchies = (await readdir(this.mount, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return;
    }
    const errors: string[] = [];
    for (const h of hierarchies) {
      await rmdirTree(join(this.mount, h, this.path(name))).catch((err: Error) => errors.push(err.message));
    }
    if (errors.length) throw new Error(errors.join('; '));
  }

  async children(name: CgroupName): Promise<string[]> {
    try {
      return (await readdir(this.dir('memory', name), { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return [];
    }
  }

  createdAt(name: CgroupName): Promise<number | undefined> {
    return ctime(this.dir('memory', name));
  }

  async usage(name: CgroupName, child = ''): Promise<CgroupUsage> {
    const mem = join(this.dir('memory', name), child);
    const usage = await readNumber(join(mem, 'memory.usage_in_bytes'));
    const inactive = statValue(await readText(join(mem, 'memory.stat')), 'total_inactive_file');
    return {
      memoryUsage: usage,
      memoryWorkingSet: Math.max(0, usage - inactive),
      pids: await readNumber(join(this.dir('pids', name), child, 'pids.current')),
    };
  }
}

/** Controllers a v2 pod cgroup needs enabled in its parents' cgroup.subtree_control. */
export const V2_CONTROLLERS = ['cpu', 'cpuset', 'memory', 'pids', 'io', 'hugetlb'] as const;

/** cgroup v2: one unified tree (libcontainer's fs2 manager). */
export class CgroupV2 implements CgroupManager {
  readonly version = 2 as const;
  constructor(
    readonly driver: CgroupDriver = 'cgroupfs',
    private readonly mount = CGROUP_MOUNT,
  ) {}

  path(name: CgroupName): string {
    return cgroupPath(name, this.driver);
  }

  private dir(name: CgroupName): string {
    return join(this.mount, this.path(name));
  }

  async exists(name: CgroupName): Promise<boolean> {
    return isDir(this.dir(name));
  }

  async ensure(name: CgroupName, res: CgroupResources): Promise<void> {
    const available = ((await readText(join(this.mount, 'cgroup.controllers'))) ?? '').split(/\s+/).filter(Boolean);
    const wanted = V2_CONTROLLERS.filter((c) => available.length === 0 || available.includes(c));
    let dir = this.mount;
    for (const part of this.path(name).split('/').filter(Boolean)) {
      // A child gets a controller only when its parent delegates it.
      await this.delegate(dir, wanted);
      dir = join(dir, part);
      await mkdir(dir).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw new Error(`creating cgroup ${dir}: ${err.message}`, { cause: err });
      });
    }
    await this.update(name, res);
  }

  private async delegate(dir: string, controllers: readonly string[]): Promise<void> {
    const file = join(dir, 'cgroup.subtree_control');
    const enabled = ((await readText(file)) ?? '').split(/\s+/).filter(Boolean);
    const missing = controllers.filter((c) => !enabled.includes(c));
    if (missing.length === 0) return;
    if (await isCgroupfs(dir)) {
      // One by one: a controller this kernel lacks must not keep the others off.
      for (const c of missing) await writeFile(file, `+${c}`).catch(() => undefined);
    } else {
      await write(file, [...enabled, ...missing].join(' '));
    }
  }

  async update(name: CgroupName, res: CgroupResources): Promise<void> {
    const dir = this.dir(name);
    if (res.cpuShares !== undefined) await write(join(dir, 'cpu.weight'), sharesToWeight(res.cpuShares));
    if (res.cpuQuota !== undefined || res.cpuPeriod !== undefined) await write(join(dir, 'cpu.max'), cpuMax(res.cpuQuota ?? 0, res.cpuPeriod));
    if (res.memoryLimit !== undefined) await write(join(dir, 'memory.max'), res.memoryLimit > 0 ? res.memoryLimit : 'max');
    if (res.pidsLimit !== undefined) await write(join(dir, 'pids.max'), res.pidsLimit > 0 ? res.pidsLimit : 'max');
  }

  async remove(name: CgroupName): Promise<void> {
    await rmdirTree(this.dir(name));
  }

  async children(name: CgroupName): Promise<string[]> {
    try {
      return (await readdir(this.dir(name), { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return [];
    }
  }

  createdAt(name: CgroupName): Promise<number | undefined> {
    return ctime(this.dir(name));
  }

  async usage(name: CgroupName, child = ''): Promise<CgroupUsage> {
    const dir = join(this.dir(name), child);
    const usage = await readNumber(join(dir, 'memory.current'));
    const inactive = statValue(await readText(join(dir, 'memory.stat')), 'inactive_file');
    return { memoryUsage: usage, memoryWorkingSet: Math.max(0, usage - inactive), pids: await readNumber(join(dir, 'pids.current')) };
  }
}

/**
 * The properties systemd is given for a slice (libcontainer's systemd manager): accounting
 * on, and the limits in systemd's own units. busctl's signature "a(sv)" with its values.
 */
export function sliceProperties(res: CgroupResources, version: CgroupVersion): string[] {
  const props: string[][] = [
    ['Description', 's', 'bosun pod cgroup'],
    ['CPUAccounting', 'b', 'true'],
    ['MemoryAccounting', 'b', 'true'],
    ['TasksAccounting', 'b', 'true'],
  ];
  if (res.cpuShares !== undefined) props.push(version === 2 ? ['CPUWeight', 't', String(sharesToWeight(res.cpuShares))] : ['CPUShares', 't', String(res.cpuShares)]);
  if (res.cpuQuota !== undefined && res.cpuQuota > 0) {
    // systemd wants the quota per second of wall time, rounded up to 10 ms.
    const perSec = Math.ceil((res.cpuQuota * 1_000_000) / (res.cpuPeriod ?? 100_000) / 10_000) * 10_000;
    props.push(['CPUQuotaPerSecUSec', 't', String(perSec)]);
  }
  if (res.memoryLimit !== undefined && res.memoryLimit > 0) props.push([version === 2 ? 'MemoryMax' : 'MemoryLimit', 't', String(res.memoryLimit)]);
  if (res.pidsLimit !== undefined && res.pidsLimit > 0) props.push(['TasksMax', 't', String(res.pidsLimit)]);
  return [String(props.length), ...props.flat()];
}

/** argv for busctl: StartTransientUnit(name, "replace", properties, no aux units). */
export function startSliceArgv(name: CgroupName, res: CgroupResources, version: CgroupVersion): string[] {
  return [
    'call', 'org.freedesktop.systemd1', '/org/freedesktop/systemd1', 'org.freedesktop.systemd1.Manager',
    'StartTransientUnit', 'ssa(sv)a(sa(sv))', sliceUnit(name), 'replace', ...sliceProperties(res, version), '0',
  ];
}

/**
 * The systemd driver: systemd owns the tree, so a slice is created (and its limits set)
 * through systemd's D-Bus API; the files are then written as with cgroupfs, as libcontainer
 * does, and read the same way. Needs systemd as PID 1 and busctl.
 */
export class CgroupSystemd implements CgroupManager {
  readonly driver = 'systemd' as const;
  private readonly fs: CgroupV1 | CgroupV2;
  constructor(
    readonly version: CgroupVersion,
    mount = CGROUP_MOUNT,
    private readonly run: (argv: string[]) => Promise<void> = busctl,
  ) {
    this.fs = version === 2 ? new CgroupV2('systemd', mount) : new CgroupV1('systemd', mount);
  }

  path(name: CgroupName): string {
    return this.fs.path(name);
  }
  exists(name: CgroupName): Promise<boolean> {
    return this.fs.exists(name);
  }
  async ensure(name: CgroupName, res: CgroupResources): Promise<void> {
    // Parents first: systemd would make them implicitly, but without accounting on.
    for (let i = 1; i < name.length; i++) {
      const parent = name.slice(0, i);
      if (!(await this.fs.exists(parent))) await this.run(startSliceArgv(parent, {}, this.version));
    }
    if (!(await this.fs.exists(name))) await this.run(startSliceArgv(name, res, this.version));
    await this.fs.update(name, res);
  }
  update(name: CgroupName, res: CgroupResources): Promise<void> {
    return this.fs.update(name, res);
  }
  async remove(name: CgroupName): Promise<void> {
    await this.run(['call', 'org.freedesktop.systemd1', '/org/freedesktop/systemd1', 'org.freedesktop.systemd1.Manager', 'StopUnit', 'ss', sliceUnit(name), 'replace']).catch(() => undefined);
    await this.fs.remove(name);
  }
  children(name: CgroupName): Promise<string[]> {
    return this.fs.children(name);
  }
  usage(name: CgroupName, child?: string): Promise<CgroupUsage> {
    return this.fs.usage(name, child);
  }
  createdAt(name: CgroupName): Promise<number | undefined> {
    return this.fs.createdAt(name);
  }
}

const execFileP = promisify(execFile);

async function busctl(argv: string[]): Promise<void> {
  try {
    await execFileP('busctl', argv, { timeout: 10_000 });
  } catch (err) {
    throw new Error(`busctl ${argv.slice(4, 7).join(' ')}: ${((err as { stderr?: string }).stderr || (err as Error).message).trim()}`, { cause: err });
  }
}

export function createCgroupManager(driver: CgroupDriver, version: CgroupVersion, mount = CGROUP_MOUNT): CgroupManager {
  if (driver === 'systemd') return new CgroupSystemd(version, mount);
  return version === 2 ? new CgroupV2('cgroupfs', mount) : new CgroupV1('cgroupfs', mount);
}
