import type { Logger } from '../log.js';
import { nodeObject, type NodeObject } from '../server/api.js';
import { nodeFacts, type NodeInfoInput } from '../server/nodeinfo.js';
import { ApiRequestError, type ApiClient } from './client.js';

// The node's side of the heartbeat (kubelet's registerWithAPIServer, updateNodeStatus and the
// node lease controller): the Node object is created once (or reconciled when it exists),
// its status is patched every 10 s when it changed and at least every 5 minutes, and the
// Lease kube-node-lease/<node> is renewed every 10 s with a 40 s duration.

export interface Taint { key: string; value?: string; effect: string }

export interface PressureStatus {
  capacity: Record<string, string>;
  allocatable: Record<string, string>;
  conditions: { type: string; status: string; lastHeartbeatTime: string; lastTransitionTime: string; reason: string; message: string }[];
}

export interface NodeHeartbeatOptions {
  client: ApiClient;
  log: Logger;
  info: NodeInfoInput;
  labels: Record<string, string>;
  taints: Taint[];
  /** Capacity, allocatable and the pressure conditions (agent/resources). */
  resources?: () => PressureStatus;
  statusPeriodMs?: number;
  statusForceMs?: number;
  leasePeriodMs?: number;
  leaseDurationSeconds?: number;
}

const now3339 = () => new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

/** The labels of `want` that `have` lacks or holds with another value (a merge patch). */
export function changedLabels(have: Record<string, string>, want: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(want).filter(([k, v]) => have[k] !== v));
}

/** Conditions and fields without the heartbeat times: what "changed" compares. */
function comparable(status: Record<string, unknown>): string {
  const conds = ((status.conditions ?? []) as { lastHeartbeatTime?: string }[]).map(({ lastHeartbeatTime: _h, ...c }) => c);
  return JSON.stringify({ ...status, conditions: conds });
}

/** Wait before the next try of a failed lease renewal: 200 ms doubling, at most 7 s (kubelet's lease controller). */
export function leaseRetryDelayMs(failures: number): number {
  return Math.min(200 * 2 ** Math.min(failures, 10), 7000);
}

type Condition = { type: string; status: string };

/**
 * The condition types whose status on the API server is not ours: someone else wrote it
 * (the node lifecycle controller sets Ready to Unknown when it missed our Lease). kubelet
 * compares its status with the Node it reads back, not with what it last sent, so it writes
 * its own again at the next sync; so must we.
 */
export function overriddenConditions(api: Condition[] | undefined, ours: Condition[]): string[] {
  const have = new Map((api ?? []).map((c) => [c.type, c.status]));
  return ours.filter((c) => have.get(c.type) !== c.status).map((c) => c.type);
}

export class NodeHeartbeat {
  private timers: NodeJS.Timeout[] = [];
  private registered = false;
  private lastSent = '';
  private lastSentAt = 0;
  private leaseRV?: string;
  /** The Lease's spec as last written (acquireTime kept across renewals). */
  private leaseSpec: Record<string, unknown> = {};
  private nodeUID?: string;
  private previousConditions = new Map<string, { status: string; lastTransitionTime: string }>();
  readonly stats = { leaseRenewals: 0, statusPatches: 0, errors: 0 };
  private reported = '';
  /** The renewal in flight: a slow API server must not get a second one racing it for the same resourceVersion (409). */
  private renewing?: Promise<void>;
  private retryTimer?: NodeJS.Timeout;
  private failures = 0;
  private stopped = false;

  constructor(private readonly o: NodeHeartbeatOptions) {}

  start(): void {
    void this.tick();
    this.timers.push(setInterval(() => void this.tick(), this.o.statusPeriodMs ?? 10_000));
    this.timers.push(setInterval(() => void this.renewLease(), this.o.leasePeriodMs ?? 10_000));
  }

  stop(): void {
    this.stopped = true;
    this.timers.forEach((t) => clearInterval(t));
    clearTimeout(this.retryTimer);
  }

