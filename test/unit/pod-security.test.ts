import { describe, expect, it } from 'vitest';
import { capabilityName, dockerUser, securityHostConfig } from '../../cri/docker/container.js';
import { containerSecurityContext, imageUid, seccompProfile, SecurityError } from '../../agent/pods/security.js';
import { normalizeSysctl, podSysctls, SysctlAllowlist, sysctlNamespace } from '../../agent/vocab/index.js';
import { ctr, pod } from '../support/fixtures.js';
import { must } from '../support/common.js';

const opts = { seccompProfileRoot: '/var/lib/bosun/seccomp' };

describe('securityContext translation', () => {
  it('takes pod-level fields, overridden by the container', () => {
    const p = pod({
      securityContext: { runAsUser: 1000, runAsGroup: 2000, supplementalGroups: [5, 6], fsGroup: 7 },
      containers: [ctr('a'), ctr('b', { securityContext: { runAsUser: 3000 } })],
    });
    expect(containerSecurityContext(p, must(p.spec.containers[0], 'container 0'), opts)).toEqual({ runAsUser: 1000, runAsGroup: 2000, supplementalGroups: [7, 5, 6], seccomp: { profileType: 'Unconfined' } });
    expect(containerSecurityContext(p, must(p.spec.containers[1], 'container 1'), opts)).toMatchObject({ runAsUser: 3000, runAsGroup: 2000 });
  });

  it('leaves the image user alone unless a group is set, then takes the user from the image', () => {
    const c = ctr('c');
    expect(containerSecurityContext(pod({ containers: [c] }), c, { ...opts, imageUser: '1000:1000' }).runAsUser).toBeUndefined();
    const g = pod({ securityContext: { runAsGroup: 50 }, containers: [c] });
    expect(containerSecurityContext(g, c, { ...opts, imageUser: '1000:1000' })).toMatchObject({ runAsUser: 1000, runAsGroup: 50 });
    expect(containerSecurityContext(g, c, { ...opts, imageUser: 'app' })).toMatchObject({ runAsUsername: 'app', runAsGroup: 50 });
    expect(containerSecurityContext(g, c, opts)).toMatchObject({ runAsUser: 0, runAsGroup: 50 });
  });

  it('maps capabilities, privileged, read-only root and allowPrivilegeEscalation', () => {
    const c = ctr('c', { securityContext: { capabilities: { add: ['NET_ADMIN'], drop: ['ALL'] }, privileged: false, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false } });
    expect(containerSecurityContext(pod({ containers: [c] }), c, opts)).toEqual({
      capabilities: { addCapabilities: ['NET_ADMIN'], dropCapabilities: ['ALL'] },
      readonlyRootfs: true,
      noNewPrivs: true,
      seccomp: { profileType: 'Unconfined' },
    });
    // Only an explicit false sets no_new_privs.
    const d = ctr('d', { securityContext: { allowPrivilegeEscalation: true, privileged: true } });
    expect(containerSecurityContext(pod({ containers: [d] }), d, opts)).toEqual({ privileged: true, seccomp: { profileType: 'Unconfined' } });
  });

  it('enforces runAsNonRoot with kubelet\'s messages', () => {
    const p = pod({ securityContext: { runAsNonRoot: true }, containers: [ctr('c')] });
    const c = must(p.spec.containers[0], 'container 0');
    const where = '(pod: "web_default(uid-1)", container: c)';
    expect(() => containerSecurityContext(p, c, opts)).toThrow(new SecurityError(`container has runAsNonRoot and image will run as root ${where}`));
    expect(() => containerSecurityContext(p, c, { ...opts, imageUser: '0:0' })).toThrow(`image will run as root ${where}`);
    expect(() => containerSecurityContext(p, c, { ...opts, imageUser: 'root' })).toThrow(`container has runAsNonRoot and image has non-numeric user (root), cannot verify user is non-root ${where}`);
    expect(containerSecurityContext(p, c, { ...opts, imageUser: '1000' })).toBeDefined();
    const zero = pod({ securityContext: { runAsNonRoot: true, runAsUser: 0 }, containers: [ctr('c')] });
    expect(() => containerSecurityContext(zero, must(zero.spec.containers[0], 'container 0'), opts)).toThrow(`container's runAsUser breaks non-root policy ${where}`);
    // The container's own runAsNonRoot: false wins over the pod's.
    const off = ctr('c', { securityContext: { runAsNonRoot: false } });
    expect(containerSecurityContext(pod({ securityContext: { runAsNonRoot: true }, containers: [off] }), off, opts)).toBeDefined();
  });

  it('reads the image user as dockershim did', () => {
    expect(imageUid(undefined)).toEqual({ uid: 0 });
    expect(imageUid('')).toEqual({ uid: 0 });
    expect(imageUid('65534:65534')).toEqual({ uid: 65534 });
    expect(imageUid('nobody')).toEqual({ username: 'nobody' });
  });

  it('chooses the seccomp profile: container, pod, then kubelet\'s default', () => {
    const c = ctr('c', { securityContext: { seccompProfile: { type: 'Localhost', localhostProfile: 'profiles/audit.json' } } });
    const p = pod({ securityContext: { seccompProfile: { type: 'RuntimeDefault' } }, containers: [c, ctr('d')] });
    expect(seccompProfile(p, c, opts)).toEqual({ profileType: 'Localhost', localhostRef: '/var/lib/bosun/seccomp/profiles/audit.json' });
    expect(seccompProfile(p, must(p.spec.containers[1], 'container 1'), opts)).toEqual({ profileType: 'RuntimeDefault' });
    const bare = pod({ containers: [ctr('e')] });
    expect(seccompProfile(bare, must(bare.spec.containers[0], 'container 0'), opts)).toEqual({ profileType: 'Unconfined' });
    expect(seccompProfile(bare, must(bare.spec.containers[0], 'container 0'), { ...opts, seccompDefault: true })).toEqual({ profileType: 'RuntimeDefault' });
  });
});

