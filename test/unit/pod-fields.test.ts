import { describe, expect, it } from 'vitest';
import { admitPod } from '../../agent/pods/admission.js';
import { ineffectiveFields, type NodeFeatures, unsupportedField } from '../../agent/pods/fields.js';
import { qosClass } from '../../agent/vocab/index.js';
import { containerConfig, kernelHostname, podHostname, sandboxConfig } from '../../agent/pods/translate.js';
import { podCgroupResources, podLimits, podRequests } from '../../agent/resources/compute.js';
import { containerCreateOptions } from '../../cri/docker/container.js';
import type { Pod, PodSpec } from '../../manifests/index.js';
import { ctr, pod } from '../support/fixtures.js';

// Every pod-spec field the issue lists: it works, or admission refuses it with a reason and a
// message naming the field, or it is reported once as having no effect here.

const HOST: NodeFeatures = { appArmor: false, seLinux: false, stopSignal: true, resizeInPlace: true, clusterDomain: 'cluster.local' };
const staticPod = (spec: Partial<PodSpec>, name = 'web'): Pod => {
  const p = pod({ containers: [ctr('c')], ...spec }, name);
  p.metadata.annotations = { 'kubernetes.io/config.source': 'file' };
  return p;
};
const refusal = (spec: Partial<PodSpec>, node = HOST) => unsupportedField(staticPod(spec), node);

