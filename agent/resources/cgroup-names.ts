import type { QOSClass } from '../vocab/index.js';

// Cgroup names as kubelet's cgroup manager spells them (pkg/kubelet/cm/cgroup_manager_linux.go):
// a name is a list of components under the cgroup root; the cgroupfs driver joins them with
// "/", the systemd driver turns them into nested slices. Pure.

export type CgroupDriver = 'cgroupfs' | 'systemd';

/** Components, e.g. ["kubepods", "burstable", "pod<uid>"]. The root is []. */
export type CgroupName = readonly string[];

export const KUBEPODS = 'kubepods';
export const POD_PREFIX = 'pod';

/** --cgroup-root ("/" or "/some/path", or a slice path with systemd) as components. */
export function rootName(cgroupRoot: string): CgroupName {
  if (cgroupRoot === '' || cgroupRoot === '/') return [];
  // A systemd root is given as a slice path ("/system.slice" or "foo.slice"): its leaf's
  // components are the name (kubelet's ParseSystemdToCgroupName).
  const leaf = cgroupRoot.split('/').filter(Boolean).pop() ?? '';
  if (leaf.endsWith('.slice')) return leaf.slice(0, -'.slice'.length).split('-').map(unescapeSystemd).filter((p) => p !== '');
  return cgroupRoot.split('/').filter(Boolean);
}

/** The node-allocatable cgroup, parent of every pod: <root>/kubepods. */
export function kubepodsName(root: CgroupName): CgroupName {
  return [...root, KUBEPODS];
}

/** The QoS level a pod's cgroup lives under: Guaranteed pods sit right in kubepods. */
export function qosName(root: CgroupName, qos: QOSClass): CgroupName {
  const base = kubepodsName(root);
  if (qos === 'Guaranteed') return base;
  return [...base, qos.toLowerCase()];
}

export function podName(root: CgroupName, qos: QOSClass, uid: string): CgroupName {
  return [...qosName(root, qos), POD_PREFIX + uid];
}

/** The pod UID a "pod<uid>" component names, or undefined. */
export function podUidOf(component: string): string | undefined {
  return component.startsWith(POD_PREFIX) && component.length > POD_PREFIX.length ? component.slice(POD_PREFIX.length) : undefined;
}

/** cgroupfs driver: "/kubepods/burstable/pod<uid>". */
export function toCgroupfs(name: CgroupName): string {
  return '/' + name.join('/');
}

/** systemd escapes "-" (its slice separator) as "_" inside a component. */
function escapeSystemd(part: string): string {
  return part.replace(/-/g, '_');
}

function unescapeSystemd(part: string): string {
  return part.replace(/_/g, '-');
}

/**
 * systemd driver (CgroupName.ToSystemd + libcontainer's ExpandSlice):
 * ["kubepods","burstable","pod12-34"] -> "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12_34.slice".
 */
export function toSystemd(name: CgroupName): string {
  if (name.length === 0) return '/';
  const parts = name.map(escapeSystemd);
  let path = '';
  for (let i = 1; i <= parts.length; i++) path += `/${parts.slice(0, i).join('-')}.slice`;
  return path;
}

/** The path of a cgroup below each hierarchy's mount point, for the driver. */
export function cgroupPath(name: CgroupName, driver: CgroupDriver): string {
  return driver === 'systemd' ? toSystemd(name) : toCgroupfs(name);
}

/**
 * What the engine takes as a container's parent cgroup: the cgroupfs path, or for systemd
 * the leaf slice's unit name (Docker insists on "xxx.slice", and runc expands it itself).
 */
export function runtimeCgroupParent(name: CgroupName, driver: CgroupDriver): string {
  if (driver === 'cgroupfs') return toCgroupfs(name);
  const path = toSystemd(name);
  return path.slice(path.lastIndexOf('/') + 1) || '-.slice';
}

/** The slice unit of a name under systemd ("kubepods-burstable.slice"); "-.slice" for the root. */
export function sliceUnit(name: CgroupName): string {
  return runtimeCgroupParent(name, 'systemd');
}

/** The pod UID of a child cgroup of a QoS level ("pod<uid>", or "...-pod<uid_>.slice"), or undefined. */
export function podUidOfChild(child: string, driver: CgroupDriver): string | undefined {
  if (driver === 'cgroupfs') return podUidOf(child);
  if (!child.endsWith('.slice')) return undefined;
  const last = child.slice(0, -'.slice'.length).split('-').pop() ?? '';
  const uid = podUidOf(last);
  return uid === undefined ? undefined : unescapeSystemd(uid);
}
