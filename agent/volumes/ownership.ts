import { chmod, lchown, lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Pod } from '../../manifests/index.js';
import type { VolumePlan } from './plan.js';

// fsGroup volume ownership (pkg/volume/volume_linux.go SetVolumeOwnership): every file and
// directory of the volume gets the group fsGroup, group read (and write unless the volume is
// read-only for the pod, as published files are), and directories get group search and the
// setgid bit so that new files inherit the group. hostPath volumes are never changed.

const RW_MASK = 0o660;
const RO_MASK = 0o440;
const EXEC_MASK = 0o110;
const SETGID = 0o2000;

/** After a volume's setup: the pod's fsGroup applied to it (hostPath volumes excepted). */
export async function applyFSGroup(pod: Pod, plan: VolumePlan): Promise<void> {
  const sc = pod.spec.securityContext;
  if (sc?.fsGroup === undefined || plan.kind === 'hostPath') return;
  // Published files (configMap, secret, downwardAPI, projected) are read-only to the pod.
  await setVolumeOwnership(plan.path, sc.fsGroup, plan.kind === 'projected', sc.fsGroupChangePolicy);
}

/** The mode a file gets (pure). */
export function ownedMode(mode: number, isDir: boolean, readonly: boolean): number {
  let mask = readonly ? RO_MASK : RW_MASK;
  if (isDir) mask |= SETGID | EXEC_MASK;
  return (mode & 0o7777) | mask;
}

/** fsGroupChangePolicy OnRootMismatch: nothing to do when the volume's root already matches. */
async function rootMatches(path: string, gid: number, readonly: boolean): Promise<boolean> {
  const st = await lstat(path);
  return st.gid === gid && (st.mode & 0o7777) === ownedMode(st.mode, true, readonly);
}

export async function setVolumeOwnership(path: string, gid: number, readonly: boolean, policy?: string): Promise<void> {
  if (policy === 'OnRootMismatch' && (await rootMatches(path, gid, readonly))) return;
  const walk = async (p: string): Promise<void> => {
    const st = await lstat(p);
    await lchown(p, -1, gid);
    if (st.isSymbolicLink()) return;
    await chmod(p, ownedMode(st.mode, st.isDirectory(), readonly));
    if (st.isDirectory()) for (const e of await readdir(p)) await walk(join(p, e));
  };
  await walk(path);
}
