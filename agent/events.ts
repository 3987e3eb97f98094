import { randomBytes } from 'node:crypto';
import type { PodRef } from '../manifests/index.js';
import type { Clock } from '../base/index.js';
import { rfc3339 } from './vocab/index.js';

// kubelet-style events, kept by the agent: the same event repeated bumps a count and the
// last timestamp instead of adding a record (client-go's event correlator does this).

export type EventType = 'Normal' | 'Warning';

export interface CoreEvent {
  apiVersion: 'v1';
  kind: 'Event';
  metadata: { name: string; namespace: string; uid: string; creationTimestamp: string };
  involvedObject: { apiVersion: 'v1'; kind: 'Pod'; name: string; namespace: string; uid: string; fieldPath?: string };
  reason: string;
  message: string;
  source: { component: 'kubelet'; host: string };
  firstTimestamp: string;
  lastTimestamp: string;
  count: number;
  type: EventType;
  reportingComponent: 'kubelet';
  reportingInstance: string;
}

export interface EventSink {
  emit(pod: PodRef, type: EventType, reason: string, message: string, container?: string, init?: boolean): void;
}

export class EventRecorder implements EventSink {
  private events = new Map<string, CoreEvent>();
  private listeners = new Set<(e: CoreEvent) => void>();

  constructor(
    private readonly clock: Clock,
    private readonly node: string,
    private readonly max = 1000,
    private readonly ttlMs = 3_600_000,
  ) {}

  emit(pod: PodRef, type: EventType, reason: string, message: string, container?: string, init = false): void {
    const fieldPath = container ? `spec.${init ? 'initContainers' : 'containers'}{${container}}` : undefined;
    const key = [pod.uid, fieldPath ?? '', type, reason, message].join('\u0000');
    const now = rfc3339(this.clock.now());
    let e = this.events.get(key);
    if (e) {
      e.count++;
      e.lastTimestamp = now;
      this.events.delete(key); // re-insert: the map stays ordered by last occurrence
    } else {
      e = {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: `${pod.name}.${randomBytes(8).toString('hex')}`, namespace: pod.namespace, uid: randomBytes(16).toString('hex'), creationTimestamp: now },
        involvedObject: { apiVersion: 'v1', kind: 'Pod', name: pod.name, namespace: pod.namespace, uid: pod.uid, ...(fieldPath ? { fieldPath } : {}) },
        reason,
        message,
        source: { component: 'kubelet', host: this.node },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
        type,
        reportingComponent: 'kubelet',
        reportingInstance: this.node,
      };
    }
    this.events.set(key, e);
    this.prune();
    for (const l of this.listeners) l(e);
  }

  /** Oldest first, as `kubectl get events` sorts by last timestamp. */
  list(filter?: { namespace?: string; uid?: string }): CoreEvent[] {
    this.prune();
    return [...this.events.values()].filter((e) =>
      (!filter?.namespace || e.involvedObject.namespace === filter.namespace) && (!filter?.uid || e.involvedObject.uid === filter.uid));
  }

  subscribe(listener: (e: CoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private prune(): void {
    const cutoff = this.clock.now() - this.ttlMs;
    for (const [k, e] of this.events) {
      if (this.events.size <= this.max && Date.parse(e.lastTimestamp) >= cutoff) break;
      this.events.delete(k);
    }
  }
}
