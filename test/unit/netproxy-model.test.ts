import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../manifests/index.js';
import {
  ModelError, type PodInfo, type Service, allocateNodePorts, buildProxyState, computeEndpointSlices,
  endpointSliceFromEndpoints, endpointSliceFromObject, newBuildStateCache, serviceFromObject,
} from '../../netproxy/index.js';

const svcDoc = (name: string, spec: Record<string, unknown>, extra: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'ns1' }, spec, ...extra,
});

function errorOf(fn: () => unknown): ModelError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ModelError);
    return err as ModelError;
  }
  throw new Error('expected a ModelError');
}

describe('serviceFromObject', () => {
  it('defaults like the API server', () => {
    const s = serviceFromObject(svcDoc('web', { clusterIP: '10.96.0.10', ports: [{ port: 80 }], selector: { app: 'web' } }));
    expect(s).toEqual({
      namespace: 'ns1', name: 'web', type: 'ClusterIP', clusterIP: '10.96.0.10', selector: { app: 'web' },
      ports: [{ name: '', protocol: 'TCP', port: 80, targetPort: 80 }],
      externalIPs: [], loadBalancerIPs: [], loadBalancerSourceRanges: [], sessionAffinity: 'None', affinityTimeoutSeconds: 10800,
      externalTrafficPolicy: 'Cluster', internalTrafficPolicy: 'Cluster', publishNotReadyAddresses: false, allocateLoadBalancerNodePorts: true,
    } satisfies Service);
    expect(serviceFromObject({ kind: 'Service', metadata: { name: 'x' }, spec: { clusterIP: '10.96.0.1', ports: [{ port: 1 }] } }).namespace).toBe('default');
  });

  it('reads every field the proxy uses', () => {
    const s = serviceFromObject(svcDoc('lb', {
      type: 'LoadBalancer', clusterIP: '10.96.0.11',
      ports: [{ name: 'http', port: 80, targetPort: 'web', nodePort: 30080 }, { name: 'dns', port: 53, protocol: 'UDP', targetPort: '5353' }, { name: 's', port: 9, protocol: 'SCTP' }],
      externalIPs: ['192.0.2.10'], loadBalancerSourceRanges: ['203.0.113.0/24'],
      sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } },
      externalTrafficPolicy: 'Local', internalTrafficPolicy: 'Local',
    }, { status: { loadBalancer: { ingress: [{ ip: '198.51.100.7' }, { hostname: 'lb.example.com' }] } } }));
    expect(s.ports).toEqual([
      { name: 'http', protocol: 'TCP', port: 80, targetPort: 'web', nodePort: 30080 },
      { name: 'dns', protocol: 'UDP', port: 53, targetPort: 5353 },
      { name: 's', protocol: 'SCTP', port: 9, targetPort: 9 },
    ]);
    expect(s).toMatchObject({
      externalIPs: ['192.0.2.10'], loadBalancerIPs: ['198.51.100.7'], loadBalancerSourceRanges: ['203.0.113.0/24'],
      sessionAffinity: 'ClientIP', affinityTimeoutSeconds: 60, externalTrafficPolicy: 'Local', internalTrafficPolicy: 'Local',
    });
  });

  it('accepts headless and ExternalName Services', () => {
    expect(serviceFromObject(svcDoc('h', { clusterIP: 'None', selector: { a: 'b' } })).clusterIP).toBe('None');
    expect(serviceFromObject(svcDoc('e', { type: 'ExternalName', externalName: 'example.com' }))).toMatchObject({ type: 'ExternalName', clusterIP: '' });
  });

  it('names the object and every bad field', () => {
    const e = errorOf(() => serviceFromObject(svcDoc('bad', {
      type: 'Weird', clusterIP: '10.96.0.300',
      ports: [{ name: 'a', port: 0 }, { name: 'a', port: 80, protocol: 'ICMP', targetPort: 'Not_A_Name' }, { port: 81, nodePort: 30001 }],
      sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 86401 } },
    })));
    expect(e.message).toContain('Service "ns1/bad": ');
    const lines = e.errors.map((x) => `${x.field}: ${x.type}`);
    expect(lines).toEqual([
      'spec.type: Unsupported value',
      'spec.clusterIP: Invalid value',
      'spec.ports[0].port: Invalid value',
      'spec.ports[1].name: Duplicate value',
      'spec.ports[1].protocol: Unsupported value',
      'spec.ports[1].targetPort: Invalid value',
      'spec.ports[2].name: Required value',
      'spec.ports[2].nodePort: Forbidden',
      'spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value',
    ]);
    expect(e.message).toContain('spec.type: Unsupported value: "Weird": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"');
    expect(e.message).toContain('spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive');
    expect(e.message).toContain('spec.ports[1].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"');
    expect(e.message).toContain("spec.ports[2].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'");
    expect(e.message).toContain('spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 86401: must be greater than 0 and less than 86400');
  });

  it('refuses a missing cluster IP, one outside the Service CIDR, a NodePort out of range', () => {
    expect(errorOf(() => serviceFromObject(svcDoc('a', { ports: [{ port: 80 }] }), { serviceCIDR: '10.96.0.0/12' })).message)
      .toBe('Service "ns1/a": spec.clusterIP: Required value: bosun allocates no cluster IPs: set one within 10.96.0.0/12, or \'None\' for a headless Service');
    expect(errorOf(() => serviceFromObject(svcDoc('b', { clusterIP: '10.200.0.1', ports: [{ port: 80 }] }), { serviceCIDR: '10.96.0.0/12' })).message)
      .toBe('Service "ns1/b": spec.clusterIP: Invalid value: "10.200.0.1": must be within the service CIDR 10.96.0.0/12');
    expect(errorOf(() => serviceFromObject(svcDoc('c', { type: 'NodePort', clusterIP: '10.96.0.1', ports: [{ port: 80, nodePort: 8080 }] }))).message)
      .toBe('Service "ns1/c": spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-32767');
    expect(errorOf(() => serviceFromObject(svcDoc('d', { type: 'NodePort', clusterIP: 'None', ports: [{ port: 80 }] }))).message)
      .toBe('Service "ns1/d": spec.clusterIP: Invalid value: "None": may not be set to \'None\' for NodePort services');
    expect(errorOf(() => serviceFromObject(svcDoc('e', { type: 'ExternalName' }))).message).toBe('Service "ns1/e": spec.externalName: Required value');
  });
});

