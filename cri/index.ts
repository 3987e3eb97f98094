// The cri folder's public surface: the runtime interface and its implementations.

export * from './runtime.js';
export { createDockerRuntime, DOCKER_DEFAULTS, probeDockerOomScore, type DockerRuntimeOptions, type OomProbeResult } from './docker/index.js';
export { createContainerdRuntime, CONTAINERD_DEFAULTS, type ContainerdRuntimeOptions, type ContainerdExtras } from './containerd/index.js';

import { createContainerdRuntime } from './containerd/index.js';
import { createDockerRuntime, DOCKER_DEFAULTS, type DockerRuntimeOptions } from './docker/index.js';
import type { Runtime } from './runtime.js';

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
