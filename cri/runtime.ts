// The runtime interface, shaped like CRI v1 (k8s.io/cri-api runtime/v1): everything above
// cri/ talks to a container engine only through this, so that Docker and containerd are
// interchangeable. Times are milliseconds since the epoch (0 = never).

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
  /** Where the runtime should keep this container's log (relative to the sandbox log dir). */
  logPath?: string;
}

export type ContainerState = 'created' | 'running' | 'exited' | 'unknown';

export interface ContainerStatus {
  id: string;
  podSandboxId: string;
  metadata: ContainerMetadata;
  state: ContainerState;
  createdAt: number;
  startedAt: number;
  finishedAt: number;
  exitCode: number;
  /** Runtime's reason for the state, e.g. OOMKilled. */
  reason?: string;
  message?: string;
  image: string;
  imageRef: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface ImageInfo {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  size: number;
}

export interface ExecResult {
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number;
  /** True when the command was stopped because the timeout passed. */
  timedOut: boolean;
}

export type RuntimeEventType = 'created' | 'started' | 'stopped' | 'deleted';

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

export interface RuntimeService {
  version(): Promise<{ runtimeName: string; runtimeVersion: string; runtimeApiVersion: string }>;

  runPodSandbox(config: PodSandboxConfig): Promise<string>;
  stopPodSandbox(id: string): Promise<void>;
  removePodSandbox(id: string): Promise<void>;
  podSandboxStatus(id: string): Promise<PodSandboxStatus>;
  listPodSandboxes(): Promise<PodSandboxStatus[]>;

  createContainer(sandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string>;
  startContainer(id: string): Promise<void>;
  /** Stop signal (the image's STOPSIGNAL or SIGTERM), then SIGKILL after timeoutSeconds. */
  stopContainer(id: string, timeoutSeconds: number): Promise<void>;
  removeContainer(id: string): Promise<void>;
  containerStatus(id: string): Promise<ContainerStatus>;
  listContainers(): Promise<ContainerStatus[]>;
  execSync(id: string, cmd: string[], timeoutMs: number): Promise<ExecResult>;

  /** Engine events for managed containers and sandboxes; the callback must not throw. */
  subscribe(onEvent: (e: RuntimeEvent) => void, onError: (err: Error) => void): () => void;
}

export interface ImageService {
  /** Resolves the image's id; RuntimeError ErrImagePull when it cannot be pulled. */
  pullImage(ref: string): Promise<string>;
  imageStatus(ref: string): Promise<ImageInfo | undefined>;
  listImages(): Promise<ImageInfo[]>;
  removeImage(ref: string): Promise<void>;
  /** Loads an image archive (docker save / OCI tar) from the node's disk. */
  importImage(tarPath: string): Promise<string[]>;
}

export interface Runtime extends RuntimeService, ImageService {
  close(): Promise<void>;
}
