// Pod sandboxes as pause containers: the pause container owns the pod's network, IPC and
// UTS namespaces (and PID namespace with shareProcessNamespace); app containers join them.

import { writeFile } from 'node:fs/promises';
import type Docker from 'dockerode';
import { RuntimeError, type LabelFilter, type PodSandboxConfig, type PodSandboxStatus } from '../runtime.js';
import { isNotFound, wrapEngineError } from './errors.js';
import {
  containersOfSandbox,
  createContainer,
  dockerTime,
  forceRemove,
  startOrRemove,
  stopWithTimeout,
} from './engine.js';
import {
  dockerLabelFilters,
  LABEL_HOST_NETWORK,
  LABEL_SANDBOX_ID,
  LABEL_TYPE,
  TYPE_SANDBOX,
  sandboxLabels,
  sandboxMetadataFromLabels,
  sandboxName,
  splitLabels,
} from './naming.js';

export interface SandboxOptions {
  networkName: string;
  pauseImage: string;
  /** The lowest oom_score_adj the host lets the runtime set (see resourcesHostConfig). */
  minOomScoreAdj?: number;
}

/** dockershim's sandbox resources: the fewest cpu shares, and the pause container killed last. */
const SANDBOX_CPU_SHARES = 2;
const SANDBOX_OOM_SCORE_ADJ = -998;

/** dockershim's grace for the pause container, which exits on SIGTERM at once anyway. */
const SANDBOX_STOP_GRACE_SECONDS = 10;

/** Pure translation of a sandbox config to Docker's create body. */
export function sandboxCreateOptions(
  config: PodSandboxConfig,
  opts: SandboxOptions,
): Docker.ContainerCreateOptions & { name: string } {
  const exposed: Record<string, Record<string, never>> = {};
  const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  // With the host's network the container ports already are host ports.
  if (!config.hostNetwork) {
    for (const pm of config.portMappings) {
      if (!pm.hostPort) continue; // a containerPort alone publishes nothing, as in kubelet
      const key = `${pm.containerPort}/${pm.protocol.toLowerCase()}`;
      exposed[key] = {};
      (bindings[key] ??= []).push({ HostIp: pm.hostIp || '0.0.0.0', HostPort: String(pm.hostPort) });
    }
  }
  const hostConfig: Docker.HostConfig = {
    NetworkMode: config.hostNetwork ? 'host' : opts.networkName,
    // Docker 20.10 gives every container a private IPC namespace; only a shareable one
    // can be joined by the app containers.
    IpcMode: config.hostIPC ? 'host' : 'shareable',
    PidMode: config.hostPID ? 'host' : '',
    PortBindings: bindings,
    RestartPolicy: { Name: 'no' },
    CpuShares: SANDBOX_CPU_SHARES,
    OomScoreAdj: Math.max(opts.minOomScoreAdj ?? -1000, SANDBOX_OOM_SCORE_ADJ),
  };
  if (config.cgroupParent) hostConfig.CgroupParent = config.cgroupParent;
  // Namespaced sysctls, set in the namespaces the app containers then join.
  if (config.sysctls && Object.keys(config.sysctls).length > 0) hostConfig.Sysctls = { ...config.sysctls };
  if (config.dns) {
    if (config.dns.servers.length > 0) hostConfig.Dns = config.dns.servers;
    if (config.dns.searches.length > 0) hostConfig.DnsSearch = config.dns.searches;
    if (config.dns.options.length > 0) hostConfig.DnsOptions = config.dns.options;
  }
  return {
    name: sandboxName(config.metadata),
    Image: opts.pauseImage,
    // Docker refuses a hostname with the host's network (it is the host's).
    ...(config.hostNetwork ? {} : { Hostname: config.hostname }),
    Labels: sandboxLabels(config),
    ExposedPorts: exposed,
    HostConfig: hostConfig,
  };
}

/**
 * Docker's resolv.conf on a user-defined network points at its embedded DNS (127.0.0.11)
 * and only forwards to the configured servers; pods expect the cluster DNS server itself
 * in resolv.conf (ndots and search apply to it), so the file is rewritten as dockershim
 * did. App containers joining the sandbox's network bind-mount this same file.
 */
