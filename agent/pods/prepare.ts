import { lstat, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { ContainerConfig, Mount } from '../../cri/index.js';
import type { Container, Pod } from '../../manifests/index.js';
import type { DNSSettings } from '../dns/dns.js';
import { hostsFile, nodeHostsFile } from '../dns/dns.js';
import type { EnvContext } from '../env/resolve.js';
import { ContainerConfigError, expandAll, resolveEnv } from '../env/resolve.js';
import type { ObjectLookup } from '../objects/store.js';
import type { VolumePlan } from '../volumes/plan.js';
import type { ContainerKind } from '../vocab/index.js';
import { containerMounts, planVolumes, podDir, VolumePending } from '../volumes/plan.js';
import { MountError, resolveInside, resolveMount, setupVolume } from '../volumes/setup.js';
import { applyFSGroup } from '../volumes/ownership.js';
import type { ContainerResourceOptions, PodCgroupsLike } from '../resources/index.js';
import { containerResources } from '../resources/index.js';
import { containerSecurityContext, SecurityError } from './security.js';
import { terminationMessageMount } from './termination.js';
import { containerConfig, podHostname } from './translate.js';
import { Waiting } from '../vocab/index.js';
import { logFileAttempt } from '../logs/format.js';

// What a pod needs on the node before and around its containers: data directory, volumes,
// the managed /etc/hosts, and each container's resolved environment and mounts.

export interface NodeEnv {
  rootDir: string;
  podLogsDir: string;
  objects: ObjectLookup & { readonly generation: number };
  hostIP: string;
  node: EnvContext['node'];
  dns: DNSSettings;
  serviceEnv(namespace: string): Record<string, string>;
  /** Volumes set up per pod, keyed by what they were built from, so an unchanged pod costs nothing. */
  prepared: Map<string, { key: string; plans: VolumePlan[] }>;
  /** kubelet's seccompDefault: RuntimeDefault for containers that ask for no profile. */
  seccompDefault?: boolean;
  /** Container resources (cpu shares and quota, memory and pids limits, OOM score); unset: none set. */
  resources?: ContainerResourceOptions;
  /** Pod cgroups (cgroupsPerQOS); unset: containers go where the engine puts them. */
  cgroups?: PodCgroupsLike;
}

function envContext(env: NodeEnv, pod: Pod, podIP: string): EnvContext {
  return { objects: env.objects, podIP, hostIP: env.hostIP, node: env.node, serviceEnv: env.serviceEnv(pod.metadata.namespace) };
}

/**
 * What a pod's published volume files are made of besides its spec: the ConfigMaps and
 * Secrets (their store's generation) and what the downward API reads from the pod that may
 * change while it runs (labels, annotations, resources after a resize). A change of any of
 * them republishes the files, as kubelet's volume manager does on the pod's update.
 */
export function preparedKey(generation: number, pod: Pod): string {
  const resources = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].map((c) => c.resources ?? null);
  return JSON.stringify([generation, pod.metadata.labels ?? {}, pod.metadata.annotations ?? {}, resources]);
}

/** Data dir and volumes; ContainerConfigError -> CreateContainerConfigError; a source not readable (VolumePending) or a failed setup -> ContainerCreating. */
export async function prepareVolumes(env: NodeEnv, pod: Pod): Promise<VolumePlan[]> {
  const key = preparedKey(env.objects.generation, pod);
  const hit = env.prepared.get(pod.metadata.uid);
  if (hit && hit.key === key) return hit.plans;
  await mkdir(podDir(env.rootDir, pod.metadata.uid), { recursive: true, mode: 0o750 });
  let plans: VolumePlan[];
  try {
    plans = planVolumes(pod, env.rootDir, envContext(env, pod, ''));
  } catch (err) {
    if (err instanceof ContainerConfigError) throw new Waiting('CreateContainerConfigError', err.message);
    // kubelet's operation generator names the volume in the FailedMount event (GenerateError).
    if (err instanceof VolumePending) throw new Waiting('ContainerCreating', `MountVolume.SetUp failed for volume "${err.volume}" : ${err.message}`);
    throw err;
  }
  for (const p of plans) {
    try {
      await setupVolume(p);
      await applyFSGroup(pod, p);
    } catch (err) {
      throw new Waiting('ContainerCreating', `MountVolume.SetUp failed for volume "${p.name}" : ${(err as Error).message}`);
    }
  }
  env.prepared.set(pod.metadata.uid, { key, plans });
  return plans;
}

export function hostsPath(env: NodeEnv, pod: Pod): string {
  return join(podDir(env.rootDir, pod.metadata.uid), 'etc-hosts');
}

export async function writeHostsFile(env: NodeEnv, pod: Pod, podIP: string): Promise<void> {
  if (pod.spec.hostNetwork) {
    await writeFile(hostsPath(env, pod), nodeHostsFile(pod, await readFile('/etc/hosts', 'utf8').catch(() => '')), { mode: 0o644 });
    return;
  }
  await writeFile(hostsPath(env, pod), hostsFile(pod, podIP, podHostname(pod), env.dns.clusterDomain), { mode: 0o644 });
}

