// The runtime interface, shaped like CRI v1 (k8s.io/cri-api runtime/v1): everything above
// cri/ talks to a container engine only through this, so that Docker and containerd are
// interchangeable. Times are milliseconds since the epoch (0 = never).

import { statfs } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import type { Duplex, Readable, Writable } from 'node:stream';

export interface PodSandboxMetadata {
  name: string;
  namespace: string;
  uid: string;
  attempt: number;
}

export interface PortMapping {
  protocol: 'TCP' | 'UDP' | 'SCTP';
  containerPort: number;
  hostPort: number;
  hostIp?: string;
}

export interface PodSandboxConfig {
  metadata: PodSandboxMetadata;
  hostname: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  portMappings: PortMapping[];
  /** Namespace sharing, as CRI's NamespaceOption. */
  hostNetwork: boolean;
  hostPID: boolean;
  hostIPC: boolean;
  /** PID namespace shared by all containers of the pod (shareProcessNamespace). */
  sharePid: boolean;
  /** Parent cgroup for the pod, when the agent manages pod cgroups. */
  cgroupParent?: string;
  dns?: { servers: string[]; searches: string[]; options: string[] };
  /**
   * Directory for the pod's container logs (CRI log_directory, e.g.
   * /var/log/pods/<ns>_<name>_<uid>); ContainerConfig.logPath is relative to it.
   */
  logDirectory?: string;
  /**
   * CRI's linux.sysctls: set on the sandbox, since the sysctls a pod may set are per
   * network or IPC namespace, which the sandbox owns and the containers join.
   */
  sysctls?: Record<string, string>;
}

export type SandboxState = 'ready' | 'notready';