describe('refused at admission, with a reason and the field', () => {
  const cases: [string, Partial<PodSpec>, string, string][] = [
    ['os windows', { os: { name: 'windows' } }, 'PodOSNotSupported', "Failed to admit pod as the OS field doesn't match node OS (spec.os.name: windows"],
    ['appArmorProfile without AppArmor (pod)', { securityContext: { appArmorProfile: { type: 'RuntimeDefault' } } }, 'AppArmor', 'Cannot enforce AppArmor: AppArmor is not enabled on the host (spec.securityContext.appArmorProfile)'],
    ['appArmorProfile without AppArmor (container)', { containers: [ctr('c', { securityContext: { appArmorProfile: { type: 'Localhost', localhostProfile: 'p' } } })] }, 'AppArmor', '(spec.containers[0].securityContext.appArmorProfile)'],
    ['supplementalGroupsPolicy Strict', { securityContext: { supplementalGroupsPolicy: 'Strict' } }, 'SupplementalGroupsPolicyNotSupported', 'spec.securityContext.supplementalGroupsPolicy'],
    ['hostUsers false (and with it procMount Unmasked)', { hostUsers: false, containers: [ctr('c', { securityContext: { procMount: 'Unmasked' } })] }, 'UserNamespacesNotSupported', 'spec.hostUsers'],
    ['runtimeClassName', { runtimeClassName: 'gvisor' }, 'RuntimeClassNotSupported', 'spec.runtimeClassName: RuntimeClass "gvisor"'],
    ['resourceClaims', { resourceClaims: [{ name: 'gpu', resourceClaimName: 'gpu-claim' }] }, 'ResourceClaimsNotSupported', 'spec.resourceClaims'],
    ['container resources.claims', { containers: [ctr('c', { resources: { claims: [{ name: 'gpu' }] } })] }, 'ResourceClaimsNotSupported', 'spec.containers[0].resources.claims'],
    ['volumeDevices', { containers: [ctr('c', { volumeDevices: [{ name: 'raw', devicePath: '/dev/xvda' }] })] }, 'VolumeNotSupported', 'spec.containers[0].volumeDevices'],
    ['restartPolicyRules', { initContainers: [ctr('i', { restartPolicy: 'Always', restartPolicyRules: [{ action: 'Restart', exitCodes: { operator: 'In', values: [42] } }] })] }, 'ContainerRestartRulesNotSupported', 'spec.initContainers[0].restartPolicyRules'],
    ['env valueFrom.fileKeyRef', { containers: [ctr('c', { env: [{ name: 'A', value: '1' }, { name: 'B', valueFrom: { fileKeyRef: { volumeName: 'v', path: 'env', key: 'B' } } }] })] }, 'EnvFilesNotSupported', 'spec.containers[0].env[1].valueFrom.fileKeyRef'],
    ['recursiveReadOnly Enabled', { volumes: [{ name: 'v', emptyDir: {} }], containers: [ctr('c', { volumeMounts: [{ name: 'v', mountPath: '/v', readOnly: true, recursiveReadOnly: 'Enabled' }] })] }, 'RecursiveReadOnlyNotSupported', 'spec.containers[0].volumeMounts[0].recursiveReadOnly'],
    ['an FQDN host name over 64 characters', { hostname: 'h'.repeat(30), subdomain: 's'.repeat(20), setHostnameAsFQDN: true }, 'HostnameTooLong', 'is too long (64 characters is the max, 77 characters requested)'],
  ];
  it.each(cases)('%s', (_, spec, reason, message) => {
    const r = refusal(spec);
    expect(r?.reason).toBe(reason);
    expect(r?.message).toContain(message);
  });

  it('lifecycle.stopSignal where the runtime cannot set it (containerd 1.6)', () => {
    const spec = { containers: [ctr('c', { lifecycle: { stopSignal: 'SIGUSR1' } })] };
    expect(refusal(spec, { ...HOST, stopSignal: false })).toEqual({ reason: 'StopSignalNotSupported', message: "spec.containers[0].lifecycle.stopSignal: the container runtime here cannot set a container's stop signal" });
    expect(refusal(spec)).toBeUndefined();
  });

  it('AppArmor Unconfined runs where the kernel has no AppArmor; any profile is refused where it has', () => {
    const spec = { securityContext: { appArmorProfile: { type: 'Unconfined' } } };
    expect(refusal(spec)).toBeUndefined();
    expect(refusal(spec, { ...HOST, appArmor: true })?.message).toContain('does not pass AppArmor profiles to the engine yet');
  });

  const volumes: [string, Record<string, unknown>, string][] = [
    ['persistentVolumeClaim', { claimName: 'data' }, 'claims are provisioned and attached by volume controllers'],
    ['ephemeral', { volumeClaimTemplate: { spec: {} } }, 'claims are provisioned'],
    ['csi', { driver: 'inline.storage.kubernetes.io' }, 'no CSI driver is registered on this node'],
    ['nfs', { server: 'nfs.example.com', path: '/x' }, 'this node has no nfs volume plugin'],
    ['image', { reference: 'quay.io/crio/artifact:v2' }, 'mounting an image as a volume needs engine support'],
    ['iscsi', { targetPortal: '10.0.2.15:3260', iqn: 'iqn.2001-04.com.example:x', lun: 0 }, 'this node has no iscsi volume plugin'],
    ['gitRepo', { repository: 'https://example.com/x.git' }, 'gitRepo is deprecated'],
  ];
  it.each(volumes)('a %s volume', (kind, source, why) => {
    const r = refusal({ volumes: [{ name: 'ok', emptyDir: {} }, { name: 'data', [kind]: source } as never] });
    expect(r).toEqual({ reason: 'VolumeNotSupported', message: expect.stringContaining(`spec.volumes[1].${kind} (volume "data"): ${why}`) });
  });

  it('projected sources that need an API server, for static pods', () => {
    const proj = (src: Record<string, unknown>) => ({ volumes: [{ name: 'p', projected: { sources: [{ configMap: { name: 'x' } }, src] } } as never] });
    expect(refusal(proj({ serviceAccountToken: { path: 'token' } }))?.message).toBe('spec.volumes[0].projected.sources[1].serviceAccountToken (volume "p"): static pods get no service account token');
    expect(refusal(proj({ clusterTrustBundle: { name: 'b', path: 'ca.pem' } }))?.reason).toBe('VolumeNotSupported');
  });

  it('runs what this node serves, as written', () => {
    expect(refusal({
      os: { name: 'linux' },
      volumes: [{ name: 'a', emptyDir: {} }, { name: 'b', hostPath: { path: '/tmp' } }, { name: 'c', configMap: { name: 'x' } }, { name: 'd', secret: { secretName: 'y' } }, { name: 'e', downwardAPI: { items: [] } }, { name: 'f', projected: { sources: [] } }],
      securityContext: { supplementalGroupsPolicy: 'Merge' },
      hostUsers: true,
      setHostnameAsFQDN: true,
      subdomain: 'sub',
      resources: { limits: { cpu: '1', memory: '1Gi' } },
    })).toBeUndefined();
  });

  it('goes through admitPod with kubelet\'s "Pod was rejected" shape', () => {
    expect(admitPod(staticPod({ runtimeClassName: 'kata' }), [], { features: HOST })).toMatchObject({ ok: false, reason: 'RuntimeClassNotSupported' });
    expect(admitPod(staticPod({ runtimeClassName: 'kata' }), [], {})).toEqual({ ok: true });
  });
});

