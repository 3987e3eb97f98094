// The CRI v1 messages bosun sends and reads, encoded by hand with the field numbers of
// k8s.io/cri-api/pkg/apis/runtime/v1/api.proto (runtime.v1). Only the fields bosun uses.

import type {
  ContainerConfig,
  ContainerState,
  ContainerStats,
  ContainerStatus,
  ImageInfo,
  LinuxContainerResources,
  LinuxContainerSecurityContext,
  Mount,
  PodSandboxConfig,
  PodSandboxMetadata,
  PodSandboxStatus,
} from '../runtime.js';
import { Reader, Writer } from './proto.js';

// NamespaceMode
const NS_POD = 0;
const NS_CONTAINER = 1;
const NS_NODE = 2;
const NS_TARGET = 3;

const PROTOCOL = { TCP: 0, UDP: 1, SCTP: 2 } as const;
const PROPAGATION = { private: 0, rslave: 1, rshared: 2 } as const;
const PROPAGATION_NAMES = ['private', 'rslave', 'rshared'] as const;
const PROFILE = { RuntimeDefault: 0, Unconfined: 1, Localhost: 2 } as const;
const STATES: ContainerState[] = ['created', 'running', 'exited', 'unknown'];

export const nsToMs = (ns: number): number => (ns > 0 ? Math.floor(ns / 1e6) : 0);

function metadataW(m: PodSandboxMetadata): Writer {
  return new Writer().string(1, m.name).string(2, m.uid).string(3, m.namespace).int(4, m.attempt);
}

function namespaceOptionsW(c: Pick<PodSandboxConfig, 'hostNetwork' | 'hostPID' | 'hostIPC' | 'sharePid'>, pidTarget?: string): Writer {
  const target = !c.hostPID && !c.sharePid && pidTarget;
  return new Writer()
    .int(1, c.hostNetwork ? NS_NODE : NS_POD)
    .int(2, c.hostPID ? NS_NODE : c.sharePid ? NS_POD : target ? NS_TARGET : NS_CONTAINER)
    .int(3, c.hostIPC ? NS_NODE : NS_POD)
    .string(4, target || undefined);
}

/**
 * PodSandboxConfig. `logDirectory` is the directory containerd writes the logs into (the
 * caller maps the agent's to the runtime's own, see cri/containerd/index.ts). The sandbox
 * is marked privileged so that privileged containers may join it (containerd refuses them in
 * an unprivileged sandbox; the sandbox config has no such flag in bosun's interface).
 */
export function sandboxConfigW(c: PodSandboxConfig, logDirectory: string | undefined, annotations: Record<string, string>): Writer {
  // A host-network sandbox keeps the node's hostname (runc cannot set one without a UTS namespace).
  const w = new Writer().message(1, metadataW(c.metadata)).string(2, c.hostNetwork ? '' : c.hostname).string(3, logDirectory);
  if (c.dns) w.message(4, new Writer().strings(1, c.dns.servers).strings(2, c.dns.searches).strings(3, c.dns.options));
  for (const p of c.portMappings) {
    w.message(5, new Writer().int(1, PROTOCOL[p.protocol]).int(2, p.containerPort).int(3, p.hostPort).string(4, p.hostIp));
  }
  w.map(6, c.labels).map(7, annotations);
  const sc = new Writer().message(1, namespaceOptionsW(c)).int(6, true);
  w.message(8, new Writer().string(1, c.cgroupParent).message(2, sc).map(3, c.sysctls));
  return w;
}

export function resourcesW(r: LinuxContainerResources): Writer {
  return new Writer()
    .int(1, r.cpuPeriod)
    .int(2, r.cpuQuota)
    .int(3, r.cpuShares)
    .int(4, r.memoryLimitInBytes)
    .int(5, r.oomScoreAdj)
    .int(10, r.memorySwapLimitInBytes);
}

const int64Value = (v: number | undefined) => (v === undefined ? undefined : new Writer().int(1, v));
const capName = (c: string) => c.toUpperCase().replace(/^CAP_/, '');

function securityContextW(s: LinuxContainerSecurityContext | undefined, sandbox: PodSandboxConfig, pidTarget?: string): Writer {
  const w = new Writer();
  if (s?.capabilities) {
    w.message(1, new Writer().strings(1, s.capabilities.addCapabilities?.map(capName)).strings(2, s.capabilities.dropCapabilities?.map(capName)));
  }
  w.int(2, s?.privileged).message(3, namespaceOptionsW(sandbox, pidTarget));
  w.message(5, int64Value(s?.runAsUser)).string(6, s?.runAsUsername).message(12, int64Value(s?.runAsGroup));
  w.int(7, s?.readonlyRootfs).packed(8, s?.supplementalGroups).int(11, s?.noNewPrivs);
  if (s?.seccomp) w.message(15, new Writer().int(1, PROFILE[s.seccomp.profileType]).string(2, s.seccomp.localhostRef));
  return w;
}

function mountW(m: Mount): Writer {
  return new Writer().string(1, m.containerPath).string(2, m.hostPath).int(3, m.readonly).int(5, PROPAGATION[m.propagation ?? 'private']);
}

