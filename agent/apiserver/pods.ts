import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KubeObject, Pod, PodCondition, PodStatus } from '../../manifests/index.js';
import { applyPodDefaults, CONFIG_HASH_ANNOTATION, CONFIG_MIRROR_ANNOTATION, CONFIG_SEEN_ANNOTATION, CONFIG_SOURCE_ANNOTATION, formatRFC3339Nano } from '../../manifests/index.js';
import type { Logger } from '../log.js';
import { ApiRequestError, type ApiClient } from './client.js';
import { Reflector, type KObj } from './reflector.js';
import { podReferences } from './refs.js';
import { KUBELET_CONDITIONS } from '../vocab/index.js';

// Pods assigned to this node by the API server: list + watch spec.nodeName=<node> (a
// Reflector), turned into desired pods (source "api", name and UID kept as given), saved to a
// checkpoint for starts without the API server; their status written back to pods/<name>/status
// when it changes (coalesced per pod, retried until it lands); pods deleted through the API
// (deletionTimestamp) removed with grace period 0 once the agent has stopped them; and a
// mirror pod kept in the API for each static pod.

export interface ApiPodsOptions {
  client: ApiClient;
  log: Logger;
  nodeName: string;
  rootDir: string;
  /** The API pods changed (or came from the checkpoint). */
  onPods: (pods: Pod[]) => void;
  /** True when nothing of the pod runs any more (its containers are stopped). */
  stopped: (uid: string) => boolean;
  /** The Node as owner of mirror pods; undefined until the Node is registered. */
  nodeOwner: () => Record<string, unknown> | undefined;
  /** How long to wait for the first list before the checkpoint is used. */
  checkpointAfterMs?: number;
}

interface StatusEntry {
  namespace: string;
  name: string;
  uid: string;
  status: PodStatus;
  static: boolean;
}

export function checkpointPath(rootDir: string): string {
  return join(rootDir, 'checkpoints', 'api-pods.json');
}

/**
 * Writes the checkpoint one write at a time, the latest set only: a write outlasting the
 * debounce on a loaded machine would otherwise share its temporary file with the next one,
 * whose rename then finds the file already moved (ENOENT) or moves a half-written one.
 */
export class CheckpointWriter {
  private latest?: Pod[];
  private chain = Promise.resolve();

  constructor(private readonly rootDir: string, private readonly log: Logger) {}

  save(pods: Pod[]): void {
    this.latest = pods;
    this.chain = this.chain.then(() => this.write());
  }

  /** Resolves when every save so far is on disk (or failed and was logged). */
  idle(): Promise<void> {
    return this.chain;
  }

  private async write(): Promise<void> {
    const pods = this.latest;
    // An earlier write in the chain already wrote this set.
    if (!pods) return;
    this.latest = undefined;
    const file = checkpointPath(this.rootDir);
    try {
      await mkdir(join(this.rootDir, 'checkpoints'), { recursive: true });
      // Pod specs may carry env values: readable by root only.
      await writeFile(`${file}.tmp`, JSON.stringify({ savedAt: new Date().toISOString(), pods }), { mode: 0o600 });
      await rename(`${file}.tmp`, file);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'pod checkpoint not saved');
    }
  }
}

function stripForCompare(o: KObj): string {
  const { resourceVersion: _rv, managedFields: _mf, ...meta } = o.metadata as Record<string, unknown>;
  return JSON.stringify({ meta, spec: o.spec, gates: gateConditions(o).map((c) => [c.type, c.status]) });
}

/**
 * The conditions of the API pod that its readiness gates name. Others set them (a controller,
 * `kubectl patch --subresource=status`); the node reads them to decide Ready, and a change of
 * one is a change of the pod (kubelet's HandlePodReconcile syncs the pod when
 * NeedToReconcilePodReadiness): the status itself is not the node's input otherwise.
 */
export function gateConditions(o: KObj): PodCondition[] {
  const gates = new Set(((o.spec as Pod['spec'] | undefined)?.readinessGates ?? []).map((g) => g.conditionType));
  if (gates.size === 0) return [];
  const conds = (o as { status?: PodStatus }).status?.conditions ?? [];
  return conds.filter((c) => gates.has(c.type) && !KUBELET_CONDITIONS.has(c.type));
}

