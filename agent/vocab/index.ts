// The vocabulary that agent/pods, agent/resources, agent/pull, agent/sources and the agent's
// top-level files share: QoS classes, the container labels, back-off, the waiting reason,
// time formats, observed-pod types. It sits below all of them so imports flow one way;
// nothing here imports another agent folder.

export * from './qos.js';
export * from './labels.js';
export * from './backoff.js';
export * from './waiting.js';
export * from './time.js';
export * from './observed.js';
export * from './sysctls.js';
export * from './conditions.js';
export * from './version.js';