describe('endpoint documents', () => {
  it('reads an EndpointSlice with upstream condition defaults', () => {
    const s = endpointSliceFromObject({
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: 'web-abc', namespace: 'ns1', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      endpoints: [
        { addresses: ['10.244.0.3'], nodeName: 'n1' },
        { addresses: ['10.244.0.4'], conditions: { ready: false, serving: true, terminating: true } },
      ],
      ports: [{ name: 'http', port: 8080 }],
    });
    expect(s).toEqual({
      namespace: 'ns1', name: 'web-abc', serviceName: 'web',
      endpoints: [
        { addresses: ['10.244.0.3'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'n1' },
        { addresses: ['10.244.0.4'], conditions: { ready: false, serving: true, terminating: true } },
      ],
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    });
  });

  it('ignores IPv6 slices and reports bad ones by field', () => {
    expect(endpointSliceFromObject({ kind: 'EndpointSlice', metadata: { name: 'x' }, addressType: 'IPv6' })).toBeNull();
    const e = errorOf(() => endpointSliceFromObject({
      kind: 'EndpointSlice', metadata: { name: 'x', namespace: 'ns1' }, addressType: 'IPv4',
      endpoints: [{ addresses: ['10.0.0.999'] }, { addresses: [] }], ports: [{ port: 70000 }],
    }));
    expect(e.message).toBe('EndpointSlice "ns1/x": metadata.labels[kubernetes.io/service-name]: Required value: names the Service these endpoints belong to; '
      + 'endpoints[0].addresses[0]: Invalid value: "10.0.0.999": must be a valid IPv4 address, (e.g. 10.9.8.7); endpoints[1].addresses: Required value; '
      + 'ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive');
  });

  it('turns v1 Endpoints into slice shape, notReadyAddresses not ready', () => {
    const s = endpointSliceFromEndpoints({
      apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'db', namespace: 'ns1' },
      subsets: [{ addresses: [{ ip: '10.244.0.5', nodeName: 'n1' }], notReadyAddresses: [{ ip: '10.244.0.6' }], ports: [{ name: 'pg', port: 5432 }] }],
    });
    expect(s.endpoints.map((e) => [e.addresses[0], e.conditions.ready])).toEqual([['10.244.0.5', true], ['10.244.0.6', false]]);
    expect(s).toMatchObject({ serviceName: 'db', ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }] });
    expect(errorOf(() => endpointSliceFromEndpoints({ kind: 'Endpoints', metadata: { name: 'db' }, subsets: [{ addresses: [{ ip: 'x' }] }] })).message)
      .toBe('Endpoints "default/db": subsets[0].addresses[0].ip: Invalid value: "x": must be a valid IPv4 address, (e.g. 10.9.8.7)');
  });
});

