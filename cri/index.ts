// The cri folder's public surface: the runtime interface and its implementations.

export * from './runtime.js';
export { createDockerRuntime, DOCKER_DEFAULTS, probeDockerOomScore, type DockerRuntimeOptions, type OomProbeResult } from './docker/index.js';
