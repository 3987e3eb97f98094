import { isAbsolute, join } from 'node:path';
import { beforeFirst } from '../../base/index.js';
import type { LinuxContainerSecurityContext, SecurityProfile } from '../../cri/index.js';
import type { Container, Pod, SeccompProfile, SecurityContext } from '../../manifests/index.js';

// The Pod's securityContext (pod level, then container level: the container wins) to the
// runtime's LinuxContainerSecurityContext, as kubelet's kuberuntime does
// (security_context.go determineEffectiveSecurityContext, security_context_others.go
// verifyRunAsNonRoot, helpers.go getSeccompProfile). Pure: the image's user comes in.

/** The container cannot be configured: the container waits with CreateContainerConfigError. */
export class SecurityError extends Error {}

export interface SecurityOptions {
  /** The image's USER ("uid", "uid:gid", "name", "name:group"; empty or undefined: root). */
  imageUser?: string;
  /** kubelet's seccompDefault: RuntimeDefault instead of Unconfined when nothing is set. */
  seccompDefault?: boolean;
  /** Where Localhost seccomp profiles live (kubelet: <root-dir>/seccomp). */
  seccompProfileRoot: string;
}

/** securitycontext.DetermineEffectiveSecurityContext: pod-level fields, overridden per container. */
export function effectiveSecurityContext(pod: Pod, c: Container): SecurityContext {
  const p = pod.spec.securityContext ?? {};
  const sc: SecurityContext = { ...(c.securityContext ?? {}) };
  if (sc.runAsUser === undefined && p.runAsUser !== undefined) sc.runAsUser = p.runAsUser;
  if (sc.runAsGroup === undefined && p.runAsGroup !== undefined) sc.runAsGroup = p.runAsGroup;
  if (sc.runAsNonRoot === undefined && p.runAsNonRoot !== undefined) sc.runAsNonRoot = p.runAsNonRoot;
  if (sc.seccompProfile === undefined && p.seccompProfile !== undefined) sc.seccompProfile = p.seccompProfile;
  return sc;
}

/** The image user's uid, or its name when it is not numeric (dockershim's getUserFromImageUser). */
export function imageUid(user: string | undefined): { uid?: number; username?: string } {
  const u = beforeFirst(user ?? '', ':');
  // No user: the image runs as root.
  if (u === '') return { uid: 0 };
  if (/^\d+$/.test(u)) return { uid: Number(u) };
  return { username: u };
}

function podFullName(pod: Pod): string {
  return `${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})`;
}

/** runAsNonRoot, with kubelet's messages. */
export function verifyRunAsNonRoot(pod: Pod, c: Container, sc: SecurityContext, imageUser: string | undefined): void {
  if (!sc.runAsNonRoot) return;
  const where = `(pod: "${podFullName(pod)}", container: ${c.name})`;
  if (sc.runAsUser !== undefined) {
    if (sc.runAsUser === 0) throw new SecurityError(`container's runAsUser breaks non-root policy ${where}`);
    return;
  }
  const img = imageUid(imageUser);
  if (img.uid === 0) throw new SecurityError(`container has runAsNonRoot and image will run as root ${where}`);
  if (img.username !== undefined) {
    throw new SecurityError(`container has runAsNonRoot and image has non-numeric user (${img.username}), cannot verify user is non-root ${where}`);
  }
}

function profile(p: SeccompProfile, root: string): SecurityProfile {
  if (p.type === 'Localhost') {
    if (!p.localhostProfile) throw new SecurityError('localhostProfile must be set if seccompProfile type is Localhost.');
    // Upstream validates it as a local descending path (validateLocalDescendingPath); the
    // manifest may not have met the API server, so the agent checks again before reading it
    // as root. The symlink check is prepare.ts's, where the disk is.
    const rel = p.localhostProfile;
    if (isAbsolute(rel) || rel.split('/').includes('..')) {
      throw new SecurityError(`seccompProfile.localhostProfile ${JSON.stringify(rel.slice(0, 256))} must be a relative path below the seccomp profile root without '..'`);
    }
    return { profileType: 'Localhost', localhostRef: join(root, rel) };
  }
  return { profileType: p.type };
}

/** getSeccompProfile: the container's field, else the pod's, else RuntimeDefault or Unconfined. */
export function seccompProfile(pod: Pod, c: Container, opts: Pick<SecurityOptions, 'seccompDefault' | 'seccompProfileRoot'>): SecurityProfile {
  const chosen = c.securityContext?.seccompProfile ?? pod.spec.securityContext?.seccompProfile;
  if (chosen) return profile(chosen, opts.seccompProfileRoot);
  return { profileType: opts.seccompDefault ? 'RuntimeDefault' : 'Unconfined' };
}

/**
 * The runtime's security context for one container. Throws SecurityError when runAsNonRoot
 * cannot be honoured. When neither runAsUser nor runAsGroup is set the image's USER is left
 * to the runtime, so an image's "uid:gid" keeps its group.
 */
export function containerSecurityContext(pod: Pod, c: Container, opts: SecurityOptions): LinuxContainerSecurityContext {
  const sc = effectiveSecurityContext(pod, c);
  verifyRunAsNonRoot(pod, c, sc, opts.imageUser);
  const out: LinuxContainerSecurityContext = {};
  if (sc.runAsUser !== undefined) out.runAsUser = sc.runAsUser;
  if (sc.runAsGroup !== undefined) {
    out.runAsGroup = sc.runAsGroup;
    // kubelet fills the user from the image when only the group is set.
    if (out.runAsUser === undefined) {
      const img = imageUid(opts.imageUser);
      if (img.username !== undefined) out.runAsUsername = img.username;
      else out.runAsUser = img.uid ?? 0;
    }
  }
  const podSc = pod.spec.securityContext ?? {};
  const groups = [...(podSc.fsGroup !== undefined ? [podSc.fsGroup] : []), ...(podSc.supplementalGroups ?? [])];
  if (groups.length > 0) out.supplementalGroups = groups;
  const add = sc.capabilities?.add ?? [];
  const drop = sc.capabilities?.drop ?? [];
  if (add.length > 0 || drop.length > 0) out.capabilities = { ...(add.length ? { addCapabilities: add } : {}), ...(drop.length ? { dropCapabilities: drop } : {}) };
  if (sc.privileged) out.privileged = true;
  if (sc.readOnlyRootFilesystem) out.readonlyRootfs = true;
  // AddNoNewPrivileges: only an explicit allowPrivilegeEscalation: false.
  if (sc.allowPrivilegeEscalation === false) out.noNewPrivs = true;
  out.seccomp = seccompProfile(pod, c, opts);
  return out;
}
