// API-server defaulting of a Pod (pkg/apis/core/v1/defaults.go), so that the agent sees
// the same spec a kubelet would, whatever the manifest left out.

import type { Container, KubeObject, Pod, PullPolicy } from './types.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const objs = (v: unknown): Obj[] => (Array.isArray(v) ? v.filter(isObj) : []);

/** Deep copy that drops null fields: a typed Go decode treats `field: null` as absent too. */
function clean<T>(v: T): T {
  if (Array.isArray(v)) return v.map(clean) as T;
  if (!isObj(v)) return v;
  const out: Obj = {};
  for (const [k, x] of Object.entries(v)) if (x !== null && x !== undefined) out[k] = clean(x);
  return out as T;
}

/** Sets o[k] when absent or '' (upstream's `if obj.X == ""`). */
function setString(o: Obj, k: string, v: string): void {
  if (o[k] === undefined || o[k] === '') o[k] = v;
}
/** Sets o[k] when absent or 0 (upstream's `if obj.X == 0` for non-pointer ints). */
function setInt(o: Obj, k: string, v: number): void {
  if (o[k] === undefined || o[k] === 0) o[k] = v;
}
function child(o: Obj, k: string): Obj | undefined {
  return isObj(o[k]) ? (o[k] as Obj) : undefined;
}

/**
 * The pull policy upstream gives a container without one: Always for a `:latest` or
 * untagged image, IfNotPresent otherwise (a digest pins the image as a tag would).
 */
export function defaultImagePullPolicy(image: string): PullPolicy {
  if (image === '') return 'IfNotPresent'; // upstream: the name fails to parse, so no "latest" tag
  const at = image.indexOf('@');
  const name = at >= 0 ? image.slice(0, at) : image;
  const colon = name.lastIndexOf(':');
  const tag = colon > name.lastIndexOf('/') ? name.slice(colon + 1) : '';
  return tag === 'latest' || (tag === '' && at < 0) ? 'Always' : 'IfNotPresent';
}

function defaultHTTPGet(h: Obj | undefined): void {
  if (!h) return;
  setString(h, 'path', '/');
  setString(h, 'scheme', 'HTTP');
}

function defaultFieldRef(holder: Obj | undefined): void {
  const ref = holder && child(holder, 'fieldRef');
  if (ref) setString(ref, 'apiVersion', 'v1');
}

/** Requests default to limits, per resource (only for Pods, not templates, upstream). */
function defaultRequests(res: Obj | undefined): void {
  const limits = res && child(res, 'limits');
  if (!res || !limits) return;
  const requests = child(res, 'requests') ?? (res.requests = {});
  for (const [k, v] of Object.entries(limits)) if (!(k in (requests as Obj))) (requests as Obj)[k] = v;
}

function defaultContainer(c: Obj, hostNetwork: boolean, ephemeral: boolean): void {
  if (c.imagePullPolicy === undefined || c.imagePullPolicy === '') {
    c.imagePullPolicy = defaultImagePullPolicy(typeof c.image === 'string' ? c.image : '');
  }
  setString(c, 'terminationMessagePath', '/dev/termination-log');
  setString(c, 'terminationMessagePolicy', 'File');
  for (const p of objs(c.ports)) {
    setString(p, 'protocol', 'TCP');
    if (hostNetwork) setInt(p, 'hostPort', p.containerPort as number);
  }
  for (const k of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
    const probe = child(c, k);
    if (!probe) continue;
    setInt(probe, 'timeoutSeconds', 1);
    setInt(probe, 'periodSeconds', 10);
    setInt(probe, 'successThreshold', 1);
    setInt(probe, 'failureThreshold', 3);
    defaultHTTPGet(child(probe, 'httpGet'));
  }
  const lifecycle = child(c, 'lifecycle');
  for (const hook of ['postStart', 'preStop']) {
    const h = lifecycle && child(lifecycle, hook);
    if (h) defaultHTTPGet(child(h, 'httpGet'));
  }
  for (const e of objs(c.env)) defaultFieldRef(child(e, 'valueFrom'));
  if (!ephemeral) defaultRequests(child(c, 'resources'));
}

const VOLUME_MODE_DEFAULT = 0o644;

function defaultVolume(v: Obj): void {
  const sources = Object.keys(v).filter((k) => k !== 'name');
  // A volume that names no source is an emptyDir, as upstream's SetDefaults_Volume.
  if (sources.length === 0) v.emptyDir = {};
  for (const k of ['configMap', 'secret', 'downwardAPI', 'projected']) {
    const src = child(v, k);
    if (src && src.defaultMode === undefined) src.defaultMode = VOLUME_MODE_DEFAULT;
  }
  const hostPath = child(v, 'hostPath');
  if (hostPath && hostPath.type === undefined) hostPath.type = '';
  for (const item of objs(child(v, 'downwardAPI')?.items)) defaultFieldRef(item);
  for (const s of objs(child(v, 'projected')?.sources)) {
    for (const item of objs(child(s, 'downwardAPI')?.items)) defaultFieldRef(item);
  }
}

/** A defaulted deep copy of pod, as the API server would store it; the input is not touched. */
export function applyPodDefaults(pod: KubeObject | Pod): Pod {
  const out = clean(pod) as Obj;
  const meta = child(out, 'metadata') ?? (out.metadata = {});
  setString(meta as Obj, 'namespace', 'default');
  const spec = child(out, 'spec') ?? (out.spec = {});
  setString(spec, 'restartPolicy', 'Always');
  spec.terminationGracePeriodSeconds ??= 30;
  // The API server stores a negative grace period as 1 (pod strategy, since 1.27).
  if (typeof spec.terminationGracePeriodSeconds === 'number' && spec.terminationGracePeriodSeconds < 0) spec.terminationGracePeriodSeconds = 1;
  setString(spec, 'dnsPolicy', 'ClusterFirst');
  setString(spec, 'schedulerName', 'default-scheduler');
  spec.securityContext ??= {};
  spec.enableServiceLinks ??= true;
  const hostNetwork = spec.hostNetwork === true;
  for (const c of objs(spec.initContainers)) defaultContainer(c, hostNetwork, false);
  for (const c of objs(spec.containers)) defaultContainer(c, hostNetwork, false);
  for (const c of objs(spec.ephemeralContainers)) defaultContainer(c, false, true);
  for (const v of objs(spec.volumes)) defaultVolume(v);
  defaultRequests(child(spec, 'resources'));
  return out as unknown as Pod;
}

/** An init container with restartPolicy Always runs for the pod's lifetime (KEP-753). */
export function isSidecar(container: Pick<Container, 'restartPolicy'>): boolean {
  return container.restartPolicy === 'Always';
}

/** `<name>_<namespace>`, the key kubelet uses for a pod in logs and maps. */
export function podFullName(pod: { metadata?: { name?: string; namespace?: string } }): string {
  return `${pod.metadata?.name ?? ''}_${pod.metadata?.namespace ?? ''}`;
}
