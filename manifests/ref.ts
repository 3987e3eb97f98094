/** Which pod something is about: events, probe results and kill requests carry it. */
export interface PodRef {
  name: string;
  namespace: string;
  uid: string;
}

export function podRef(pod: { metadata: PodRef }): PodRef {
  return { name: pod.metadata.name, namespace: pod.metadata.namespace, uid: pod.metadata.uid };
}
