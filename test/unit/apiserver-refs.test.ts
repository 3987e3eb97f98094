import { describe, expect, it } from 'vitest';
import type { Pod } from '../../manifests/index.js';
import { needsRefresh, podReferences, referencedObjects, tokenRequest, tokenSources } from '../../agent/apiserver/index.js';
import { changedLabels, overriddenConditions } from '../../agent/apiserver/node.js';
import { gateConditions, mirrorRefused, statusHeld, statusPatch } from '../../agent/apiserver/pods.js';
import { ObjectStore, tokenKey } from '../../agent/objects/store.js';
import { planVolumes, VolumePending } from '../../agent/volumes/plan.js';
import { must } from '../support/common.js';

const pod = (spec: Partial<Pod['spec']>, ns = 'team'): Pod => ({
  apiVersion: 'v1', kind: 'Pod',
  metadata: { name: 'web', namespace: ns, uid: 'uid-1' },
  spec: { containers: [{ name: 'c', image: 'x' }], ...spec },
} as Pod);

// What the ServiceAccount admission plugin adds to every pod it admits.
const kubeApiAccess = {
  name: 'kube-api-access-abcde',
  projected: {
    defaultMode: 420,
    sources: [
      { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
      { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
    ],
  },
};

describe('objects a pod references (what the Node authorizer lets its node read)', () => {
  it('finds ConfigMaps and Secrets in volumes, projections, env, envFrom of every container kind and pull secrets, once each', () => {
    const p = pod({
      imagePullSecrets: [{ name: 'pull' }],
      volumes: [{ name: 'a', configMap: { name: 'cm-vol' } }, { name: 'b', secret: { secretName: 's-vol' } }, kubeApiAccess,
        { name: 'p', projected: { sources: [{ secret: { name: 's-proj' } }, { configMap: { name: 'cm-vol' } }] } }],
      initContainers: [{ name: 'i', image: 'x', envFrom: [{ configMapRef: { name: 'cm-init' } }] }],
      containers: [{ name: 'c', image: 'x', env: [{ name: 'K', valueFrom: { secretKeyRef: { name: 's-env', key: 'k' } } }], envFrom: [{ secretRef: { name: 's-from' } }] }],
    });
    const keys = podReferences(p).map((r) => `${r.kind}/${r.namespace}/${r.name}`).sort();
    expect(keys).toEqual([
      'ConfigMap/team/cm-init', 'ConfigMap/team/cm-vol', 'ConfigMap/team/kube-root-ca.crt',
      'Secret/team/pull', 'Secret/team/s-env', 'Secret/team/s-from', 'Secret/team/s-proj', 'Secret/team/s-vol',
    ]);
  });

  it('merges the references of several pods', () => {
    const m = referencedObjects([pod({ volumes: [kubeApiAccess] }), pod({ volumes: [kubeApiAccess] }, 'other')]);
    expect([...m.keys()].sort()).toEqual(['ConfigMap/other/kube-root-ca.crt', 'ConfigMap/team/kube-root-ca.crt']);
  });
});

describe('service-account tokens', () => {
  it('asks for a token bound to the pod, with the API server\'s audience unless the source names one', () => {
    const p = pod({ volumes: [kubeApiAccess, { name: 'v', projected: { sources: [{ serviceAccountToken: { audience: 'vault', path: 't' } }] } }] });
    const s = tokenSources([p]);
    expect([...s.keys()].sort()).toEqual(['uid-1//3607', 'uid-1/vault/3600']);
    expect(tokenRequest(p, { expirationSeconds: 3607 })).toEqual({
      apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest',
      spec: { audiences: [], expirationSeconds: 3607, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: 'web', uid: 'uid-1' } },
    });
    expect((tokenRequest(p, { audience: 'vault' }).spec as { audiences: string[]; expirationSeconds: number })).toMatchObject({ audiences: ['vault'], expirationSeconds: 3600 });
  });

  it('refreshes past 80% of the lifetime, when expired, and after a day', () => {
    const t = { issuedAt: 0, expiresAt: 3600_000 };
    expect(needsRefresh(t, 2000_000)).toBe(false);
    expect(needsRefresh(t, 2880_000)).toBe(true);
    expect(needsRefresh(t, 4000_000)).toBe(true);
    expect(needsRefresh({ issuedAt: 0, expiresAt: 365 * 86400_000 }, 86400_001)).toBe(true);
  });

  it('the kube-api-access volume is planned with the issued token, the cluster CA and the namespace', () => {
    const objects = new ObjectStore();
    objects.replace([{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'kube-root-ca.crt', namespace: 'team' }, data: { 'ca.crt': 'PEM' } }]);
    const p = pod({ volumes: [kubeApiAccess] });
    const ctx = { objects, podIP: '', hostIP: '127.0.0.1', node: { cpuMilli: 1000, memoryBytes: 1 << 30, ephemeralBytes: 1 << 30 }, serviceEnv: {} };
    // No API server: a clear refusal.
    expect(() => planVolumes(p, '/r', ctx)).toThrow(/needs an API server/);
    // An API server that has not issued it yet: the pod waits, as for a mount (ContainerCreating),
    // not as for a configuration error (CreateContainerConfigError).
    objects.setTokens(new Map());
    expect(() => planVolumes(p, '/r', ctx)).toThrow(/no token issued yet for service account "default"/);
    expect(() => planVolumes(p, '/r', ctx)).toThrow(VolumePending);
    const gen = objects.generation;
    expect(objects.setTokens(new Map([[tokenKey('uid-1', { expirationSeconds: 3607 }), Buffer.from('jwt')]]))).toBe(true);
    expect(objects.generation).toBe(gen + 1);
    const plan = must(planVolumes(p, '/r', ctx)[0], 'the volume plan');
    expect(plan.kind === 'projected' && plan.files.map((f) => [f.path, f.data.toString(), f.mode])).toEqual([['token', 'jwt', 420], ['ca.crt', 'PEM', 420], ['namespace', 'team', 420]]);
  });
});

