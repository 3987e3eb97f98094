// Static pods: pods read from a manifest directory or URL rather than the API server
// (kubelet pkg/kubelet/config/common.go applyDefaults).

import { createHash } from 'node:crypto';
import { applyPodDefaults } from './defaults.js';
import { canonicalJSON } from './hash.js';
import type { KubeObject, Pod } from './types.js';

export const CONFIG_SOURCE_ANNOTATION = 'kubernetes.io/config.source';
export const CONFIG_HASH_ANNOTATION = 'kubernetes.io/config.hash';
export const CONFIG_SEEN_ANNOTATION = 'kubernetes.io/config.seen';
export const CONFIG_MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';

export interface StaticPodOptions {
  nodeName: string;
  source: 'file' | 'http';
  /** The manifest's file path or URL. Part of the UID, as upstream: the same pod in two files is two pods. */
  path?: string;
  /**
   * Unused: the UID is computed from the pod itself (canonicalJSON), which is stable for
   * reformatted or reordered YAML. Accepted so that callers written against the first
   * version of this interface still compile.
   */
  content?: string;
  seen: Date;
  /**
   * What else decides the pod's identity besides its spec without resources: the caller's
   * QoS class, so that a resize that would move the pod to another QoS cgroup recreates it.
   */
  identity?: string;
  /** Keep metadata.name as written: objects written through the API (kubectl) are named as the client asked. */
  keepName?: boolean;
}

/** Go's time.RFC3339Nano for a UTC time: fractional seconds without trailing zeros. */
export function formatRFC3339Nano(d: Date): string {
  return d.toISOString().replace(/\.(\d*?)0*Z$/, (_, frac: string) => (frac ? `.${frac}Z` : 'Z'));
}

/**
 * The pod the agent runs for a manifest: defaulted, renamed `<name>-<node>`, bound to the
 * node, with a UID that is a hash of the node, the source and the defaulted content, so that
 * any edit (command, env, image, volumes, ...) yields a new pod; but for the containers'
 * `resources` and `resizePolicy`: an edit of those alone is an in-place resize of the same pod.
 * (Deviation: upstream hashes everything and refuses to resize static pods.)
 */
export function staticPodFromManifest(manifest: KubeObject | Pod, opts: StaticPodOptions): Pod {
  const pod = applyPodDefaults(manifest);
  // A uid written in the manifest would pin the identity across edits: ignore it.
  delete (pod.metadata as { uid?: string }).uid;
  const h = createHash('md5');
  h.update(`host:${opts.nodeName}`);
  h.update(`${opts.source === 'file' ? 'file' : 'url'}:${opts.path ?? ''}`);
  h.update(canonicalJSON(withoutResources(pod)));
  if (opts.identity) h.update(`identity:${opts.identity}`);
  const uid = h.digest('hex');

  // Upstream lowercases the node name: pod names must be DNS subdomains.
  if (!opts.keepName) pod.metadata.name = `${pod.metadata.name ?? ''}-${opts.nodeName.toLowerCase()}`;
  pod.metadata.uid = uid;
  pod.spec.nodeName = opts.nodeName;
  pod.metadata.annotations = {
    ...pod.metadata.annotations,
    [CONFIG_HASH_ANNOTATION]: uid,
    [CONFIG_SEEN_ANNOTATION]: formatRFC3339Nano(opts.seen),
    [CONFIG_SOURCE_ANNOTATION]: opts.source,
  };
  return pod;
}

/** The pod without what an in-place resize changes (containers' resources and resizePolicy). */
function withoutResources(pod: Pod): Pod {
  const strip = <T extends { resources?: unknown; resizePolicy?: unknown }>(c: T): T => {
    const { resources: _r, resizePolicy: _p, ...rest } = c;
    return rest as T;
  };
  return { ...pod, spec: { ...pod.spec, containers: pod.spec.containers.map(strip), ...(pod.spec.initContainers ? { initContainers: pod.spec.initContainers.map(strip) } : {}) } };
}