export function containerConfigW(c: ContainerConfig, sandbox: PodSandboxConfig): Writer {
  const w = new Writer()
    .message(1, new Writer().string(1, c.metadata.name).int(2, c.metadata.attempt))
    .message(2, new Writer().string(1, c.image))
    .strings(3, c.command)
    .strings(4, c.args)
    .string(5, c.workingDir);
  for (const e of c.envs) w.message(6, new Writer().string(1, e.key).string(2, e.value));
  for (const m of c.mounts) w.message(7, mountW(m));
  w.map(9, c.labels).map(10, c.annotations).string(11, c.logPath).int(12, c.stdin).int(13, c.stdinOnce).int(14, c.tty);
  const linux = new Writer();
  if (c.linux?.resources) linux.message(1, resourcesW(c.linux.resources));
  linux.message(2, securityContextW(c.linux?.securityContext, sandbox, c.pidTarget));
  w.message(15, linux);
  return w;
}

function sandboxMetadataR(r: Reader | undefined): PodSandboxMetadata {
  return { name: r?.string(1) ?? '', uid: r?.string(2) ?? '', namespace: r?.string(3) ?? '', attempt: r?.uint(4) ?? 0 };
}

/** PodSandboxStatus (from PodSandboxStatusResponse.status). */
export function sandboxStatusR(r: Reader): PodSandboxStatus {
  const ready = r.int(3) === 0;
  const ip = r.message(5)?.string(1);
  return {
    id: r.string(1),
    metadata: sandboxMetadataR(r.message(2)),
    state: ready ? 'ready' : 'notready',
    createdAt: nsToMs(r.int(4)),
    ...(ready && ip ? { ip } : {}),
    labels: r.map(7),
    annotations: r.map(8),
  };
}

/** PodSandbox (ListPodSandboxResponse.items): no IP. */
export function sandboxItemR(r: Reader): { id: string; metadata: PodSandboxMetadata; ready: boolean; labels: Record<string, string>; annotations: Record<string, string> } {
  return { id: r.string(1), metadata: sandboxMetadataR(r.message(2)), ready: r.int(3) === 0, labels: r.map(5), annotations: r.map(6) };
}

/** Container (ListContainersResponse.containers). */
export function containerItemR(r: Reader): { id: string; podSandboxId: string; state: ContainerState; labels: Record<string, string> } {
  return { id: r.string(1), podSandboxId: r.string(2), state: STATES[r.int(6)] ?? 'unknown', labels: r.map(8) };
}

function mountR(r: Reader): Mount {
  const p = PROPAGATION_NAMES[r.int(5)];
  return { containerPath: r.string(1), hostPath: r.string(2), readonly: r.bool(3), ...(p && p !== 'private' ? { propagation: p } : {}) };
}

/** ContainerStatus; podSandboxId is not in it (the caller knows it from ListContainers). */
export function containerStatusR(r: Reader, podSandboxId: string): ContainerStatus {
  const reason = r.string(10);
  const message = r.string(11);
  const logPath = r.string(15);
  // ContainerResources (16) .linux: what the container runs with now (after a resize too).
  const linux = r.message(16)?.message(1);
  return {
    id: r.string(1),
    podSandboxId,
    metadata: { name: r.message(2)?.string(1) ?? '', attempt: r.message(2)?.uint(2) ?? 0 },
    state: STATES[r.int(3)] ?? 'unknown',
    createdAt: nsToMs(r.int(4)),
    startedAt: nsToMs(r.int(5)),
    // A process that exits at once can be stamped finished a few ms before started (the two
    // come from different places in containerd): never report a run that ends before it begins.
    finishedAt: r.int(6) > 0 ? Math.max(nsToMs(r.int(6)), nsToMs(r.int(5))) : 0,
    exitCode: r.int32(7),
    ...(reason ? { reason } : {}),
    ...(message ? { message } : {}),
    image: r.message(8)?.string(1) ?? '',
    imageRef: r.string(9),
    labels: r.map(12),
    annotations: r.map(13),
    mounts: r.messages(14).map(mountR),
    ...(logPath ? { logPath } : {}),
    ...(linux ? { resources: { cpuPeriod: linux.int(1), cpuQuota: linux.int(2), cpuShares: linux.int(3), memoryLimitInBytes: linux.int(4) } } : {}),
  };
}

export function imageR(r: Reader): ImageInfo {
  const uid = r.message(5);
  const username = r.string(6);
  const user = uid ? String(uid.int(1)) : username || undefined;
  return { id: r.string(1), repoTags: r.strings(2), repoDigests: r.strings(3), size: r.uint(4), ...(user !== undefined ? { user } : {}), ...(r.bool(8) ? { pinned: true } : {}) };
}

const u64 = (r: Reader | undefined, field: number) => r?.message(field)?.uint(1) ?? 0;

/** ContainerStats (cpu 2, memory 3, writable_layer 4). */
export function containerStatsR(r: Reader): ContainerStats {
  const cpu = r.message(2);
  const mem = r.message(3);
  const wl = r.message(4);
  const ts = cpu?.int(1) || mem?.int(1) || Date.now() * 1e6;
  return {
    timestamp: nsToMs(ts),
    cpuUsageCoreNanoSeconds: u64(cpu, 2),
    memoryUsageBytes: u64(mem, 4),
    memoryWorkingSetBytes: u64(mem, 2),
    memoryRssBytes: u64(mem, 5),
    pageFaults: u64(mem, 6),
    majorPageFaults: u64(mem, 7),
    networks: [],
    ...(wl?.message(3) ? { writableLayerBytes: u64(wl, 3) } : {}),
  };
}