/**
 * The strategic-merge patch that makes the pod's status this one. Conditions and container
 * statuses merge by key, so a field the new status leaves out would keep its old value (a
 * Ready condition turned True would keep the reason ContainersNotReady): such fields are
 * nulled, as kubelet's two-way merge patch from the old status does.
 */
/**
 * Whether the API object still holds the phase and condition statuses the node reported.
 * Others write them too (the node lifecycle controller sets Ready=False on every pod of a
 * node it lost): kubelet's status manager compares with the pod the API server has and
 * writes its own again; comparing with what was last sent would leave theirs for good.
 */
export function statusHeld(api: PodStatus | undefined, ours: PodStatus): boolean {
  if (!api || api.phase !== ours.phase) return false;
  const have = new Map((api.conditions ?? []).map((c) => [c.type, c.status]));
  return (ours.conditions ?? []).every((c) => !KUBELET_CONDITIONS.has(c.type) || have.get(c.type) === c.status);
}

export function statusPatch(uid: string, status: PodStatus, written?: PodStatus): string {
  const st = status as unknown as Record<string, unknown>;
  // Only the condition types kubelet owns: a readiness gate's condition is its setter's, and
  // the node's copy of it may be older than the API's (kubelet's mergePodStatus keeps the API's).
  let conditions: Record<string, unknown>[] | undefined = status.conditions?.filter((c) => KUBELET_CONDITIONS.has(c.type)).map((c) => ({ reason: null, message: null, ...c }));
  // A condition merges by type, so one the node no longer reports (a resize that is no
  // longer pending) stays until it is deleted by name, as kubelet's two-way merge patch
  // does. Only the types kubelet owns: readiness gates and DisruptionTarget belong to others.
  const gone = (written?.conditions ?? []).filter((c) => KUBELET_CONDITIONS.has(c.type) && !status.conditions?.some((n) => n.type === c.type));
  if (gone.length) conditions = [...(conditions ?? []), ...gone.map((c) => ({ type: c.type, $patch: 'delete' }))];
  const states = (x: unknown) => ({ waiting: null, running: null, terminated: null, ...(x as object | undefined) });
  const containers = (list: unknown) => (list as Record<string, unknown>[] | undefined)?.map((c) => ({ ...c, state: states(c.state), lastState: states(c.lastState) }));
  const out: Record<string, unknown> = { ...st, reason: st.reason ?? null, message: st.message ?? null };
  if (conditions) out.conditions = conditions;
  for (const k of ['containerStatuses', 'initContainerStatuses', 'ephemeralContainerStatuses']) if (st[k]) out[k] = containers(st[k]);
  return JSON.stringify({ metadata: { uid }, status: out });
}

/** Why NodeRestriction would refuse a mirror of this static pod (admitPodCreate), or undefined. */
export function mirrorRefused(p: Pod): string | undefined {
  if (p.spec.serviceAccountName || p.spec.serviceAccount) return 'it names a service account';
  const refs = podReferences(p);
  if (refs.some((r) => r.kind === 'Secret')) return 'it references a Secret';
  if (refs.some((r) => r.kind === 'ConfigMap')) return 'it references a ConfigMap';
  if ((p.spec.volumes ?? []).some((v) => v.persistentVolumeClaim)) return 'it references a PersistentVolumeClaim';
  return undefined;
}

export class ApiPods {
  readonly reflector: Reflector;
  private desired = new Map<string, { cmp: string; pod: Pod }>();
  private seen = new Map<string, Date>();
  private mirrors = new Map<string, KObj>();
  private apiPods = new Map<string, KObj>();
  private staticPods: Pod[] = [];
  private statuses = new Map<string, StatusEntry>();
  /** Last status written, by the UID of the object it was written to. */
  private sent = new Map<string, string>();
  private deleting = new Set<string>();
  private timer?: NodeJS.Timeout;
  private checkpointTimer?: NodeJS.Timeout;
  private readonly checkpoint: CheckpointWriter;
  private work = Promise.resolve();
  private workQueued = false;
  private stopped = false;
  /** Set once pods were handed on (from a list or the checkpoint). */
  ready = false;
  fromCheckpoint = false;
  readonly stats = { statusPatches: 0, statusConflicts: 0, mirrorCreates: 0, mirrorDeletes: 0, deletes: 0 };
  private reported = new Map<string, string>();
  /** Static pods NodeRestriction would refuse a mirror for: said once each. */
  private noMirror = new Set<string>();

