import type { ImageInfo, ImageService } from '../../cri/index.js';
import { RuntimeError } from '../../cri/index.js';
import type { Container, Pod } from '../../manifests/index.js';
import type { Clock } from '../../base/index.js';
import type { Logger } from '../log.js';
import type { ObjectData } from '../objects/store.js';
import { Backoff, IMAGE_PULL_BACKOFF } from '../vocab/index.js';
import { Waiting } from '../vocab/index.js';
import type { KeyringEntry } from './keyring.js';
import { lookup, parseDockerConfig } from './keyring.js';
import type { RegistryMirrors } from './mirrors.js';
import { mirrorCandidates } from './mirrors.js';
import type { CredentialProviders } from './providers.js';
import { goDurationMs, Puller } from './puller.js';
import { credentialHash, type PullRecords } from './records.js';
import { mergePulledRecord, mustAttemptPull, type PullCredentials, type PulledRecord, type PullSecretRef, type VerificationPolicy } from './verify.js';

// kubelet's image manager (pkg/kubelet/images/image_manager.go EnsureImageExists): the
// pull policy against what the engine has, the pull back-off per pod UID and image, the
// Pulling / Pulled / Failed / BackOff events with kubelet's wording, and the pull itself
// through the serial or parallel puller, with every credential that matches the image
// (the pod's imagePullSecrets first, then the node's) tried in turn. A present image that
// was pulled with a pod's Secret is given to another pod only as verify.ts decides.

export type Emit = (type: 'Normal' | 'Warning', reason: string, message: string) => void;

export interface ImageManagerOptions {
  runtime: ImageService;
  clock: Clock;
  log: Logger;
  /** A Secret of the pod's namespace (the only namespace a pod may take pull secrets from). */
  secret(namespace: string, name: string): ObjectData | undefined;
  /** Node-level docker config credentials (<root-dir>/config.json), read when it changes. */
  nodeCredentials?: () => KeyringEntry[];
  providers?: CredentialProviders;
  /** kubelet's serializeImagePulls (default true) and maxParallelImagePulls (unset: no limit). */
  serializeImagePulls: boolean;
  maxParallelImagePulls?: number;
  /** Mirrors bosun applies itself (Docker); on containerd they live in hosts.toml instead. */
  mirrors?: RegistryMirrors;
  /** Run a present image when an Always pull cannot reach the registry. */
  offlineFallback?: boolean;
  /**
   * kubelet's imagePullCredentialsVerificationPolicy (KubeletEnsureSecretPulledImages):
   * unset, a present image is free for every pod, as before kubelet 1.33.
   */
  verification?: { policy: VerificationPolicy; allowlist: readonly string[]; records: PullRecords };
  /** A successful pull: seconds including the wait for the puller, image size in bytes. */
  onPulled?: (seconds: number, sizeBytes: number) => void;
}

/** A pulled image's id and the credential that worked (none: anonymous). */
interface Pulled {
  id: string;
  used?: KeyringEntry;
}

function once<T>(f: () => T): () => T {
  let done = false;
  let v: T;
  return () => {
    if (!done) {
      v = f();
      done = true;
    }
    return v;
  };
}

export type PullFailure = 'unreachable' | 'notFound' | 'unauthorized' | 'other';

/**
 * What a failed pull says about the registry. Only a registry that could not be reached
 * lets the offline fallback run a present image: "not found" and "unauthorized" are
 * answers, and running an image the registry refuses or no longer has would hide them.
 */
export function classifyPullError(message: string): PullFailure {
  if (/unauthori[sz]ed|authentication required|no basic auth credentials|denied|forbidden|\b40[13]\b/i.test(message)) return 'unauthorized';
  if (/not found|manifest unknown|name unknown|\b404\b|does not exist/i.test(message)) return 'notFound';
  if (/connection refused|connect: |dial tcp|no such host|i\/o timeout|network is unreachable|no route to host|timed out|deadline exceeded|connection reset|EOF|TLS handshake timeout|server misbehaving/i.test(message)) return 'unreachable';
  return 'other';
}

export class ImageManager {
  private readonly backoff: Backoff;
  private readonly puller: Puller;
  /** The last failure per back-off key, for the ImagePullBackOff message. */
  private readonly lastError = new Map<string, string>();
  private ready?: Promise<void>;

  constructor(private readonly opts: ImageManagerOptions) {
    this.backoff = new Backoff(opts.clock, IMAGE_PULL_BACKOFF);
    const limit = opts.serializeImagePulls ? 1 : (opts.maxParallelImagePulls ?? Number.POSITIVE_INFINITY);
    this.puller = new Puller(limit, () => opts.clock.now());
  }

  /** The pod is gone: its pull back-offs go too. */
  forgetPod(uid: string): void {
    this.backoff.forgetPrefix(`${uid}_`);
    for (const k of this.lastError.keys()) if (k.startsWith(`${uid}_`)) this.lastError.delete(k);
  }

