// The cri folder's public surface: the runtime interface and its implementations.

export * from './runtime.js';
export { createDockerRuntime, DOCKER_DEFAULTS, type DockerRuntimeOptions } from './docker/index.js';
