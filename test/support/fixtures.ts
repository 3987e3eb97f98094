import type { ContainerStatus as RuntimeContainer, PodSandboxStatus } from '../../cri/index.js';
import type { Container, Pod, PodSpec } from '../../manifests/index.js';
import { containerHash, L } from '../../agent/vocab/index.js';
import { HOST_NETWORK_LABEL } from '../../agent/pods/planner.js';

// Small builders for planner and status tests: a pod spec and runtime records as the
// Docker runtime would report them.

export function pod(spec: Partial<PodSpec> & { containers: Container[] }, name = 'web'): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid: 'uid-1' },
    spec: { restartPolicy: 'Always', terminationGracePeriodSeconds: 30, ...spec },
  };
}

export const ctr = (name: string, extra: Partial<Container> = {}): Container => ({ name, image: 'localhost/bosun/busybox:1', imagePullPolicy: 'IfNotPresent', ...extra });

export function sandbox(id: string, attempt = 0, state: 'ready' | 'notready' = 'ready', ip = '10.244.0.5', createdAt = 1000): PodSandboxStatus {
  return {
    id,
    metadata: { name: 'web', namespace: 'default', uid: 'uid-1', attempt },
    state,
    createdAt,
    ip: state === 'ready' ? ip : undefined,
    labels: { [L.podUid]: 'uid-1', [L.podName]: 'web', [L.podNamespace]: 'default', [HOST_NETWORK_LABEL]: 'false' },
    annotations: {},
  };
}

export function running(p: Pod, c: Container, id: string, opts: { attempt?: number; sandboxId?: string; startedAt?: number; hash?: string } = {}): RuntimeContainer {
  return rc(p, c, id, { state: 'running', ...opts });
}

export function exited(p: Pod, c: Container, id: string, exitCode: number, opts: { attempt?: number; sandboxId?: string; finishedAt?: number; reason?: string } = {}): RuntimeContainer {
  return rc(p, c, id, { state: 'exited', exitCode, ...opts });
}

function rc(p: Pod, c: Container, id: string, o: { state: RuntimeContainer['state']; exitCode?: number; attempt?: number; sandboxId?: string; startedAt?: number; finishedAt?: number; hash?: string; reason?: string }): RuntimeContainer {
  return {
    id,
    podSandboxId: o.sandboxId ?? 's1',
    metadata: { name: c.name, attempt: o.attempt ?? 0 },
    state: o.state,
    createdAt: 1000 + (o.attempt ?? 0),
    startedAt: o.startedAt ?? 2000,
    finishedAt: o.state === 'exited' ? o.finishedAt ?? 3000 : 0,
    exitCode: o.exitCode ?? 0,
    ...(o.reason ? { reason: o.reason } : {}),
    image: c.image ?? '',
    imageRef: 'sha256:abc',
    labels: { [L.podUid]: p.metadata.uid, [L.podName]: p.metadata.name, [L.podNamespace]: p.metadata.namespace, [L.containerName]: c.name },
    annotations: { [L.containerHash]: o.hash ?? containerHash(c), [L.restartCount]: String(o.attempt ?? 0) },
  };
}
