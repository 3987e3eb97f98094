// Which pod and container a kubelet API request is about (pure): kubelet's
// findContainer and the default-container rule of kubectl.

import { hasLength } from '../../base/index.js';
import type { PodView } from '../pods/manager.js';
import { status, type Status } from './api.js';

export const findPod = (pods: PodView[], namespace: string, name: string, uid?: string): PodView | undefined =>
  pods.find((v) => v.pod.metadata.namespace === namespace && v.pod.metadata.name === name && (!uid || v.pod.metadata.uid === uid));

/** The runtime ID of the named container (or the default one) if it runs, else the 400 to answer. */
export function runningContainer(v: PodView, name: string | undefined): { id: string } | Status {
  const p = v.pod;
  const names = [...(p.spec.initContainers ?? []), ...p.spec.containers, ...(p.spec.ephemeralContainers ?? [])].map((c) => c.name);
  let c = name;
  if (!c) {
    const def = p.metadata.annotations?.['kubectl.kubernetes.io/default-container'];
    if (def && names.includes(def)) c = def;
    else if (hasLength(p.spec.containers, 1)) c = p.spec.containers[0].name;
    else return status(400, 'BadRequest', `a container name must be specified for pod ${p.metadata.name}, choose one of: [${names.join(' ')}]`);
  }
  if (!names.includes(c)) return status(400, 'BadRequest', `container ${c} is not valid for pod ${p.metadata.name}`);
  const st = [...(v.status.initContainerStatuses ?? []), ...(v.status.containerStatuses ?? []), ...(v.status.ephemeralContainerStatuses ?? [])].find((s) => s.name === c);
  if (!st?.state.running || !st.containerID) return status(400, 'BadRequest', `container ${c} is not running in pod ${p.metadata.name}`);
  return { id: st.containerID.replace(/^[a-z]+:\/\//, '') };
}
