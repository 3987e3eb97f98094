import { describe, expect, it } from 'vitest';
import { parseResolvConf, podDNS, hostsFile } from '../../agent/dns/dns.js';
import { ContainerConfigError, expand, resolveEnv, resourceValue } from '../../agent/env/resolve.js';
import { ObjectStore } from '../../agent/objects/store.js';
import { checkSubPath, containerMounts, planVolumes } from '../../agent/volumes/plan.js';
import { ctr, pod } from '../support/fixtures.js';
import { must } from '../support/common.js';

const objects = new ObjectStore();
objects.replace([
  { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm', namespace: 'default' }, data: { a: '1', 'bad key': 'x' } },
  { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'default' }, data: { p: Buffer.from('pw').toString('base64') }, stringData: { q: 'plain' } },
]);
const ctx = { objects, podIP: '10.244.0.9', hostIP: '192.0.2.1', node: { cpuMilli: 2000, memoryBytes: 8 << 30, ephemeralBytes: 1 << 40 }, serviceEnv: { WEB_SERVICE_HOST: '10.96.0.10' } };

describe('$(VAR) expansion', () => {
  const env = new Map([['A', 'x'], ['B', 'y']]);
  it.each([
    ['$(A)', 'x'],
    ['$(A)-$(B)', 'x-y'],
    ['$$(A)', '$(A)'],
    ['$(C)', '$(C)'],
    ['$(A', '$(A'],
    ['a$b', 'a$b'],
    ['$', '$'],
    ['$$$(A)', '$x'],
  ])('%s -> %s', (input, out) => expect(expand(input, env)).toBe(out));
});

describe('container environment', () => {
  it('orders Service variables, envFrom, env; later wins; invalid keys are skipped', () => {
    const p = pod({ containers: [ctr('c', { envFrom: [{ prefix: 'P_', configMapRef: { name: 'cm' } }], env: [{ name: 'WEB_SERVICE_HOST', value: 'mine' }] })] });
    const env = Object.fromEntries(resolveEnv(p, must(p.spec.containers[0], 'a container'), ctx).map((e) => [e.key, e.value]));
    expect(env).toEqual({ WEB_SERVICE_HOST: 'mine', P_a: '1' });
  });

  it('drops Service variables with enableServiceLinks: false', () => {
    const p = pod({ enableServiceLinks: false, containers: [ctr('c')] });
    expect(resolveEnv(p, must(p.spec.containers[0], 'a container'), ctx)).toEqual([]);
  });

  it('names the missing object or key', () => {
    const miss = (ref: object) => {
      const p = pod({ containers: [ctr('c', { env: [{ name: 'X', valueFrom: ref }] })] });
      return () => resolveEnv(p, must(p.spec.containers[0], 'a container'), ctx);
    };
    expect(miss({ configMapKeyRef: { name: 'nope', key: 'a' } })).toThrow(new ContainerConfigError('configmap "nope" not found'));
    expect(miss({ secretKeyRef: { name: 's', key: 'zz' } })).toThrow(new ContainerConfigError("couldn't find key zz in Secret default/s"));
    expect(miss({ configMapKeyRef: { name: 'nope', key: 'a', optional: true } })().map((e) => e.key)).toEqual(['WEB_SERVICE_HOST']);
  });

  it('reads secrets from data (base64) and stringData', () => {
    const p = pod({ containers: [ctr('c', { env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 's', key: 'p' } } }, { name: 'Q', valueFrom: { secretKeyRef: { name: 's', key: 'q' } } }] })] });
    expect(resolveEnv(p, must(p.spec.containers[0], 'a container'), ctx)).toEqual([{ key: 'WEB_SERVICE_HOST', value: '10.96.0.10' }, { key: 'P', value: 'pw' }, { key: 'Q', value: 'plain' }]);
  });

  it('rounds resource values up and defaults limits to the node', () => {
    const c = ctr('c', { resources: { limits: { cpu: '250m', memory: '100Mi' } } });
    const p = pod({ containers: [c] });
    expect(resourceValue(p, c, { resource: 'limits.cpu' }, ctx)).toBe('1');
    expect(resourceValue(p, c, { resource: 'limits.cpu', divisor: '1m' }, ctx)).toBe('250');
    expect(resourceValue(p, c, { resource: 'limits.memory', divisor: '1Mi' }, ctx)).toBe('100');
    // What the API server sends for an unset divisor (NodeConformance: "should provide container's memory limit").
    expect(resourceValue(p, c, { resource: 'limits.memory', divisor: '0' }, ctx)).toBe(String(100 << 20));
    expect(resourceValue(p, c, { resource: 'limits.cpu', divisor: '0' }, ctx)).toBe('1');
    const bare = ctr('b');
    expect(resourceValue(pod({ containers: [bare] }), bare, { resource: 'limits.cpu' }, ctx)).toBe('2');
    expect(resourceValue(pod({ containers: [bare] }), bare, { resource: 'requests.memory' }, ctx)).toBe('0');
  });
});