describe('sysctls', () => {
  it('normalizes slash-separated names and knows their namespaces', () => {
    expect(normalizeSysctl('net/ipv4/conf/eth0.100/rp_filter')).toBe('net.ipv4.conf.eth0/100.rp_filter');
    expect(normalizeSysctl('net.ipv4.conf.eth0/100.rp_filter')).toBe('net.ipv4.conf.eth0/100.rp_filter');
    expect(sysctlNamespace('kernel.shm_rmid_forced')).toBe('IPC');
    expect(sysctlNamespace('kernel.sem')).toBe('IPC');
    expect(sysctlNamespace('fs.mqueue.msg_max')).toBe('IPC');
    expect(sysctlNamespace('net.core.somaxconn')).toBe('net');
    expect(sysctlNamespace('kernel.pid_max')).toBeUndefined();
  });

  it('allows the safe set and configured unsafe ones, never a net sysctl with the host network', () => {
    const safe = new SysctlAllowlist();
    expect(safe.check('net.ipv4.ip_local_port_range', false, false)).toBeUndefined();
    expect(safe.check('net/ipv4/tcp_syncookies', false, false)).toBeUndefined();
    expect(safe.check('net.core.somaxconn', false, false)).toBe('"net.core.somaxconn" not allowlisted');
    expect(safe.check('net.ipv4.tcp_syncookies', true, false)).toBe('"net.ipv4.tcp_syncookies" not allowed with host net enabled');
    expect(safe.check('kernel.shm_rmid_forced', false, true)).toBe('"kernel.shm_rmid_forced" not allowed with host IPC enabled');
    const more = new SysctlAllowlist(['net.core.*', 'kernel.msgmax']);
    expect(more.check('net.core.somaxconn', false, false)).toBeUndefined();
    expect(more.check('kernel.msgmax', false, false)).toBeUndefined();
    expect(() => new SysctlAllowlist(['kernel.pid_max'])).toThrow('the sysctls "kernel.pid_max" are not known to be namespaced');
  });

  it('puts the pod\'s sysctls on the sandbox', () => {
    expect(podSysctls(pod({ containers: [ctr('c')] }))).toBeUndefined();
    expect(podSysctls(pod({ securityContext: { sysctls: [{ name: 'net/core/somaxconn', value: '1024' }] }, containers: [ctr('c')] }))).toEqual({ 'net.core.somaxconn': '1024' });
  });
});

describe('the Docker runtime\'s mapping', () => {
  it('names capabilities as the engine wants them', () => {
    expect(capabilityName('net_admin')).toBe('CAP_NET_ADMIN');
    expect(capabilityName('CAP_CHOWN')).toBe('CAP_CHOWN');
    expect(capabilityName('all')).toBe('ALL');
  });

  it('builds the user string', () => {
    expect(dockerUser({})).toBeUndefined();
    expect(dockerUser({ runAsUser: 1000 })).toBe('1000');
    expect(dockerUser({ runAsUser: 1000, runAsGroup: 0 })).toBe('1000:0');
    expect(dockerUser({ runAsUsername: 'app', runAsGroup: 5 })).toBe('app:5');
    expect(() => dockerUser({ runAsGroup: 5 })).toThrow('user group "5" is specified without user');
  });

  it('fills HostConfig', () => {
    expect(securityHostConfig({
      capabilities: { addCapabilities: ['NET_ADMIN'], dropCapabilities: ['ALL'] },
      readonlyRootfs: true,
      supplementalGroups: [7, 5, 7],
      noNewPrivs: true,
      seccomp: { profileType: 'Unconfined' },
    })).toEqual({ CapAdd: ['CAP_NET_ADMIN'], CapDrop: ['ALL'], ReadonlyRootfs: true, GroupAdd: ['7', '5'], SecurityOpt: ['no-new-privileges', 'seccomp=unconfined'] });
    // RuntimeDefault is the engine's own default profile; privileged runs without seccomp.
    expect(securityHostConfig({ seccomp: { profileType: 'RuntimeDefault' } })).toEqual({});
    expect(securityHostConfig({ privileged: true, seccomp: { profileType: 'Unconfined' } })).toEqual({ Privileged: true });
    expect(securityHostConfig({ seccomp: { profileType: 'Localhost', localhostRef: '/p.json' } }, '{"defaultAction":"SCMP_ACT_ALLOW"}')).toEqual({ SecurityOpt: ['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}'] });
  });
});
