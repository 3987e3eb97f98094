import { join, normalize, isAbsolute } from 'node:path';
import type { Mount } from '../../cri/index.js';
import type { Container, DownwardAPIVolumeFile, KeyToPath, Pod, Volume } from '../../manifests/index.js';
import { parseQuantity } from '../../manifests/index.js';
import type { EnvContext } from '../env/resolve.js';
import { ContainerConfigError, expand, fieldValue, formatMap, resourceValue } from '../env/resolve.js';
import type { ObjectData } from '../objects/store.js';

// What each volume of a pod needs on the node, decided without touching the disk: the
// directory, whether it is a tmpfs, and for the projected kinds (configMap, secret,
// downwardAPI, projected) the exact files to publish. setup.ts carries it out.

export interface ProjectedFile {
  path: string;
  data: Buffer;
  mode: number;
}

export type VolumePlan =
  | { name: string; kind: 'emptyDir'; path: string; tmpfsBytes?: number; tmpfs: boolean }
  | { name: string; kind: 'hostPath'; path: string; type: string }
  | { name: string; kind: 'projected'; path: string; tmpfs: boolean; files: ProjectedFile[] };

const PLUGIN = {
  emptyDir: 'empty-dir',
  configMap: 'configmap',
  secret: 'secret',
  downwardAPI: 'downward-api',
  projected: 'projected',
} as const;

export function podDir(rootDir: string, uid: string): string {
  return join(rootDir, 'pods', uid);
}

export function volumeDir(rootDir: string, uid: string, plugin: string, name: string): string {
  return join(podDir(rootDir, uid), 'volumes', `kubernetes.io~${plugin}`, name);
}

export function planVolumes(pod: Pod, rootDir: string, ctx: EnvContext): VolumePlan[] {
  return (pod.spec.volumes ?? []).map((v) => planVolume(pod, v, rootDir, ctx));
}

function planVolume(pod: Pod, v: Volume, rootDir: string, ctx: EnvContext): VolumePlan {
  const dir = (kind: keyof typeof PLUGIN) => volumeDir(rootDir, pod.metadata.uid, PLUGIN[kind], v.name);
  if (v.hostPath) return { name: v.name, kind: 'hostPath', path: v.hostPath.path, type: v.hostPath.type ?? '' };
  if (v.emptyDir) {
    const memory = v.emptyDir.medium === 'Memory';
    return { name: v.name, kind: 'emptyDir', path: dir('emptyDir'), tmpfs: memory, ...(memory && v.emptyDir.sizeLimit ? { tmpfsBytes: parseQuantity(v.emptyDir.sizeLimit) } : {}) };
  }
  const ns = pod.metadata.namespace;
  const cm = v.configMap;
  if (cm) {
    const files = pending(v.name, [() => keyFiles('ConfigMap', cm.name ?? '', ctx.objects.configMap(ns, cm.name ?? ''), cm.items, cm.optional, cm.defaultMode)]);
    return { name: v.name, kind: 'projected', path: dir('configMap'), tmpfs: false, files };
  }
  const secret = v.secret;
  if (secret) {
    const files = pending(v.name, [() => keyFiles('Secret', secret.secretName ?? '', ctx.objects.secret(ns, secret.secretName ?? ''), secret.items, secret.optional, secret.defaultMode)]);
    return { name: v.name, kind: 'projected', path: dir('secret'), tmpfs: true, files };
  }
  if (v.downwardAPI) {
    return { name: v.name, kind: 'projected', path: dir('downwardAPI'), tmpfs: true, files: downwardFiles(pod, v.downwardAPI.items ?? [], ctx, v.downwardAPI.defaultMode) };
  }
  if (v.projected) {
    const mode = v.projected.defaultMode;
    const files = pending(v.name, (v.projected.sources ?? []).map((s) => (): ProjectedFile[] => {
      if (s.configMap) return keyFiles('ConfigMap', s.configMap.name ?? '', ctx.objects.configMap(ns, s.configMap.name ?? ''), s.configMap.items, s.configMap.optional, mode);
      if (s.secret) return keyFiles('Secret', s.secret.name ?? '', ctx.objects.secret(ns, s.secret.name ?? ''), s.secret.items, s.secret.optional, mode);
      if (s.downwardAPI) return downwardFiles(pod, s.downwardAPI.items ?? [], ctx, mode);
      if (s.serviceAccountToken) return [tokenFile(pod, v.name, s.serviceAccountToken, ctx, mode)];
      throw new ContainerConfigError(`volume "${v.name}": unsupported projected source ${Object.keys(s).join(', ')}`);
    }));
    return { name: v.name, kind: 'projected', path: dir('projected'), tmpfs: true, files };
  }
  const kind = Object.keys(v).find((k) => k !== 'name') ?? 'none';
  throw new ContainerConfigError(`volume "${v.name}": volume type ${kind} is not supported on this node (supported: emptyDir, hostPath, configMap, secret, downwardAPI, projected)`);
}

/**
 * A volume whose source cannot be read (yet): a ConfigMap or Secret not found, or not
 * readable yet (the Node authorizer learns of a pod's binding a moment after the pod), a key
 * it does not hold, a token not issued yet. kubelet's volume manager fails the mount
 * (MountVolume.SetUp) and tries again, the pod waiting in ContainerCreating with a
 * FailedMount event; CreateContainerConfigError is for what env and envFrom reference.
 */
export class VolumePending extends Error {
  constructor(readonly volume: string, message: string) {
    super(message);
  }
}

/** One source of a volume that cannot be read; `pending` makes it the volume's VolumePending. */
class SourceMissing extends Error {}

/**
 * The files of a volume's sources, read one after the other; the sources that cannot be read
 * fail the volume together, their messages joined as Go's errors.NewAggregate joins them
 * (the projected plugin's collectData reads every source before it gives up).
 */