  constructor(private readonly o: ApiPodsOptions) {
    this.checkpoint = new CheckpointWriter(o.rootDir, o.log);
    this.reflector = new Reflector({
      client: o.client, path: '/api/v1/pods', kind: 'Pod', apiVersion: 'v1', fieldSelector: `spec.nodeName=${o.nodeName}`, log: o.log,
      onChange: (items) => this.changed(items),
    });
  }

  async start(): Promise<void> {
    this.reflector.start();
    this.checkpointTimer = setTimeout(() => void this.useCheckpoint(), this.o.checkpointAfterMs ?? 3000);
    this.timer = setInterval(() => this.kick(), 2000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.checkpointTimer);
    await this.reflector.stop();
    await this.work;
    await this.checkpoint.idle();
  }

  /** The API server could not be listed in time: the last known set keeps the pods running. */
  private async useCheckpoint(): Promise<void> {
    if (this.reflector.listed || this.stopped) return;
    let pods: Pod[];
    try {
      pods = (JSON.parse(await readFile(checkpointPath(this.o.rootDir), 'utf8')) as { pods: Pod[] }).pods;
    } catch {
      return; // no checkpoint: nothing was assigned before, or this is the first start
    }
    if (this.reflector.listed) return;
    this.o.log.warn({ pods: pods.length }, 'API server not reachable: running the pods of the checkpoint until it answers');
    this.fromCheckpoint = true;
    this.ready = true;
    for (const p of pods) this.desired.set(p.metadata.uid, { cmp: '', pod: p });
    this.o.onPods(pods);
  }

  private changed(items: ReadonlyMap<string, KObj>): void {
    const next = new Map<string, { cmp: string; pod: Pod }>();
    this.mirrors.clear();
    this.apiPods.clear();
    for (const o of items.values()) {
      if (o.metadata.annotations && (o.metadata.annotations as Record<string, string>)[CONFIG_MIRROR_ANNOTATION] !== undefined) {
        this.mirrors.set(`${o.metadata.namespace}/${o.metadata.name}`, o);
        continue;
      }
      const uid = o.metadata.uid ?? '';
      this.apiPods.set(uid, o);
      const cmp = stripForCompare(o);
      const prev = this.desired.get(uid);
      if (prev && prev.cmp === cmp) {
        next.set(uid, prev);
        continue;
      }
      next.set(uid, { cmp, pod: this.toPod(o) });
    }
    for (const uid of this.seen.keys()) if (!next.has(uid)) this.seen.delete(uid);
    this.desired = next;
    this.fromCheckpoint = false;
    this.ready = true;
    const pods = [...next.values()].map((x) => x.pod);
    this.o.onPods(pods);
    this.saveCheckpoint(pods);
    this.kick();
  }

  private toPod(o: KObj): Pod {
    const { status: _s, ...rest } = o;
    const pod = applyPodDefaults(rest as KubeObject);
    pod.metadata.uid = o.metadata.uid ?? pod.metadata.uid;
    let seen = this.seen.get(pod.metadata.uid);
    if (!seen) this.seen.set(pod.metadata.uid, (seen = new Date()));
    pod.metadata.annotations = { ...pod.metadata.annotations, [CONFIG_SOURCE_ANNOTATION]: 'api', [CONFIG_SEEN_ANNOTATION]: formatRFC3339Nano(seen) };
    delete (pod.metadata as { managedFields?: unknown }).managedFields;
    const gates = gateConditions(o);
    if (gates.length) pod.status = { conditions: gates };
    return pod;
  }

  private saveCheckpoint(pods: Pod[]): void {
    clearTimeout(this.checkpointTimer);
    this.checkpointTimer = setTimeout(() => this.checkpoint.save(pods), 200);
  }

  /** Every status change of a pod the agent runs (PodManager.onStatus). */
  status(pod: Pod, status: PodStatus): void {
    const source = pod.metadata.annotations?.[CONFIG_SOURCE_ANNOTATION];
    if (source !== 'api' && source !== 'file' && source !== 'http') return;
    this.statuses.set(pod.metadata.uid, { namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid, status, static: source !== 'api' });
    this.kick();
  }

