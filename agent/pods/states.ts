import type { Pod } from '../../manifests/index.js';
import { recordedGrace } from '../vocab/index.js';
import { podGraceSeconds } from './killorder.js';
import type { PodActions } from './planner.js';
import type { ObservedPod } from '../vocab/index.js';
import { computeTerminationActions, podStopped } from './planner.js';

// The pod worker's state machine, after kubelet's pod_workers.go: every pod UID is one
// record that moves syncing -> terminating -> terminated, and never back (an evicted static
// pod that is started again becomes a fresh record). This function is the whole decision
// of one worker step, pure: from what the record knows and what the runtime shows, the
// state the record is in and the one step to take. Termination and eviction are plans like
// any other (computeTerminationActions), carried out by the same executor as a sync.

export type PodWorkerState = 'syncing' | 'terminating' | 'terminated';

/** What the record knows about the pod, beside the runtime's view. */
export interface PodFacts {
  state: PodWorkerState;
  /** The desired spec; undefined when no source lists the pod (any more). */
  pod?: Pod;
  /** Every source has listed once: an unlisted pod is really gone, not just unread yet. */
  sourcesReady: boolean;
  /** Its last status was Succeeded or Failed: finished for good (kubelet's isTerminal). */
  terminal: boolean;
  /** Refused at admission: nothing of it is ever created. */
  rejected: boolean;
  /** Evicted: stopped within this grace, Failed with reason Evicted. */
  evicted?: { graceSeconds: number };
  /** An evicted static pod started again: what the last instance left goes first. */
  restarting: boolean;
  /** A previous instance of this static pod (another UID, same name) still has containers. */
  otherInstanceAlive: boolean;
}

export type PodStep =
  /** Nothing to do now. */
  | { kind: 'none' }
  /** Plan with computePodActions and carry the plan out (kubelet's SyncPod). */
  | { kind: 'sync' }
  /** Not started yet, for a reason the status shows on every container. */
  | { kind: 'wait'; reason: string; message: string }
  /** Stop (and maybe remove) what runs: SyncTerminatingPod. `why` completes "a pod that is ...". */
  | { kind: 'terminate'; actions: PodActions; why: string }
  /** Not desired and nothing left in the runtime: release its directory, drop the record (SyncTerminatedPod). */
  | { kind: 'forget' };

export interface PodDecision {
  state: PodWorkerState;
  step: PodStep;
}

export function decidePodStep(f: PodFacts, observed: ObservedPod): PodDecision {
  const empty = observed.sandboxes.length === 0 && observed.containers.length === 0;
  const pod = f.pod;
  if (!pod) {
    if (!f.sourcesReady) return { state: f.state, step: { kind: 'none' } };
    if (empty) return { state: 'terminated', step: { kind: 'forget' } };
    const graceSeconds = Math.max(0, ...observed.sandboxes.map(recordedGrace), ...observed.containers.map(recordedGrace));
    return terminate(observed, graceSeconds, true, 'no longer desired');
  }
  if (f.restarting && !empty) {
    // A fresh record: clearing away the last instance is part of its start.
    return { state: 'syncing', step: { kind: 'terminate', actions: computeTerminationActions(observed, { graceSeconds: 0, remove: true }), why: 'replaced after its eviction' } };
  }
  if (f.rejected) return { state: 'terminated', step: { kind: 'none' } };
  if (f.evicted) return ending(observed, f.evicted.graceSeconds, 'evicted');
  if (pod.metadata.deletionTimestamp && pod.metadata.annotations?.['kubernetes.io/config.source'] === 'api') {
    // Deleted through the API server: it stays desired (its status shows how it ended)
    // until the source drops it.
    return ending(observed, pod.metadata.deletionGracePeriodSeconds ?? podGraceSeconds(pod), 'deleted');
  }
  if (f.terminal || f.state !== 'syncing') return ending(observed, podGraceSeconds(pod), 'finished');
  if (f.otherInstanceAlive) {
    // A static pod whose manifest changed gets a new UID; the old instance must be gone
    // before the new one starts (host ports, names, volumes).
    return { state: 'syncing', step: { kind: 'wait', reason: 'ContainerCreating', message: 'waiting for the previous instance of this pod to terminate' } };
  }
  return { state: 'syncing', step: { kind: 'sync' } };
}

/** A desired pod that must not run: stopped, its dead containers kept for its final status. */
function ending(observed: ObservedPod, graceSeconds: number, why: string): PodDecision {
  if (podStopped(observed)) return { state: 'terminated', step: { kind: 'none' } };
  return terminate(observed, graceSeconds, false, why);
}

function terminate(observed: ObservedPod, graceSeconds: number, remove: boolean, why: string): PodDecision {
  return { state: 'terminating', step: { kind: 'terminate', actions: computeTerminationActions(observed, { graceSeconds, remove }), why } };
}