describe('volume planning', () => {
  it('lays volumes out as kubelet does and keeps secrets on tmpfs', () => {
    const p = pod({
      volumes: [
        { name: 'e', emptyDir: {} },
        { name: 'm', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
        { name: 'c', configMap: { name: 'cm', items: [{ key: 'a', path: 'dir/a', mode: 0o400 }] } },
        { name: 's', secret: { secretName: 's' } },
      ],
      containers: [ctr('x')],
    });
    const plans = planVolumes(p, '/var/lib/bosun', ctx);
    expect(plans[0]).toEqual({ name: 'e', kind: 'emptyDir', path: '/var/lib/bosun/pods/uid-1/volumes/kubernetes.io~empty-dir/e', tmpfs: false });
    expect(plans[1]).toMatchObject({ tmpfs: true, tmpfsBytes: 1 << 20 });
    expect(plans[2]).toMatchObject({ kind: 'projected', tmpfs: false, files: [{ path: 'dir/a', mode: 0o400, data: Buffer.from('1') }] });
    expect(plans[3]).toMatchObject({ kind: 'projected', tmpfs: true, path: '/var/lib/bosun/pods/uid-1/volumes/kubernetes.io~secret/s' });
    const plan = must(plans[3], 'the fourth volume plan');
    expect(plan.kind === 'projected' && plan.files.map((f) => f.path)).toEqual(['p', 'q']);
  });

  it('refuses unsupported volume kinds, missing objects and escaping subPaths', () => {
    const plan = (v: object) => () => planVolumes(pod({ volumes: [{ name: 'v', ...v }], containers: [ctr('x')] }), '/r', ctx);
    expect(plan({ nfs: { server: 'x', path: '/' } })).toThrow('volume "v": volume type nfs is not supported on this node');
    expect(plan({ configMap: { name: 'nope' } })).toThrow('configmap "nope" not found');
    expect(plan({ configMap: { name: 'nope', optional: true } })()).toMatchObject([{ files: [] }]);
    expect(plan({ secret: { secretName: 's', items: [{ key: 'zz', path: 'z' }] } })).toThrow('references non-existent secret key: zz');
    expect(() => checkSubPath('../x', 'f')).toThrow("f: Invalid value: \"../x\": must be a relative path that does not contain '..'");
    expect(() => checkSubPath('/abs', 'f')).toThrow();
    expect(() => checkSubPath('a/../../b', 'f')).toThrow();
    expect(checkSubPath('a/./b', 'f')).toBe('a/b');
  });

  it('makes published volumes read-only and expands subPathExpr', () => {
    const p = pod({ volumes: [{ name: 'e', emptyDir: {} }, { name: 'c', configMap: { name: 'cm' } }], containers: [ctr('x')] });
    const plans = planVolumes(p, '/r', ctx);
    const mounts = containerMounts(ctr('x', { volumeMounts: [{ name: 'e', mountPath: '/e', subPathExpr: '$(POD)/logs' }, { name: 'c', mountPath: '/c' }] }), plans, [{ key: 'POD', value: 'web' }]);
    expect(mounts[0]).toMatchObject({ containerPath: '/e', hostPath: '/r/pods/uid-1/volumes/kubernetes.io~empty-dir/e/web/logs', readonly: false, subPath: 'web/logs' });
    expect(mounts[1]).toMatchObject({ containerPath: '/c', readonly: true });
  });
});

describe('DNS files', () => {
  const host = parseResolvConf('# comment\nnameserver 192.0.2.53\nsearch corp.example\noptions edns0\n');
  it('parses resolv.conf', () => expect(host).toEqual({ servers: ['192.0.2.53'], searches: ['corp.example'], options: ['edns0'] }));

  it('builds ClusterFirst with cluster DNS, falls back to the node without it, and merges dnsConfig', () => {
    const p = pod({ containers: [ctr('x')] });
    expect(podDNS(p, { clusterDNS: ['10.96.0.10'], clusterDomain: 'cluster.local', host })).toEqual({
      servers: ['10.96.0.10'], searches: ['default.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'corp.example'], options: ['ndots:5'],
    });
    expect(podDNS(p, { clusterDNS: [], clusterDomain: 'cluster.local', host })).toEqual(host);
    const none = pod({ dnsPolicy: 'None', dnsConfig: { nameservers: ['1.1.1.1'], options: [{ name: 'ndots', value: '1' }, { name: 'rotate' }] }, containers: [ctr('x')] });
    expect(podDNS(none, { clusterDNS: ['10.96.0.10'], clusterDomain: 'cluster.local', host })).toEqual({ servers: ['1.1.1.1'], searches: [], options: ['ndots:1', 'rotate'] });
  });

  it('writes the managed hosts file with subdomain and aliases', () => {
    const p = pod({ hostname: 'h', subdomain: 'sub', hostAliases: [{ ip: '127.0.0.2', hostnames: ['a', 'b'] }], containers: [ctr('x')] });
    const text = hostsFile(p, '10.244.0.3', 'h', 'cluster.local');
    expect(text).toContain('10.244.0.3\th.sub.default.svc.cluster.local\th\n');
    expect(text.endsWith('# Entries added by HostAliases.\n127.0.0.2\ta\tb\n')).toBe(true);
  });

  it('gives a hostnameOverride no subdomain FQDN (e2e pod_hostnameoverride.go: hostname -f prints the override)', () => {
    const p = pod({ subdomain: 't', hostnameOverride: 'override-host', containers: [ctr('x')] });
    const text = hostsFile(p, '10.244.0.3', 'override-host', 'cluster.local');
    expect(text).toContain('10.244.0.3\toverride-host\n');
    expect(text).not.toContain('.svc.');
  });
});