export interface PodSandboxStatus {
  id: string;
  metadata: PodSandboxMetadata;
  state: SandboxState;
  createdAt: number;
  /** The pod's IP on the pod network; undefined for host-network pods or stopped sandboxes. */
  ip?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface ContainerMetadata {
  name: string;
  attempt: number;
}

export interface Mount {
  containerPath: string;
  hostPath: string;
  readonly: boolean;
  propagation?: 'private' | 'rslave' | 'rshared';
}

/** CRI v1 SecurityProfile (seccomp). */
export interface SecurityProfile {
  profileType: 'RuntimeDefault' | 'Unconfined' | 'Localhost';
  /** Localhost: absolute path of the profile (JSON) on the node. */
  localhostRef?: string;
}

/**
 * CRI v1 LinuxContainerSecurityContext, the fields bosun uses. Unset fields keep the
 * runtime's (and the image's) defaults.
 */
export interface LinuxContainerSecurityContext {
  /** Capability names with or without the CAP_ prefix; 'ALL' is all of them. */
  capabilities?: { addCapabilities?: string[]; dropCapabilities?: string[] };
  privileged?: boolean;
  runAsUser?: number;
  /** The image's user name, when the user is only known by name (CRI run_as_username). */
  runAsUsername?: string;
  /** Only with runAsUser or runAsUsername. */
  runAsGroup?: number;
  readonlyRootfs?: boolean;
  supplementalGroups?: number[];
  noNewPrivs?: boolean;
  seccomp?: SecurityProfile;
}

/**
 * CRI v1 LinuxContainerResources (the fields bosun sets). Unset fields keep the runtime's
 * defaults. `pidsLimit` is bosun's own: CRI has none (kubelet limits pids on the pod cgroup
 * only); the Docker runtime sets it on the container as well.
 */
export interface LinuxContainerResources {
  cpuPeriod?: number;
  /** 0 = no CFS quota. */
  cpuQuota?: number;
  cpuShares?: number;
  memoryLimitInBytes?: number;
  /** Memory plus swap; equal to memoryLimitInBytes when swap is off. */
  memorySwapLimitInBytes?: number;
  oomScoreAdj?: number;
  pidsLimit?: number;
}

export interface ContainerConfig {
  metadata: ContainerMetadata;
  image: string;
  /** Entrypoint override (Pod `command`); undefined keeps the image's. */
  command?: string[];
  /** Pod `args`; undefined keeps the image's CMD (only when command is also undefined). */
  args?: string[];
  workingDir?: string;
  envs: { key: string; value: string }[];
  mounts: Mount[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  stdin?: boolean;
  stdinOnce?: boolean;
  tty?: boolean;
  /** The signal that stops the container before the kill (lifecycle.stopSignal); unset: the image's. */
  stopSignal?: string;
  /** Where the runtime should keep this container's log (relative to the sandbox log dir). */
  logPath?: string;
  linux?: { securityContext?: LinuxContainerSecurityContext; resources?: LinuxContainerResources };
  /**
   * Join this container's PID namespace (an ephemeral container's targetContainerName: CRI
   * NamespaceMode TARGET); only where the pod has no shared or host PID namespace.
   */
  pidTarget?: string;
}

export type ContainerState = 'created' | 'running' | 'exited' | 'unknown';

/**
 * The reason of a container whose start failed, an exited run that never ran: containerd's
 * CRI says StartError (exit code 128, its error as message; container_start.go), Docker
 * through cri-dockerd (dockershim before it) says ContainerCannotRun (Docker's exit code
 * and State.Error). What kubelet shows on each runtime.
 */
export const START_FAILURE_REASONS: ReadonlySet<string> = new Set(['StartError', 'ContainerCannotRun']);

export function failedToStart(c: Pick<ContainerStatus, 'reason'>): boolean {
  return c.reason !== undefined && START_FAILURE_REASONS.has(c.reason);
}

export interface ContainerStatus {
  id: string;
  podSandboxId: string;
  metadata: ContainerMetadata;
  state: ContainerState;
  createdAt: number;
  startedAt: number;
  finishedAt: number;
  exitCode: number;
  /**
   * The runtime's reason for an exited container, shown as it is in the pod status (kubelet's
   * convertContainerStatus): Completed, Error, OOMKilled, or a start failure's
   * (START_FAILURE_REASONS).
   */
  reason?: string;
  message?: string;
  image: string;
  imageRef: string;
  /** What pod status shows as imageID when it differs from imageRef (Docker: docker-pullable://repo@digest). */
  imageID?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** The container's mounts (CRI's status.mounts): where a termination message file lives. */
  mounts?: Mount[];
  /** Absolute path of the container's CRI log file, when it has one (CRI's log_path). */
  logPath?: string;
  /** The limits the container runs with now (CRI's status.resources), where the runtime says. */
  resources?: LinuxContainerResources;
}

export interface ImageInfo {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  size: number;
  /** The image's USER ("uid", "uid:gid", "name" or "name:group"); only from imageStatus. */
  user?: string;
  /** The runtime keeps it whatever happens (CRI Image.pinned, e.g. containerd's sandbox image): GC never removes it. */
  pinned?: boolean;
}

export interface ExecResult {
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number;
  /** True when the command was stopped because the timeout passed. */
  timedOut: boolean;
}

export type RuntimeEventType = 'created' | 'started' | 'stopped' | 'deleted';

export type LogStream = 'stdout' | 'stderr';

/** One message of a container's output, as the engine recorded it. */
export interface LogChunk {
  stream: LogStream;
  /** RFC 3339 timestamp with nanoseconds ("2024-05-01T10:00:00.123456789Z"). */
  timestamp: string;
  /** The message; it ends with "\n" unless the engine split a longer line (a partial line). */
  data: Buffer;
}

export interface LogFollower {
  /** Resolves when the output ended (the container stopped or was removed) or stop() was called. */
  done: Promise<void>;
  stop(): void;
}

export interface RuntimeEvent {
  /** Container or sandbox id. */
  id: string;
  type: RuntimeEventType;
  /** The pod UID from the container's labels, when known. */
  podUid?: string;
}

/** Errors a caller must tell apart carry one of these codes. */
export type RuntimeErrorCode =
  | 'ErrImagePull'
  | 'ImageNotFound'
  | 'InvalidImageName'
  | 'CreateContainerError'
  | 'RunContainerError'
  | 'NotFound'
  /** The engine refuses: what was to be removed is still in use. */
  | 'Conflict'
  | 'Unavailable';

export class RuntimeError extends Error {
  constructor(
    readonly code: RuntimeErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RuntimeError';
  }
}

/** CRI v1 RuntimeConfigResponse: what the kubelet must agree with (its cgroup driver). */
export interface RuntimeConfig {
  linux: { cgroupDriver: 'systemd' | 'cgroupfs' };
}

/** CRI v1 FilesystemUsage: one filesystem holding runtime data (ImageFsInfo). */
export interface FilesystemUsage {
  /** The directory the runtime keeps its data in (its mount point is what is measured). */
  mountpoint: string;
  usedBytes: number;
  capacityBytes: number;
  availableBytes: number;
  inodesUsed: number;
  inodesFree: number;
  inodesTotal: number;
}

/** Port-forward's half that is the same in both runtimes: a port in range. */
export function checkForwardPort(port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RuntimeError('NotFound', `invalid port ${port}`);
}

/** Port-forward's dial: a TCP connection to the sandbox's address, refused as NotFound. */
export function dialSandbox(host: string, port: number): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const s = connect({ host, port });
    const fail = (err: Error) => reject(new RuntimeError('NotFound', `dial ${host}:${port}: ${err.message}`, { cause: err }));
    s.once('error', fail);
    s.once('connect', () => {
      s.off('error', fail);
      resolve(s);
    });
  });
}