describe('allocateNodePorts', () => {
  const np = (name: string, ports: Service['ports'], type: Service['type'] = 'NodePort') =>
    serviceFromObject(svcDoc(name, { type, clusterIP: '10.96.0.1', ports }));

  it('gives each port a stable number in 30000-32767, reused from the previous result', () => {
    const a = np('a', [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 80 }, { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 }]);
    const first = allocateNodePorts([a]);
    const ports = first.services[0]!.ports.map((p) => p.nodePort!);
    expect(ports.every((p) => p >= 30000 && p <= 32767)).toBe(true);
    expect(new Set(ports).size).toBe(2);
    expect(first.allocated).toEqual({ 'ns1/a:http': ports[0], 'ns1/a:dns': ports[1] });
    // Same input, same answer: no state needed for a restart.
    expect(allocateNodePorts([a]).allocated).toEqual(first.allocated);
    // A newcomer never takes a port that was handed out before.
    const b = np('b', [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 80 }]);
    const again = allocateNodePorts([b, a], first.allocated);
    expect(again.services[1]!.ports.map((p) => p.nodePort)).toEqual(ports);
  });

  it('probes past taken numbers and leaves ClusterIP Services alone', () => {
    const a = np('a', [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 80 }]);
    const want = allocateNodePorts([a]).allocated['ns1/a:http']!;
    const squatter = np('z', [{ name: '', port: 1, protocol: 'TCP', targetPort: 1, nodePort: want }]);
    const r = allocateNodePorts([a, squatter, serviceFromObject(svcDoc('c', { clusterIP: '10.96.0.2', ports: [{ port: 80 }] }))]);
    expect(r.services[0]!.ports[0]!.nodePort).toBe(want === 32767 ? 30000 : want + 1);
    expect(r.services[2]!.ports[0]!.nodePort).toBeUndefined();
    expect(r.errors).toEqual([]);
  });

  it('reports two Services asking for the same node port; the first by name keeps it', () => {
    const x = np('x', [{ name: '', port: 80, protocol: 'TCP', targetPort: 80, nodePort: 30080 }]);
    const y = np('y', [{ name: '', port: 81, protocol: 'TCP', targetPort: 81, nodePort: 30080 }]);
    const r = allocateNodePorts([y, x]);
    expect(r.services.find((s) => s.name === 'x')!.ports[0]!.nodePort).toBe(30080);
    expect(r.services.find((s) => s.name === 'y')!.ports[0]!.nodePort).not.toBe(30080);
    expect(r.errors.map(String)).toEqual(['ModelError: Service "ns1/y": spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated']);
  });

  it('lets one Service use a number for TCP and UDP, and skips LoadBalancers that opt out', () => {
    const dns = np('dns', [{ name: 'u', port: 53, protocol: 'UDP', targetPort: 53, nodePort: 30053 }, { name: 't', port: 53, protocol: 'TCP', targetPort: 53, nodePort: 30053 }]);
    const lb = serviceFromObject(svcDoc('lb', { type: 'LoadBalancer', clusterIP: '10.96.0.3', allocateLoadBalancerNodePorts: false, ports: [{ port: 80 }] }));
    const r = allocateNodePorts([dns, lb]);
    expect(r.errors).toEqual([]);
    expect(r.services[1]!.ports[0]!.nodePort).toBeUndefined();
  });
});

