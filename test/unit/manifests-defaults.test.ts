import { describe, expect, it } from 'vitest';
import { applyPodDefaults, defaultImagePullPolicy, isSidecar, podFullName, type KubeObject } from '../../manifests/index.js';

describe('defaultImagePullPolicy', () => {
  it.each([
    ['busybox', 'Always'],
    ['busybox:latest', 'Always'],
    ['busybox:1.36', 'IfNotPresent'],
    ['registry:5000/busybox', 'Always'],
    ['registry:5000/busybox:1', 'IfNotPresent'],
    ['registry:5000/library/busybox:latest', 'Always'],
    [`busybox@sha256:${'a'.repeat(64)}`, 'IfNotPresent'],
    // Upstream parses the tag even next to a digest: latest stays latest.
    [`busybox:latest@sha256:${'a'.repeat(64)}`, 'Always'],
    [`busybox:1.36@sha256:${'a'.repeat(64)}`, 'IfNotPresent'],
  ])('%s -> %s', (image, policy) => {
    expect(defaultImagePullPolicy(image)).toBe(policy);
  });
});

describe('applyPodDefaults', () => {
  const input: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', creationTimestamp: null as unknown as string },
    spec: {
      initContainers: [{ name: 'init', image: 'busybox:1.36' }],
      containers: [{
        name: 'web',
        image: 'nginx',
        ports: [{ containerPort: 80 }],
        resources: { limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '100m' } },
        livenessProbe: { httpGet: { port: 80 }, initialDelaySeconds: 5 },
        readinessProbe: { exec: { command: ['true'] }, periodSeconds: 3 },
        lifecycle: { preStop: { httpGet: { port: 80, path: '/stop' } } },
        env: [{ name: 'N', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
      }],
      volumes: [
        { name: 'a', configMap: { name: 'c' } },
        { name: 'b', secret: { secretName: 's', defaultMode: 0o400 } },
        { name: 'c', downwardAPI: { items: [{ path: 'l', fieldRef: { fieldPath: 'metadata.labels' } }] } },
        { name: 'd', projected: { sources: [] } },
        { name: 'e', hostPath: { path: '/x' } },
        { name: 'f', emptyDir: {} },
        { name: 'g' },
      ],
    },
  };

  it('fills in what the API server would', () => {
    const before = structuredClone(input);
    const pod = applyPodDefaults(input);
    expect(input).toEqual(before);
    expect(pod.metadata).toEqual({ name: 'web', namespace: 'default' });
    const { containers, initContainers, volumes, ...spec } = pod.spec;
    expect(spec).toEqual({
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      schedulerName: 'default-scheduler',
      securityContext: {},
      enableServiceLinks: true,
    });
    expect(initContainers![0]).toEqual({
      name: 'init', image: 'busybox:1.36', imagePullPolicy: 'IfNotPresent',
      terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File',
    });
    const c = containers[0]!;
    expect(c.imagePullPolicy).toBe('Always');
    expect(c.ports).toEqual([{ containerPort: 80, protocol: 'TCP' }]);
    expect(c.resources).toEqual({ limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '100m', memory: '1Gi' } });
    expect(c.livenessProbe).toEqual({
      httpGet: { port: 80, path: '/', scheme: 'HTTP' },
      initialDelaySeconds: 5, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3,
    });
    expect(c.readinessProbe).toMatchObject({ periodSeconds: 3, timeoutSeconds: 1 });
    expect(c.readinessProbe).not.toHaveProperty('initialDelaySeconds');
    expect(c.lifecycle!.preStop!.httpGet).toEqual({ port: 80, path: '/stop', scheme: 'HTTP' });
    expect(c.env![0]!.valueFrom!.fieldRef).toEqual({ apiVersion: 'v1', fieldPath: 'spec.nodeName' });
    expect(volumes).toEqual([
      { name: 'a', configMap: { name: 'c', defaultMode: 420 } },
      { name: 'b', secret: { secretName: 's', defaultMode: 256 } },
      { name: 'c', downwardAPI: { items: [{ path: 'l', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.labels' } }], defaultMode: 420 } },
      { name: 'd', projected: { sources: [], defaultMode: 420 } },
      { name: 'e', hostPath: { path: '/x', type: '' } },
      { name: 'f', emptyDir: {} },
      { name: 'g', emptyDir: {} },
    ]);
  });

  it('keeps explicit values, including a zero grace period', () => {
    const pod = applyPodDefaults({
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: 'x', namespace: 'kube-system' },
      spec: {
        containers: [{ name: 'c', image: 'busybox', imagePullPolicy: 'Never' }],
        terminationGracePeriodSeconds: 0, restartPolicy: 'Never', dnsPolicy: 'Default', enableServiceLinks: false,
      },
    });
    expect(pod.metadata.namespace).toBe('kube-system');
    expect(pod.spec).toMatchObject({ terminationGracePeriodSeconds: 0, restartPolicy: 'Never', dnsPolicy: 'Default', enableServiceLinks: false });
    expect(pod.spec.containers[0]!.imagePullPolicy).toBe('Never');
  });

  it('stores a negative grace period as 1, as the API server does', () => {
    const pod = applyPodDefaults({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' },
      spec: { containers: [{ name: 'c', image: 'busybox' }], terminationGracePeriodSeconds: -5 },
    });
    expect(pod.spec.terminationGracePeriodSeconds).toBe(1);
  });

  it('uses the container port as host port with hostNetwork', () => {
    const pod = applyPodDefaults({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' },
      spec: { hostNetwork: true, containers: [{ name: 'c', image: 'i', ports: [{ containerPort: 53, protocol: 'UDP' }] }] },
    });
    expect(pod.spec.containers[0]!.ports).toEqual([{ containerPort: 53, hostPort: 53, protocol: 'UDP' }]);
  });
});

describe('helpers', () => {
  it('podFullName and isSidecar', () => {
    expect(podFullName({ metadata: { name: 'etcd-node1', namespace: 'kube-system' } })).toBe('etcd-node1_kube-system');
    expect(isSidecar({ restartPolicy: 'Always' })).toBe(true);
    expect(isSidecar({})).toBe(false);
  });
});
