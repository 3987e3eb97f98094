import type {
  ContainerConfig, ContainerStats, LinuxContainerResources, ContainerStatus, ExecResult, FilesystemUsage, ImageInfo, LogFollower, PodSandboxConfig,
  LabelFilter, PodSandboxStatus, Runtime, RuntimeConfig, RuntimeEvent, StreamSession,
} from '../../cri/index.js';
import { matchesLabels, RuntimeError } from '../../cri/index.js';
import type { Duplex } from 'node:stream';

// An in-memory runtime implementing cri's Runtime interface, for fast unit tests of the pod
// executor and the pod manager (as kubelet tests its runtime manager against the fake CRI
// of cri-api/pkg/apis/testing). It keeps what an engine keeps (sandboxes, containers with
// their states, attempts, labels and annotations) and does what a CRI runtime does with
// them (RemovePodSandbox takes the sandbox's containers with it). Containers do not run
// anything: a test decides how each run ends, by name (`exitOnStart`) or later (`exit`).
// Lives in test/support rather than cri/: it is test code, and must not ship in dist.

export interface FakeCall {
  op: string;
  id: string;
  /** Container name or pod name (sandboxes). */
  name: string;
}

export class FakeRuntime implements Runtime {
  readonly sandboxes = new Map<string, PodSandboxStatus>();
  readonly containers = new Map<string, ContainerStatus & { sandboxConfig: PodSandboxConfig; config: ContainerConfig }>();
  /** Every mutating call, in order. */
  readonly calls: FakeCall[] = [];
  /** Containers whose name is listed exit at once with this code when started. */
  readonly exitOnStart = new Map<string, number>();
  /** Fails the next calls of an operation (op name -> count). */
  readonly failNext = new Map<string, number>();
  images = new Set<string>(['localhost/bosun/busybox:1']);
  /** How long each list call takes (a loaded engine answers in seconds). */
  listDelayMs = 0;
  /** The label filter of every list call, in order (undefined: unfiltered). */
  readonly listFilters: (LabelFilter | undefined)[] = [];
  private next = 1;
  private t = Date.UTC(2026, 0, 1);
  private readonly listeners = new Set<(e: RuntimeEvent) => void>();

  private id(): string {
    return (this.next++).toString(16).padStart(64, '0');
  }

  private async listDelay(): Promise<void> {
    if (this.listDelayMs > 0) await new Promise((r) => setTimeout(r, this.listDelayMs));
  }

  private tick(): number {
    return (this.t += 1000);
  }

  private fail(op: string): void {
    const n = this.failNext.get(op) ?? 0;
    if (n > 0) {
      this.failNext.set(op, n - 1);
      throw new RuntimeError(op === 'startContainer' ? 'RunContainerError' : 'CreateContainerError', `fake ${op} failure`);
    }
  }

  private emit(id: string, type: RuntimeEvent['type'], podUid?: string): void {
    for (const l of this.listeners) l({ id, type, ...(podUid ? { podUid } : {}) });
  }

  // --- what a test does to the "engine" ---

  /** The container's process ends with `code`. */
  exit(id: string, code: number): void {
    const c = this.containers.get(id);
    if (!c || c.state !== 'running') return;
    Object.assign(c, { state: 'exited', exitCode: code, finishedAt: this.tick() });
    this.emit(id, 'stopped', c.labels['io.kubernetes.pod.uid']);
  }

  /** A host reboot as the engine sees it: every container and sandbox is stopped. */
  stopEverything(): void {
    for (const c of this.containers.values()) if (c.state === 'running') Object.assign(c, { state: 'exited', exitCode: 255, finishedAt: this.tick() });
    for (const s of this.sandboxes.values()) Object.assign(s, { state: 'notready', ip: undefined });
  }

  /** An event of a container this agent does not own (another agent's, on the same host). */
  foreignEvent(): void {
    this.emit('f'.repeat(64), 'started');
  }

  count(op: string, name?: string): number {
    return this.calls.filter((c) => c.op === op && (name === undefined || c.name === name)).length;
  }

  // --- RuntimeService ---

  async version() {
    return { runtimeName: 'fake', runtimeVersion: '0', runtimeApiVersion: 'v1' };
  }

  async runtimeConfig(): Promise<RuntimeConfig> {
    return { linux: { cgroupDriver: 'cgroupfs' } };
  }

  async runPodSandbox(config: PodSandboxConfig): Promise<string> {
    this.fail('runPodSandbox');
    const id = this.id();
    const n = this.sandboxes.size + 2;
    this.sandboxes.set(id, {
      id, metadata: { ...config.metadata }, state: 'ready', createdAt: this.tick(),
      ...(config.hostNetwork ? {} : { ip: `10.245.0.${n}` }),
      labels: { ...config.labels }, annotations: { ...config.annotations },
    });
    this.calls.push({ op: 'runPodSandbox', id, name: config.metadata.name });
    this.emit(id, 'started', config.metadata.uid);
    return id;
  }

  async stopPodSandbox(id: string): Promise<void> {
    const s = this.sandboxes.get(id);
    if (!s) return;
    for (const c of this.containers.values()) if (c.podSandboxId === id && c.state === 'running') Object.assign(c, { state: 'exited', exitCode: 137, finishedAt: this.tick() });
    Object.assign(s, { state: 'notready', ip: undefined });
    this.calls.push({ op: 'stopPodSandbox', id, name: s.metadata.name });
    this.emit(id, 'stopped', s.metadata.uid);
  }

  async removePodSandbox(id: string): Promise<void> {
    const s = this.sandboxes.get(id);
    if (!s) return;
    for (const c of [...this.containers.values()]) if (c.podSandboxId === id) await this.removeContainer(c.id);
    this.sandboxes.delete(id);
    this.calls.push({ op: 'removePodSandbox', id, name: s.metadata.name });
    this.emit(id, 'deleted', s.metadata.uid);
  }