  private problem(what: string, err: unknown): void {
    this.stats.errors++;
    const msg = `${what}: ${(err as Error).message}`;
    if (msg !== this.reported) this.o.log.warn({ component: 'node-status' }, msg);
    this.reported = msg;
  }

  /** The Node object as this agent sees the machine now. */
  async desired(): Promise<NodeObject> {
    const f = await nodeFacts(this.o.info);
    const n = nodeObject(f);
    delete (n.metadata.annotations as Record<string, string>)['bosun.io/standalone'];
    Object.assign(n.metadata.labels, this.o.labels);
    if (this.o.taints.length) n.spec.taints = [...(n.spec.taints ?? []), ...this.o.taints];
    const st = n.status as { capacity: Record<string, string>; allocatable: Record<string, string>; conditions: PressureStatus['conditions'] };
    const r = this.o.resources?.();
    if (r) {
      st.capacity = r.capacity;
      st.allocatable = r.allocatable;
      st.conditions = [...r.conditions, ...st.conditions.filter((c) => c.type === 'Ready')];
    }
    for (const c of st.conditions) {
      const prev = this.previousConditions.get(c.type);
      c.lastTransitionTime = prev && prev.status === c.status ? prev.lastTransitionTime : c.lastHeartbeatTime;
      this.previousConditions.set(c.type, { status: c.status, lastTransitionTime: c.lastTransitionTime });
    }
    return n;
  }

  async tick(): Promise<void> {
    try {
      const n = await this.desired();
      if (!this.registered) await this.register(n);
      const conds = (n.status as { conditions: (Condition & { lastHeartbeatTime: string; lastTransitionTime: string })[] }).conditions;
      // As kubelet, from the API server's cache (resourceVersion=0): a status changed behind our back.
      const api = await this.o.client.request<{ status?: { conditions?: Condition[] } }>('GET', `/api/v1/nodes/${n.metadata.name}?resourceVersion=0`).catch(() => undefined);
      const overridden = api ? overriddenConditions(api.status?.conditions, conds) : [];
      for (const c of conds) {
        if (!overridden.includes(c.type)) continue;
        c.lastTransitionTime = c.lastHeartbeatTime; // a transition from what the API shows
        this.previousConditions.set(c.type, { status: c.status, lastTransitionTime: c.lastTransitionTime });
      }
      const cmp = comparable(n.status);
      if (!overridden.length && cmp === this.lastSent && Date.now() - this.lastSentAt < (this.o.statusForceMs ?? 300_000)) return;
      await this.o.client.request('PATCH', `/api/v1/nodes/${n.metadata.name}/status`, { status: n.status }, 'application/strategic-merge-patch+json');
      this.stats.statusPatches++;
      this.lastSent = cmp;
      this.lastSentAt = Date.now();
      if (this.reported) this.o.log.info({ component: 'node-status' }, 'node status reaching the API server again');
      this.reported = '';
    } catch (err) {
      if (err instanceof ApiRequestError && err.code === 404) this.registered = false; // the Node was deleted: register again
      this.problem('node status', err);
    }
  }

  private async register(n: NodeObject): Promise<void> {
    const body = { apiVersion: 'v1', kind: 'Node', metadata: { name: n.metadata.name, labels: n.metadata.labels, annotations: n.metadata.annotations }, spec: n.spec };
    try {
      const created = await this.o.client.request<{ metadata: { uid: string } }>('POST', '/api/v1/nodes', body);
      this.nodeUID = created.metadata.uid;
      this.o.log.info({ node: n.metadata.name }, 'node registered with the API server');
    } catch (err) {
      if (!(err instanceof ApiRequestError && err.code === 409)) throw err;
      // Already there (an earlier life of this agent): our labels are reconciled, as kubelet's
      // updateDefaultLabels does. Taints are left alone: --register-with-taints applies at
      // registration only, and NodeRestriction forbids a node to change its own taints.
      const cur = await this.o.client.request<{ metadata: { uid: string; labels?: Record<string, string> } }>('GET', `/api/v1/nodes/${n.metadata.name}`);
      this.nodeUID = cur.metadata.uid;
      const labels = changedLabels(cur.metadata.labels ?? {}, n.metadata.labels);
      if (Object.keys(labels).length) await this.o.client.request('PATCH', `/api/v1/nodes/${n.metadata.name}`, { metadata: { labels } }, 'application/merge-patch+json');
    }
    this.registered = true;
    void this.renewLease();
  }

