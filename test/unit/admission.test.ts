import { describe, expect, it } from 'vitest';
import { admitPod, podHostPorts, portsConflict } from '../../agent/pods/admission.js';
import type { Container } from '../../manifests/index.js';
import { ctr, pod } from '../support/fixtures.js';

const withPorts = (name: string, ports: Container['ports'], extra: Parameters<typeof pod>[0] extends infer S ? Partial<S> : never = {}) =>
  pod({ ...extra, containers: [ctr('c', { ports })] }, name);

const NODE_PORTS = { ok: false, reason: 'NodePorts', message: "Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports" };

describe('admission', () => {
  it('lists host ports of every container, init containers included', () => {
    const p = pod({ initContainers: [ctr('i', { ports: [{ containerPort: 53, hostPort: 53, protocol: 'UDP' }] })], containers: [ctr('c', { ports: [{ containerPort: 80 }, { containerPort: 443, hostPort: 8443, hostIP: '10.0.0.1' }] })] });
    expect(podHostPorts(p)).toEqual([{ protocol: 'UDP', ip: '0.0.0.0', port: 53 }, { protocol: 'TCP', ip: '10.0.0.1', port: 8443 }]);
  });

  it('knows which host ports conflict', () => {
    const t = (ip: string, port = 80, protocol = 'TCP') => ({ protocol, ip, port });
    expect(portsConflict(t('0.0.0.0'), t('10.0.0.1'))).toBe(true);
    expect(portsConflict(t('10.0.0.1'), t('0.0.0.0'))).toBe(true);
    expect(portsConflict(t('10.0.0.1'), t('10.0.0.1'))).toBe(true);
    expect(portsConflict(t('10.0.0.1'), t('10.0.0.2'))).toBe(false);
    expect(portsConflict(t('0.0.0.0'), t('0.0.0.0', 81))).toBe(false);
    expect(portsConflict(t('0.0.0.0'), t('0.0.0.0', 80, 'UDP'))).toBe(false);
  });

  it('refuses a pod whose host port another admitted pod holds, with kubelet\'s reason', () => {
    const first = withPorts('a', [{ containerPort: 80, hostPort: 8080 }]);
    expect(admitPod(first, [])).toEqual({ ok: true });
    expect(admitPod(withPorts('b', [{ containerPort: 81, hostPort: 8080, hostIP: '192.0.2.2' }]), [first])).toEqual(NODE_PORTS);
    expect(admitPod(withPorts('c', [{ containerPort: 80, hostPort: 8081 }]), [first])).toEqual({ ok: true });
    expect(admitPod(withPorts('d', [{ containerPort: 80 }]), [first])).toEqual({ ok: true });
  });

  it('checks sysctls first, against the safe set and allowedUnsafeSysctls', () => {
    const p = pod({ securityContext: { sysctls: [{ name: 'net.core.somaxconn', value: '1024' }] }, containers: [ctr('c', { ports: [{ containerPort: 1, hostPort: 1 }] })] });
    const holder = withPorts('h', [{ containerPort: 1, hostPort: 1 }]);
    expect(admitPod(p, [holder])).toEqual({ ok: false, reason: 'SysctlForbidden', message: 'forbidden sysctl: "net.core.somaxconn" not allowlisted' });
    expect(admitPod(p, [holder], { allowedUnsafeSysctls: ['net.core.*'] })).toEqual(NODE_PORTS);
    expect(admitPod(p, [], { allowedUnsafeSysctls: ['net.core.somaxconn'] })).toEqual({ ok: true });
    const hostNet = pod({ hostNetwork: true, securityContext: { sysctls: [{ name: 'net.ipv4.tcp_syncookies', value: '1' }] }, containers: [ctr('c')] });
    expect(admitPod(hostNet, [])).toMatchObject({ ok: false, reason: 'SysctlForbidden', message: 'forbidden sysctl: "net.ipv4.tcp_syncookies" not allowed with host net enabled' });
  });
});
