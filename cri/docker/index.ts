// First: keeps dockerode from loading what bosun never uses (see unused-deps.ts).
import './unused-deps.js';
import http from 'node:http';
import { inspect } from 'node:util';
import Docker from 'dockerode';
import type { Duplex } from 'node:stream';
import type {
  LinuxContainerResources,
  RegistryAuth,
  ContainerConfig,
  ContainerStats,
  ContainerStatus,
  ExecResult,
  ImageInfo,
  LabelFilter,
  LogChunk,
  LogFollower,
  PodSandboxConfig,
  PodSandboxStatus,
  FilesystemUsage,
  Runtime,
  RuntimeConfig,
  RuntimeEvent,
  StreamOptions,
  StreamSession,
} from '../runtime.js';
import { filesystemUsage, RuntimeError } from '../runtime.js';
import { Containers } from './container.js';
import { engineMessage, wrapEngineError } from './errors.js';
import { subscribe } from './events.js';
import { execSync } from './exec.js';
import { Images } from './image.js';
import { followLogs } from './logs.js';
import { ensurePodNetwork } from './network.js';
import { probeMinOomScoreAdj, type OomProbeResult } from './oom.js';
import { JustStarted, Sandboxes } from './sandbox.js';
import { attachStream, containerStats, execStream, portForward } from './stream.js';

export interface DockerRuntimeOptions {
  /** Default /var/run/docker.sock. */
  socketPath?: string;
  /** Subnet of the pod network; default 10.244.0.0/16. */
  podCIDR?: string;
  /** Docker network the sandboxes join; default 'bosun'. */
  networkName?: string;
  /** Linux bridge behind that network; default 'bosun0'. */
  bridgeName?: string;
  /** Built locally by scripts/setup-host.sh and never pulled; default localhost/bosun/pause:3.10. */
  pauseImage?: string;
  /** Default 60000. */
  pullTimeoutMs?: number;
  /**
   * The lowest oom_score_adj containers may get; unset: probed once per engine (see
   * probeDockerOomScore).
   */
  minOomScoreAdj?: number;
}

export const DOCKER_DEFAULTS = {
  socketPath: '/var/run/docker.sock',
  podCIDR: '10.244.0.0/16',
  networkName: 'bosun',
  bridgeName: 'bosun0',
  pauseImage: 'localhost/bosun/pause:3.10',
  pullTimeoutMs: 60_000,
} as const satisfies Required<Omit<DockerRuntimeOptions, 'minOomScoreAdj'>>;

/** A hung engine must not hang the agent's startup. */
const PING_TIMEOUT_MS = 10_000;

class DockerRuntime implements Runtime {
  private readonly sandboxes: Sandboxes;
  private readonly containers: Containers;
  private readonly images: Images;
  private readonly unsubscribers = new Set<() => void>();

  constructor(
    private readonly docker: Docker,
    private readonly opts: Required<DockerRuntimeOptions>,
  ) {
    const fresh = new JustStarted();
    this.sandboxes = new Sandboxes(docker, { networkName: opts.networkName, pauseImage: opts.pauseImage, minOomScoreAdj: opts.minOomScoreAdj }, fresh);
    this.containers = new Containers(docker, opts.minOomScoreAdj, fresh);
    this.images = new Images(docker, opts.pullTimeoutMs);
  }

  async version(): Promise<{ runtimeName: string; runtimeVersion: string; runtimeApiVersion: string }> {
    try {
      const v = await this.docker.version();
      return { runtimeName: 'docker', runtimeVersion: v.Version, runtimeApiVersion: v.ApiVersion };
    } catch (err) {
      throw wrapEngineError(undefined, 'Docker version', err);
    }
  }

  async runtimeConfig(): Promise<RuntimeConfig> {
    const info = await this.info();
    return { linux: { cgroupDriver: info.CgroupDriver === 'systemd' ? 'systemd' : 'cgroupfs' } };
  }

  /** The engine's data root: images and writable layers (overlay2) live there. */
  async imageFsInfo(): Promise<FilesystemUsage[]> {
    const root = (await this.info()).DockerRootDir || '/var/lib/docker';
    return [await filesystemUsage(root)];
  }

  private async info(): Promise<{ CgroupDriver?: string; DockerRootDir?: string }> {
    try {
      return (await this.docker.info()) as { CgroupDriver?: string; DockerRootDir?: string };
    } catch (err) {
      throw wrapEngineError(undefined, 'Docker info', err);
    }
  }

  runPodSandbox(config: PodSandboxConfig): Promise<string> {
    return this.sandboxes.run(config);
  }
  stopPodSandbox(id: string): Promise<void> {
    return this.sandboxes.stop(id);
  }
  removePodSandbox(id: string): Promise<void> {
    return this.sandboxes.remove(id);
  }
  podSandboxStatus(id: string): Promise<PodSandboxStatus> {
    return this.sandboxes.status(id);
  }
  listPodSandboxes(filter?: LabelFilter): Promise<PodSandboxStatus[]> {
    return this.sandboxes.list(filter);
  }

