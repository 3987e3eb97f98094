import type { ContainerStatus as RuntimeContainer, PodSandboxStatus } from '../../cri/index.js';

/** What the runtime holds for one pod, newest first. */
export interface ObservedPod {
  sandboxes: PodSandboxStatus[];
  containers: RuntimeContainer[];
}
