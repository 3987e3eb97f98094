// App containers: a translation from the CRI container config to Docker's create body
// (pure, so it can be read against the Pod spec), and the calls that run it.

import { readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type Docker from 'dockerode';
import {
  RuntimeError,
  type ContainerConfig,
  type ContainerStatus,
  type LinuxContainerResources,
  type LabelFilter,
  type LinuxContainerSecurityContext,
  type Mount,
  type PodSandboxConfig,
  matchesLabels,
} from '../runtime.js';
import { isNotFound, statusCode, wrapEngineError } from './errors.js';
import { splitReference } from './image.js';
import { createContainer, dockerTime, forceRemove, stopWithTimeout, toContainerState } from './engine.js';
import type { JustStarted } from './sandbox.js';
import {
  dockerLabelFilters,
  LABEL_LOG_PATH,
  LABEL_SANDBOX_ID,
  LABEL_TYPE,
  TYPE_CONTAINER,
  TYPE_SANDBOX,
  containerLabels,
  containerMetadataFromLabels,
  containerName,
  splitLabels,
} from './naming.js';

/** The log path the caller asked for, made absolute against the sandbox's log directory. */
export function resolveLogPath(config: ContainerConfig, sandboxConfig: PodSandboxConfig): string | undefined {
  if (!config.logPath) return undefined;
  if (isAbsolute(config.logPath)) return config.logPath;
  return sandboxConfig.logDirectory ? join(sandboxConfig.logDirectory, config.logPath) : undefined;
}

/**
 * Kubernetes' command/args over the image's ENTRYPOINT/CMD:
 * command set -> it replaces ENTRYPOINT and args (or nothing) replace CMD;
 * only args -> the image's ENTRYPOINT with args; neither -> the image's defaults.
 * An empty list counts as unset, as it does in the Pod API.
 */
export function entrypointAndCmd(config: ContainerConfig): { Entrypoint?: string[]; Cmd?: string[] } {
  const command = config.command && config.command.length > 0 ? config.command : undefined;
  const args = config.args && config.args.length > 0 ? config.args : undefined;
  if (command) return { Entrypoint: command, Cmd: args ?? [] };
  if (args) return { Cmd: args };
  return {};
}

// Docker's Binds syntax splits on ':' and ','; such paths go through the Mounts API
// instead (which, unlike Binds, insists that the host path exists).
function needsMountsApi(m: Mount): boolean {
  return /[:,]/.test(m.hostPath) || /[:,]/.test(m.containerPath);
}

export function toBind(m: Mount): string {
  const opts: string[] = [];
  if (m.readonly) opts.push('ro');
  // 'private' is Docker's default (rprivate) and needs no option.
  if (m.propagation === 'rslave' || m.propagation === 'rshared') opts.push(m.propagation);
  return `${m.hostPath}:${m.containerPath}${opts.length > 0 ? ':' + opts.join(',') : ''}`;
}

function toMountSpec(m: Mount): Docker.MountConfig[number] {
  return {
    Type: 'bind',
    Source: m.hostPath,
    Target: m.containerPath,
    ReadOnly: m.readonly,
    ...(m.propagation && m.propagation !== 'private' ? { BindOptions: { Propagation: m.propagation } } : {}),
  };
}

/** "net_admin", "CAP_NET_ADMIN" -> "CAP_NET_ADMIN"; "ALL" stays. */
export function capabilityName(name: string): string {
  const up = name.trim().toUpperCase();
  if (up === 'ALL') return up;
  return up.startsWith('CAP_') ? up : `CAP_${up}`;
}

/**
 * Docker's user string: "uid" or "name", with ":gid" when a group is set. A group
 * without a user keeps the image's user, which only the caller knows: it must pass it.
 */
export function dockerUser(sc: LinuxContainerSecurityContext): string | undefined {
  const user = sc.runAsUser !== undefined ? String(sc.runAsUser) : sc.runAsUsername;
  if (user === undefined || user === '') {
    if (sc.runAsGroup !== undefined) throw new RuntimeError('CreateContainerError', `user group "${sc.runAsGroup}" is specified without user`);
    return undefined;
  }
  return sc.runAsGroup !== undefined ? `${user}:${sc.runAsGroup}` : user;
}

/**
 * The security context on Docker's HostConfig (what dockershim did). Seccomp: RuntimeDefault
 * is Docker's default profile (no option), Unconfined is seccomp=unconfined, Localhost is
 * the profile's JSON, which the engine takes inline (`localhostProfile`, read by the caller).
 */
export function securityHostConfig(sc: LinuxContainerSecurityContext | undefined, localhostProfile?: string): Partial<Docker.HostConfig> {
  if (!sc) return {};
  const out: Partial<Docker.HostConfig> = {};
  const add = sc.capabilities?.addCapabilities ?? [];
  const drop = sc.capabilities?.dropCapabilities ?? [];
  if (add.length > 0) out.CapAdd = add.map(capabilityName);
  if (drop.length > 0) out.CapDrop = drop.map(capabilityName);
  if (sc.privileged) out.Privileged = true;
  if (sc.readonlyRootfs) out.ReadonlyRootfs = true;
  if (sc.supplementalGroups && sc.supplementalGroups.length > 0) out.GroupAdd = [...new Set(sc.supplementalGroups)].map(String);
  const opts: string[] = [];
  if (sc.noNewPrivs) opts.push('no-new-privileges');
  // A privileged container runs without seccomp whatever is asked (as in Docker and containerd).
  if (!sc.privileged && sc.seccomp) {
    if (sc.seccomp.profileType === 'Unconfined') opts.push('seccomp=unconfined');
    else if (sc.seccomp.profileType === 'Localhost') {
      if (localhostProfile === undefined) throw new RuntimeError('CreateContainerError', `seccomp profile ${sc.seccomp.localhostRef ?? '(no path)'} was not read`);
      opts.push(`seccomp=${localhostProfile}`);
    }
  }
  if (opts.length > 0) out.SecurityOpt = opts;
  return out;
}

/**
 * CRI LinuxContainerResources on Docker's HostConfig (what dockershim did). A quota of 0 is
 * no quota. `minOomScoreAdj` is the lowest score this host lets the runtime set (a host
 * without CAP_SYS_RESOURCE cannot lower scores below 0; runc then fails the start with an
 * opaque pipe error): lower scores are raised to it, keeping the order between pods.
 */
export function resourcesHostConfig(r: LinuxContainerResources | undefined, minOomScoreAdj = -1000): Partial<Docker.HostConfig> {
  if (!r) return {};
  const out: Partial<Docker.HostConfig> = {};
  if (r.cpuShares) out.CpuShares = r.cpuShares;
  if (r.cpuPeriod) out.CpuPeriod = r.cpuPeriod;
  if (r.cpuQuota) out.CpuQuota = r.cpuQuota;
  if (r.memoryLimitInBytes) out.Memory = r.memoryLimitInBytes;
  if (r.memorySwapLimitInBytes) out.MemorySwap = r.memorySwapLimitInBytes;
  if (r.pidsLimit) out.PidsLimit = r.pidsLimit;
  if (r.oomScoreAdj !== undefined) out.OomScoreAdj = Math.max(minOomScoreAdj, r.oomScoreAdj);
  return out;
}

/**
 * The engine keeps its own copy of the output (json-file, read back by followLogs, which
 * the agent turns into the CRI log files). It is a bounded buffer, not the record: the
 * agent copies it within a second; only output beyond this while the agent is down is lost.
 */
export const ENGINE_LOG_CONFIG = { Type: 'json-file', Config: { 'max-size': '50m', 'max-file': '2' } };

/** Pure translation of a container config to Docker's create body. */
export function containerCreateOptions(
  sandboxId: string,
  config: ContainerConfig,
  sandboxConfig: PodSandboxConfig,
  localhostProfile?: string,
  sandboxResolvConf?: string,
  opts: { minOomScoreAdj?: number } = {},
): Docker.ContainerCreateOptions & { name: string } {
  const joinSandbox = `container:${sandboxId}`;
  const sc = config.linux?.securityContext;
  const user = sc ? dockerUser(sc) : undefined;
  const hostConfig: Docker.HostConfig = {
    // Joining the pause container's network namespace also makes Docker copy its
    // hostname, /etc/hosts and resolv.conf into this container (UTS itself is not joined).
    NetworkMode: sandboxConfig.hostNetwork ? 'host' : joinSandbox,
    IpcMode: sandboxConfig.hostIPC ? 'host' : joinSandbox,
    PidMode: sandboxConfig.hostPID ? 'host' : sandboxConfig.sharePid ? joinSandbox : config.pidTarget ? `container:${config.pidTarget}` : '',
    RestartPolicy: { Name: 'no' },
    Binds: [
      ...config.mounts.filter((m) => !needsMountsApi(m)).map(toBind),
      // With the host's network a container gets the host's resolv.conf from Docker, not the
      // sandbox's (which holds the pod's DNS config, e.g. ClusterFirstWithHostNet): share it.
      ...(sandboxConfig.hostNetwork && sandboxResolvConf && !config.mounts.some((m) => m.containerPath === '/etc/resolv.conf')
        ? [`${sandboxResolvConf}:/etc/resolv.conf`]
        : []),
    ],
    LogConfig: ENGINE_LOG_CONFIG,
    ...securityHostConfig(sc, localhostProfile),
    ...resourcesHostConfig(config.linux?.resources, opts.minOomScoreAdj),
  };
  if (sandboxConfig.hostNetwork) hostConfig.UTSMode = 'host';
  const special = config.mounts.filter(needsMountsApi);
  if (special.length > 0) hostConfig.Mounts = special.map(toMountSpec);
  if (sandboxConfig.cgroupParent) hostConfig.CgroupParent = sandboxConfig.cgroupParent;
  return {
    name: containerName(config.metadata, sandboxConfig.metadata),
    Image: config.image,
    ...entrypointAndCmd(config),
    Env: config.envs.map((e) => `${e.key}=${e.value}`),
    ...(config.workingDir ? { WorkingDir: config.workingDir } : {}),
    ...(user !== undefined ? { User: user } : {}),
    Labels: containerLabels(sandboxId, config, sandboxConfig, resolveLogPath(config, sandboxConfig)),
    Tty: config.tty ?? false,
    OpenStdin: config.stdin ?? false,
    StdinOnce: config.stdinOnce ?? false,
    // docker stop sends it first, then SIGKILL after the grace period.
    ...(config.stopSignal ? { StopSignal: config.stopSignal } : {}),
    HostConfig: hostConfig,
  };
}

export function statusFromInspect(info: Docker.ContainerInspectInfo): ContainerStatus {
  const labels = info.Config.Labels ?? {};
  // A start that failed (bad entrypoint, missing binary) leaves Docker's state at
  // "created" with an exit code and an error: an exited run, as cri-dockerd (dockershim
  // before it) reports it to kubelet, with reason ContainerCannotRun, so that the restart
  // policy and the back-off judge it.
  const startFailed = info.State.Status === 'created' && (info.State.ExitCode !== 0 || !!info.State.Error);
  const state = startFailed ? 'exited' : toContainerState(info.State.Status);
  const { labels: userLabels, annotations } = splitLabels(labels);
  const exitCode = state === 'exited' ? info.State.ExitCode || (startFailed ? 128 : 0) : 0;
  let reason: string | undefined;
  if (startFailed) reason = 'ContainerCannotRun';
  else if (state === 'exited') reason = info.State.OOMKilled ? 'OOMKilled' : exitCode === 0 ? 'Completed' : 'Error';
  const message = info.State.Error ? info.State.Error : undefined;
  // cri-dockerd stamps a failed start as started and finished at its creation.
  const startedAt = startFailed ? dockerTime(info.Created) : state === 'created' ? 0 : dockerTime(info.State.StartedAt);
  // Docker stamps StartedAt when its start call returns and FinishedAt from containerd's
  // exit event, so a process that exits at once can "finish" before it "started".
  // A failed start has no FinishedAt: its creation time is when it ended, as far as the
  // crash back-off is concerned.
  const finishedAt = state === 'exited' ? Math.max(dockerTime(info.State.FinishedAt), startedAt, startFailed ? dockerTime(info.Created) : 0) : 0;
  return {
    id: info.Id,
    podSandboxId: labels[LABEL_SANDBOX_ID] ?? '',
    metadata: containerMetadataFromLabels(labels),
    state,
    createdAt: dockerTime(info.Created),
    startedAt,
    finishedAt,
    exitCode,
    ...(reason !== undefined ? { reason } : {}),
    ...(message !== undefined ? { message } : {}),
    image: info.Config.Image,
    imageRef: info.Image,
    labels: userLabels,
    annotations,
    mounts: (info.Mounts ?? []).map((m) => ({ containerPath: m.Destination, hostPath: m.Source, readonly: !m.RW })),
    ...(labels[LABEL_LOG_PATH] ? { logPath: labels[LABEL_LOG_PATH] } : {}),
    resources: {
      cpuShares: info.HostConfig.CpuShares ?? 0,
      cpuQuota: info.HostConfig.CpuQuota ?? 0,
      cpuPeriod: info.HostConfig.CpuPeriod ?? 0,
      memoryLimitInBytes: info.HostConfig.Memory ?? 0,
    },
  };
}

export class Containers {
  /**
   * Inspect results keyed by container id, valid while the engine reports the same state:
   * nothing a status holds changes without a state change (restart policy is always
   * 'no'), so a relist costs one list call plus an inspect per container that changed.
   */
  private readonly cache = new Map<string, { dockerState: string; status: ContainerStatus }>();

  constructor(
    private readonly docker: Docker,
    private readonly minOomScoreAdj = -1000,
    private readonly fresh?: JustStarted,
  ) {}

  async create(sandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string> {
    const md = sandboxConfig.metadata;
    const ctx = `container ${config.metadata.name} of pod ${md.namespace}/${md.name} (attempt ${config.metadata.attempt})`;
    try {
      const sandbox = await this.checkSandboxReady(sandboxId);
      const seccomp = config.linux?.securityContext?.seccomp;
      const profile = seccomp?.profileType === 'Localhost' && !config.linux?.securityContext?.privileged ? await readProfile(seccomp.localhostRef) : undefined;
      return await createContainer(this.docker, containerCreateOptions(sandboxId, config, sandboxConfig, profile, sandbox.ResolvConfPath || undefined, { minOomScoreAdj: this.minOomScoreAdj }));
    } catch (err) {
      throw wrapEngineError('CreateContainerError', `creating ${ctx}`, err);
    }
  }

  /**
   * Docker 20.10 accepts NetworkMode container:<id> for a missing or stopped container
   * and fails only at start; refusing at create (as containerd's CRI does) gives the
   * caller the real cause and never makes a container that cannot run.
   */
  private async checkSandboxReady(sandboxId: string): Promise<Docker.ContainerInspectInfo> {
    let info: Docker.ContainerInspectInfo;
    try {
      // The sandbox this runtime started a moment ago: its inspect from then.
      info = this.fresh?.take(sandboxId) ?? (await this.docker.getContainer(sandboxId).inspect());
    } catch (err) {
      if (isNotFound(err)) throw new RuntimeError('CreateContainerError', `sandbox ${sandboxId} not found`);
      throw err;
    }
    if (info.Config.Labels?.[LABEL_TYPE] !== TYPE_SANDBOX) {
      throw new RuntimeError('CreateContainerError', `${sandboxId} is not a pod sandbox`);
    }
    if (!info.State.Running) {
      throw new RuntimeError('CreateContainerError', `sandbox ${sandboxId} is not running (${info.State.Status})`);
    }
    return info;
  }

  async start(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).start();
    } catch (err) {
      // 304: already started (a retried call): that is success.
      if (statusCode(err) === 304) return;
      // A container whose start failed stays, as with cri-dockerd and containerd's CRI (an
      // exited run, ContainerCannotRun / StartError): it is the run the restart policy judges. Removed, it left no trace, and a
      // restartPolicy Never pod retried it for ever in CrashLoopBackOff.
      if (isNotFound(err)) throw new RuntimeError('NotFound', `starting container ${id}: not found`, { cause: err });
      throw wrapEngineError('RunContainerError', `starting container ${id}`, err);
    }
  }

  async stop(id: string, timeoutSeconds: number): Promise<void> {
    try {
      await stopWithTimeout(this.docker, id, timeoutSeconds);
    } catch (err) {
      throw wrapEngineError(undefined, `stopping container ${id}`, err);
    }
  }

  async remove(id: string): Promise<void> {
    try {
      await forceRemove(this.docker, id);
      this.cache.delete(id);
    } catch (err) {
      throw wrapEngineError(undefined, `removing container ${id}`, err);
    }
  }

  async status(id: string): Promise<ContainerStatus> {
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.docker.getContainer(id).inspect();
    } catch (err) {
      if (isNotFound(err)) throw new RuntimeError('NotFound', `container ${id} not found`, { cause: err });
      throw wrapEngineError(undefined, `inspecting container ${id}`, err);
    }
    if (info.Config.Labels?.[LABEL_TYPE] !== TYPE_CONTAINER) {
      throw new RuntimeError('NotFound', `${id} is not a managed container`);
    }
    const status = await this.withImageID(statusFromInspect(info));
    this.cache.set(info.Id, { dockerState: info.State.Status, status });
    return status;
  }

  /** docker update: the engine writes the container's cgroup files and keeps the values. */
  async update(id: string, r: LinuxContainerResources): Promise<void> {
    const hc = resourcesHostConfig(r);
    const body: Record<string, number> = {};
    for (const k of ['CpuShares', 'CpuQuota', 'CpuPeriod', 'Memory', 'MemorySwap'] as const) {
      const v = hc[k];
      if (typeof v === 'number') body[k] = v;
    }
    try {
      await this.docker.getContainer(id).update(body);
    } catch (err) {
      if (isNotFound(err)) throw new RuntimeError('NotFound', `container ${id} not found`, { cause: err });
      throw wrapEngineError(undefined, `updating the resources of container ${id}`, err);
    } finally {
      // Same engine state, new limits: the cached status is stale.
      this.cache.delete(id);
    }
  }

  /**
   * The status imageID as cri-dockerd reports it: `docker-pullable://<repo>@<digest>` when
   * the image came from a registry (the digest of the container's repository first), else
   * `docker://<image id>`. Asked once per container state (the status is cached).
   */
  private async withImageID(status: ContainerStatus): Promise<ContainerStatus> {
    let digests: string[] = [];
    try {
      digests = ((await this.docker.getImage(status.imageRef).inspect()).RepoDigests ?? []).filter((d) => d !== '<none>@<none>');
    } catch {
      digests = [];
    }
    const repo = splitReference(status.image).fromImage;
    const digest = digests.find((d) => d.startsWith(`${repo}@`)) ?? digests[0];
    return { ...status, imageID: digest ? `docker-pullable://${digest}` : `docker://${status.imageRef}` };
  }

  async list(filter?: LabelFilter): Promise<ContainerStatus[]> {
    let list: Docker.ContainerInfo[];
    try {
      list = await this.docker.listContainers({
        all: true,
        filters: { label: [`${LABEL_TYPE}=${TYPE_CONTAINER}`, ...dockerLabelFilters(filter)] },
      });
    } catch (err) {
      throw wrapEngineError(undefined, 'listing containers', err);
    }
    const seen = new Set(list.map((c) => c.Id));
    // A filtered list does not see the others: only a full one tells what is gone.
    if (!filter) for (const id of this.cache.keys()) if (!seen.has(id)) this.cache.delete(id);
    else for (const [id, hit] of this.cache) if (!seen.has(id) && matchesLabels(hit.status.labels, filter)) this.cache.delete(id);
    const out = await Promise.all(
      list.map(async (c): Promise<ContainerStatus | undefined> => {
        const hit = this.cache.get(c.Id);
        // "created" is not cached: a failed start changes the status without changing it.
        if (hit && hit.dockerState === c.State && c.State !== 'created') return hit.status;
        try {
          const info = await this.docker.getContainer(c.Id).inspect();
          const status = await this.withImageID(statusFromInspect(info));
          // Keyed by the inspected state, which may already be newer than the list's.
          this.cache.set(info.Id, { dockerState: info.State.Status, status });
          return status;
        } catch (err) {
          if (isNotFound(err)) return undefined; // removed since the list call
          throw wrapEngineError(undefined, `inspecting container ${c.Id}`, err);
        }
      }),
    );
    return out.filter((s): s is ContainerStatus => s !== undefined);
  }
}

/** A Localhost seccomp profile, read when the container is created (the engine takes it inline). */
export async function readProfile(path: string | undefined): Promise<string> {
  if (!path || !isAbsolute(path)) throw new RuntimeError('CreateContainerError', `seccomp profile path ${JSON.stringify(path ?? '')} is not absolute`);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new RuntimeError('CreateContainerError', `reading seccomp profile ${path}: ${(err as NodeJS.ErrnoException).code ?? 'failed'}`, { cause: err });
  }
  try {
    return JSON.stringify(JSON.parse(text));
  } catch {
    // V8's message quotes the text: a profile's content never goes into a status message.
    throw new RuntimeError('CreateContainerError', `seccomp profile ${path} is not valid JSON`);
  }
}