  /**
   * One renewal at a time. A failed one is retried after 200 ms, doubling up to 7 s, not at
   * the next period, as kubelet's lease controller does: a few slow answers on a loaded
   * machine must not leave the Lease older than its 40 s, which makes the node NotReady.
   */
  renewLease(): Promise<void> {
    if (!this.registered || this.stopped) return Promise.resolve();
    this.renewing ??= this.renewOnce().then((ok) => {
      this.renewing = undefined;
      clearTimeout(this.retryTimer);
      if (ok) this.failures = 0;
      else if (!this.stopped) this.retryTimer = setTimeout(() => void this.renewLease(), leaseRetryDelayMs(this.failures++));
    });
    return this.renewing;
  }

  private async renewOnce(): Promise<boolean> {
    // Each request may take at most the renew period (and never the lease's duration), as
    // kubelet's heartbeat client: a hung request is given up in time to try again.
    const timeoutMs = Math.min(this.o.leasePeriodMs ?? 10_000, (this.o.leaseDurationSeconds ?? 40) * 1000);
    const name = this.o.info.nodeName;
    const path = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${name}`;
    const spec = { holderIdentity: name, leaseDurationSeconds: this.o.leaseDurationSeconds ?? 40, renewTime: now3339() };
    try {
      if (this.leaseRV) {
        try {
          const l = await this.o.client.request<{ metadata: { resourceVersion: string }; spec?: Record<string, unknown> }>('PUT', path, {
            apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace: 'kube-node-lease', resourceVersion: this.leaseRV, ownerReferences: this.owner() }, spec: { ...this.leaseSpec, ...spec },
          }, undefined, timeoutMs);
          this.leaseRV = l.metadata.resourceVersion;
          this.leaseSpec = l.spec ?? this.leaseSpec;
          this.stats.leaseRenewals++;
          return true;
        } catch (err) {
          if (!(err instanceof ApiRequestError) || (err.code !== 409 && err.code !== 404)) throw err;
          this.leaseRV = undefined; // someone else wrote it, or it went: read it again
        }
      }
      let cur: { metadata: { resourceVersion: string }; spec?: Record<string, unknown> } | undefined;
      try {
        cur = await this.o.client.request('GET', path, undefined, undefined, timeoutMs);
      } catch (err) {
        if (!(err instanceof ApiRequestError && err.code === 404)) throw err;
      }
      const l = cur
        ? await this.o.client.request<{ metadata: { resourceVersion: string }; spec?: Record<string, unknown> }>('PUT', path, { ...cur, spec: { ...cur.spec, ...spec } }, undefined, timeoutMs)
        : await this.o.client.request<{ metadata: { resourceVersion: string }; spec?: Record<string, unknown> }>('POST', `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases`, {
          apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace: 'kube-node-lease', ownerReferences: this.owner() }, spec: { ...spec, acquireTime: spec.renewTime },
        }, undefined, timeoutMs);
      this.leaseRV = l.metadata.resourceVersion;
      this.leaseSpec = l.spec ?? {};
      this.stats.leaseRenewals++;
      return true;
    } catch (err) {
      this.problem('node lease', err);
      return false;
    }
  }

  /** The Node as the controller owner of a mirror pod (what NodeRestriction admits), once registered. */
  ownerReference(): { apiVersion: 'v1'; kind: 'Node'; name: string; uid: string; controller: true } | undefined {
    return this.nodeUID ? { apiVersion: 'v1', kind: 'Node', name: this.o.info.nodeName, uid: this.nodeUID, controller: true } : undefined;
  }

  private owner(): unknown[] {
    return this.nodeUID ? [{ apiVersion: 'v1', kind: 'Node', name: this.o.info.nodeName, uid: this.nodeUID }] : [];
  }
}
