import type { ContainerStatus as RuntimeContainer, PodSandboxStatus } from '../../cri/index.js';
import type { Container, Pod } from '../../manifests/index.js';
import { containerSpecChanged, containerSpecHash } from '../../manifests/index.js';

// The labels and annotations kubelet put on containers (kuberuntime/labels.go). Everything
// the agent needs after a restart is read back from these, never from memory.
export const L = {
  podName: 'io.kubernetes.pod.name',
  podNamespace: 'io.kubernetes.pod.namespace',
  podUid: 'io.kubernetes.pod.uid',
  containerName: 'io.kubernetes.container.name',
  // Annotations (stored by the Docker runtime as labels, as dockershim did).
  containerHash: 'io.kubernetes.container.hash',
  // The hash without resources and resizePolicy (kubelet had the same annotation while
  // in-place resize was beta): a change there alone is a resize, not a new container.
  containerHashNoResources: 'io.kubernetes.container.hashWithoutResources',
  restartCount: 'io.kubernetes.container.restartCount',
  podGrace: 'io.kubernetes.pod.terminationGracePeriod',
  containerType: 'io.kubernetes.container.type',
  // What stopping a container needs when its spec is gone (an orphan after a restart).
  preStop: 'io.kubernetes.container.preStopHandler',
  ports: 'io.kubernetes.container.ports',
  // Which agent owns the container: two agents (or a test agent beside a real one) sharing
  // an engine must never take each other's pods for orphans.
  node: 'bosun.io/node-name',
} as const;

export function podLabels(pod: Pod): Record<string, string> {
  return {
    ...(pod.metadata.labels ?? {}),
    [L.podName]: pod.metadata.name,
    [L.podNamespace]: pod.metadata.namespace,
    [L.podUid]: pod.metadata.uid,
    [L.node]: pod.spec.nodeName ?? '',
  };
}

export function sandboxAnnotations(pod: Pod): Record<string, string> {
  return {
    ...(pod.metadata.annotations ?? {}),
    [L.podGrace]: String(pod.spec.terminationGracePeriodSeconds ?? 30),
  };
}

/** The hash recorded on a container (versioned: manifests/container-hash.ts says what it covers and why). */
export function containerHash(c: Container): string {
  return containerSpecHash(c, 'full');
}

/** The same without what an in-place resize changes. */
export function containerHashWithoutResources(c: Container): string {
  return containerSpecHash(c, 'withoutResources');
}

/** Whether a container's recorded hash (full, or without resources) says its spec changed; a hash it cannot judge is no change. */
export function recordedSpecChanged(st: RuntimeContainer, c: Container, part: 'full' | 'withoutResources' = 'full'): boolean {
  return containerSpecChanged(st.annotations[part === 'full' ? L.containerHash : L.containerHashNoResources], c, part);
}

export function containerLabels(pod: Pod, c: Container): Record<string, string> {
  return {
    [L.podName]: pod.metadata.name,
    [L.podNamespace]: pod.metadata.namespace,
    [L.podUid]: pod.metadata.uid,
    [L.containerName]: c.name,
    [L.node]: pod.spec.nodeName ?? '',
  };
}

/** What a container is to its pod (the io.kubernetes.container.type annotation). */
export type ContainerKind = 'init' | 'sidecar' | 'app' | 'ephemeral';

export function containerAnnotations(
  pod: Pod,
  c: Container,
  restartCount: number,
  type: ContainerKind,
): Record<string, string> {
  return {
    [L.containerHash]: containerHash(c),
    [L.containerHashNoResources]: containerHashWithoutResources(c),
    [L.restartCount]: String(restartCount),
    [L.podGrace]: String(pod.spec.terminationGracePeriodSeconds ?? 30),
    [L.containerType]: type,
    ...(c.lifecycle?.preStop ? { [L.preStop]: JSON.stringify(c.lifecycle.preStop) } : {}),
    ...(c.ports?.length ? { [L.ports]: JSON.stringify(c.ports) } : {}),
  };
}

export function podUidOf(x: RuntimeContainer | PodSandboxStatus): string | undefined {
  return x.labels[L.podUid];
}

/** Grace period recorded on a container, for pods whose spec is gone (orphans). */
export function recordedGrace(x: RuntimeContainer | PodSandboxStatus): number {
  const v = Number(x.annotations[L.podGrace]);
  return Number.isFinite(v) && v >= 0 ? v : 30;
}