  /** Returns the image's id; throws Waiting with kubelet's reason when the container cannot start. */
  async ensureImageExists(pod: Pod, c: Container, emit: Emit): Promise<string | undefined> {
    return (await this.ensureImage(pod, c, emit)).id;
  }

  /**
   * ensureImageExists, with the runtime's record of the image when it was found present and
   * not pulled: the container's start needs its user, and need not ask the engine again.
   */
  async ensureImage(pod: Pod, c: Container, emit: Emit): Promise<{ id: string | undefined; present?: ImageInfo }> {
    const image = c.image ?? '';
    const policy = c.imagePullPolicy ?? 'IfNotPresent';
    await (this.ready ??= this.recoverIntents().catch((err: unknown) => this.opts.log.warn({ err: (err as Error).message }, 'cannot read the pulls a previous agent left unfinished')));
    const present = await this.opts.runtime.imageStatus(image).catch(() => undefined);
    const podKeyring = once(() => this.podKeyring(pod, emit));
    if (present && policy !== 'Always') {
      if (!this.opts.verification) {
        emit('Normal', 'Pulled', `Container image "${image}" already present on machine`);
        return { id: present.id, present };
      }
      if (!(await this.mustVerify(image, present.id, podKeyring()))) {
        emit('Normal', 'Pulled', `Container image "${image}" already present on machine and can be accessed by the pod`);
        return { id: present.id, present };
      }
    }
    if (policy === 'Never') {
      // Absent, or present but pulled with credentials this pod does not hold.
      const message = `Container image "${image}" is not present with pull policy of Never`;
      emit('Warning', 'ErrImageNeverPull', message);
      throw new Waiting('ErrImageNeverPull', message);
    }
    const key = `${pod.metadata.uid}_${image}`;
    if (this.backoff.isInBackOffSinceUpdate(key)) {
      const message = `Back-off pulling image "${image}"`;
      emit('Normal', 'BackOff', message);
      // The last pull's error stays visible through the back-off, as in kubelet 1.33+.
      const prev = this.lastError.get(key);
      throw new Waiting('ImagePullBackOff', prev ? `${message}: ${prev}` : message);
    }
    emit('Normal', 'Pulling', `Pulling image "${image}"`);
    const creds = await this.credentials(podKeyring(), image);
    const records = this.opts.verification?.records;
    await records?.startPull(image).catch((err: unknown) => this.opts.log.warn({ image, err: (err as Error).message }, 'cannot record the pull intent'));
    try {
      const t = await this.puller.run(() => this.pull(image, creds));
      const status = await this.opts.runtime.imageStatus(image).catch(() => undefined);
      const size = status?.size ?? 0;
      emit('Normal', 'Pulled', `Successfully pulled image "${image}" in ${goDurationMs(t.pullMs)} (${goDurationMs(t.totalMs)} including waiting). Image size: ${size} bytes.`);
      this.opts.onPulled?.(t.totalMs / 1000, size);
      this.backoff.gc();
      this.lastError.delete(key);
      const used = t.value.used?.secret;
      await this.remember(image, status?.id ?? t.value.id, used ? { kubernetesSecrets: [{ ...used, credentialHash: credentialHash(t.value.used!.auth) }] } : { nodePodsAccessible: true });
      return { id: t.value.id };
    } catch (err) {
      const detail = (err as Error).message;
      emit('Warning', 'Failed', `Failed to pull image "${image}": ${detail}`);
      // The waiting message is the runtime's error itself, as kubelet reports it (the event names the image).
      if (err instanceof RuntimeError && err.code === 'InvalidImageName') throw new Waiting('InvalidImageName', detail);
      if (this.opts.offlineFallback && present && classifyPullError(detail) === 'unreachable') {
        emit('Warning', 'PulledOffline', `Registry unreachable; running image "${image}" present on the node (${present.id}) despite pull policy Always`);
        return { id: present.id, present };
      }
      this.backoff.next(key);
      this.lastError.set(key, `ErrImagePull: ${detail}`);
      throw new Waiting('ErrImagePull', detail);
    } finally {
      await records?.endPull(image).catch(() => undefined);
    }
  }

  /** kubelet's MustAttemptImagePull for a present image, with the pod's pull secrets that match it. */
  private async mustVerify(image: string, imageRef: string, podKeyring: KeyringEntry[]): Promise<boolean> {
    const v = this.opts.verification!;
    let record: PulledRecord | undefined;
    let intent = false;
    try {
      record = await v.records.pulled(imageRef);
      intent = !record && (await v.records.pullIntent(image));
    } catch (err) {
      // Records that cannot be read decide nothing: the registry is asked.
      this.opts.log.warn({ image, err: (err as Error).message }, 'image pull record unreadable; verifying the credentials');
      return true;
    }
    const podSecrets: PullSecretRef[] = lookup(podKeyring, image).flatMap((e) => (e.secret ? [{ ...e.secret, credentialHash: credentialHash(e.auth) }] : []));
    const d = mustAttemptPull({ policy: v.policy, allowlist: v.allowlist, image, imageRef, record, pullIntent: intent, podSecrets });
    if (d.remember) await this.remember(image, imageRef, { kubernetesSecrets: [d.remember] });
    return d.mustPull;
  }

