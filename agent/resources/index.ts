// Resources, QoS, cgroups, node allocatable, eviction and image GC: the public surface.

export * from './compute.js';
export * from './cgroup-names.js';
export { CGROUP_MOUNT, CgroupSystemd, CgroupV1, CgroupV2, createCgroupManager, detectCgroupVersion, sliceProperties, startSliceArgv, type CgroupManager, type CgroupUsage, type CgroupVersion } from './cgroups.js';
export { PodCgroups, type PodCgroupsLike, type PodCgroupsOptions } from './pod-cgroups.js';
export * from './thresholds.js';
export * from './eviction.js';
export { EvictionManager, HARD_EVICTION_GRACE_SECONDS, type EvictionDeps, type PodStats } from './eviction-manager.js';
export * from './node.js';
export { machineInfo, observeSignals, rootWorkingSet, separateImageFs } from './machine.js';
export { ImageGC, imagesInUse, planImageGC, type ImageGCOptions, type ImageGCPlan, type ImageGCPolicy, type ImageRecord } from './image-gc.js';
export { formatBinarySI, formatMilli } from './format.js';
export { evictionThresholds, type ResourceConfig } from './config.js';
export { ResourceManager, type ResourceManagerOptions } from './manager.js';