describe('re-registration', () => {
  it('patches only the labels that differ', () => {
    expect(changedLabels({ a: '1', b: '2', x: 'y' }, { a: '1', b: '3', c: '4' })).toEqual({ b: '3', c: '4' });
    expect(changedLabels({ a: '1' }, { a: '1' })).toEqual({});
  });
});

describe('mirror pods NodeRestriction refuses', () => {
  it('names why a static pod gets none: a service account, a Secret, a ConfigMap', () => {
    expect(mirrorRefused(pod({}))).toBeUndefined();
    expect(mirrorRefused(pod({ serviceAccountName: 'sa' }))).toMatch(/service account/);
    expect(mirrorRefused(pod({ volumes: [{ name: 'v', secret: { secretName: 's' } }] }))).toMatch(/Secret/);
    expect(mirrorRefused(pod({ containers: [{ name: 'c', image: 'x', envFrom: [{ configMapRef: { name: 'c' } }] }] }))).toMatch(/ConfigMap/);
  });
});

describe('the pod status patch', () => {
  it('nulls what the new status leaves out, so a strategic merge cannot keep an old reason or container state', () => {
    const body = JSON.parse(statusPatch('u1', {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: 't' }],
      containerStatuses: [{ name: 'c', ready: true, restartCount: 0, image: 'x', imageID: '', state: { running: { startedAt: 't' } }, lastState: {} }],
    } as never)) as { metadata: { uid: string }; status: Record<string, unknown> };
    expect(body.metadata.uid).toBe('u1');
    expect(body.status.conditions).toEqual([{ type: 'Ready', status: 'True', lastTransitionTime: 't', reason: null, message: null }]);
    expect((body.status.containerStatuses as { state: unknown; lastState: unknown }[])[0]).toMatchObject({
      state: { waiting: null, running: { startedAt: 't' }, terminated: null },
      lastState: { waiting: null, running: null, terminated: null },
    });
    expect(body.status).toMatchObject({ reason: null, message: null });
  });

  it('deletes by type a kubelet condition the node no longer reports, and keeps the conditions of others', () => {
    const written = {
      conditions: [
        { type: 'Ready', status: 'True' },
        { type: 'PodResizePending', status: 'True', reason: 'Deferred' },
        { type: 'example.com/gate', status: 'True' },
        { type: 'DisruptionTarget', status: 'True' },
      ],
    };
    const body = JSON.parse(statusPatch('u1', { phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: 't' }] } as never, written as never)) as { status: { conditions: Record<string, unknown>[] } };
    expect(body.status.conditions).toEqual([
      { type: 'Ready', status: 'True', lastTransitionTime: 't', reason: null, message: null },
      { type: 'PodResizePending', $patch: 'delete' },
    ]);
  });
});

