// Builders for netproxy unit tests: Services and EndpointSlices in model shape, with
// upstream's test addresses (172.30.0.0/16 cluster IPs, 10.180.0.0/16 endpoints).

import type { EndpointSlice, ProxyState, Service, ServicePort } from '../../netproxy/index.js';

export function svc(ns: string, name: string, over: Omit<Partial<Service>, 'ports'> & { ports?: Partial<ServicePort>[] } = {}): Service {
  const { ports, ...rest } = over;
  return {
    namespace: ns, name, type: 'ClusterIP', clusterIP: '', externalIPs: [], loadBalancerIPs: [], loadBalancerSourceRanges: [],
    sessionAffinity: 'None', affinityTimeoutSeconds: 10800, externalTrafficPolicy: 'Cluster', internalTrafficPolicy: 'Cluster',
    publishNotReadyAddresses: false, allocateLoadBalancerNodePorts: true,
    ...rest,
    ports: (ports ?? [{}]).map((p) => ({ name: 'p80', protocol: 'TCP', port: 80, targetPort: 80, ...p })),
  };
}

export interface Ep {
  ip: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
  node?: string;
}

export function slice(ns: string, service: string, eps: (string | Ep)[], ports: { name?: string; port?: number; protocol?: 'TCP' | 'UDP' | 'SCTP' }[] = [{}], name = `${service}-1`): EndpointSlice {
  return {
    namespace: ns, name, serviceName: service,
    endpoints: eps.map((e) => {
      const ep: Ep = typeof e === 'string' ? { ip: e } : e;
      const ready = ep.ready ?? true;
      return { addresses: [ep.ip], conditions: { ready, serving: ep.serving ?? ready, terminating: ep.terminating ?? false }, ...(ep.node ? { nodeName: ep.node } : {}) };
    }),
    ports: ports.map((p) => ({ name: p.name ?? 'p80', port: p.port ?? 80, protocol: p.protocol ?? 'TCP' })),
  };
}

export const state = (services: Service[], endpointSlices: EndpointSlice[]): ProxyState => ({ services, endpointSlices });
