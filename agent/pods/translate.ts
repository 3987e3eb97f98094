import type { ContainerConfig, PodSandboxConfig, PortMapping } from '../../cri/index.js';
import type { Container, Pod } from '../../manifests/index.js';
import { containerAnnotations, containerLabels, podLabels, sandboxAnnotations, type ContainerKind } from '../vocab/index.js';
import { HOST_NETWORK_LABEL } from './planner.js';
import { podSysctls } from '../vocab/index.js';

// The translation layer from the Pod spec to the runtime's sandbox and container configs
// (podman keeps the same split in pkg/specgen/generate/kube). Pure: no engine calls here.

export function sandboxConfig(pod: Pod, attempt: number, extra: Pick<PodSandboxConfig, 'dns' | 'logDirectory' | 'cgroupParent'> = {}, clusterDomain = 'cluster.local'): PodSandboxConfig {
  const spec = pod.spec;
  const portMappings: PortMapping[] = [];
  const sysctls = podSysctls(pod);
  for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
    for (const p of c.ports ?? []) {
      if (!p.hostPort) continue;
      portMappings.push({
        protocol: p.protocol ?? 'TCP',
        containerPort: p.containerPort,
        hostPort: p.hostPort,
        ...(p.hostIP ? { hostIp: p.hostIP } : {}),
      });
    }
  }
  return {
    metadata: { name: pod.metadata.name, namespace: pod.metadata.namespace, uid: pod.metadata.uid, attempt },
    hostname: kernelHostname(pod, clusterDomain),
    labels: { ...podLabels(pod), [HOST_NETWORK_LABEL]: String(!!spec.hostNetwork) },
    annotations: sandboxAnnotations(pod),
    portMappings,
    hostNetwork: !!spec.hostNetwork,
    hostPID: !!spec.hostPID,
    hostIPC: !!spec.hostIPC,
    sharePid: !!spec.shareProcessNamespace,
    ...(sysctls ? { sysctls } : {}),
    ...extra,
  };
}

/**
 * spec.hostnameOverride, else spec.hostname, else the pod name truncated to a valid host name
 * (63 characters): GeneratePodHostNameAndDomain.
 */
export function podHostname(pod: Pod): string {
  if (pod.spec.hostnameOverride) return pod.spec.hostnameOverride;
  const name = pod.spec.hostname ?? pod.metadata.name;
  return name.length > 63 ? name.slice(0, 63).replace(/[-.]+$/, '') : name;
}

/** The longest host name the kernel takes (HOST_NAME_MAX). */
export const MAX_KERNEL_HOSTNAME = 64;

/**
 * The host name the pod's processes see (GetNodenameForKernel): with setHostnameAsFQDN and a
 * subdomain, the FQDN `<hostname>.<subdomain>.<namespace>.svc.<clusterDomain>`; else the short name.
 */
export function kernelHostname(pod: Pod, clusterDomain: string): string {
  const short = podHostname(pod);
  if (!pod.spec.setHostnameAsFQDN || !pod.spec.subdomain || pod.spec.hostnameOverride) return short;
  return `${short}.${pod.spec.subdomain}.${pod.metadata.namespace}.svc.${clusterDomain}`;
}

export function containerConfig(
  pod: Pod,
  c: Container,
  attempt: number,
  type: ContainerKind,
  env: { key: string; value: string }[],
): ContainerConfig {
  return {
    metadata: { name: c.name, attempt },
    image: c.image ?? '',
    ...(c.command ? { command: c.command } : {}),
    ...(c.args ? { args: c.args } : {}),
    ...(c.workingDir ? { workingDir: c.workingDir } : {}),
    envs: env,
    mounts: [],
    labels: containerLabels(pod, c),
    annotations: containerAnnotations(pod, c, attempt, type),
    ...(c.lifecycle?.stopSignal ? { stopSignal: c.lifecycle.stopSignal } : {}),
    stdin: !!c.stdin,
    stdinOnce: !!c.stdinOnce,
    tty: !!c.tty,
  };
}
