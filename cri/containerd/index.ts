// The containerd runtime: bosun's runtime interface on containerd's CRI v1 gRPC API (the
// CRI plugin of a containerd that scripts/setup-host.sh --containerd starts at
// /run/bosun-containerd/containerd.sock).
//
// Logs: containerd writes each container's CRI log file itself. So that the agent's log
// manager (agent/logs, which writes and rotates the pod log files from followLogs) stays
// as it is, containerd is given a private copy of the log directory under
// CONTAINERD_LOG_ROOT; statuses report the agent's path, and followLogs reads containerd's
// file. Events: containerd 1.6 has no GetContainerEvents; subscribe() re-lists every second.

import { spawn } from 'node:child_process';
import { mkdir, rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import {
  RuntimeError,
  type ContainerConfig,
  type ContainerStats,
  type ContainerStatus,
  type ExecResult,
  type FilesystemUsage,
  type ImageInfo,
  type LabelFilter,
  type LinuxContainerResources,
  type LogChunk,
  type LogFollower,
  type PodSandboxConfig,
  type PodSandboxStatus,
  type RegistryAuth,
  type Runtime,
  type RuntimeConfig,
  type RuntimeEvent,
  type StreamOptions,
  type StreamSession,
  checkForwardPort,
  dialSandbox,
  filesystemUsage,
  matchesLabels,
} from '../runtime.js';
import { CriCallError, CriClient } from './client.js';
import { followCriLog } from './logs.js';
import { openStream } from './stream.js';
import {
  containerConfigW,
  containerItemR,
  containerStatsR,
  containerStatusR,
  imageR,
  resourcesW,
  sandboxConfigW,
  sandboxItemR,
  sandboxStatusR,
} from './messages.js';
import { Writer, type Reader } from './proto.js';
import * as grpc from '@grpc/grpc-js';

export { CONTAINERD_DEFAULTS, type ContainerdRuntimeOptions } from './defaults.js';
import { CONTAINERD_DEFAULTS, type ContainerdRuntimeOptions } from './defaults.js';

/** Internal annotation: the agent's log directory of a sandbox (stripped from statuses). */
const ANN_LOG_DIR = 'io.bosun.containerd/log-directory';
const POD_UID = 'io.kubernetes.pod.uid';
const CONTAINER_NAME = 'io.kubernetes.container.name';

/** The labels kubelet (and the Docker runtime) put on every sandbox and container. */
const podLabels = (c: PodSandboxConfig): Record<string, string> => ({
  'io.kubernetes.pod.name': c.metadata.name,
  'io.kubernetes.pod.namespace': c.metadata.namespace,
  [POD_UID]: c.metadata.uid,
});

const stripInternal = (a: Record<string, string>): Record<string, string> => {
  const { [ANN_LOG_DIR]: _, ...rest } = a;
  return rest;
};

class ContainerdRuntime implements Runtime {
  private readonly sandboxOf = new Map<string, string>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly cri: CriClient,
    private readonly opts: Required<ContainerdRuntimeOptions>,
  ) {}

  private rt(method: string, w: Writer = new Writer(), timeoutMs?: number): Promise<Reader> {
    return this.cri.call('RuntimeService', method, w, timeoutMs);
  }
  private img(method: string, w: Writer = new Writer(), timeoutMs?: number): Promise<Reader> {
    return this.cri.call('ImageService', method, w, timeoutMs);
  }

  /** containerd's own path for a log directory or file of the agent's. */
  private privatePath(p: string): string {
    return join(this.opts.logRoot, p);
  }
  private agentPath(p: string): string {
    return p.startsWith(`${this.opts.logRoot}/`) ? p.slice(this.opts.logRoot.length) : p;
  }

  async version(): Promise<{ runtimeName: string; runtimeVersion: string; runtimeApiVersion: string }> {
    const r = await this.rt('Version', new Writer().string(1, 'v1'), 10_000);
    return { runtimeName: r.string(2), runtimeVersion: r.string(3), runtimeApiVersion: r.string(4) };
  }

  /** CRI Status: the RuntimeReady and NetworkReady conditions. */
  async status(): Promise<{ type: string; status: boolean; reason: string; message: string }[]> {
    const r = await this.rt('Status', new Writer(), 10_000);
    return (r.message(1)?.messages(1) ?? []).map((c) => ({ type: c.string(1), status: c.bool(2), reason: c.string(3), message: c.string(4) }));
  }

  async runtimeConfig(): Promise<RuntimeConfig> {
    try {
      const r = await this.rt('RuntimeConfig', new Writer(), 10_000);
      return { linux: { cgroupDriver: r.message(1)?.int(1) === 0 ? 'systemd' : 'cgroupfs' } };
    } catch (err) {
      // containerd before 2.0 has no RuntimeConfig: bosun's config uses cgroupfs.
      if (err instanceof CriCallError && err.grpcCode === grpc.status.UNIMPLEMENTED) return { linux: { cgroupDriver: 'cgroupfs' } };
      throw err;
    }
  }

  async runPodSandbox(config: PodSandboxConfig): Promise<string> {
    const annotations = { ...config.annotations };
    let logDir: string | undefined;
    if (config.logDirectory) {
      logDir = this.privatePath(config.logDirectory);
      annotations[ANN_LOG_DIR] = config.logDirectory;
      await mkdir(logDir, { recursive: true, mode: 0o755 });
    }
    const labeled = { ...config, labels: { ...podLabels(config), ...config.labels } };
    const r = await this.rt('RunPodSandbox', new Writer().message(1, sandboxConfigW(labeled, logDir, annotations)));
    return r.string(1);
  }

  async stopPodSandbox(id: string): Promise<void> {
    await this.rt('StopPodSandbox', new Writer().string(1, id));
  }

  async removePodSandbox(id: string): Promise<void> {
    let logDir: string | undefined;
    try {
      const s = await this.rt('PodSandboxStatus', new Writer().string(1, id), 10_000);
      logDir = s.message(1)?.map(8)[ANN_LOG_DIR];
    } catch (err) {
      if (!(err instanceof RuntimeError && err.code === 'NotFound')) throw err;
    }
    try {
      await this.rt('RemovePodSandbox', new Writer().string(1, id));
    } catch (err) {
      if (!(err instanceof RuntimeError && err.code === 'NotFound')) throw err;
    }
    if (logDir) await rm(this.privatePath(logDir), { recursive: true, force: true });
  }

  async podSandboxStatus(id: string): Promise<PodSandboxStatus> {
    const r = await this.rt('PodSandboxStatus', new Writer().string(1, id), 10_000);
    const s = r.message(1);
    if (!s) throw new RuntimeError('NotFound', `sandbox ${id} not found`);
    const st = sandboxStatusR(s);
    return { ...st, annotations: stripInternal(st.annotations) };
  }

  private async listSandboxItems(): Promise<ReturnType<typeof sandboxItemR>[]> {
    const r = await this.rt('ListPodSandbox', new Writer(), 30_000);
    return r.messages(1).map(sandboxItemR);
  }

  async listPodSandboxes(filter?: LabelFilter): Promise<PodSandboxStatus[]> {
    // Filtered here, before the one status call per item (ListPodSandbox's own label_selector
    // would do the same inside containerd).
    const items = (await this.listSandboxItems()).filter((i) => matchesLabels(i.labels, filter));
    const out = await Promise.all(items.map((i) => this.podSandboxStatus(i.id).catch((err: unknown) => {
      if (err instanceof RuntimeError && err.code === 'NotFound') return undefined; // removed meanwhile
      throw err;
    })));
    return out.filter((s): s is PodSandboxStatus => s !== undefined);
  }

  async createContainer(sandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string> {
    if (config.logPath && sandboxConfig.logDirectory) {
      await mkdir(dirname(join(this.privatePath(sandboxConfig.logDirectory), config.logPath)), { recursive: true, mode: 0o755 });
    }
    const sbAnnotations = { ...sandboxConfig.annotations, ...(sandboxConfig.logDirectory ? { [ANN_LOG_DIR]: sandboxConfig.logDirectory } : {}) };
    const logDir = sandboxConfig.logDirectory ? this.privatePath(sandboxConfig.logDirectory) : undefined;
    const req = new Writer()
      .string(1, sandboxId)
      .message(2, containerConfigW({ ...config, labels: { ...podLabels(sandboxConfig), [CONTAINER_NAME]: config.metadata.name, ...config.labels } }, sandboxConfig))
      .message(3, sandboxConfigW(sandboxConfig, logDir, sbAnnotations));
    try {
      const id = (await this.rt('CreateContainer', req)).string(1);
      this.sandboxOf.set(id, sandboxId);
      return id;
    } catch (err) {
      if (err instanceof RuntimeError && err.code === 'NotFound' && /image/i.test(err.message)) {
        throw new RuntimeError('ImageNotFound', err.message, { cause: err });
      }
      if (err instanceof RuntimeError && err.code !== 'Unavailable') throw new RuntimeError('CreateContainerError', err.message, { cause: err });
      throw err;
    }
  }

  async startContainer(id: string): Promise<void> {
    try {
      await this.rt('StartContainer', new Writer().string(1, id));
    } catch (err) {
      if (err instanceof RuntimeError && err.code !== 'NotFound' && err.code !== 'Unavailable') {
        throw new RuntimeError('RunContainerError', err.message, { cause: err });
      }
      throw err;
    }
  }

  async stopContainer(id: string, timeoutSeconds: number): Promise<void> {
    await this.rt('StopContainer', new Writer().string(1, id).int(2, Math.max(0, Math.ceil(timeoutSeconds))), (timeoutSeconds + 60) * 1000);
  }

  async removeContainer(id: string): Promise<void> {
    let logPath: string | undefined;
    try {
      logPath = (await this.rt('ContainerStatus', new Writer().string(1, id), 10_000)).message(1)?.string(15);
    } catch (err) {
      if (!(err instanceof RuntimeError && err.code === 'NotFound')) throw err;
    }
    try {
      await this.rt('RemoveContainer', new Writer().string(1, id));
    } catch (err) {
      if (!(err instanceof RuntimeError && err.code === 'NotFound')) throw err;
    }
    this.sandboxOf.delete(id);
    if (logPath && logPath.startsWith(`${this.opts.logRoot}/`)) {
      await rm(logPath, { force: true });
      await rmdir(dirname(logPath)).catch(() => undefined);
    }
  }

  private async sandboxIdOf(id: string): Promise<string> {
    const known = this.sandboxOf.get(id);
    if (known !== undefined) return known;
    const r = await this.rt('ListContainers', new Writer().message(1, new Writer().string(1, id)), 10_000);
    const item = r.messages(1).map(containerItemR).find((c) => c.id === id);
    if (!item) throw new RuntimeError('NotFound', `container ${id} not found`);
    this.sandboxOf.set(id, item.podSandboxId);
    return item.podSandboxId;
  }

  /** The status with containerd's own log path (for followLogs). */
  private async rawStatus(id: string): Promise<ContainerStatus> {
    const sandboxId = await this.sandboxIdOf(id);
    const r = await this.rt('ContainerStatus', new Writer().string(1, id), 10_000);
    const s = r.message(1);
    if (!s) throw new RuntimeError('NotFound', `container ${id} not found`);
    return containerStatusR(s, sandboxId);
  }

  async containerStatus(id: string): Promise<ContainerStatus> {
    const st = await this.rawStatus(id);
    return st.logPath ? { ...st, logPath: this.agentPath(st.logPath) } : st;
  }

  async listContainers(filter?: LabelFilter): Promise<ContainerStatus[]> {
    const r = await this.rt('ListContainers', new Writer(), 30_000);
    const items = r.messages(1).map(containerItemR).filter((i) => matchesLabels(i.labels, filter));
    for (const i of items) this.sandboxOf.set(i.id, i.podSandboxId);
    const out = await Promise.all(items.map((i) => this.containerStatus(i.id).catch((err: unknown) => {
      if (err instanceof RuntimeError && err.code === 'NotFound') return undefined;
      throw err;
    })));
    return out.filter((s): s is ContainerStatus => s !== undefined);
  }

  async updateContainerResources(id: string, resources: LinuxContainerResources): Promise<void> {
    await this.rt('UpdateContainerResources', new Writer().string(1, id).message(2, resourcesW(resources)));
  }

  async execSync(id: string, cmd: string[], timeoutMs: number): Promise<ExecResult> {
    const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
    try {
      const r = await this.rt('ExecSync', new Writer().string(1, id).strings(2, cmd).int(3, seconds), timeoutMs + 10_000);
      return { stdout: r.bytes(1), stderr: r.bytes(2), exitCode: r.int32(3), timedOut: false };
    } catch (err) {
      if (err instanceof CriCallError && (err.grpcCode === grpc.status.DEADLINE_EXCEEDED || /timeout .* exceeded|deadline exceeded/i.test(err.message))) {
        return { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), exitCode: -1, timedOut: true };
      }
      throw err;
    }
  }

  async exec(id: string, cmd: string[], opts: StreamOptions): Promise<StreamSession> {
    // ExecRequest: container_id 1, cmd 2, tty 3, stdin 4, stdout 5, stderr 6.
    const r = await this.rt('Exec', new Writer().string(1, id).strings(2, cmd).int(3, opts.tty).int(4, opts.stdin).int(5, opts.stdout).int(6, opts.stderr && !opts.tty));
    return openStream(r.string(1), opts, true);
  }

  async attach(id: string, opts: StreamOptions): Promise<StreamSession> {
    // AttachRequest: container_id 1, stdin 2, tty 3, stdout 4, stderr 5.
    const r = await this.rt('Attach', new Writer().string(1, id).int(2, opts.stdin).int(3, opts.tty).int(4, opts.stdout).int(5, opts.stderr && !opts.tty));
    return openStream(r.string(1), opts, false);
  }

  /** A TCP connection to the sandbox's IP (pods are reachable from the node over bosun-cni0). */
  async portForward(sandboxId: string, port: number): Promise<Duplex> {
    checkForwardPort(port);
    const st = await this.podSandboxStatus(sandboxId);
    if (st.state !== 'ready') throw new RuntimeError('NotFound', `sandbox ${sandboxId} is not running`);
    const host = st.ip ?? '127.0.0.1';
    return dialSandbox(host, port);
  }

  async containerStats(id: string): Promise<ContainerStats> {
    const r = await this.rt('ContainerStats', new Writer().string(1, id), 10_000);
    const s = r.message(1);
    if (!s) throw new RuntimeError('NotFound', `container ${id} not found`);
    return containerStatsR(s);
  }

  async listContainerStats(): Promise<(ContainerStats & { id: string })[]> {
    const r = await this.rt('ListContainerStats', new Writer(), 30_000);
    return r.messages(1).map((s) => ({ id: s.message(1)?.string(1) ?? '', ...containerStatsR(s) }));
  }

  followLogs(id: string, since: string | undefined, onChunk: (c: LogChunk) => void): LogFollower {
    return followCriLog(id, () => this.rawStatus(id), since, onChunk);
  }

  subscribe(onEvent: (e: RuntimeEvent) => void, onError: (err: Error) => void, onReady?: () => void, filter?: LabelFilter): () => void {
    let known: Map<string, { state: string; podUid?: string }> | undefined;
    let busy = false;
    let stopped = false;
    const poll = async () => {
      if (busy || stopped) return;
      busy = true;
      try {
        const [sandboxes, containers] = await Promise.all([
          this.listSandboxItems(),
          this.rt('ListContainers', new Writer(), 30_000).then((r) => r.messages(1).map(containerItemR)),
        ]);
        const uidOf = new Map(sandboxes.map((s) => [s.id, s.metadata.uid]));
        const now = new Map<string, { state: string; podUid?: string }>();
        for (const s of sandboxes) if (matchesLabels(s.labels, filter)) now.set(s.id, { state: s.ready ? 'started' : 'stopped', podUid: s.metadata.uid });
        for (const c of containers) {
          if (!matchesLabels(c.labels, filter)) continue;
          const podUid = c.labels[POD_UID] ?? uidOf.get(c.podSandboxId);
          now.set(c.id, { state: c.state === 'created' ? 'created' : c.state === 'running' ? 'started' : 'stopped', ...(podUid ? { podUid } : {}) });
        }
        if (known && !stopped) {
          for (const [id, n] of now) {
            const before = known.get(id);
            if (before?.state === n.state) continue;
            if (!before && n.state !== 'created') onEvent({ id, type: 'created', ...(n.podUid ? { podUid: n.podUid } : {}) });
            onEvent({ id, type: n.state as RuntimeEvent['type'], ...(n.podUid ? { podUid: n.podUid } : {}) });
          }
          for (const [id, b] of known) {
            if (now.has(id)) continue;
            // Stopped and removed between two lists: the stop is reported too, as Docker does.
            if (b.state !== 'stopped') onEvent({ id, type: 'stopped', ...(b.podUid ? { podUid: b.podUid } : {}) });
            onEvent({ id, type: 'deleted', ...(b.podUid ? { podUid: b.podUid } : {}) });
          }
        }
        // The first list is the base the next ones are compared with: events start here.
        if (!known) onReady?.();
        known = now;
      } catch (err) {
        stopped = true;
        clearInterval(timer);
        this.timers.delete(timer);
        onError(err instanceof Error ? err : new Error(String(err)));
      } finally {
        busy = false;
      }
    };
    const timer = setInterval(() => void poll(), this.opts.eventPeriodMs);
    this.timers.add(timer);
    void poll();
    return () => {
      stopped = true;
      clearInterval(timer);
      this.timers.delete(timer);
    };
  }

  async pullImage(ref: string, auth?: RegistryAuth): Promise<string> {
    // PullImageRequest{image: ImageSpec{image}, auth: AuthConfig{username, password, auth,
    // server_address, identity_token, registry_token}}.
    const w = new Writer().message(1, new Writer().string(1, ref));
    if (auth) {
      w.message(2, new Writer().string(1, auth.username).string(2, auth.password).string(4, auth.serverAddress).string(5, auth.identityToken).string(6, auth.registryToken));
    }
    try {
      const r = await this.img('PullImage', w, this.opts.pullTimeoutMs);
      return r.string(1);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      if (/invalid reference|invalid image|failed to parse/i.test(msg)) throw new RuntimeError('InvalidImageName', msg, { cause: err });
      throw new RuntimeError('ErrImagePull', msg, { cause: err });
    }
  }

  async imageStatus(ref: string): Promise<ImageInfo | undefined> {
    try {
      const r = await this.img('ImageStatus', new Writer().message(1, new Writer().string(1, ref)), 10_000);
      const i = r.message(1);
      return i ? imageR(i) : undefined;
    } catch (err) {
      if (err instanceof RuntimeError && err.code === 'NotFound') return undefined;
      throw err;
    }
  }

  async listImages(): Promise<ImageInfo[]> {
    const r = await this.img('ListImages', new Writer(), 30_000);
    return r.messages(1).map(imageR);
  }

  async removeImage(ref: string): Promise<void> {
    const info = await this.imageStatus(ref);
    if (!info) return;
    // CRI RemoveImage resolves a name to its image and deletes every name of it: a name the
    // image shares with others goes alone, through containerd's image store.
    // (Its own digest names do not count as others: a tag removed leaves no digest behind.)
    const names = [...info.repoTags, ...info.repoDigests];
    const repo = (n: string) => n.replace(/@.*$/, '').replace(/:[^:/]*$/, '');
    const others = [...info.repoTags.filter((t) => t !== ref), ...info.repoDigests.filter((d) => d !== ref && repo(d) !== repo(ref))];
    if (names.includes(ref) && others.length) return this.removeImageName(ref);
    // By id (image GC): upstream's kubelet checks the containers first; containerd does not.
    const users = (await this.listContainers()).filter((c) => c.imageRef === info.id || names.includes(c.imageRef) || names.includes(c.image));
    if (users.length) throw new RuntimeError('Conflict', `image ${info.id} is used by container ${users[0]!.id}: not removed`);
    try {
      await this.img('RemoveImage', new Writer().message(1, new Writer().string(1, info.id)));
    } catch (err) {
      if (!(err instanceof RuntimeError && err.code === 'NotFound')) throw err;
    }
  }

  /** `ctr images rm` of one name in the k8s.io namespace (CRI has no untag call). */
  private removeImageName(name: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const p = spawn('ctr', ['-a', this.opts.socketPath, '-n', 'k8s.io', 'images', 'rm', name], { stdio: ['ignore', 'ignore', 'pipe'] });
      let out = '';
      p.stderr.on('data', (d: Buffer) => (out += d.toString()));
      p.once('error', (err) => reject(new RuntimeError('Unavailable', `ctr images rm: ${err.message}`, { cause: err })));
      p.once('close', (code) => (code === 0 || /not found/i.test(out) ? resolve() : reject(new RuntimeError('Unavailable', `ctr images rm ${name}: ${out.trim()}`))));
    });
  }

  /** `ctr images tag` in the k8s.io namespace (CRI has no tag call). */
  tagImage(source: string, target: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const p = spawn('ctr', ['-a', this.opts.socketPath, '-n', 'k8s.io', 'images', 'tag', '--force', source, target], { stdio: ['ignore', 'ignore', 'pipe'] });
      let out = '';
      p.stderr.on('data', (d: Buffer) => (out += d.toString()));
      p.once('error', (err) => reject(new RuntimeError('Unavailable', `ctr images tag: ${err.message}`, { cause: err })));
      p.once('close', (code) => (code === 0 ? resolve() : reject(new RuntimeError('ErrImagePull', `ctr images tag ${source} ${target}: ${out.trim()}`))));
    });
  }

  /** `ctr images import` into the k8s.io namespace (CRI has no import call). */
  importImage(tarPath: string): Promise<string[]> {
    return new Promise((resolve, reject) => {
      const p = spawn('ctr', ['-a', this.opts.socketPath, '-n', 'k8s.io', 'images', 'import', tarPath], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => (out += d.toString()));
      p.once('error', (err) => reject(new RuntimeError('Unavailable', `ctr images import: ${err.message}`, { cause: err })));
      p.once('close', (code) => {
        if (code !== 0) return reject(new RuntimeError('ErrImagePull', `ctr images import ${tarPath}: ${out.trim()}`));
        resolve([...out.matchAll(/^unpacking (\S+) \(/gm)].map((m) => m[1]!));
      });
    });
  }

  async imageFsInfo(): Promise<FilesystemUsage[]> {
    const r = await this.img('ImageFsInfo', new Writer(), 10_000);
    const out: FilesystemUsage[] = [];
    for (const fs of r.messages(1)) {
      const mountpoint = fs.message(2)?.string(1) ?? '';
      if (!mountpoint) continue;
      out.push(await filesystemUsage(mountpoint));
    }
    return out;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers.clear();
    this.cri.close();
  }
}