  async podSandboxStatus(id: string): Promise<PodSandboxStatus> {
    const s = this.sandboxes.get(id);
    if (!s) throw new RuntimeError('NotFound', `sandbox ${id} not found`);
    return structuredClone(s);
  }

  async listPodSandboxes(filter?: LabelFilter): Promise<PodSandboxStatus[]> {
    this.listFilters.push(filter);
    await this.listDelay();
    return [...this.sandboxes.values()].filter((s) => matchesLabels(s.labels, filter)).map((s) => structuredClone(s));
  }

  async createContainer(sandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string> {
    this.fail('createContainer');
    if (!this.sandboxes.has(sandboxId)) throw new RuntimeError('CreateContainerError', `sandbox ${sandboxId} not found`);
    const id = this.id();
    this.containers.set(id, {
      id, podSandboxId: sandboxId, metadata: { ...config.metadata }, state: 'created', createdAt: this.tick(), startedAt: 0, finishedAt: 0, exitCode: 0,
      image: config.image, imageRef: `sha256:${config.image.length}`, labels: { ...config.labels }, annotations: { ...config.annotations },
      mounts: config.mounts.map((m) => ({ ...m })), sandboxConfig, config,
    });
    this.calls.push({ op: 'createContainer', id, name: config.metadata.name });
    this.emit(id, 'created', config.labels['io.kubernetes.pod.uid']);
    return id;
  }

  async startContainer(id: string): Promise<void> {
    this.fail('startContainer');
    const c = this.containers.get(id);
    if (!c) throw new RuntimeError('NotFound', `container ${id} not found`);
    Object.assign(c, { state: 'running', startedAt: this.tick() });
    this.calls.push({ op: 'startContainer', id, name: c.metadata.name });
    this.emit(id, 'started', c.labels['io.kubernetes.pod.uid']);
    const code = this.exitOnStart.get(c.metadata.name);
    if (code !== undefined) this.exit(id, code);
  }

  async stopContainer(id: string, _timeoutSeconds: number): Promise<void> {
    const c = this.containers.get(id);
    if (!c) return;
    this.calls.push({ op: 'stopContainer', id, name: c.metadata.name });
    // As Docker does: stopping a container that never started leaves it Created.
    if (c.state === 'running') this.exit(id, 137);
  }

  async updateContainerResources(id: string, resources: LinuxContainerResources): Promise<void> {
    const c = this.containers.get(id);
    if (!c) throw new RuntimeError('NotFound', `container ${id} not found`);
    this.calls.push({ op: 'updateContainerResources', id, name: c.metadata.name });
    c.resources = resources;
  }

  async removeContainer(id: string): Promise<void> {
    const c = this.containers.get(id);
    if (!c) return;
    this.containers.delete(id);
    this.calls.push({ op: 'removeContainer', id, name: c.metadata.name });
    this.emit(id, 'deleted', c.labels['io.kubernetes.pod.uid']);
  }

  async containerStatus(id: string): Promise<ContainerStatus> {
    const c = this.containers.get(id);
    if (!c) throw new RuntimeError('NotFound', `container ${id} not found`);
    return strip(c);
  }

  async listContainers(filter?: LabelFilter): Promise<ContainerStatus[]> {
    this.listFilters.push(filter);
    await this.listDelay();
    return [...this.containers.values()].filter((c) => matchesLabels(c.labels, filter)).map(strip);
  }

  async execSync(): Promise<ExecResult> {
    return { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), exitCode: 0, timedOut: false };
  }

  followLogs(): LogFollower {
    return { done: Promise.resolve(), stop: () => undefined };
  }

  subscribe(onEvent: (e: RuntimeEvent) => void): () => void {
    this.listeners.add(onEvent);
    return () => this.listeners.delete(onEvent);
  }

  // --- ImageService ---

  async pullImage(ref: string): Promise<string> {
    this.images.add(ref);
    return `sha256:${ref.length}`;
  }

  async tagImage(source: string, target: string): Promise<void> {
    if (!this.images.has(source)) throw new RuntimeError('NotFound', `image ${source} not found`);
    this.images.add(target);
  }

  async imageStatus(ref: string): Promise<ImageInfo | undefined> {
    return this.images.has(ref) ? { id: `sha256:${ref.length}`, repoTags: [ref], repoDigests: [], size: 1 } : undefined;
  }

  async listImages(): Promise<ImageInfo[]> {
    return [...this.images].map((ref) => ({ id: `sha256:${ref.length}`, repoTags: [ref], repoDigests: [], size: 1 }));
  }

  async removeImage(ref: string): Promise<void> {
    this.images.delete(ref);
  }

  async importImage(): Promise<string[]> {
    return [];
  }

  async imageFsInfo(): Promise<FilesystemUsage[]> {
    return [];
  }

  // --- StreamingService: not part of what the pod path uses ---

  exec(): Promise<StreamSession> {
    return Promise.reject(new Error('fake runtime: no streams'));
  }

  attach(): Promise<StreamSession> {
    return Promise.reject(new Error('fake runtime: no streams'));
  }

  portForward(): Promise<Duplex> {
    return Promise.reject(new Error('fake runtime: no streams'));
  }

  containerStats(): Promise<ContainerStats> {
    return Promise.reject(new Error('fake runtime: no stats'));
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }
}

function strip(c: ContainerStatus & { sandboxConfig?: unknown; config?: unknown }): ContainerStatus {
  const { sandboxConfig: _s, config: _c, ...rest } = c;
  return structuredClone(rest);
}
