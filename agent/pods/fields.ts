import { existsSync, readFileSync } from 'node:fs';
import type { Container, Pod } from '../../manifests/index.js';
import { CONFIG_SOURCE_ANNOTATION } from '../../manifests/index.js';
import { MAX_KERNEL_HOSTNAME, kernelHostname } from './translate.js';

// Pod-spec fields this node cannot honour. Validation accepts what the API server accepts;
// what this node then cannot do is either refused at admission (the pod ends Failed with a
// reason and a message naming the field, as kubelet's admit handlers do: AppArmor,
// PodOSNotSupported, SupplementalGroupsPolicyNotSupported, ...) or, for the fields that
// only a scheduler acts on (static pods ignore them upstream too), reported once as a
// Warning naming the field and why it has no effect here. Pure, but for detectNodeFeatures.

/** What this host and engine can do, for the fields that depend on it. */
export interface NodeFeatures {
  /** AppArmor is enabled in the kernel. */
  appArmor: boolean;
  /** SELinux is enabled in the kernel. */
  seLinux: boolean;
  /** The engine honours a container's own stop signal (Docker does; containerd 1.6's CRI has none). */
  stopSignal: boolean;
  /** The engine reports and updates a running container's limits (Docker; containerd's CRI ContainerStatus.resources and UpdateContainerResources). */
  resizeInPlace: boolean;
  /** For the FQDN a pod with setHostnameAsFQDN gets as its host name. */
  clusterDomain: string;
}

/** Reads the kernel's switches, as kubelet's AppArmor validator and SELinux checks do. */
export function detectNodeFeatures(runtimeName: string, clusterDomain: string): NodeFeatures {
  let appArmor = false;
  try {
    appArmor = readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim().startsWith('Y');
  } catch {
    // no AppArmor module
  }
  return { appArmor, seLinux: existsSync('/sys/fs/selinux/enforce'), stopSignal: runtimeName === 'docker', resizeInPlace: runtimeName === 'docker' || runtimeName === 'containerd', clusterDomain };
}

export interface Refusal {
  reason: string;
  message: string;
}

/** A field that is accepted but cannot act on this node, and why. */
export interface IneffectiveField {
  field: string;
  why: string;
}

/** Volume sources the agent mounts itself; every other one is refused with its reason. */
const SERVED_VOLUMES = new Set(['hostPath', 'emptyDir', 'configMap', 'secret', 'downwardAPI', 'projected']);

function volumeWhy(kind: string): string {
  switch (kind) {
    case 'persistentVolumeClaim':
    case 'ephemeral':
      return 'claims are provisioned and attached by volume controllers and drivers, and this node runs none';
    case 'csi':
      return 'no CSI driver is registered on this node';
    case 'image':
      return 'mounting an image as a volume needs engine support that Docker 20.10 and containerd 1.6 lack';
    case 'gitRepo':
      return 'gitRepo is deprecated upstream and has no plugin here (clone into an emptyDir from an init container instead)';
    default:
      return `this node has no ${kind} volume plugin`;
  }
}

type Located = { c: Container; path: string };

function allContainers(pod: Pod): Located[] {
  return [
    ...(pod.spec.initContainers ?? []).map((c, i) => ({ c, path: `spec.initContainers[${i}]` })),
    ...pod.spec.containers.map((c, i) => ({ c, path: `spec.containers[${i}]` })),
  ];
}

const isStatic = (pod: Pod) => pod.metadata.annotations?.[CONFIG_SOURCE_ANNOTATION] !== 'api';

/** The first appArmorProfile for which `pick` holds. */
function appArmorField(pod: Pod, pick: (type: string) => boolean): string | undefined {
  const p = pod.spec.securityContext?.appArmorProfile;
  if (p && pick(p.type)) return 'spec.securityContext.appArmorProfile';
  for (const { c, path } of allContainers(pod)) {
    const cp = c.securityContext?.appArmorProfile;
    if (cp && pick(cp.type)) return `${path}.securityContext.appArmorProfile`;
  }
  return undefined;
}

/**
 * The first field of `pod` this node cannot honour, as an admission refusal; undefined when
 * it can run as written.
 */