  /** The static pods of the merged set: each gets a mirror pod. */
  setStaticPods(pods: Pod[]): void {
    this.staticPods = pods.filter((p) => p.metadata.annotations?.[CONFIG_SOURCE_ANNOTATION] !== 'api');
    const live = new Set(this.staticPods.map((p) => p.metadata.uid));
    for (const [uid, e] of this.statuses) if (e.static && !live.has(uid)) this.statuses.delete(uid);
    this.kick();
  }

  private kick(): void {
    if (this.workQueued || this.stopped) return;
    this.workQueued = true;
    this.work = this.work.then(async () => {
      this.workQueued = false;
      if (this.stopped) return;
      await this.syncMirrors();
      await this.writeStatuses();
      await this.finishDeletions();
    }).catch((err: Error) => this.problem('api', err));
  }

  private problem(what: string, err: unknown): void {
    const msg = (err as Error).message;
    if (this.reported.get(what) !== msg) this.o.log.warn({ component: 'apiserver' }, `${what}: ${msg}`);
    this.reported.set(what, msg);
  }

  private ok(what: string): void {
    if (this.reported.get(what)) this.o.log.info({ component: 'apiserver' }, `${what}: working again`);
    this.reported.delete(what);
  }

  private async writeStatuses(): Promise<void> {
    for (const [uid, e] of this.statuses) {
      if (this.stopped) return;
      let target: { name: string; uid: string } | undefined;
      if (e.static) {
        const m = this.mirrors.get(`${e.namespace}/${e.name}`);
        if (m && !m.metadata.deletionTimestamp) target = { name: m.metadata.name, uid: m.metadata.uid ?? '' };
      } else {
        const p = this.apiPods.get(uid);
        if (!p) {
          this.statuses.delete(uid);
          continue;
        }
        target = { name: e.name, uid };
      }
      if (!target) continue;
      const body = this.statusPatchFor(target.uid, e);
      if (this.sent.get(target.uid) === body && statusHeld(this.apiObject(target.uid)?.status as PodStatus | undefined, e.status)) continue;
      try {
        await this.patchStatus(e.namespace, target.name, body);
        this.sent.set(target.uid, body);
        this.stats.statusPatches++;
        this.ok('pod status');
      } catch (err) {
        if (err instanceof ApiRequestError && (err.code === 404 || err.code === 409)) {
          // Gone, or replaced by another pod of the same name: its own status comes with it.
          this.sent.set(target.uid, body);
          continue;
        }
        this.problem('pod status', err);
        return; // the API server is not answering: the periodic kick retries, nothing is lost
      }
    }
    for (const uid of this.sent.keys()) if (!this.apiPods.has(uid) && ![...this.mirrors.values()].some((m) => m.metadata.uid === uid)) this.sent.delete(uid);
  }

  private apiObject(uid: string): KObj | undefined {
    return this.apiPods.get(uid) ?? [...this.mirrors.values()].find((m) => m.metadata.uid === uid);
  }

  /** The patch for the pod object of this UID (API pod or mirror), against the status it holds. */
  private statusPatchFor(uid: string, e: StatusEntry): string {
    return statusPatch(uid, e.status, (this.apiObject(uid) as { status?: PodStatus } | undefined)?.status);
  }

  /** A status patch; a conflict is retried after reading the pod again (up to 5 times). */
  private async patchStatus(namespace: string, name: string, body: string): Promise<void> {
    const path = `/api/v1/namespaces/${namespace}/pods/${name}/status`;
    for (let i = 0; ; i++) {
      try {
        await this.o.client.request('PATCH', path, body, 'application/strategic-merge-patch+json');
        return;
      } catch (err) {
        if (!(err instanceof ApiRequestError && err.code === 409) || i >= 4) throw err;
        this.stats.statusConflicts++;
        const cur = await this.o.client.request<KObj>('GET', `/api/v1/namespaces/${namespace}/pods/${name}`);
        if (cur.metadata.uid !== (JSON.parse(body) as { metadata: { uid: string } }).metadata.uid) throw err;
      }
    }
  }