describe('computeEndpointSlices (the local endpoints controller)', () => {
  const pod = (name: string, ip: string, extra: Partial<PodInfo> = {}): PodInfo => ({
    namespace: 'ns1', name, labels: { app: 'web' }, podIP: ip, ready: true, terminating: false,
    containerPorts: [{ name: 'http', containerPort: 8080 }], nodeName: 'n1', ...extra,
  });
  const web = serviceFromObject(svcDoc('web', { clusterIP: '10.96.0.5', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }, { name: 'metrics', port: 9090 }] }));

  it('selects pods by label and namespace, resolves named target ports, maps conditions', () => {
    const slices = computeEndpointSlices([web], [
      pod('b', '10.244.0.4', { ready: false }),
      pod('a', '10.244.0.3'),
      pod('c', '10.244.0.5', { terminating: true }),
      pod('other-ns', '10.244.0.6', { namespace: 'ns2' }),
      pod('other-app', '10.244.0.7', { labels: { app: 'db' } }),
      pod('no-ip', '', {}),
    ]);
    expect(slices).toHaveLength(1);
    expect(slices[0]).toMatchObject({ namespace: 'ns1', serviceName: 'web', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'metrics', port: 9090, protocol: 'TCP' }] });
    expect(slices[0]!.name).toMatch(/^web-[0-9a-f]{8}$/);
    expect(slices[0]!.endpoints).toEqual([
      { addresses: ['10.244.0.3'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'n1' },
      { addresses: ['10.244.0.4'], conditions: { ready: false, serving: false, terminating: false }, nodeName: 'n1' },
      { addresses: ['10.244.0.5'], conditions: { ready: false, serving: true, terminating: true }, nodeName: 'n1' },
    ]);
  });

  it('splits pods whose named port differs into separate slices, and skips selector-less Services', () => {
    const manual = serviceFromObject(svcDoc('manual', { clusterIP: '10.96.0.6', ports: [{ port: 80 }] }));
    const slices = computeEndpointSlices([web, manual], [
      pod('a', '10.244.0.3'),
      pod('b', '10.244.0.4', { containerPorts: [{ name: 'http', containerPort: 9000 }] }),
      pod('c', '10.244.0.5', { containerPorts: [] }),
    ]);
    expect(slices.map((s) => [s.ports.map((p) => `${p.name}=${p.port}`).join(','), s.endpoints.map((e) => e.addresses[0]).join(',')]).sort()).toEqual([
      ['http=8080,metrics=9090', '10.244.0.3'],
      ['http=9000,metrics=9090', '10.244.0.4'],
      ['metrics=9090', '10.244.0.5'],
    ]);
  });

  it('publishNotReadyAddresses makes every pod ready', () => {
    const svc = { ...web, publishNotReadyAddresses: true };
    expect(computeEndpointSlices([svc], [pod('a', '10.244.0.3', { ready: false })])[0]!.endpoints[0]!.conditions.ready).toBe(true);
  });
});