export function unsupportedField(pod: Pod, node: NodeFeatures): Refusal | undefined {
  const spec = pod.spec;
  if (spec.os?.name && spec.os.name !== 'linux') {
    return { reason: 'PodOSNotSupported', message: `Failed to admit pod as the OS field doesn't match node OS (spec.os.name: ${spec.os.name}, node: linux)` };
  }
  const host = kernelHostname(pod, node.clusterDomain);
  if (host.length > MAX_KERNEL_HOSTNAME) {
    return { reason: 'HostnameTooLong', message: `spec.setHostnameAsFQDN: failed to construct FQDN from pod hostname and cluster domain, FQDN ${host} is too long (${MAX_KERNEL_HOSTNAME} characters is the max, ${host.length} characters requested)` };
  }
  // AppArmor is in force unless every profile asked for is Unconfined (apparmor isRequired);
  // Unconfined is what a host without AppArmor gives anyway.
  const required = appArmorField(pod, (t) => t !== 'Unconfined');
  if (required && !node.appArmor) return { reason: 'AppArmor', message: `Cannot enforce AppArmor: AppArmor is not enabled on the host (${required})` };
  // Where the kernel has AppArmor the engine applies its own default profile: no profile is
  // passed to it yet, so any asked for is refused rather than silently replaced.
  const any = node.appArmor ? appArmorField(pod, () => true) : undefined;
  if (any) return { reason: 'AppArmor', message: `Cannot enforce AppArmor: this agent does not pass AppArmor profiles to the engine yet (${any})` };
  if (spec.securityContext?.supplementalGroupsPolicy === 'Strict') {
    return { reason: 'SupplementalGroupsPolicyNotSupported', message: 'SupplementalGroupsPolicy=Strict is not supported in this node (spec.securityContext.supplementalGroupsPolicy): the engine always merges the image\'s groups' };
  }
  if (spec.hostUsers === false) {
    return { reason: 'UserNamespacesNotSupported', message: 'spec.hostUsers: false asks for a user namespace per pod, which the container engine here cannot create' };
  }
  if (spec.runtimeClassName !== undefined) {
    return { reason: 'RuntimeClassNotSupported', message: `spec.runtimeClassName: RuntimeClass ${JSON.stringify(spec.runtimeClassName)} cannot be used: this node runs every pod with its engine's default runtime` };
  }
  if (spec.resourceClaims?.length || spec.resources?.claims?.length) {
    const field = spec.resourceClaims?.length ? 'spec.resourceClaims' : 'spec.resources.claims';
    return { reason: 'ResourceClaimsNotSupported', message: `${field}: dynamic resource allocation needs an API server and a DRA driver, and this node has neither` };
  }
  for (const [i, v] of (spec.volumes ?? []).entries()) {
    const kind = Object.keys(v).find((k) => k !== 'name' && (v as unknown as Record<string, unknown>)[k] != null);
    if (kind && !SERVED_VOLUMES.has(kind)) {
      return { reason: 'VolumeNotSupported', message: `spec.volumes[${i}].${kind} (volume ${JSON.stringify(v.name)}): ${volumeWhy(kind)}` };
    }
    for (const [j, s] of (v.projected?.sources ?? []).entries()) {
      const src = s as Record<string, unknown>;
      const p = `spec.volumes[${i}].projected.sources[${j}]`;
      if (src.serviceAccountToken && isStatic(pod)) return { reason: 'VolumeNotSupported', message: `${p}.serviceAccountToken (volume ${JSON.stringify(v.name)}): static pods get no service account token` };
      for (const k of ['clusterTrustBundle', 'podCertificate']) {
        if (src[k]) return { reason: 'VolumeNotSupported', message: `${p}.${k} (volume ${JSON.stringify(v.name)}): needs an API server's certificates API, which this node does not use` };
      }
    }
  }
  for (const { c, path } of allContainers(pod)) {
    if (c.volumeDevices?.length) {
      return { reason: 'VolumeNotSupported', message: `${path}.volumeDevices: raw block devices come from persistentVolumeClaims, which this node cannot serve` };
    }
    if (c.resources?.claims?.length) {
      return { reason: 'ResourceClaimsNotSupported', message: `${path}.resources.claims: dynamic resource allocation needs an API server and a DRA driver, and this node has neither` };
    }
    if (c.restartPolicyRules?.length) {
      return { reason: 'ContainerRestartRulesNotSupported', message: `${path}.restartPolicyRules: per-container restart rules are not implemented by this agent` };
    }
    for (const [k, e] of (c.env ?? []).entries()) {
      if (e.valueFrom?.fileKeyRef) {
        return { reason: 'EnvFilesNotSupported', message: `${path}.env[${k}].valueFrom.fileKeyRef: environment variables read from files are not implemented by this agent` };
      }
    }
    for (const [k, m] of (c.volumeMounts ?? []).entries()) {
      if (m.recursiveReadOnly === 'Enabled') {
        return { reason: 'RecursiveReadOnlyNotSupported', message: `${path}.volumeMounts[${k}].recursiveReadOnly: Enabled needs recursive read-only mounts, which the container engine here does not support` };
      }
    }
    if (c.lifecycle?.stopSignal && !node.stopSignal) {
      return { reason: 'StopSignalNotSupported', message: `${path}.lifecycle.stopSignal: the container runtime here cannot set a container's stop signal` };
    }
  }
  return undefined;
}