function pending(volume: string, sources: (() => ProjectedFile[])[]): ProjectedFile[] {
  const files: ProjectedFile[] = [];
  const failed: string[] = [];
  for (const read of sources) {
    try {
      files.push(...read());
    } catch (err) {
      if (!(err instanceof SourceMissing)) throw err;
      if (!failed.includes(err.message)) failed.push(err.message);
    }
  }
  if (failed.length) throw new VolumePending(volume, failed.length === 1 ? failed[0]! : `[${failed.join(', ')}]`);
  return files;
}

/** The token the API server issued for this pod (TokenRequest, bound to the pod), as a file. */
function tokenFile(pod: Pod, volume: string, src: { audience?: string; expirationSeconds?: number; path: string }, ctx: EnvContext, defaultMode = 0o644): ProjectedFile {
  const lookup = ctx.objects.serviceAccountToken;
  if (!lookup) throw new ContainerConfigError(`volume "${volume}": serviceAccountToken needs an API server to issue tokens; this node has none`);
  const token = lookup.call(ctx.objects, pod.metadata.uid, src);
  const sa = pod.spec.serviceAccountName || 'default';
  if (!token) throw new SourceMissing(`no token issued yet for service account "${sa}"${src.audience ? ` (audience "${src.audience}")` : ''}`);
  return { path: src.path, data: token, mode: defaultMode };
}

function keyFiles(kind: 'ConfigMap' | 'Secret', name: string, data: ObjectData | undefined, items: KeyToPath[] | undefined, optional: boolean | undefined, defaultMode = 0o644): ProjectedFile[] {
  if (!data) {
    if (optional) return [];
    throw new SourceMissing(`${kind.toLowerCase()} "${name}" not found`);
  }
  if (!items?.length) return Object.entries(data).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, d]) => ({ path: k, data: d, mode: defaultMode }));
  return items.flatMap((it) => {
    const d = data[it.key];
    if (!d) {
      if (optional) return [];
      throw new SourceMissing(kind === 'Secret' ? `references non-existent secret key: ${it.key}` : `configmap references non-existent config key: ${it.key}`);
    }
    return [{ path: it.path, data: d, mode: it.mode ?? defaultMode }];
  });
}

function downwardFiles(pod: Pod, items: DownwardAPIVolumeFile[], ctx: EnvContext, defaultMode = 0o644): ProjectedFile[] {
  return items.map((it) => {
    let value: string;
    if (it.fieldRef) {
      const p = it.fieldRef.fieldPath;
      value = p === 'metadata.labels' ? formatMap(pod.metadata.labels) : p === 'metadata.annotations' ? formatMap(pod.metadata.annotations) : fieldValue(pod, p, ctx);
    } else if (it.resourceFieldRef) {
      const c = pod.spec.containers.find((x) => x.name === it.resourceFieldRef!.containerName) ?? pod.spec.containers[0];
      if (!c) throw new ContainerConfigError(`downwardAPI item "${it.path}": the pod has no container "${it.resourceFieldRef.containerName}"`);
      value = resourceValue(pod, c, it.resourceFieldRef, ctx);
    } else {
      throw new ContainerConfigError(`downwardAPI item "${it.path}": needs fieldRef or resourceFieldRef`);
    }
    return { path: it.path, data: Buffer.from(value), mode: it.mode ?? defaultMode };
  });
}

/** A relative path that stays inside its volume: no absolute path, no `..` element. */
export function checkSubPath(sub: string, field: string, shown = sub): string {
  const n = normalize(sub);
  if (isAbsolute(sub) || n === '..' || n.startsWith('../') || sub.split('/').includes('..')) {
    throw new ContainerConfigError(`${field}: Invalid value: ${JSON.stringify(shown.slice(0, 256))}: must be a relative path that does not contain '..'${shown !== sub ? ' once expanded' : ''}`);
  }
  return n === '.' ? '' : n;
}

/** The container's mounts; subPath targets are resolved against the volume by setup.ts. */
export function containerMounts(c: Container, plans: VolumePlan[], env: { key: string; value: string }[]): (Mount & { subPath?: string; subPathShown?: string; volumeRoot: string })[] {
  const envMap = new Map(env.map((e) => [e.key, e.value]));
  return (c.volumeMounts ?? []).map((m, i) => {
    const plan = plans.find((p) => p.name === m.name);
    if (!plan) throw new ContainerConfigError(`volumeMounts[${i}]: volume "${m.name}" not found`);
    const field = `container "${c.name}": volumeMounts[${i}].${m.subPathExpr !== undefined ? 'subPathExpr' : 'subPath'}`;
    let raw: string | undefined;
    try {
      raw = m.subPathExpr !== undefined ? expand(m.subPathExpr, envMap) : m.subPath;
    } catch (err) {
      throw err instanceof ContainerConfigError ? new ContainerConfigError(`${field}: ${err.message}`) : err;
    }
    // An expanded subPathExpr may hold a secret's value: errors quote the expression as written.
    const shown = m.subPathExpr ?? m.subPath ?? '';
    const sub = raw ? checkSubPath(raw, field, shown) : '';
    // Published files are always read-only in the container, as upstream mounts them.
    const readonly = !!m.readOnly || plan.kind === 'projected';
    return {
      containerPath: m.mountPath,
      hostPath: sub ? join(plan.path, sub) : plan.path,
      readonly,
      ...(sub ? { subPath: sub, subPathShown: shown } : {}),
      volumeRoot: plan.path,
      ...(m.mountPropagation === 'HostToContainer' ? { propagation: 'rslave' as const } : m.mountPropagation === 'Bidirectional' ? { propagation: 'rshared' as const } : {}),
    };
  });
}
