import { parseImageName } from './reference.js';

// kubelet's check that a present image may be used by the pod asking for it
// (KubeletEnsureSecretPulledImages; pkg/kubelet/images/pullmanager): an image the node
// pulled with a pod's pull secret is not free for every pod. A pod that runs it with
// IfNotPresent or Never must present credentials that were seen to work for that image
// (the same Secret, or one with the same credentials), else the registry is asked again
// with the pod's own credentials. Decisions here; the records on disk in records.ts.

export const VERIFICATION_POLICIES = ['NeverVerify', 'NeverVerifyPreloadedImages', 'NeverVerifyAllowlistedImages', 'AlwaysVerify'] as const;
export type VerificationPolicy = (typeof VERIFICATION_POLICIES)[number];

/** A pull secret as the records keep it: where it came from and a hash of its credentials, never the credentials. */
export interface PullSecretRef {
  uid: string;
  namespace: string;
  name: string;
  credentialHash: string;
}

/** Who may use an image: every pod of the node (pulled anonymously or with node credentials), or the holders of these secrets. */
export interface PullCredentials {
  nodePodsAccessible?: boolean;
  kubernetesSecrets?: PullSecretRef[];
}

/** kubelet's ImagePulledRecord: per image id, the credentials that worked, per image name without tag or digest. */
export interface PulledRecord {
  imageRef: string;
  lastUpdatedTime: string;
  credentialMapping: Record<string, PullCredentials>;
}

/** The image's name without tag and digest, normalized ("busybox" -> "docker.io/library/busybox"). */
export function imageNoTagDigest(image: string): string {
  const n = parseImageName(image);
  return `${n.registry}/${n.repository}`;
}

/**
 * One entry of preloadedImagesVerificationAllowlist: an image name without tag or digest
 * ("registry.io/app"), or a prefix ending in "/*" ("registry.io/*"). Throws a message
 * naming the pattern.
 */
export function parseAllowlistPattern(pattern: string): { exact?: string; prefix?: string } {
  if (pattern !== pattern.trim()) throw new Error(`leading/trailing spaces are not allowed: ${JSON.stringify(pattern)}`);
  const wildcard = pattern.endsWith('/*');
  const body = wildcard ? pattern.slice(0, -1) : pattern;
  if (body === '') throw new Error(`the pattern is too short: ${JSON.stringify(pattern)}`);
  if (body.includes('*')) throw new Error(`only patterns ending with "/*" may hold a wildcard: ${JSON.stringify(pattern)}`);
  if (wildcard) {
    if (body === '/') throw new Error(`at least a registry host is required: ${JSON.stringify(pattern)}`);
    return { prefix: body };
  }
  const n = parseImageName(body);
  if (n.tag !== undefined || n.digest !== undefined) throw new Error(`neither tag nor digest is accepted: ${JSON.stringify(pattern)}`);
  if (!/^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-]+[a-z0-9]+)*)*$/.test(body)) throw new Error(`not an image name: ${JSON.stringify(pattern)}`);
  // Compared with the normalized name: "busybox" would never match anything.
  if (imageNoTagDigest(body) !== body) throw new Error(`write the image's full name (${imageNoTagDigest(body)}): ${JSON.stringify(pattern)}`);
  return { exact: body };
}

/** Whether the policy wants the pod's credentials checked for this present image. */
export function requiresVerification(policy: VerificationPolicy, allowlist: readonly string[], image: string, pulledByKubelet: boolean): boolean {
  switch (policy) {
    case 'NeverVerify':
      return false;
    case 'NeverVerifyPreloadedImages':
      return pulledByKubelet;
    case 'AlwaysVerify':
      return true;
    case 'NeverVerifyAllowlistedImages': {
      const name = imageNoTagDigest(image);
      return !allowlist.some((p) => {
        const parsed = parseAllowlistPattern(p);
        return parsed.exact ? parsed.exact === name : name.startsWith(parsed.prefix!);
      });
    }
  }
}