export function resolvConf(dns: NonNullable<PodSandboxConfig['dns']>): string {
  const lines: string[] = [];
  for (const s of dns.servers) lines.push(`nameserver ${s}`);
  if (dns.searches.length > 0) lines.push(`search ${dns.searches.join(' ')}`);
  if (dns.options.length > 0) lines.push(`options ${dns.options.join(' ')}`);
  return lines.join('\n') + '\n';
}

function sandboxIp(
  networks: Record<string, { IPAddress?: string }> | undefined,
  networkName: string,
  running: boolean,
  hostNetwork: boolean,
): string | undefined {
  if (!running || hostNetwork) return undefined;
  const ip = networks?.[networkName]?.IPAddress;
  return ip ? ip : undefined;
}

/**
 * The inspect made right after a sandbox started, kept for the calls that follow its start
 * at once (its status for the pod IP, the first container's create): one engine call where
 * there were three. Only for a moment (a pod whose first container waits for an image pull
 * asks the engine again), taken by the first container create, gone with the sandbox.
 */
export class JustStarted {
  private readonly map = new Map<string, { info: Docker.ContainerInspectInfo; at: number }>();
  constructor(private readonly maxAgeMs = 2000) {}
  set(info: Docker.ContainerInspectInfo): void {
    const now = Date.now();
    for (const [id, e] of this.map) if (now - e.at > this.maxAgeMs) this.map.delete(id);
    this.map.set(info.Id, { info, at: now });
  }
  peek(id: string): Docker.ContainerInspectInfo | undefined {
    const e = this.map.get(id);
    if (e && Date.now() - e.at <= this.maxAgeMs) return e.info;
    this.map.delete(id);
    return undefined;
  }
  take(id: string): Docker.ContainerInspectInfo | undefined {
    const info = this.peek(id);
    this.map.delete(id);
    return info;
  }
}

export class Sandboxes {
  /** Creation times in ms (the list only has seconds); a container's never changes. */
  private readonly createdAt = new Map<string, number>();

  constructor(
    private readonly docker: Docker,
    private readonly opts: SandboxOptions,
    private readonly fresh = new JustStarted(),
  ) {}