  private async remember(image: string, imageRef: string, creds: PullCredentials | undefined): Promise<void> {
    const records = this.opts.verification?.records;
    if (!records) return;
    try {
      const next = mergePulledRecord(await records.pulled(imageRef).catch(() => undefined), imageRef, image, creds, new Date(this.opts.clock.now()));
      if (next) await records.writePulled(next);
    } catch (err) {
      this.opts.log.warn({ image, err: (err as Error).message }, 'cannot write the image pull record');
    }
  }

  /**
   * At the first pull decision after a start: pulls a previous agent started and never saw
   * end (if the image is there, the node pulled it, credentials unknown), and the records of
   * images no longer on the node (kubelet prunes them at image GC; here once per start).
   */
  private async recoverIntents(): Promise<void> {
    const records = this.opts.verification?.records;
    if (!records) return;
    for (const image of await records.leftoverIntents()) {
      const st = await this.opts.runtime.imageStatus(image).catch(() => undefined);
      if (!st) continue;
      await this.remember(image, st.id, undefined);
      await records.dropIntent(image).catch(() => undefined);
    }
    const present = await this.opts.runtime.listImages().then((l) => new Set(l.map((i) => i.id)), () => undefined);
    if (!present) return;
    for (const rec of await records.listPulled()) if (!present.has(rec.imageRef)) await records.deletePulled(rec.imageRef).catch(() => undefined);
  }

  /** The pod's imagePullSecrets, from its own namespace (the only one a pod may take them from). */
  private podKeyring(pod: Pod, emit: Emit): KeyringEntry[] {
    const entries: KeyringEntry[] = [];
    const missing: string[] = [];
    for (const ref of pod.spec.imagePullSecrets ?? []) {
      const s = this.opts.secret(pod.metadata.namespace, ref.name);
      const data = s?.['.dockerconfigjson'] ?? s?.['.dockercfg'];
      if (!data) {
        missing.push(ref.name);
        continue;
      }
      try {
        const secret = { namespace: pod.metadata.namespace, name: ref.name, uid: '' };
        entries.push(...parseDockerConfig(data.toString('utf8'), `secret ${pod.metadata.namespace}/${ref.name}`).map((e) => ({ ...e, secret })));
      } catch (err) {
        missing.push(ref.name);
        this.opts.log.warn({ pod: `${pod.metadata.namespace}/${pod.metadata.name}` }, (err as Error).message);
      }
    }
    if (missing.length > 0) {
      emit('Warning', 'FailedToRetrieveImagePullSecret', `Unable to retrieve some image pull secrets (${missing.join(', ')}); attempting to pull the image may not succeed.`);
    }
    return entries;
  }

  /** The pod's keyring, then the node's docker config, then the exec providers. */
  private async credentials(podKeyring: KeyringEntry[], image: string): Promise<KeyringEntry[][]> {
    const fromProviders = this.opts.providers
      ? await this.opts.providers.lookup(image, (provider, message) => this.opts.log.warn({ provider, image }, message))
      : [];
    // Matched per candidate reference at pull time (a mirror has keys of its own), in
    // kubelet's union order: the pod's keyring, then the node's.
    return [podKeyring, this.opts.nodeCredentials?.() ?? [], fromProviders];
  }

  private async pull(image: string, creds: KeyringEntry[][]): Promise<Pulled> {
    const candidates = mirrorCandidates(this.opts.mirrors ?? {}, image);
    let last: unknown;
    for (const cand of candidates) {
      try {
        const got = await this.pullWithCredentials(cand.ref, creds.flatMap((group) => lookup(group, cand.ref)));
        if (cand.mirror) {
          // A digest names content, not a repository: the engine finds it under the mirror's name.
          if (!image.includes('@')) await this.opts.runtime.tagImage(cand.ref, image);
          this.opts.log.info({ image, mirror: cand.mirror }, 'pulled from mirror');
        }
        return got;
      } catch (err) {
        last = err;
        if (cand.mirror) this.opts.log.info({ image, mirror: cand.mirror, err: (err as Error).message }, 'mirror failed, trying the next endpoint');
      }
    }
    throw last;
  }

  /** Anonymous when nothing matches; otherwise each match in turn until one pull succeeds. */
  private async pullWithCredentials(ref: string, creds: KeyringEntry[]): Promise<Pulled> {
    if (creds.length === 0) return { id: await this.opts.runtime.pullImage(ref) };
    const errors: Error[] = [];
    for (const c of creds) {
      try {
        return { id: await this.opts.runtime.pullImage(ref, c.auth), used: c };
      } catch (err) {
        errors.push(err as Error);
      }
    }
    if (errors.length === 1) throw errors[0];
    const e = new RuntimeError(errors.some((x) => x instanceof RuntimeError && x.code === 'InvalidImageName') ? 'InvalidImageName' : 'ErrImagePull', `[${errors.map((x) => x.message).join(', ')}]`);
    throw e;
  }
}