describe('accepted with one Warning naming the field and why', () => {
  it('names every scheduling field of a static pod', () => {
    const fields = ineffectiveFields(staticPod({
      affinity: {
        nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, preference: {} }] },
        podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [] },
        podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [] },
      },
      topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule' }],
      schedulerName: 'my-scheduler',
      priorityClassName: 'system-node-critical',
      preemptionPolicy: 'Never',
      automountServiceAccountToken: true,
    }), HOST);
    expect(fields.map((f) => f.field)).toEqual([
      'spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution',
      'spec.affinity.podAffinity',
      'spec.affinity.podAntiAffinity',
      'spec.topologySpreadConstraints',
      'spec.schedulerName',
      'spec.priorityClassName',
      'spec.preemptionPolicy',
      'spec.automountServiceAccountToken',
    ]);
    expect(fields.every((f) => f.why.length > 10)).toBe(true);
  });

  it('says nothing of scheduling fields for pods the scheduler placed (API server pods)', () => {
    const p = staticPod({ topologySpreadConstraints: [{ maxSkew: 1 }], schedulerName: 'x' });
    p.metadata.annotations = { 'kubernetes.io/config.source': 'api' };
    expect(ineffectiveFields(p, HOST)).toEqual([]);
  });

  it('names windowsOptions and seLinuxChangePolicy', () => {
    const p = staticPod({ securityContext: { windowsOptions: { runAsUserName: 'x' }, seLinuxChangePolicy: 'Recursive' }, containers: [ctr('c', { securityContext: { windowsOptions: { hostProcess: false } } })] });
    expect(ineffectiveFields(p, HOST).map((f) => f.field)).toEqual(['spec.securityContext.seLinuxChangePolicy', 'spec.securityContext.windowsOptions', 'spec.containers[0].securityContext.windowsOptions']);
  });

  it('names seLinuxOptions where SELinux is off, resizePolicy where the runtime cannot resize, and recursiveReadOnly IfPossible', () => {
    const p = staticPod({
      securityContext: { seLinuxOptions: { level: 's0:c123,c456' } },
      volumes: [{ name: 'v', emptyDir: {} }],
      containers: [ctr('c', {
        securityContext: { seLinuxOptions: { type: 'spc_t' } },
        resizePolicy: [{ resourceName: 'cpu', restartPolicy: 'NotRequired' }],
        volumeMounts: [{ name: 'v', mountPath: '/v', readOnly: true, recursiveReadOnly: 'IfPossible' }],
      })],
    });
    expect(ineffectiveFields(p, { ...HOST, resizeInPlace: false }).map((f) => `${f.field}: ${f.why}`)).toEqual([
      'spec.securityContext.seLinuxOptions: SELinux is not enabled on this host',
      'spec.containers[0].securityContext.seLinuxOptions: SELinux is not enabled on this host',
      'spec.containers[0].resizePolicy: this runtime cannot resize a running container: an edit of its resources restarts it',
      'spec.containers[0].volumeMounts[0].recursiveReadOnly: the engine cannot make mounts recursively read-only; the mount is read-only at its top only',
    ]);
    expect(ineffectiveFields(p, { ...HOST, seLinux: true }).map((f) => f.field)).not.toContain('spec.securityContext.seLinuxOptions');
    expect(ineffectiveFields(p, HOST).map((f) => f.field)).not.toContain('spec.containers[0].resizePolicy');
  });
});

