import { describe, expect, it } from 'vitest';
import { canonicalJSON, hashObject, parseManifests, staticPodFromManifest, formatRFC3339Nano } from '../../manifests/index.js';

const A = `apiVersion: v1
kind: Pod
metadata:
  name: etcd
  namespace: kube-system
  labels: {component: etcd, tier: control-plane}
spec:
  hostNetwork: true
  containers:
  - name: etcd
    image: registry.k8s.io/etcd:3.5.12-0
    command: [etcd, --data-dir=/var/lib/etcd]
    volumeMounts: [{name: data, mountPath: /var/lib/etcd}]
  volumes:
  - name: data
    hostPath: {path: /var/lib/etcd, type: DirectoryOrCreate}
`;

// The same pod, keys reordered and reformatted (block vs flow style, quoting, comments).
const A_REORDERED = `kind: Pod
spec:
  volumes:
    - hostPath:
        type: "DirectoryOrCreate"
        path: /var/lib/etcd
      name: data
  containers:
    - image: 'registry.k8s.io/etcd:3.5.12-0'
      volumeMounts:
        - mountPath: /var/lib/etcd
          name: data
      command:
        - etcd
        - "--data-dir=/var/lib/etcd"
      name: etcd
  hostNetwork: true   # as kubeadm writes it
metadata:
  labels:
    tier: control-plane
    component: etcd
  namespace: kube-system
  name: etcd
apiVersion: v1
`;

const one = (text: string) => parseManifests(text, '/etc/kubernetes/manifests/etcd.yaml').objects[0]!.object;
const seen = new Date('2024-05-06T07:08:09.120Z');
const opts = { nodeName: 'Node1', source: 'file' as const, path: '/etc/kubernetes/manifests/etcd.yaml', seen };

describe('staticPodFromManifest', () => {
  it('names, binds and annotates the pod', () => {
    const pod = staticPodFromManifest(one(A), opts);
    expect(pod.metadata.name).toBe('etcd-node1');
    expect(pod.metadata.namespace).toBe('kube-system');
    expect(pod.spec.nodeName).toBe('Node1');
    expect(pod.metadata.uid).toMatch(/^[0-9a-f]{32}$/);
    expect(pod.metadata.annotations).toEqual({
      'kubernetes.io/config.hash': pod.metadata.uid,
      'kubernetes.io/config.seen': '2024-05-06T07:08:09.12Z',
      'kubernetes.io/config.source': 'file',
    });
    expect(pod.spec.containers[0]!.imagePullPolicy).toBe('IfNotPresent');
    expect(pod.metadata.labels).toEqual({ component: 'etcd', tier: 'control-plane' });
  });

  it('puts an empty namespace in default', () => {
    const pod = staticPodFromManifest(one(A.replace('  namespace: kube-system\n', '')), opts);
    expect(pod.metadata.namespace).toBe('default');
  });

  it('keeps the UID for the same content, whatever the key order or formatting', () => {
    const a = staticPodFromManifest(one(A), opts);
    const b = staticPodFromManifest(one(A_REORDERED), { ...opts, seen: new Date() });
    expect(b.metadata.uid).toBe(a.metadata.uid);
  });

  it('changes the UID for any change of the spec', () => {
    const uid = staticPodFromManifest(one(A), opts).metadata.uid;
    const variants = [
      A.replace('--data-dir=/var/lib/etcd]', '--data-dir=/var/lib/etcd, --debug]'),
      A.replace('3.5.12-0', '3.5.13-0'),
      A.replace('image:', 'env: [{name: X, value: "1"}]\n    image:'),
      A.replace('type: DirectoryOrCreate', 'type: Directory'),
      A.replace('tier: control-plane', 'tier: cp'),
    ];
    for (const v of variants) expect(staticPodFromManifest(one(v), opts).metadata.uid).not.toBe(uid);
    expect(staticPodFromManifest(one(A), { ...opts, nodeName: 'node2' }).metadata.uid).not.toBe(uid);
    expect(staticPodFromManifest(one(A), { ...opts, path: '/etc/kubernetes/manifests/etcd2.yaml' }).metadata.uid).not.toBe(uid);
  });

  it('ignores a uid written in the manifest', () => {
    const withUid = A.replace('  name: etcd\n', '  name: etcd\n  uid: fixed\n');
    expect(staticPodFromManifest(one(withUid), opts).metadata.uid).toBe(staticPodFromManifest(one(A), opts).metadata.uid);
  });

  it('does not modify its input', () => {
    const input = one(A);
    const before = structuredClone(input);
    staticPodFromManifest(input, opts);
    expect(input).toEqual(before);
  });
});

describe('hashing', () => {
  it('canonicalJSON sorts keys at every level and drops undefined', () => {
    expect(canonicalJSON({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: undefined } })).toBe('{"a":{"d":[3,{"y":2,"z":1}]},"b":1}');
  });
  it('hashObject is a sha256 of the canonical form', () => {
    expect(hashObject({ a: 1, b: 2 })).toBe(hashObject({ b: 2, a: 1 }));
    expect(hashObject({ a: 1 })).toMatch(/^[0-9a-f]{64}$/);
    expect(hashObject({ a: 1 })).not.toBe(hashObject({ a: 2 }));
  });
  it('formats times as Go RFC3339Nano', () => {
    expect(formatRFC3339Nano(new Date('2024-05-06T07:08:09.000Z'))).toBe('2024-05-06T07:08:09Z');
    expect(formatRFC3339Nano(new Date('2024-05-06T07:08:09.100Z'))).toBe('2024-05-06T07:08:09.1Z');
  });
});