  createContainer(sandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string> {
    return this.containers.create(sandboxId, config, sandboxConfig);
  }
  updateContainerResources(id: string, resources: LinuxContainerResources): Promise<void> {
    return this.containers.update(id, resources);
  }
  startContainer(id: string): Promise<void> {
    return this.containers.start(id);
  }
  stopContainer(id: string, timeoutSeconds: number): Promise<void> {
    return this.containers.stop(id, timeoutSeconds);
  }
  removeContainer(id: string): Promise<void> {
    return this.containers.remove(id);
  }
  containerStatus(id: string): Promise<ContainerStatus> {
    return this.containers.status(id);
  }
  listContainers(filter?: LabelFilter): Promise<ContainerStatus[]> {
    return this.containers.list(filter);
  }
  execSync(id: string, cmd: string[], timeoutMs: number): Promise<ExecResult> {
    return execSync(this.docker, id, cmd, timeoutMs);
  }
  exec(id: string, cmd: string[], opts: StreamOptions): Promise<StreamSession> {
    return execStream(this.docker, id, cmd, opts);
  }
  attach(id: string, opts: StreamOptions): Promise<StreamSession> {
    return attachStream(this.docker, id, opts);
  }
  portForward(sandboxId: string, port: number): Promise<Duplex> {
    return portForward(this.docker, sandboxId, port, this.opts.networkName);
  }
  containerStats(id: string): Promise<ContainerStats> {
    return containerStats(this.docker, id);
  }
  followLogs(id: string, since: string | undefined, onChunk: (c: LogChunk) => void): LogFollower {
    return followLogs(this.docker, id, since, onChunk);
  }

  subscribe(onEvent: (e: RuntimeEvent) => void, onError: (err: Error) => void, onReady?: () => void, filter?: LabelFilter): () => void {
    const unsubscribe = subscribe(this.docker, onEvent, (err) => {
      this.unsubscribers.delete(unsubscribe);
      onError(err);
    }, onReady, filter);
    this.unsubscribers.add(unsubscribe);
    return () => {
      this.unsubscribers.delete(unsubscribe);
      unsubscribe();
    };
  }

  pullImage(ref: string, auth?: RegistryAuth): Promise<string> {
    return this.images.pull(ref, auth);
  }
  tagImage(source: string, target: string): Promise<void> {
    return this.images.tag(source, target);
  }
  imageStatus(ref: string): Promise<ImageInfo | undefined> {
    return this.images.status(ref);
  }
  listImages(): Promise<ImageInfo[]> {
    return this.images.list();
  }
  removeImage(ref: string): Promise<void> {
    return this.images.remove(ref);
  }
  importImage(tarPath: string): Promise<string[]> {
    return this.images.import(tarPath);
  }

  async close(): Promise<void> {
    for (const u of [...this.unsubscribers]) u();
    this.unsubscribers.clear();
  }
}

/**
 * An http.Agent that prints as one short line. docker-modem formats every request's options
 * with util.inspect (showHidden, unlimited depth) before it looks at its debug switch, and
 * the agent is among those options: printed in full, with every open socket (each log
 * follower and the event stream hold one) and their parsers, it cost the agent most of its
 * CPU with a few dozen pods, and every engine call seconds under load.
 */
class QuietAgent extends http.Agent {
  [inspect.custom](): string {
    return 'http.Agent (a new connection per call)';
  }
}

/**
 * The dockerode client: a new connection per call (dockerd stops listening as soon as it is
 * told to stop, but keeps serving connections already open while it stops every container;
 * a kept-alive connection would let the agent go on creating sandboxes in an engine that is
 * shutting down, their layers staying mounted; a fresh one fails at once, and the agent
 * backs off). docker-modem takes an `agent`; @types/dockerode does not list it.
 */
export function dockerClient(socketPath: string): Docker {
  const options: Docker.DockerOptions & { agent: http.Agent } = { socketPath, agent: new QuietAgent({ keepAlive: false }) };
  return new Docker(options);
}

/** Connects to the engine, makes sure the pod network exists, and returns the runtime. */
export async function createDockerRuntime(options: DockerRuntimeOptions = {}): Promise<Runtime> {
  const opts: Required<DockerRuntimeOptions> = {
    socketPath: options.socketPath ?? DOCKER_DEFAULTS.socketPath,
    podCIDR: options.podCIDR ?? DOCKER_DEFAULTS.podCIDR,
    networkName: options.networkName ?? DOCKER_DEFAULTS.networkName,
    bridgeName: options.bridgeName ?? DOCKER_DEFAULTS.bridgeName,
    pauseImage: options.pauseImage ?? DOCKER_DEFAULTS.pauseImage,
    pullTimeoutMs: options.pullTimeoutMs ?? DOCKER_DEFAULTS.pullTimeoutMs,
    minOomScoreAdj: options.minOomScoreAdj ?? -1000,
  };
  // A new connection per call: dockerd stops listening as soon as it is told to stop, but
  // keeps serving connections already open while it stops every container. A kept-alive
  // connection would let the agent go on creating sandboxes in an engine that is shutting
  // down (their layers stay mounted); a fresh one fails at once, and the agent backs off.
  const docker = dockerClient(opts.socketPath);
  try {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      docker.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS);
      }),
    ]).finally(() => clearTimeout(timer));
  } catch (err) {
    throw new RuntimeError(
      'Unavailable',
      `cannot reach the Docker engine at ${opts.socketPath}: ${engineMessage(err)} (run scripts/setup-host.sh)`,
      { cause: err },
    );
  }
  await ensurePodNetwork(docker, opts);
  if (options.minOomScoreAdj === undefined) opts.minOomScoreAdj = (await probeMinOomScoreAdj(docker, opts.socketPath, opts.pauseImage)).minOomScoreAdj;
  return new DockerRuntime(docker, opts);
}

/**
 * Whether this engine's runc may lower oom_score_adj (see cri/docker/oom.ts); probed once
 * per socket and shared with createDockerRuntime.
 */
export function probeDockerOomScore(socketPath: string = DOCKER_DEFAULTS.socketPath, pauseImage: string = DOCKER_DEFAULTS.pauseImage): Promise<OomProbeResult> {
  return probeMinOomScoreAdj(new Docker({ socketPath }), socketPath, pauseImage);
}

export type { OomProbeResult };
