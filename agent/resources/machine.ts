import { readFile, stat, statfs } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { matchGroups } from '../../base/index.js';
import type { Runtime } from '../../cri/index.js';
import type { CgroupVersion } from './cgroups.js';
import { CGROUP_MOUNT } from './cgroups.js';
import type { Observations } from './eviction.js';
import type { MachineInfo } from './node.js';

// What the machine has and what is left of it, read from /proc, the root cgroup, statfs and
// the runtime's image filesystem (what cadvisor and the CRI stats give kubelet).

async function meminfo(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  try {
    for (const line of (await readFile('/proc/meminfo', 'utf8')).split('\n')) {
      const m = matchGroups(/^([^:]+):\s+(\d+)(?:\s+kB)?$/, line.trim(), 2);
      if (m) out[m[1]] = Number(m[2]) * (line.includes('kB') ? 1024 : 1);
    }
  } catch {
    // not Linux
  }
  return out;
}

export async function machineInfo(rootDir: string): Promise<MachineInfo> {
  const mem = await meminfo();
  let ephemeralStorageBytes = 0;
  try {
    const s = await statfs(rootDir);
    ephemeralStorageBytes = s.blocks * s.bsize;
  } catch {
    // unknown
  }
  return { cpuCores: cpus().length, memoryBytes: mem.MemTotal ?? 0, ephemeralStorageBytes };
}

async function readNumber(path: string): Promise<number | undefined> {
  try {
    const n = Number((await readFile(path, 'utf8')).trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The root cgroup's working set (usage minus inactive file pages), as kubelet's
 * memory.available uses it. On v2 the root has no memory.current: /proc/meminfo stands in.
 */
export async function rootWorkingSet(version: CgroupVersion, mount = CGROUP_MOUNT): Promise<number> {
  if (version === 1) {
    const usage = await readNumber(join(mount, 'memory', 'memory.usage_in_bytes'));
    if (usage !== undefined) {
      const stat = await readFile(join(mount, 'memory', 'memory.stat'), 'utf8').catch(() => '');
      const inactive = Number(/^total_inactive_file (\d+)$/m.exec(stat)?.[1] ?? 0);
      return Math.max(0, usage - inactive);
    }
  }
  const m = await meminfo();
  return Math.max(0, (m.MemTotal ?? 0) - (m.MemFree ?? 0) - (m['Inactive(file)'] ?? 0));
}

export interface ObserverOptions {
  rootDir: string;
  cgroupVersion: CgroupVersion;
  runtime: Pick<Runtime, 'imageFsInfo'>;
  memoryCapacity: number;
}

/** Whether the image filesystem is another filesystem than the agent's (nodefs). */
export async function separateImageFs(rootDir: string, imageFs: string): Promise<boolean> {
  try {
    return (await stat(rootDir)).dev !== (await stat(imageFs)).dev;
  } catch {
    return false;
  }
}

/** One observation of every signal (makeSignalObservations); a signal that cannot be read is left out. */
export async function observeSignals(o: ObserverOptions): Promise<Observations> {
  const out: Observations = {};
  if (o.memoryCapacity > 0) {
    out['memory.available'] = { capacity: o.memoryCapacity, available: o.memoryCapacity - (await rootWorkingSet(o.cgroupVersion)) };
  }
  try {
    const s = await statfs(o.rootDir);
    out['nodefs.available'] = { capacity: s.blocks * s.bsize, available: s.bavail * s.bsize };
    if (s.files > 0) out['nodefs.inodesFree'] = { capacity: s.files, available: s.ffree };
  } catch {
    // no root dir: nothing to say about nodefs
  }
  try {
    const [fs] = await o.runtime.imageFsInfo();
    if (fs) {
      out['imagefs.available'] = { capacity: fs.capacityBytes, available: fs.availableBytes };
      if (fs.inodesTotal > 0) out['imagefs.inodesFree'] = { capacity: fs.inodesTotal, available: fs.inodesFree };
    }
  } catch {
    // the engine did not answer: skip imagefs this round
  }
  const pidMax = await readNumber('/proc/sys/kernel/pid_max');
  const threadsMax = await readNumber('/proc/sys/kernel/threads-max');
  const max = Math.min(pidMax ?? Infinity, threadsMax ?? Infinity);
  const loadavg = await readFile('/proc/loadavg', 'utf8').catch(() => '');
  const running = Number(/\d+\/(\d+)/.exec(loadavg)?.[1]);
  if (Number.isFinite(max) && Number.isFinite(running)) out['pid.available'] = { capacity: max, available: max - running };
  return out;
}
