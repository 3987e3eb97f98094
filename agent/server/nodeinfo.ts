import { createHash } from 'node:crypto';
import { readFile, stat, statfs } from 'node:fs/promises';
import { cpus, release, totalmem } from 'node:os';
import { hasLength, matchGroups } from '../../base/index.js';
import { goArch, type NodeFacts } from './api.js';
import { rfc3339 } from '../vocab/index.js';

// What the Node object reports about this machine (kubelet's setNodeStatus functions),
// read from the host: /etc/machine-id, boot_id, os-release, the kernel, the engine.

const read = (p: string) => readFile(p, 'utf8').then((s) => s.trim(), () => '');

export function osImage(osRelease: string): string {
  const m = matchGroups(/^PRETTY_NAME=("?)(.*)\1$/m, osRelease, 2);
  return m ? m[2] : 'Linux';
}

export interface NodeInfoInput {
  nodeName: string;
  address: string;
  podCIDR: string;
  rootDir: string;
  port: number;
  maxPods: number;
  startedAt: number;
  runtimeVersion(): Promise<string>;
  ready(): boolean;
  /** Why the container runtime is not ready (kubelet's runtimeErrors), undefined while it is. */
  runtimeDown?(): string | undefined;
  cordoned(): boolean;
}

export async function nodeFacts(i: NodeInfoInput): Promise<NodeFacts> {
  const [machineID, bootID, uuid, osRel, rt, fs, rootStat] = await Promise.all([
    read('/etc/machine-id'),
    read('/proc/sys/kernel/random/boot_id'),
    read('/sys/class/dmi/id/product_uuid'),
    read('/etc/os-release'),
    i.runtimeVersion().catch(() => 'docker://unknown'),
    statfs(i.rootDir).catch(() => statfs('/')),
    stat(i.rootDir).catch(() => undefined),
  ]);
  const h = createHash('sha256').update(`${machineID}/${i.nodeName}`).digest('hex');
  const uid = `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
  const created = rootStat && rootStat.birthtimeMs > 0 ? Math.min(rootStat.birthtimeMs, i.startedAt) : i.startedAt;
  // kubelet's ReadyCondition: every runtime error, aggregated as Go's utilerrors prints them.
  const errors = [i.runtimeDown?.(), i.ready() ? undefined : 'PLEG is not healthy: the pod lifecycle loop has not relisted for 3m0s'].filter((e): e is string => !!e);
  const ready = errors.length === 0;
  return {
    name: i.nodeName,
    uid,
    createdAt: rfc3339(created),
    address: i.address,
    hostname: i.nodeName,
    podCIDR: i.podCIDR,
    unschedulable: i.cordoned(),
    cpus: cpus().length,
    memoryBytes: totalmem(),
    ephemeralBytes: fs.blocks * fs.bsize,
    maxPods: i.maxPods,
    machineID,
    systemUUID: uuid || machineID,
    bootID,
    kernelVersion: release(),
    osImage: osImage(osRel),
    containerRuntimeVersion: rt,
    arch: goArch(process.arch),
    port: i.port,
    ready,
    readyMessage: ready ? 'kubelet is posting ready status' : hasLength(errors, 1) ? errors[0] : `[${errors.join(', ')}]`,
    heartbeat: rfc3339(Date.now()),
  };
}
