import { describe, expect, it } from 'vitest';
import { admitPod, nodeAffinityMatches } from '../../agent/pods/admission.js';
import { pastActiveDeadline } from '../../agent/pods/deadline.js';
import { ctr, pod } from '../support/fixtures.js';

// Issue 13 item 6: nodeSelector and required node affinity at admission (static pods
// included, reason NodeAffinity), and activeDeadlineSeconds (DeadlineExceeded).

const node = { name: 'node-a', labels: { 'kubernetes.io/hostname': 'node-a', 'kubernetes.io/os': 'linux', disk: 'ssd', cores: '8' } };
const withAffinity = (terms: unknown[]) => pod({ containers: [ctr('c')], affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } } });

describe('node affinity at admission', () => {
  it('matches nodeSelector against the node labels', () => {
    expect(nodeAffinityMatches(pod({ containers: [ctr('c')], nodeSelector: { disk: 'ssd' } }), node)).toBe(true);
    expect(nodeAffinityMatches(pod({ containers: [ctr('c')], nodeSelector: { disk: 'hdd' } }), node)).toBe(false);
    expect(nodeAffinityMatches(pod({ containers: [ctr('c')], nodeSelector: { gpu: 'yes' } }), node)).toBe(false);
  });

  it.each([
    [{ key: 'disk', operator: 'In', values: ['ssd', 'nvme'] }, true],
    [{ key: 'disk', operator: 'NotIn', values: ['ssd'] }, false],
    [{ key: 'gpu', operator: 'NotIn', values: ['yes'] }, true],
    [{ key: 'disk', operator: 'Exists' }, true],
    [{ key: 'gpu', operator: 'DoesNotExist' }, true],
    [{ key: 'cores', operator: 'Gt', values: ['4'] }, true],
    [{ key: 'cores', operator: 'Lt', values: ['4'] }, false],
    [{ key: 'disk', operator: 'Gt', values: ['4'] }, false],
  ])('requirement %j matches: %s', (req, ok) => {
    expect(nodeAffinityMatches(withAffinity([{ matchExpressions: [req] }]), node)).toBe(ok);
  });

  it('ORs the terms, ANDs the requirements of a term, and matches fields on the node name', () => {
    const miss = { key: 'disk', operator: 'In', values: ['hdd'] };
    const hit = { key: 'kubernetes.io/os', operator: 'In', values: ['linux'] };
    expect(nodeAffinityMatches(withAffinity([{ matchExpressions: [miss] }, { matchExpressions: [hit] }]), node)).toBe(true);
    expect(nodeAffinityMatches(withAffinity([{ matchExpressions: [miss, hit] }]), node)).toBe(false);
    expect(nodeAffinityMatches(withAffinity([{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['node-a'] }] }]), node)).toBe(true);
    expect(nodeAffinityMatches(withAffinity([{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['node-b'] }] }]), node)).toBe(false);
    // An empty term, or no terms at all, matches nothing.
    expect(nodeAffinityMatches(withAffinity([{}]), node)).toBe(false);
    expect(nodeAffinityMatches(withAffinity([]), node)).toBe(false);
  });

  it('refuses the pod with kubelet reason and message', () => {
    const p = pod({ containers: [ctr('c')], nodeSelector: { disk: 'hdd' } });
    expect(admitPod(p, [], { node })).toEqual({ ok: false, reason: 'NodeAffinity', message: "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector" });
    expect(admitPod(pod({ containers: [ctr('c')], nodeSelector: { disk: 'ssd' } }), [], { node })).toEqual({ ok: true });
  });
});

describe('activeDeadlineSeconds', () => {
  const start = '2026-11-22T10:00:00Z';
  const t0 = Date.parse(start);
  it('is exceeded once the pod has been active that long since its startTime', () => {
    const p = pod({ containers: [ctr('c')], activeDeadlineSeconds: 5 });
    expect(pastActiveDeadline(p, start, t0 + 4999)).toBeUndefined();
    expect(pastActiveDeadline(p, start, t0 + 5000)).toEqual({ reason: 'DeadlineExceeded', message: 'Pod was active on the node longer than the specified deadline' });
    expect(pastActiveDeadline(p, undefined, t0 + 50_000)).toBeUndefined();
    expect(pastActiveDeadline(pod({ containers: [ctr('c')] }), start, t0 + 50_000)).toBeUndefined();
  });
});