describe('readiness gates (e2e pods.go "should support pod readiness gates")', () => {
  const apiPod = (conds: { type: string; status: string }[]) => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns', uid: 'u1' },
    spec: { containers: [{ name: 'c', image: 'x' }], readinessGates: [{ conditionType: 'k8s.io/test-condition1' }, { conditionType: 'k8s.io/test-condition2' }] },
    status: { phase: 'Running', conditions: conds },
  });

  it('reads the conditions the gates name from the API pod, and nothing else of its status', () => {
    const o = apiPod([{ type: 'Ready', status: 'False' }, { type: 'k8s.io/test-condition1', status: 'True' }, { type: 'other.io/x', status: 'True' }]);
    expect(gateConditions(o as never)).toEqual([{ type: 'k8s.io/test-condition1', status: 'True' }]);
    expect(gateConditions({ ...o, spec: { containers: [] } } as never)).toEqual([]);
  });

  it('never writes a gate condition back: its setter owns it, the node\'s copy may be older', () => {
    const ours = { phase: 'Running', conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: 't' }, { type: 'k8s.io/test-condition1', status: 'False' }] };
    const body = JSON.parse(statusPatch('u1', ours as never)) as { status: { conditions: { type: string }[] } };
    expect(body.status.conditions.map((c) => c.type)).toEqual(['Ready']);
    // Nor does a gate condition that differs make the node write its status again.
    expect(statusHeld({ phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }, { type: 'k8s.io/test-condition1', status: 'True' }] } as never, ours as never)).toBe(true);
  });
});

describe('node status written behind the node\'s back', () => {
  it('finds the conditions whose status on the API server is not ours (the lifecycle controller\'s Unknown)', () => {
    const ours = [{ type: 'MemoryPressure', status: 'False' }, { type: 'Ready', status: 'True' }];
    expect(overriddenConditions([{ type: 'MemoryPressure', status: 'False' }, { type: 'Ready', status: 'Unknown' }], ours)).toEqual(['Ready']);
    expect(overriddenConditions([{ type: 'Ready', status: 'True' }, { type: 'MemoryPressure', status: 'False' }], ours)).toEqual([]);
    expect(overriddenConditions(undefined, ours)).toEqual(['MemoryPressure', 'Ready']);
  });
});

describe('statusHeld: write the pod status again when someone else changed it', () => {
  const ours = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }, { type: 'ContainersReady', status: 'True' }] } as never;
  it('holds while the API object has our phase and condition statuses', () => {
    expect(statusHeld({ phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }, { type: 'ContainersReady', status: 'True' }, { type: 'PodScheduled', status: 'True' }] } as never, ours)).toBe(true);
  });
  it('does not hold once the node lifecycle controller marked the pod not ready, or before any status', () => {
    expect(statusHeld({ phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }, { type: 'ContainersReady', status: 'True' }] } as never, ours)).toBe(false);
    expect(statusHeld(undefined, ours)).toBe(false);
    expect(statusHeld({ phase: 'Pending' } as never, ours)).toBe(false);
  });
});
