import { describe, expect, it } from 'vitest';
import { computePodStatus } from '../../agent/pods/status.js';
import type { StatusInput } from '../../agent/pods/status.js';
import type { ObservedPod } from '../../agent/vocab/index.js';
import { ctr, exited, pod, running, sandbox } from '../support/fixtures.js';
import { must } from '../support/common.js';

// Status details of issue 13 (items 3, 6, 7), against kubelet's getPhase and
// status/generate.go: sidecars in ContainersReady and Initialized, init containers' ready,
// readiness gates, and the reasons of terminal pods.

const NOW = Date.UTC(2026, 10, 22, 10, 0, 0);

function status(p: ReturnType<typeof pod>, observed: ObservedPod, extra: Partial<StatusInput> = {}) {
  return computePodStatus({ pod: p, observed, waiting: new Map(), now: NOW, hostIP: '192.0.2.1', runtimeName: 'docker', ...extra });
}
const cond = (s: ReturnType<typeof status>, type: string) => s.conditions!.find((c) => c.type === type)!;
const side = (name: string, extra = {}) => ctr(name, { restartPolicy: 'Always', ...extra });

describe('computePodStatus: init containers and sidecars', () => {
  it('reports a plain init container ready only after it exited 0', () => {
    const p = pod({ initContainers: [ctr('i1')], containers: [ctr('a')] });
    const run = status(p, { sandboxes: [sandbox('s1')], containers: [running(p, ctr('i1'), 'c1')] });
    expect(run.initContainerStatuses![0]).toMatchObject({ ready: false, started: true });
    expect(run.phase).toBe('Pending');
    const done = status(p, { sandboxes: [sandbox('s1')], containers: [exited(p, ctr('i1'), 'c1', 0)] });
    expect(done.initContainerStatuses![0]).toMatchObject({ ready: true, started: false });
    expect(cond(done, 'Initialized').status).toBe('True');
    const failed = status(p, { sandboxes: [sandbox('s1')], containers: [exited(p, ctr('i1'), 'c1', 1)] });
    expect(must(failed.initContainerStatuses?.[0], 'an init container status').ready).toBe(false);
  });

  it('counts a sidecar in ContainersReady and Ready', () => {
    const p = pod({ initContainers: [side('proxy')], containers: [ctr('a')] });
    const obs = { sandboxes: [sandbox('s1')], containers: [running(p, side('proxy'), 'c1'), running(p, ctr('a'), 'c2')] };
    const s = status(p, obs, { readiness: (name) => (name === 'proxy' ? false : undefined) });
    expect(s.initContainerStatuses![0]).toMatchObject({ ready: false, started: true });
    expect(cond(s, 'ContainersReady')).toMatchObject({ status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [proxy]' });
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: 'ContainersNotReady' });
    const ok = status(p, obs, { readiness: () => true });
    expect(cond(ok, 'Ready').status).toBe('True');
    expect(must(ok.initContainerStatuses?.[0], 'an init container status').ready).toBe(true);
  });

  it('holds Initialized until a sidecar with a startup probe has started', () => {
    const p = pod({ initContainers: [side('proxy', { startupProbe: { exec: { command: ['true'] } } })], containers: [ctr('a')] });
    const obs = { sandboxes: [sandbox('s1')], containers: [running(p, side('proxy'), 'c1')] };
    const s = status(p, obs, { started: () => false });
    expect(s.phase).toBe('Pending');
    expect(cond(s, 'Initialized')).toMatchObject({ status: 'False', reason: 'ContainersNotInitialized', message: 'containers with incomplete status: [proxy]' });
    expect(must(s.containerStatuses?.[0], 'a container status').state.waiting?.reason).toBe('PodInitializing');
    const started = status(p, obs, { started: () => true });
    expect(cond(started, 'Initialized').status).toBe('True');
  });

  it('stays Running while sidecars stop after the app containers finished, then Succeeded', () => {
    const p = pod({ restartPolicy: 'Never', initContainers: [side('proxy')], containers: [ctr('a')] });
    const stopping = status(p, { sandboxes: [sandbox('s1')], containers: [running(p, side('proxy'), 'c1'), exited(p, ctr('a'), 'c2', 0)] });
    expect(stopping.phase).toBe('Running');
    const gone = status(p, { sandboxes: [sandbox('s1', 0, 'notready')], containers: [exited(p, side('proxy'), 'c1', 137), exited(p, ctr('a'), 'c2', 0)] });
    expect(gone.phase).toBe('Succeeded');
    expect(cond(gone, 'Initialized')).toMatchObject({ status: 'True', reason: 'PodCompleted' });
    expect(cond(gone, 'Ready')).toMatchObject({ status: 'False', reason: 'PodCompleted' });
    expect(cond(gone, 'ContainersReady')).toMatchObject({ status: 'False', reason: 'PodCompleted' });
  });

  it('gives a Failed pod the reason PodFailed on Ready and ContainersReady', () => {
    const p = pod({ restartPolicy: 'Never', containers: [ctr('a')] });
    const s = status(p, { sandboxes: [sandbox('s1', 0, 'notready')], containers: [exited(p, ctr('a'), 'c1', 3)] });
    expect(s.phase).toBe('Failed');
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: 'PodFailed' });
    expect(cond(s, 'ContainersReady')).toMatchObject({ status: 'False', reason: 'PodFailed' });
    expect(cond(s, 'Ready').message).toBeUndefined();
  });

  it('ends a deleted API pod whose containers stopped, whatever its restart policy', () => {
    const p = pod({ containers: [ctr('a')] });
    p.metadata.annotations = { 'kubernetes.io/config.source': 'api' };
    const obs = { sandboxes: [sandbox('s1', 0, 'notready')], containers: [exited(p, ctr('a'), 'c1', 0)] };
    expect(status(p, obs).phase).toBe('Running');
    expect(status(p, obs, { terminal: true }).phase).toBe('Succeeded');
    p.metadata.annotations = { 'kubernetes.io/config.source': 'file' };
    expect(status(p, obs, { terminal: true }).phase).toBe('Running');
  });
});

describe('computePodStatus: readiness gates', () => {
  it('keeps Ready False until every gate condition is True, and keeps those conditions', () => {
    const p = pod({ readinessGates: [{ conditionType: 'example.com/lb' }], containers: [ctr('a')] });
    const obs = { sandboxes: [sandbox('s1')], containers: [running(p, ctr('a'), 'c1')] };
    const missing = status(p, obs);
    expect(cond(missing, 'ContainersReady').status).toBe('True');
    expect(cond(missing, 'Ready')).toMatchObject({ status: 'False', reason: 'ReadinessGatesNotReady', message: 'corresponding condition of pod readiness gate "example.com/lb" does not exist.' });
    p.status = { conditions: [{ type: 'example.com/lb', status: 'False' }] };
    expect(cond(status(p, obs), 'Ready').message).toBe('the status of pod readiness gate "example.com/lb" is not "True", but False');
    p.status = { conditions: [{ type: 'example.com/lb', status: 'True' }] };
    const ready = status(p, obs);
    expect(cond(ready, 'Ready').status).toBe('True');
    expect(cond(ready, 'example.com/lb').status).toBe('True');
  });
});