/** Connects to containerd's CRI and checks that it answers (Version) within 10 s. */
export async function createContainerdRuntime(options: ContainerdRuntimeOptions = {}): Promise<Runtime & ContainerdExtras> {
  const opts: Required<ContainerdRuntimeOptions> = {
    socketPath: options.socketPath ?? CONTAINERD_DEFAULTS.socketPath,
    logRoot: options.logRoot ?? CONTAINERD_DEFAULTS.logRoot,
    pullTimeoutMs: options.pullTimeoutMs ?? CONTAINERD_DEFAULTS.pullTimeoutMs,
    eventPeriodMs: options.eventPeriodMs ?? CONTAINERD_DEFAULTS.eventPeriodMs,
  };
  const cri = new CriClient(opts.socketPath);
  const rt = new ContainerdRuntime(cri, opts);
  try {
    await rt.version();
  } catch (err) {
    cri.close();
    throw new RuntimeError('Unavailable', `cannot reach containerd's CRI at ${opts.socketPath}: ${err instanceof Error ? err.message : String(err)} (run scripts/setup-host.sh --containerd)`, { cause: err });
  }
  return rt;
}

/** What the containerd runtime offers beyond the Runtime interface (CRI calls bosun does not need yet). */
export interface ContainerdExtras {
  status(): Promise<{ type: string; status: boolean; reason: string; message: string }[]>;
  updateContainerResources(id: string, resources: LinuxContainerResources): Promise<void>;
  listContainerStats(): Promise<(ContainerStats & { id: string })[]>;
}
