/**
 * The pod conditions kubelet computes (upstream's PodConditionsByKubelet); any other condition
 * in a pod's status (readiness gates, DisruptionTarget) belongs to someone else and is kept.
 */
export const KUBELET_CONDITIONS: ReadonlySet<string> = new Set(['PodScheduled', 'Ready', 'Initialized', 'ContainersReady', 'PodReadyToStartContainers', 'PodResizePending', 'PodResizeInProgress']);