describe('works on this node', () => {
  it('setHostnameAsFQDN: the kernel host name is the FQDN; /etc/hosts keeps the short name', () => {
    const p = staticPod({ hostname: 'db-0', subdomain: 'db', setHostnameAsFQDN: true });
    expect(kernelHostname(p, 'cluster.local')).toBe('db-0.db.default.svc.cluster.local');
    expect(sandboxConfig(p, 0, {}, 'example.internal').hostname).toBe('db-0.db.default.svc.example.internal');
    expect(podHostname(p)).toBe('db-0');
    // Without a subdomain there is no domain to add (GetNodenameForKernel).
    expect(kernelHostname(staticPod({ setHostnameAsFQDN: true }), 'cluster.local')).toBe('web');
  });

  it('hostnameOverride replaces the host name', () => {
    const p = staticPod({ hostname: 'ignored', hostnameOverride: 'custom.host' });
    expect(podHostname(p)).toBe('custom.host');
    expect(sandboxConfig(p, 0).hostname).toBe('custom.host');
  });

  it('lifecycle.stopSignal becomes the engine\'s stop signal', () => {
    const c = ctr('c', { lifecycle: { stopSignal: 'SIGUSR1' } });
    const p = staticPod({ containers: [c] });
    const config = containerConfig(p, c, 0, 'app', []);
    expect(config.stopSignal).toBe('SIGUSR1');
    expect(containerCreateOptions('sb', config, sandboxConfig(p, 0)).StopSignal).toBe('SIGUSR1');
    expect(containerCreateOptions('sb', containerConfig(p, ctr('d'), 0, 'app', []), sandboxConfig(p, 0)).StopSignal).toBeUndefined();
  });

  it('an ephemeral container with a target joins the target\'s PID namespace, unless the pod shares one', () => {
    const p = staticPod({ containers: [ctr('app')] });
    const config = { ...containerConfig(p, ctr('debugger'), 0, 'ephemeral', []), pidTarget: 'abc' };
    expect(containerCreateOptions('sb', config, sandboxConfig(p, 0)).HostConfig?.PidMode).toBe('container:abc');
    const shared = staticPod({ containers: [ctr('app')], shareProcessNamespace: true });
    expect(containerCreateOptions('sb', config, sandboxConfig(shared, 0)).HostConfig?.PidMode).toBe('container:sb');
  });

  it('pod-level resources set the QoS class, the admission requests and the pod cgroup', () => {
    const p = staticPod({
      resources: { limits: { cpu: '1', memory: '200Mi' }, requests: { cpu: '500m' } },
      containers: [ctr('a', { resources: { limits: { cpu: '250m', memory: '100Mi' } } }), ctr('b')],
    });
    expect(qosClass(p)).toBe('Burstable');
    expect(podRequests(p)).toMatchObject({ cpuMilli: 500, memory: 200 * 2 ** 20 });
    expect(podLimits(p)).toMatchObject({ cpuMilli: 1000, memory: 200 * 2 ** 20, cpuLimitsDeclared: true, memoryLimitsDeclared: true });
    expect(podCgroupResources(p)).toMatchObject({ cpuShares: 512, cpuQuota: 100_000, cpuPeriod: 100_000, memoryLimit: 200 * 2 ** 20 });
    // Limits alone: requests default to them, and the pod is Guaranteed whatever its containers say.
    expect(qosClass(staticPod({ resources: { limits: { cpu: '1', memory: '1Gi' } } }))).toBe('Guaranteed');
    expect(qosClass(staticPod({ resources: { requests: { memory: '1Gi' } } }))).toBe('Burstable');
  });
});
