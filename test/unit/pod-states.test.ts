// decidePodStep (agent/pods/states.ts): the pod worker's state machine, after kubelet's
// pod_workers.go (syncing -> terminating -> terminated).

import { describe, expect, it } from 'vitest';
import type { PodFacts } from '../../agent/pods/states.js';
import { decidePodStep } from '../../agent/pods/states.js';
import { ctr, exited, pod, running, sandbox } from '../support/fixtures.js';

const p = pod({ containers: [ctr('a')] });
const facts = (f: Partial<PodFacts> = {}): PodFacts => ({ state: 'syncing', pod: p, sourcesReady: true, terminal: false, rejected: false, restarting: false, otherInstanceAlive: false, ...f });
const live = { sandboxes: [sandbox('s1')], containers: [running(p, ctr('a'), 'c1')] };
const dead = { sandboxes: [sandbox('s1', 0, 'notready')], containers: [exited(p, ctr('a'), 'c1', 0)] };
const none = { sandboxes: [], containers: [] };

describe('decidePodStep', () => {
  it('syncs a desired pod', () => {
    expect(decidePodStep(facts(), live)).toEqual({ state: 'syncing', step: { kind: 'sync' } });
  });

  it('does nothing for an unlisted pod until every source has listed', () => {
    expect(decidePodStep(facts({ pod: undefined, sourcesReady: false }), live).step).toEqual({ kind: 'none' });
  });

  it('terminates an unlisted pod with its recorded grace and removes it, then forgets it', () => {
    const d = decidePodStep(facts({ pod: undefined }), live);
    expect(d.state).toBe('terminating');
    expect(d.step).toMatchObject({ kind: 'terminate', actions: { killPod: true, graceSeconds: 30, containersToRemove: ['c1'], sandboxesToRemove: ['s1'] } });
    expect(decidePodStep(facts({ pod: undefined, state: 'terminating' }), none)).toEqual({ state: 'terminated', step: { kind: 'forget' } });
  });

  it('a finished pod is stopped and then terminated, never synced again', () => {
    const d = decidePodStep(facts({ terminal: true }), live);
    expect(d).toMatchObject({ state: 'terminating', step: { kind: 'terminate', actions: { killPod: true, containersToRemove: [], sandboxesToRemove: [] } } });
    expect(decidePodStep(facts({ terminal: true, state: 'terminating' }), dead)).toEqual({ state: 'terminated', step: { kind: 'none' } });
    // Whatever the runtime shows later (containers lost), a terminated record never syncs.
    expect(decidePodStep(facts({ state: 'terminated' }), none)).toEqual({ state: 'terminated', step: { kind: 'none' } });
  });

  it('an evicted pod stops within the eviction grace and keeps its dead containers', () => {
    expect(decidePodStep(facts({ evicted: { graceSeconds: 2 } }), live).step).toMatchObject({ kind: 'terminate', actions: { graceSeconds: 2, containersToRemove: [] } });
  });

  it('an evicted static pod started again clears the last instance away first, as a syncing record', () => {
    const d = decidePodStep(facts({ restarting: true }), dead);
    expect(d).toMatchObject({ state: 'syncing', step: { kind: 'terminate', actions: { killPod: false, containersToRemove: ['c1'], sandboxesToRemove: ['s1'] } } });
    expect(decidePodStep(facts({ restarting: true }), none).step).toEqual({ kind: 'sync' });
  });

  it('a refused pod is terminated at once and nothing of it is created', () => {
    expect(decidePodStep(facts({ rejected: true }), none)).toEqual({ state: 'terminated', step: { kind: 'none' } });
  });

  it('an API pod with a deletionTimestamp stops within the deletion grace', () => {
    const del = { ...p, metadata: { ...p.metadata, deletionTimestamp: '2026-01-01T00:00:00Z', deletionGracePeriodSeconds: 5, annotations: { 'kubernetes.io/config.source': 'api' } } };
    expect(decidePodStep(facts({ pod: del }), live).step).toMatchObject({ kind: 'terminate', actions: { graceSeconds: 5 } });
  });

  it('waits while an older instance of the same static pod still has containers', () => {
    expect(decidePodStep(facts({ otherInstanceAlive: true }), none).step).toMatchObject({ kind: 'wait', reason: 'ContainerCreating' });
  });

  it('removes a created-and-never-started container instead of waiting for it to stop', () => {
    const created = { ...running(p, ctr('a'), 'c2'), state: 'created' as const };
    const d = decidePodStep(facts({ terminal: true }), { sandboxes: [sandbox('s1', 0, 'notready')], containers: [created] });
    expect(d.step).toMatchObject({ kind: 'terminate', actions: { killPod: false, containersToRemove: ['c2'] } });
  });
});