/** statfs of the filesystem holding `mountpoint`, as both runtimes report it. */
export async function filesystemUsage(mountpoint: string): Promise<FilesystemUsage> {
  const s = await statfs(mountpoint);
  const capacity = s.blocks * s.bsize;
  return {
    mountpoint,
    capacityBytes: capacity,
    availableBytes: s.bavail * s.bsize,
    usedBytes: capacity - s.bfree * s.bsize,
    inodesTotal: s.files,
    inodesFree: s.ffree,
    inodesUsed: s.files - s.ffree,
  };
}

/**
 * CRI's label_selector (ListContainersRequest, ListPodSandboxRequest): only objects that carry
 * every one of these labels with these values. The engine is shared (other agents' pods, other
 * nodes of a test host): a node's own relist and event stream need only its own.
 */
export interface LabelFilter {
  labels: Record<string, string>;
}

/** Whether `labels` carries every label of the filter (no filter: everything matches). */
export function matchesLabels(labels: Record<string, string> | undefined, filter: LabelFilter | undefined): boolean {
  if (!filter) return true;
  for (const [k, v] of Object.entries(filter.labels)) if (labels?.[k] !== v) return false;
  return true;
}

export interface RuntimeService {
  version(): Promise<{ runtimeName: string; runtimeVersion: string; runtimeApiVersion: string }>;
  runtimeConfig(): Promise<RuntimeConfig>;

  runPodSandbox(config: PodSandboxConfig): Promise<string>;
  /** In-place resize: new cgroup limits for a running container (CRI UpdateContainerResources). */
  updateContainerResources(id: string, resources: LinuxContainerResources): Promise<void>;
  stopPodSandbox(id: string): Promise<void>;
  removePodSandbox(id: string): Promise<void>;
  podSandboxStatus(id: string): Promise<PodSandboxStatus>;
  listPodSandboxes(filter?: LabelFilter): Promise<PodSandboxStatus[]>;