const SCHEDULER_ONLY = 'only a scheduler acts on it, and a static pod is bound to this node from the start';

/** Fields accepted as written that have no effect on this node: one Warning each. */
export function ineffectiveFields(pod: Pod, node: NodeFeatures): IneffectiveField[] {
  const spec = pod.spec;
  const out: IneffectiveField[] = [];
  if (isStatic(pod)) {
    const na = spec.affinity?.nodeAffinity as Record<string, unknown> | undefined;
    if (na?.preferredDuringSchedulingIgnoredDuringExecution) {
      out.push({ field: 'spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution', why: `preferences rank nodes; ${SCHEDULER_ONLY}` });
    }
    for (const k of ['podAffinity', 'podAntiAffinity']) {
      if (spec.affinity?.[k]) out.push({ field: `spec.affinity.${k}`, why: `it places pods relative to other pods across nodes; ${SCHEDULER_ONLY}` });
    }
    if (spec.topologySpreadConstraints?.length) out.push({ field: 'spec.topologySpreadConstraints', why: `spreading needs several topology domains; ${SCHEDULER_ONLY}` });
    if (spec.schedulerName && spec.schedulerName !== 'default-scheduler') out.push({ field: 'spec.schedulerName', why: 'no scheduler places static pods' });
    if (spec.priorityClassName) {
      out.push({ field: 'spec.priorityClassName', why: 'priority classes are resolved by the API server\'s admission, which static pods skip (spec.priority is used as written; static pods count as critical for eviction anyway)' });
    }
    if (spec.preemptionPolicy) out.push({ field: 'spec.preemptionPolicy', why: `preemption is decided when scheduling; ${SCHEDULER_ONLY}` });
    if (spec.automountServiceAccountToken === true) out.push({ field: 'spec.automountServiceAccountToken', why: 'static pods get no service account token' });
  }
  const seLinux = (sc: { seLinuxOptions?: unknown } | undefined) => !!sc?.seLinuxOptions;
  if (!node.seLinux) {
    if (seLinux(spec.securityContext)) out.push({ field: 'spec.securityContext.seLinuxOptions', why: 'SELinux is not enabled on this host' });
    if (spec.securityContext?.seLinuxChangePolicy) out.push({ field: 'spec.securityContext.seLinuxChangePolicy', why: 'SELinux is not enabled on this host' });
    for (const { c, path } of allContainers(pod)) {
      if (seLinux(c.securityContext)) out.push({ field: `${path}.securityContext.seLinuxOptions`, why: 'SELinux is not enabled on this host' });
    }
  }
  // (With os.name linux, validation already refuses them.)
  if (spec.securityContext?.windowsOptions) out.push({ field: 'spec.securityContext.windowsOptions', why: 'this is a Linux node' });
  for (const { c, path } of allContainers(pod)) {
    if (c.securityContext?.windowsOptions) out.push({ field: `${path}.securityContext.windowsOptions`, why: 'this is a Linux node' });
    if (c.resizePolicy?.length && !node.resizeInPlace) {
      out.push({ field: `${path}.resizePolicy`, why: 'this runtime cannot resize a running container: an edit of its resources restarts it' });
    }
    (c.volumeMounts ?? []).forEach((m, k) => {
      if (m.recursiveReadOnly === 'IfPossible') out.push({ field: `${path}.volumeMounts[${k}].recursiveReadOnly`, why: 'the engine cannot make mounts recursively read-only; the mount is read-only at its top only' });
    });
  }
  return out;
}