/**
 * The hosts file is there and is a file. A directory in its place is what the engine made
 * when a container was started while the file was missing: it is empty and is replaced.
 */
export async function ensureHostsFile(env: NodeEnv, pod: Pod, podIP: string): Promise<void> {
  const st = await lstat(hostsPath(env, pod)).catch(() => undefined);
  if (st?.isFile()) return;
  if (st) await rm(hostsPath(env, pod), { recursive: true, force: true });
  await mkdir(podDir(env.rootDir, pod.metadata.uid), { recursive: true, mode: 0o750 });
  await writeHostsFile(env, pod, podIP);
}

/** `imageUser`: the image's USER (from the runtime's imageStatus), for runAsNonRoot. */
export async function buildContainerConfig(env: NodeEnv, pod: Pod, c: Container, attempt: number, type: ContainerKind, podIP: string, plans: VolumePlan[], imageUser?: string): Promise<ContainerConfig> {
  let vars: { key: string; value: string }[];
  let mounts: Mount[];
  let securityContext: NonNullable<ContainerConfig['linux']>['securityContext'];
  try {
    vars = resolveEnv(pod, c, envContext(env, pod, podIP));
    mounts = await Promise.all(containerMounts(c, plans, vars).map(resolveMount));
    const seccompRoot = join(env.rootDir, 'seccomp');
    securityContext = containerSecurityContext(pod, c, { imageUser, seccompDefault: env.seccompDefault, seccompProfileRoot: seccompRoot });
    const seccomp = securityContext?.seccomp;
    if (seccomp?.profileType === 'Localhost' && seccomp.localhostRef) {
      // The runtime reads the profile as root: only a file that is really under the root.
      const rel = relative(seccompRoot, seccomp.localhostRef);
      seccomp.localhostRef = await resolveInside(seccompRoot, rel).catch((err: Error) => {
        throw new SecurityError(`seccomp profile ${JSON.stringify(rel.slice(0, 256))}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : err.message} (profiles live under ${seccompRoot})`);
      });
    }
  } catch (err) {
    if (err instanceof ContainerConfigError || err instanceof MountError || err instanceof SecurityError) throw new Waiting('CreateContainerConfigError', err.message);
    throw err;
  }
  const covered = new Set(mounts.map((m) => m.containerPath));
  // Host-network pods get the node's hosts file (plus hostAliases), as it is when they start.
  if (pod.spec.hostNetwork && !covered.has('/etc/hosts')) await writeHostsFile(env, pod, podIP);
  if (!covered.has('/etc/hosts')) mounts.push({ containerPath: '/etc/hosts', hostPath: hostsPath(env, pod), readonly: false });
  const config = containerConfig(pod, c, attempt, type, vars);
  config.mounts = mounts;
  let command: string[] | undefined;
  let args: string[] | undefined;
  try {
    command = expandAll(c.command, vars, 'command');
    args = expandAll(c.args, vars, 'args');
  } catch (err) {
    if (err instanceof ContainerConfigError) throw new Waiting('CreateContainerConfigError', err.message);
    throw err;
  }
  if (command) config.command = command;
  if (args) config.args = args;
  config.logPath = join(c.name, `${attempt}.log`);
  config.linux = { securityContext, ...(env.resources ? { resources: containerResources(pod, c, env.resources) } : {}) };
  const termination = await terminationMessageMount(env.rootDir, pod, c);
  if (termination && !covered.has(termination.containerPath)) mounts.push(termination);
  return config;
}

export function podLogDirectory(env: NodeEnv, pod: Pod): string {
  return join(env.podLogsDir, `${pod.metadata.namespace}_${pod.metadata.name}_${pod.metadata.uid}`);
}

/**
 * kubelet's calcRestartCountByLogDir: one more than the highest N of the `N.log` files (and
 * their rotations, `N.log.<suffix>`) in a container's log directory; 0 when there are none.
 */
export function restartCountFromLogNames(names: readonly string[]): number {
  let count = 0;
  for (const n of names) {
    const v = logFileAttempt(n);
    if (v !== undefined) count = Math.max(count, v + 1);
  }
  return count;
}

/**
 * The attempt of a container the engine holds no record of: after an engine lost its
 * containers (a host reboot with an engine that keeps no state), the restart count goes on
 * from the log files its earlier runs left, as kubelet's startContainer does, instead of
 * falling back to 0 and writing into 0.log again.
 */
export async function attemptFromLogDir(env: NodeEnv, pod: Pod, container: string): Promise<number> {
  const names = await readdir(join(podLogDirectory(env, pod), container)).catch(() => [] as string[]);
  return restartCountFromLogNames(names);
}
