import { describe, expect, it } from 'vitest';
import {
  applyPodDefaults, CONTAINER_HASH_VERSION, containerSpecChanged, containerSpecHash, parseManifests, staticPodFromManifest,
  type Container, type KubeObject, type Pod,
} from '../../manifests/index.js';
import { legacyHash } from '../../manifests/container-hash.js';

// Golden values. A failure here means running containers (or static pods) would be restarted
// by the upgrade that ships the change. If that is on purpose: add a hash version instead of
// editing one (manifests/container-hash.ts), or, for a static pod UID, say so in the README's
// "Upgrades" section and move the upgrade test's baseline (test/upgrade/baseline.json) past it.

// Every kind of field a container can have, spelled as a manifest would.
const FULL: Container = {
  name: 'app',
  image: 'localhost/bosun/busybox:1',
  imagePullPolicy: 'IfNotPresent',
  command: ['sh', '-c'],
  args: ['exec httpd -f -p 8080'],
  env: [{ name: 'A', value: '1' }],
  ports: [{ containerPort: 8080, protocol: 'TCP' }],
  resources: { limits: { cpu: '500m', memory: '64Mi' }, requests: { cpu: '100m' } },
  resizePolicy: [{ resourceName: 'cpu', restartPolicy: 'NotRequired' }, { resourceName: 'memory', restartPolicy: 'RestartContainer' }],
  volumeMounts: [{ name: 'data', mountPath: '/data' }],
  livenessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 5 },
  readinessProbe: { tcpSocket: { port: 8080 } },
  startupProbe: { exec: { command: ['true'] } },
  lifecycle: { preStop: { sleep: { seconds: 1 } } },
  securityContext: { runAsUser: 1000 },
  terminationMessagePath: '/dev/termination-log',
  terminationMessagePolicy: 'File',
} as Container;

const GOLDEN = {
  full: 'v1-c7f8f3c56f7da36d',
  withoutResources: 'v1-436da1ebbb8a7e86',
  legacyFull: 'e4cdf27abcdd0c9d',
  legacyWithoutResources: 'b3a1352675666410',
  // A bare container after today's defaults: pins that no default reaches the hash inputs.
  defaulted: 'v1-16fa36d0c5b3867b',
  // Static pod UIDs (manifests/static.ts): the whole defaulted manifest but resources.
  staticMinimal: '2bfd2349055d34fb6307c255662faac7',
  staticEveryKind: '2f3fea75219536f9424d4d55bf339a39',
};

const MINIMAL = `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - {name: web, image: localhost/bosun/busybox:1}
`;

// The pod kinds the upgrade test runs: init, sidecar, probes, volumes, hostNetwork, resources.
const EVERY_KIND = `apiVersion: v1
kind: Pod
metadata: {name: every, namespace: kube-system, labels: {app: every}}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 2
  initContainers:
  - {name: init, image: localhost/bosun/busybox:1, command: [sh, -c, 'echo done > /work/init']}
  - name: side
    image: localhost/bosun/busybox:1
    restartPolicy: Always
    command: [sh, -c, 'exec sleep 1000000']
    startupProbe: {exec: {command: ['true']}, periodSeconds: 1}
  containers:
  - name: app
    image: localhost/bosun/busybox:1
    command: [sh, -c, 'exec sleep 1000000']
    resources: {limits: {cpu: 200m, memory: 64Mi}}
    livenessProbe: {exec: {command: ['true']}, periodSeconds: 2}
    readinessProbe: {tcpSocket: {port: 1}, periodSeconds: 2}
    volumeMounts:
    - {name: scratch, mountPath: /work}
    - {name: conf, mountPath: /conf}
    - {name: host, mountPath: /host, readOnly: true}
  volumes:
  - {name: scratch, emptyDir: {}}
  - name: conf
    configMap: {name: every-conf}
  - name: host
    hostPath: {path: /etc/hostname, type: File}
`;

const one = (text: string): KubeObject => parseManifests(text, 'golden.yaml').objects[0]!.object;
const staticUid = (text: string, identity?: string): string =>
  staticPodFromManifest(one(text), { nodeName: 'node1', source: 'file', path: '/etc/kubernetes/manifests/golden.yaml', seen: new Date(0), ...(identity ? { identity } : {}) }).metadata.uid;

describe('container hash: golden values', () => {
  it(`version ${CONTAINER_HASH_VERSION} of a container with every field`, () => {
    expect(CONTAINER_HASH_VERSION).toBe(1);
    expect(containerSpecHash(FULL, 'full')).toBe(GOLDEN.full);
    expect(containerSpecHash(FULL, 'withoutResources')).toBe(GOLDEN.withoutResources);
  });

  it('the hash agents before versions recorded (still judged by it)', () => {
    expect(legacyHash(FULL, 'full')).toBe(GOLDEN.legacyFull);
    expect(legacyHash(FULL, 'withoutResources')).toBe(GOLDEN.legacyWithoutResources);
  });

  it('a bare container after defaulting', () => {
    const pod = applyPodDefaults(one(MINIMAL)) as Pod;
    expect(containerSpecHash(pod.spec.containers[0]!, 'full')).toBe(GOLDEN.defaulted);
  });

  it('static pod UIDs of a minimal pod and of a pod of every kind', () => {
    expect(staticUid(MINIMAL)).toBe(GOLDEN.staticMinimal);
    expect(staticUid(EVERY_KIND, 'Burstable')).toBe(GOLDEN.staticEveryKind);
  });
});

describe('container hash: what it covers', () => {
  const same = (c: Container) => expect(containerSpecChanged(containerSpecHash(FULL, 'full'), c, 'full')).toBe(false);
  const changed = (c: Container) => expect(containerSpecChanged(containerSpecHash(FULL, 'full'), c, 'full')).toBe(true);

  it('ignores every field but name, image and resources: a new field or default changes nothing', () => {
    same({ ...FULL, command: ['other'], env: [], livenessProbe: undefined, imagePullPolicy: 'Always', futureField: { x: 1 } } as Container);
    same({ ...FULL, resizePolicy: [{ resourceName: 'memory', restartPolicy: 'RestartContainer' }] });
  });

  it('reads quantities by value and defaults requests from limits', () => {
    same({ ...FULL, resources: { limits: { cpu: '0.5', memory: '67108864' }, requests: { cpu: 0.1, memory: '64Mi' } } });
  });

  it('changes with the image, the name, the resources and a restarting resize policy', () => {
    changed({ ...FULL, image: 'localhost/bosun/busybox:2' });
    changed({ ...FULL, name: 'app2' });
    changed({ ...FULL, resources: { limits: { cpu: '600m', memory: '64Mi' } } });
    changed({ ...FULL, resizePolicy: [] });
    expect(containerSpecChanged(containerSpecHash(FULL, 'withoutResources'), { ...FULL, resources: {} }, 'withoutResources')).toBe(false);
  });

  it('judges a legacy hash by the legacy rule', () => {
    expect(containerSpecChanged(GOLDEN.legacyFull, FULL, 'full')).toBe(false);
    expect(containerSpecChanged(GOLDEN.legacyFull, { ...FULL, args: ['x'] }, 'full')).toBe(true);
  });

  it('never calls a hash it cannot judge a change: none, a newer version, garbage', () => {
    for (const v of [undefined, '', 'v99-0123456789abcdef', 'deadbeef', 'v1-xyz']) expect(containerSpecChanged(v, FULL)).toBe(false);
  });
});