  async run(config: PodSandboxConfig): Promise<string> {
    const md = config.metadata;
    const ctx = `sandbox for pod ${md.namespace}/${md.name} (uid ${md.uid}, attempt ${md.attempt})`;
    let id: string;
    try {
      id = await createContainer(this.docker, sandboxCreateOptions(config, this.opts));
    } catch (err) {
      // The pause image is looked for only when a create fails (a 404 is the engine's "no
      // such image"): one engine call fewer on every pod start, the same error when it is missing.
      if (isNotFound(err)) await this.ensurePauseImage(ctx);
      throw wrapEngineError('CreateContainerError', `creating ${ctx}`, err);
    }
    try {
      await startOrRemove(this.docker, id);
    } catch (err) {
      throw wrapEngineError('RunContainerError', `starting ${ctx}`, err);
    }
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.docker.getContainer(id).inspect();
    } catch (err) {
      throw wrapEngineError('RunContainerError', `inspecting ${ctx}`, err);
    }
    if (config.dns && config.dns.servers.length > 0) {
      try {
        await writeFile(info.ResolvConfPath, resolvConf(config.dns));
      } catch (err) {
        await forceRemove(this.docker, id).catch(() => undefined);
        throw wrapEngineError('RunContainerError', `writing resolv.conf of ${ctx}`, err);
      }
    }
    this.fresh.set(info);
    // The relist after the start need not inspect it for its creation time.
    this.createdAt.set(id, dockerTime(info.Created));
    return id;
  }

  private async ensurePauseImage(ctx: string): Promise<void> {
    try {
      await this.docker.getImage(this.opts.pauseImage).inspect();
    } catch (err) {
      if (isNotFound(err)) {
        throw new RuntimeError(
          'ImageNotFound',
          `creating ${ctx}: pause image ${this.opts.pauseImage} is not present in the engine; ` +
            `bosun never pulls it: run scripts/setup-host.sh to build it`,
        );
      }
      throw wrapEngineError('CreateContainerError', `inspecting pause image ${this.opts.pauseImage}`, err);
    }
  }

  /** Stops the sandbox's containers (forcibly: CRI says any still running must go) and then the pause container. */
  async stop(id: string): Promise<void> {
    this.fresh.take(id);
    try {
      const members = await containersOfSandbox(this.docker, id, LABEL_SANDBOX_ID);
      await Promise.all(members.map((c) => stopWithTimeout(this.docker, c, 0)));
      await stopWithTimeout(this.docker, id, SANDBOX_STOP_GRACE_SECONDS);
    } catch (err) {
      throw wrapEngineError(undefined, `stopping sandbox ${id}`, err);
    }
  }

  async remove(id: string): Promise<void> {
    this.fresh.take(id);
    try {
      const members = await containersOfSandbox(this.docker, id, LABEL_SANDBOX_ID);
      await Promise.all(members.map((c) => forceRemove(this.docker, c)));
      await forceRemove(this.docker, id);
      this.createdAt.delete(id);
    } catch (err) {
      throw wrapEngineError(undefined, `removing sandbox ${id}`, err);
    }
  }

  async status(id: string): Promise<PodSandboxStatus> {
    let info: Docker.ContainerInspectInfo;
    try {
      info = this.fresh.peek(id) ?? (await this.docker.getContainer(id).inspect());
    } catch (err) {
      if (isNotFound(err)) throw new RuntimeError('NotFound', `sandbox ${id} not found`, { cause: err });
      throw wrapEngineError(undefined, `inspecting sandbox ${id}`, err);
    }
    const labels = info.Config.Labels ?? {};
    if (labels[LABEL_TYPE] !== TYPE_SANDBOX) throw new RuntimeError('NotFound', `${id} is not a pod sandbox`);
    const created = dockerTime(info.Created);
    this.createdAt.set(info.Id, created);
    const { labels: userLabels, annotations } = splitLabels(labels);
    return {
      id: info.Id,
      metadata: sandboxMetadataFromLabels(labels),
      state: info.State.Running ? 'ready' : 'notready',
      createdAt: created,
      ip: sandboxIp(
        info.NetworkSettings.Networks,
        this.opts.networkName,
        info.State.Running,
        labels[LABEL_HOST_NETWORK] === 'true',
      ),
      labels: userLabels,
      annotations,
    };
  }

  async list(filter?: LabelFilter): Promise<PodSandboxStatus[]> {
    let list: Docker.ContainerInfo[];
    try {
      list = await this.docker.listContainers({
        all: true,
        filters: { label: [`${LABEL_TYPE}=${TYPE_SANDBOX}`, ...dockerLabelFilters(filter)] },
      });
    } catch (err) {
      throw wrapEngineError(undefined, 'listing sandboxes', err);
    }
    const seen = new Set(list.map((c) => c.Id));
    // Creation times are forgotten on a full list only (a filtered one does not see the rest).
    if (!filter) for (const id of this.createdAt.keys()) if (!seen.has(id)) this.createdAt.delete(id);
    const out = await Promise.all(
      list.map(async (c): Promise<PodSandboxStatus | undefined> => {
        let created = this.createdAt.get(c.Id);
        if (created === undefined) {
          // One inspect per sandbox for its lifetime: the list's Created has only seconds,
          // too coarse to order two attempts made within the same second.
          try {
            created = dockerTime((await this.docker.getContainer(c.Id).inspect()).Created);
          } catch (err) {
            if (isNotFound(err)) return undefined; // removed since the list call
            created = c.Created * 1000;
          }
          this.createdAt.set(c.Id, created);
        }
        const labels = c.Labels ?? {};
        const running = c.State === 'running';
        const { labels: userLabels, annotations } = splitLabels(labels);
        return {
          id: c.Id,
          metadata: sandboxMetadataFromLabels(labels),
          state: running ? 'ready' : 'notready',
          createdAt: created,
          ip: sandboxIp(c.NetworkSettings?.Networks, this.opts.networkName, running, labels[LABEL_HOST_NETWORK] === 'true'),
          labels: userLabels,
          annotations,
        };
      }),
    );
    return out.filter((s): s is PodSandboxStatus => s !== undefined);
  }
}