describe('buildProxyState', () => {
  it('collects errors per object and keeps the good ones', () => {
    const r = buildProxyState([
      svcDoc('ok', { type: 'NodePort', clusterIP: '10.96.0.7', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] }),
      svcDoc('ok', { clusterIP: '10.96.0.8', ports: [{ port: 80 }] }),
      svcDoc('bad', { clusterIP: 'nope', ports: [{ port: 80 }] }),
      { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'manual', namespace: 'ns1' }, subsets: [{ addresses: [{ ip: '10.244.0.9' }], ports: [{ port: 80 }] }] },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'ignored' } },
    ], {
      pods: [{ namespace: 'ns1', name: 'p', labels: { app: 'web' }, podIP: '10.244.0.3', ready: true, terminating: false, containerPorts: [] }],
    });
    expect(r.errors.map((e) => e.message)).toEqual([
      'Service "ns1/ok": metadata.name: Duplicate value: "ok"',
      'Service "ns1/bad": spec.clusterIP: Invalid value: "nope": must be a valid IPv4 address, (e.g. 10.9.8.7)',
    ]);
    expect(r.state.services.map((s) => s.name)).toEqual(['ok']);
    expect(r.state.endpointSlices.map((s) => s.serviceName)).toEqual(['manual', 'ok']);
    expect(Object.keys(r.nodePorts)).toEqual(['ns1/ok']);
  });

  it('ignores v1 Endpoints of a Service with a selector, as the mirroring controller does', () => {
    const r = buildProxyState([
      svcDoc('web', { clusterIP: '10.96.0.7', selector: { app: 'web' }, ports: [{ port: 80 }] }),
      { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'web', namespace: 'ns1' }, subsets: [{ addresses: [{ ip: '10.244.0.9' }], ports: [{ port: 80 }] }] },
    ]);
    expect(r.state.endpointSlices).toEqual([]);
  });

  it("a cluster's Services take only the API's EndpointSlices; the local controller serves the others", () => {
    const slice = (service: string, ip: string, ready: boolean): KubeObject => ({
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
      metadata: { name: `${service}-abcde`, namespace: 'ns1', labels: { 'kubernetes.io/service-name': service } },
      endpoints: [{ addresses: [ip], conditions: { ready } }], ports: [{ name: '', port: 80, protocol: 'TCP' }],
    } as KubeObject);
    const objects = [
      svcDoc('api', { clusterIP: '10.96.0.7', selector: { app: 'web' }, ports: [{ port: 80 }] }),
      svcDoc('local', { clusterIP: '10.96.0.8', selector: { app: 'web' }, ports: [{ port: 80 }] }),
      // The API's controller has not yet seen this node's pod Ready: its slice says not ready.
      slice('api', '10.244.0.3', false),
    ];
    const pods: PodInfo[] = [{ namespace: 'ns1', name: 'p', labels: { app: 'web' }, podIP: '10.244.0.3', ready: true, terminating: false, containerPorts: [] }];
    const r = buildProxyState(objects, { pods, endpointsFromPods: (svc) => svc.name !== 'api' });
    const of = (name: string) => r.state.endpointSlices.filter((s) => s.serviceName === name).flatMap((s) => s.endpoints);
    expect(of('api')).toEqual([{ addresses: ['10.244.0.3'], conditions: { ready: false, serving: false, terminating: false } }]);
    expect(of('local')).toEqual([{ addresses: ['10.244.0.3'], conditions: { ready: true, serving: true, terminating: false } }]);
    // Standalone (every Service computed): the API-shaped slice and the computed one both count.
    expect(buildProxyState(objects, { pods }).state.endpointSlices.filter((s) => s.serviceName === 'api')).toHaveLength(2);
  });

  it('with a cache, hands out the same objects for documents it saw, and builds only what is new', () => {
    const slice = (service: string, ip: string): KubeObject => ({
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
      metadata: { name: `${service}-abcde`, namespace: 'ns1', labels: { 'kubernetes.io/service-name': service } },
      endpoints: [{ addresses: [ip], conditions: { ready: true } }], ports: [{ name: '', port: 80, protocol: 'TCP' }],
    } as KubeObject);
    const docs = [
      svcDoc('a', { clusterIP: '10.96.0.7', ports: [{ port: 80 }] }),
      svcDoc('np', { type: 'NodePort', clusterIP: '10.96.0.8', ports: [{ port: 80 }] }),
      svcDoc('bad', { clusterIP: 'nope', ports: [{ port: 80 }] }),
      slice('a', '10.244.0.3'),
      slice('np', '10.244.0.4'),
    ];
    const cache = newBuildStateCache();
    const one = buildProxyState(docs, {}, cache);
    // An informer's next list: the same objects, one slice replaced.
    const next = [...docs.slice(0, 4), slice('np', '10.244.0.5')];
    const two = buildProxyState(next, { previousNodePorts: one.nodePorts }, cache);
    expect(two.state.services).toHaveLength(2);
    two.state.services.forEach((s, i) => expect(s).toBe(one.state.services[i]));
    expect(two.state.endpointSlices[0]).toBe(one.state.endpointSlices[0]);
    expect(two.state.endpointSlices[1]).not.toBe(one.state.endpointSlices[1]);
    expect(two.state.endpointSlices[1]!.endpoints[0]!.addresses).toEqual(['10.244.0.5']);
    // A bad document is reported every time, not only when first parsed.
    expect(two.errors.map((e) => e.message)).toEqual(one.errors.map((e) => e.message));
    expect(two.errors).toHaveLength(1);
    // Without a cache every build is new objects (and the same content).
    const three = buildProxyState(next, { previousNodePorts: one.nodePorts });
    expect(three.state.services[0]).not.toBe(one.state.services[0]);
    expect(three.state).toEqual(two.state);
  });
});
