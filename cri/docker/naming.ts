// Docker has no annotations and no notion of pods: everything the runtime needs to
// rebuild a sandbox's or container's CRI view after an agent restart is written into
// the container's name and labels at creation time. Keys follow dockershim, so tools of
// that era (and humans used to `docker ps`) recognise bosun's containers.

import type { ContainerConfig, LabelFilter, PodSandboxConfig, PodSandboxMetadata } from '../runtime.js';

export const LABEL_TYPE = 'io.kubernetes.docker.type';
export const TYPE_SANDBOX = 'podsandbox';
export const TYPE_CONTAINER = 'container';

export const LABEL_POD_NAME = 'io.kubernetes.pod.name';
export const LABEL_POD_NAMESPACE = 'io.kubernetes.pod.namespace';
export const LABEL_POD_UID = 'io.kubernetes.pod.uid';
export const LABEL_CONTAINER_NAME = 'io.kubernetes.container.name';
export const LABEL_SANDBOX_ID = 'io.kubernetes.sandbox.id';
export const LABEL_SANDBOX_ATTEMPT = 'io.kubernetes.sandbox.attempt';
export const LABEL_CONTAINER_ATTEMPT = 'io.kubernetes.container.attempt';
export const LABEL_LOG_PATH = 'io.kubernetes.container.logpath';
/** Set only on sandboxes that run in the host's network namespace. */
export const LABEL_HOST_NETWORK = 'io.bosun.sandbox.host-network';

export const ANNOTATION_PREFIX = 'annotation.';

/**
 * Labels that exist only for the runtime's own bookkeeping and are stripped from the
 * labels handed back to callers. Pod name/namespace/uid and container name stay: kubelet
 * itself puts them in its configs, and callers may select on them.
 */
const INTERNAL_LABELS = new Set([
  LABEL_TYPE,
  LABEL_SANDBOX_ID,
  LABEL_SANDBOX_ATTEMPT,
  LABEL_CONTAINER_ATTEMPT,
  LABEL_LOG_PATH,
  LABEL_HOST_NETWORK,
]);

// Docker names allow [a-zA-Z0-9][a-zA-Z0-9_.-]; Kubernetes names are already DNS labels
// or subdomains, so this only guards against a config that slipped past validation
// turning into an engine error far from its cause.
function nameSafe(s: string): string {
  return s.replace(/[^a-zA-Z0-9_.-]/g, '-');
}

export function sandboxName(md: PodSandboxMetadata): string {
  return ['k8s', 'POD', md.name, md.namespace, md.uid, String(md.attempt)].map(nameSafe).join('_');
}

export function containerName(ctr: ContainerConfig['metadata'], pod: PodSandboxMetadata): string {
  return ['k8s', ctr.name, pod.name, pod.namespace, pod.uid, String(ctr.attempt)].map(nameSafe).join('_');
}

function podLabels(md: PodSandboxMetadata): Record<string, string> {
  return {
    [LABEL_POD_NAME]: md.name,
    [LABEL_POD_NAMESPACE]: md.namespace,
    [LABEL_POD_UID]: md.uid,
  };
}

export function annotationsToLabels(annotations: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(annotations)) out[ANNOTATION_PREFIX + k] = v;
  return out;
}

export function sandboxLabels(config: PodSandboxConfig): Record<string, string> {
  return {
    ...config.labels,
    ...annotationsToLabels(config.annotations),
    ...podLabels(config.metadata),
    [LABEL_SANDBOX_ATTEMPT]: String(config.metadata.attempt),
    ...(config.hostNetwork ? { [LABEL_HOST_NETWORK]: 'true' } : {}),
    [LABEL_TYPE]: TYPE_SANDBOX,
  };
}

export function containerLabels(
  sandboxId: string,
  config: ContainerConfig,
  sandboxConfig: PodSandboxConfig,
  logPath: string | undefined,
): Record<string, string> {
  return {
    ...config.labels,
    ...annotationsToLabels(config.annotations),
    ...podLabels(sandboxConfig.metadata),
    [LABEL_CONTAINER_NAME]: config.metadata.name,
    [LABEL_CONTAINER_ATTEMPT]: String(config.metadata.attempt),
    [LABEL_SANDBOX_ID]: sandboxId,
    ...(logPath !== undefined ? { [LABEL_LOG_PATH]: logPath } : {}),
    [LABEL_TYPE]: TYPE_CONTAINER,
  };
}

/** Splits engine labels back into the caller's labels and annotations. */
/** A CRI label selector as Docker's `label=key=value` list filters (user labels are stored as they are). */
export function dockerLabelFilters(filter: LabelFilter | undefined): string[] {
  return filter ? Object.entries(filter.labels).map(([k, v]) => `${k}=${v}`) : [];
}

export function splitLabels(all: Record<string, string> | null | undefined): {
  labels: Record<string, string>;
  annotations: Record<string, string>;
} {
  const labels: Record<string, string> = {};
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(all ?? {})) {
    if (k.startsWith(ANNOTATION_PREFIX)) annotations[k.slice(ANNOTATION_PREFIX.length)] = v;
    else if (!INTERNAL_LABELS.has(k)) labels[k] = v;
  }
  return { labels, annotations };
}

function attempt(v: string | undefined): number {
  const n = v === undefined ? NaN : Number.parseInt(v, 10);
  return Number.isFinite(n) && n >= 0 ? n : 0;
}

export function sandboxMetadataFromLabels(l: Record<string, string> | null | undefined): PodSandboxMetadata {
  const labels = l ?? {};
  return {
    name: labels[LABEL_POD_NAME] ?? '',
    namespace: labels[LABEL_POD_NAMESPACE] ?? '',
    uid: labels[LABEL_POD_UID] ?? '',
    attempt: attempt(labels[LABEL_SANDBOX_ATTEMPT]),
  };
}

export function containerMetadataFromLabels(l: Record<string, string> | null | undefined): {
  name: string;
  attempt: number;
} {
  const labels = l ?? {};
  return { name: labels[LABEL_CONTAINER_NAME] ?? '', attempt: attempt(labels[LABEL_CONTAINER_ATTEMPT]) };
}