  createContainer(sandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string>;
  startContainer(id: string): Promise<void>;
  /** Stop signal (the image's STOPSIGNAL or SIGTERM), then SIGKILL after timeoutSeconds. */
  stopContainer(id: string, timeoutSeconds: number): Promise<void>;
  removeContainer(id: string): Promise<void>;
  containerStatus(id: string): Promise<ContainerStatus>;
  listContainers(filter?: LabelFilter): Promise<ContainerStatus[]>;
  execSync(id: string, cmd: string[], timeoutMs: number): Promise<ExecResult>;
  /**
   * Follows a container's output from the engine: every message recorded at or after
   * `since` (a LogChunk timestamp; undefined = from the start), in order, then live output
   * until the container stops. `onChunk` is called synchronously per message and must not
   * throw. The agent writes the CRI log files from this (agent/logs); a runtime that writes
   * them itself (containerd's CRI does) can serve this by reading its own files.
   * Rejects `done` with NotFound when the container does not exist.
   */
  followLogs(id: string, since: string | undefined, onChunk: (c: LogChunk) => void): LogFollower;

  /**
   * Engine events for managed containers and sandboxes; the callbacks must not throw.
   * `onReady` is called once the stream is open (events from then on are seen), so that a
   * caller can tell an engine that is back from one that only accepts connections.
   */
  subscribe(onEvent: (e: RuntimeEvent) => void, onError: (err: Error) => void, onReady?: () => void, filter?: LabelFilter): () => void;
}

/**
 * Registry credentials for one pull (CRI's AuthConfig). Never logged: the runtime
 * passes them to the engine and nowhere else.
 */
export interface RegistryAuth {
  username?: string;
  password?: string;
  /** A bearer refresh token (docker config "identitytoken"). */
  identityToken?: string;
  registryToken?: string;
  serverAddress?: string;
}

export interface ImageService {
  /**
   * Pulls the image even when present (an Always policy asks the registry again) and
   * resolves its id; RuntimeError ErrImagePull (with the registry's error) when it cannot
   * be pulled.
   */
  pullImage(ref: string, auth?: RegistryAuth): Promise<string>;
  /** Gives the image `source` the extra name `target` (mirrors on Docker). */
  tagImage(source: string, target: string): Promise<void>;
  imageStatus(ref: string): Promise<ImageInfo | undefined>;
  listImages(): Promise<ImageInfo[]>;
  /**
   * By id: the image under all its names (what image GC does, as upstream's), refused when a
   * container of the engine still uses it. By name: only that name when the image has others.
   */
  removeImage(ref: string): Promise<void>;
  /** Loads an image archive (docker save / OCI tar) from the node's disk. */
  importImage(tarPath: string): Promise<string[]>;
  /** The filesystem(s) images and writable layers live on (the image filesystem). */
  imageFsInfo(): Promise<FilesystemUsage[]>;
}

/** Which standard streams an interactive exec or attach carries (CRI ExecRequest/AttachRequest). */
export interface StreamOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  /** With a TTY, stderr is merged into stdout and only stdout is given. */
  tty: boolean;
}

/** An interactive exec or attach in progress. */
export interface StreamSession {
  /** Ending it closes the process's stdin. Present when stdin was asked for. */
  stdin?: Writable;
  stdout?: Readable;
  stderr?: Readable;
  /** Terminal size (TTY only; ignored otherwise). */
  resize(width: number, height: number): Promise<void>;
  /**
   * Exec: the process's exit code once it ends (after its output). Attach: resolves 0 when
   * the output ends (as kubelet reports attach: no exit code).
   */
  exitCode: Promise<number>;
  /** Frees the engine connection; the process keeps running unless its stdin ending stops it. */
  close(): void;
}

/** CPU and memory of a container, read from its cgroup by the engine (CRI ContainerStats). */
export interface ContainerStats {
  /** When the sample was taken (ms since the epoch). */
  timestamp: number;
  cpuUsageCoreNanoSeconds: number;
  memoryUsageBytes: number;
  memoryWorkingSetBytes: number;
  memoryRssBytes: number;
  pageFaults: number;
  majorPageFaults: number;
  /** Interfaces of the network namespace the container owns (a sandbox), else empty. */
  networks: { name: string; rxBytes: number; rxErrors: number; txBytes: number; txErrors: number }[];
  /** Bytes in the container's writable layer, when the engine reports it. */
  writableLayerBytes?: number;
}

/** Interactive streams (kubelet's streaming server): exec, attach and port forwarding. */
export interface StreamingService {
  exec(id: string, cmd: string[], opts: StreamOptions): Promise<StreamSession>;
  attach(id: string, opts: StreamOptions): Promise<StreamSession>;
  /** A TCP connection to `port` in the sandbox's network namespace. */
  portForward(sandboxId: string, port: number): Promise<Duplex>;
  containerStats(id: string): Promise<ContainerStats>;
}

export interface Runtime extends RuntimeService, ImageService, StreamingService {
  close(): Promise<void>;
}
