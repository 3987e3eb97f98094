// The cri folder's public surface: the runtime interface and its implementations.

export * from './runtime.js';
export { createDockerRuntime, DOCKER_DEFAULTS, probeDockerOomScore, type DockerRuntimeOptions, type OomProbeResult } from './docker/index.js';
export { CONTAINERD_DEFAULTS, type ContainerdRuntimeOptions } from './containerd/defaults.js';
export type { ContainerdExtras } from './containerd/index.js';

import type { ContainerdRuntimeOptions } from './containerd/defaults.js';
import type { ContainerdExtras } from './containerd/index.js';
import { createDockerRuntime, DOCKER_DEFAULTS, type DockerRuntimeOptions } from './docker/index.js';
import type { Runtime } from './runtime.js';

/**
 * containerd's CRI runtime, loaded when first asked for: its gRPC stack (~12 MiB resident)
 * stays out of an agent that runs on Docker.
 */
export async function createContainerdRuntime(options: ContainerdRuntimeOptions = {}): Promise<Runtime & ContainerdExtras> {
  return (await import('./containerd/index.js')).createContainerdRuntime(options);
}

/** The Docker engine's endpoint; any socket not named docker.sock is a CRI runtime (containerd). */
export const DOCKER_ENDPOINT = `unix://${DOCKER_DEFAULTS.socketPath}`;

export function isDockerEndpoint(endpoint: string): boolean {
  const path = endpoint.replace(/^unix:\/\//, '');
  // A second engine (dockerd -H unix:///run/other/docker.sock) is Docker too.
  return path === DOCKER_DEFAULTS.socketPath || path.endsWith('/docker.sock');
}

/**
 * The runtime behind a --container-runtime-endpoint: Docker for unix:///var/run/docker.sock,
 * containerd's CRI for any other socket. Docker options apply only to Docker.
 */
export function createRuntime(endpoint: string, docker: Omit<DockerRuntimeOptions, 'socketPath'> = {}): Promise<Runtime> {
  const socketPath = endpoint.replace(/^unix:\/\//, '');
  if (isDockerEndpoint(endpoint)) return createDockerRuntime({ ...docker, socketPath });
  return createContainerdRuntime({ socketPath });
}