export interface VerifyInput {
  policy: VerificationPolicy;
  allowlist: readonly string[];
  image: string;
  /** The present image's id; none: not present. */
  imageRef: string | undefined;
  record: PulledRecord | undefined;
  /** A pull of this image was started and never finished (the agent stopped during it). */
  pullIntent: boolean;
  /** The pod's pull secrets whose credentials match the image. */
  podSecrets: readonly PullSecretRef[];
}

/** Past this many secrets for one image, a match is no longer remembered (bounds the record under namespace churn). */
const REMEMBER_LIMIT = 100;

export interface VerifyDecision {
  /** Ask the registry (with the pod's credentials) before the image may run. */
  mustPull: boolean;
  /** A secret of the pod accepted by the records: remember it too (same credentials, or the same secret updated). */
  remember?: PullSecretRef;
}

/** kubelet's MustAttemptImagePull. */
export function mustAttemptPull(i: VerifyInput): VerifyDecision {
  if (!i.imageRef) return { mustPull: true };
  const pulledByKubelet = !!i.record || i.pullIntent;
  if (!requiresVerification(i.policy, i.allowlist, i.image, pulledByKubelet)) return { mustPull: false };
  const cached = i.record?.credentialMapping[imageNoTagDigest(i.image)];
  if (!cached) return { mustPull: true };
  if (cached.nodePodsAccessible) return { mustPull: false };
  const known = cached.kubernetesSecrets ?? [];
  for (const s of i.podSecrets) {
    for (const k of known) {
      const sameHash = k.credentialHash !== '' && s.credentialHash === k.credentialHash;
      const sameSecret = s.uid === k.uid && s.namespace === k.namespace && s.name === k.name;
      const remember = known.length < REMEMBER_LIMIT ? { remember: s } : {};
      if (sameHash) return sameSecret ? { mustPull: false } : { mustPull: false, ...remember };
      // The same Secret whose credentials changed: still the holder the registry accepted.
      if (sameSecret) return { mustPull: false, ...remember };
    }
  }
  return { mustPull: true };
}

/**
 * The record after a pull (or a match) with these credentials; undefined when nothing
 * changed. Node-wide access wins over secrets; secrets are kept unique per uid,
 * namespace and name, the newest hash kept.
 */
export function mergePulledRecord(record: PulledRecord | undefined, imageRef: string, image: string, creds: PullCredentials | undefined, now: Date): PulledRecord | undefined {
  const name = imageNoTagDigest(image);
  if (!record) {
    return { imageRef, lastUpdatedTime: now.toISOString(), credentialMapping: creds && (creds.nodePodsAccessible || creds.kubernetesSecrets?.length) ? { [name]: copy(creds) } : {} };
  }
  if (!creds || (!creds.nodePodsAccessible && !creds.kubernetesSecrets?.length)) return undefined;
  const current = record.credentialMapping[name];
  let next: PullCredentials;
  if (!current) next = copy(creds);
  else if (current.nodePodsAccessible) return undefined;
  else if (creds.nodePodsAccessible) next = { nodePodsAccessible: true };
  else {
    const byKey = new Map((current.kubernetesSecrets ?? []).map((s) => [`${s.namespace}/${s.name}/${s.uid}`, s]));
    let changed = false;
    for (const s of creds.kubernetesSecrets ?? []) {
      const k = `${s.namespace}/${s.name}/${s.uid}`;
      if (byKey.get(k)?.credentialHash !== s.credentialHash) {
        byKey.set(k, { ...s });
        changed = true;
      }
    }
    if (!changed) return undefined;
    next = { kubernetesSecrets: [...byKey.values()].sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name) || a.uid.localeCompare(b.uid)) };
  }
  return { imageRef, lastUpdatedTime: now.toISOString(), credentialMapping: { ...record.credentialMapping, [name]: next } };
}

function copy(c: PullCredentials): PullCredentials {
  return c.nodePodsAccessible ? { nodePodsAccessible: true } : { kubernetesSecrets: (c.kubernetesSecrets ?? []).map((s) => ({ ...s })) };
}
