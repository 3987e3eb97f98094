import { describe, expect, it } from 'vitest';
import { assignClusterIPs, serviceEnv } from '../../agent/services.js';
import type { Service } from '../../netproxy/index.js';
import { must } from '../support/common.js';

const svc = (name: string, spec: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { ports: [{ port: 80 }], ...spec } });

describe('cluster IPs for Services written without one', () => {
  it('gives a stable address inside the Service CIDR, never .0, .1 or one already named', () => {
    const a = assignClusterIPs([svc('a'), svc('b'), svc('named', { clusterIP: '10.96.0.10' }), svc('headless', { clusterIP: 'None' }), svc('ext', { type: 'ExternalName' })], '10.96.0.0/12');
    const ip = (i: number) => (must(a[i], `service ${i}`).spec as { clusterIP?: string }).clusterIP;
    expect(ip(0)).toMatch(/^10\.(9[6-9]|10[0-9]|11[01])\.\d+\.\d+$/);
    expect(ip(0)).not.toBe(ip(1));
    expect(ip(2)).toBe('10.96.0.10');
    expect(ip(3)).toBe('None');
    expect(ip(4)).toBeUndefined();
    expect(assignClusterIPs([svc('a')], '10.96.0.0/12')[0]).toEqual(a[0]);
    // A /29 has five usable addresses (.2 to .6): the sixth Service is left without one.
    const tiny = assignClusterIPs(['a', 'b', 'c', 'd', 'e', 'f'].map((n) => svc(n)), '10.96.0.0/29').map((o) => (o.spec as { clusterIP?: string }).clusterIP);
    expect(tiny.slice(0, 5).sort()).toEqual(['10.96.0.2', '10.96.0.3', '10.96.0.4', '10.96.0.5', '10.96.0.6']);
    expect(tiny[5]).toBeUndefined();
  });
});

describe('Service environment variables', () => {
  it('writes the docker-link style variables of each Service in the namespace', () => {
    const services = [
      { namespace: 'default', name: 'redis-primary', clusterIP: '10.96.0.11', type: 'ClusterIP', ports: [{ name: '', port: 6379, protocol: 'TCP' }] },
      { namespace: 'other', name: 'x', clusterIP: '10.96.0.12', type: 'ClusterIP', ports: [{ name: '', port: 1, protocol: 'TCP' }] },
    ] as unknown as Service[];
    expect(serviceEnv(services, 'default')).toEqual({
      REDIS_PRIMARY_SERVICE_HOST: '10.96.0.11',
      REDIS_PRIMARY_SERVICE_PORT: '6379',
      REDIS_PRIMARY_PORT: 'tcp://10.96.0.11:6379',
      REDIS_PRIMARY_PORT_6379_TCP: 'tcp://10.96.0.11:6379',
      REDIS_PRIMARY_PORT_6379_TCP_PROTO: 'tcp',
      REDIS_PRIMARY_PORT_6379_TCP_PORT: '6379',
      REDIS_PRIMARY_PORT_6379_TCP_ADDR: '10.96.0.11',
    });
  });
});