  /** Pods deleted through the API and stopped here are removed for good (grace period 0). */
  private async finishDeletions(): Promise<void> {
    for (const [uid, o] of this.apiPods) {
      if (!o.metadata.deletionTimestamp || this.deleting.has(uid) || this.stopped) continue;
      if (!this.o.stopped(uid)) continue;
      // The final status first, so that whoever watches sees how the containers ended.
      const e = this.statuses.get(uid);
      if (e && this.sent.get(uid) !== this.statusPatchFor(uid, e)) continue;
      this.deleting.add(uid);
      try {
        await this.o.client.request('DELETE', `/api/v1/namespaces/${o.metadata.namespace}/pods/${o.metadata.name}`, { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0, preconditions: { uid } });
        this.stats.deletes++;
        this.o.log.info({ pod: `${o.metadata.namespace}/${o.metadata.name}`, podUID: uid }, 'pod deleted from the API server after it stopped');
      } catch (err) {
        if (!(err instanceof ApiRequestError && (err.code === 404 || err.code === 409))) this.problem('pod deletion', err);
      } finally {
        this.deleting.delete(uid);
      }
    }
  }

  private mirrorOf(p: Pod, owner: Record<string, unknown>): Record<string, unknown> {
    const hash = p.metadata.annotations?.[CONFIG_HASH_ANNOTATION] ?? p.metadata.uid;
    return {
      apiVersion: 'v1', kind: 'Pod',
      metadata: {
        name: p.metadata.name, namespace: p.metadata.namespace, labels: p.metadata.labels ?? {},
        // NodeRestriction admits a node's pod only as a mirror with its Node as controller owner.
        ownerReferences: [owner],
        annotations: { ...p.metadata.annotations, [CONFIG_MIRROR_ANNOTATION]: hash },
      },
      spec: { ...p.spec, nodeName: this.o.nodeName },
    };
  }

  /** One mirror pod per static pod: created when missing, replaced when edited or deleted, removed when its static pod goes. */
  private async syncMirrors(): Promise<void> {
    if (!this.reflector.listed) return;
    const owner = this.o.nodeOwner();
    if (!owner) return; // the Node is not registered yet: the next kick creates them
    const want = new Map(this.staticPods.map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p]));
    try {
      for (const [key, p] of want) {
        const why = mirrorRefused(p);
        if (why) {
          if (!this.noMirror.has(p.metadata.uid)) this.o.log.warn({ pod: key, podUID: p.metadata.uid }, `no mirror pod: ${why} (NodeRestriction refuses such mirror pods); the static pod runs without one`);
          this.noMirror.add(p.metadata.uid);
          continue;
        }
        const m = this.mirrors.get(key);
        const hash = p.metadata.annotations?.[CONFIG_HASH_ANNOTATION] ?? p.metadata.uid;
        const images = (s: unknown) => JSON.stringify(((s as { containers?: { image?: string }[] })?.containers ?? []).map((c) => c.image));
        const same = m && !m.metadata.deletionTimestamp && (m.metadata.annotations as Record<string, string> | undefined)?.[CONFIG_MIRROR_ANNOTATION] === hash && images(m.spec) === images(p.spec);
        if (same) continue;
        if (m) await this.deleteMirror(m);
        try {
          const created = await this.o.client.request<KObj>('POST', `/api/v1/namespaces/${p.metadata.namespace}/pods`, this.mirrorOf(p, owner));
          this.mirrors.set(key, created);
          this.stats.mirrorCreates++;
        } catch (err) {
          if (!(err instanceof ApiRequestError && err.code === 409)) throw err;
          // A pod of that name that is not our mirror (or one not seen yet): the next change sorts it out.
        }
      }
      for (const [key, m] of this.mirrors) if (!want.has(key) && !m.metadata.deletionTimestamp) await this.deleteMirror(m);
      this.ok('mirror pods');
    } catch (err) {
      this.problem('mirror pods', err);
    }
  }

  private async deleteMirror(m: KObj): Promise<void> {
    try {
      await this.o.client.request('DELETE', `/api/v1/namespaces/${m.metadata.namespace}/pods/${m.metadata.name}`, { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0, preconditions: { uid: m.metadata.uid } });
      this.stats.mirrorDeletes++;
    } catch (err) {
      if (!(err instanceof ApiRequestError && (err.code === 404 || err.code === 409))) throw err;
    }
    this.mirrors.delete(`${m.metadata.namespace}/${m.metadata.name}`);
  }
}
