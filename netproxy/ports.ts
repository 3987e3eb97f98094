// Flattens a ProxyState into service ports with their endpoints sorted into the sets
// each traffic policy uses (upstream's CategorizeEndpoints). Both the iptables and the
// IPVS planners start from here.

import type { EndpointSlice, ProxyState, Protocol, Service } from './model.js';
import { servicePortName } from './model.js';

export interface EndpointInfo {
  ip: string;
  port: number;
  /** `ip:port` */
  key: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  /** On this node (its nodeName is ours). */
  local: boolean;
}

export interface ServicePortInfo {
  service: Service;
  /** `ns/name:port`: the name kube-proxy hashes and prints in comments. */
  name: string;
  protocol: Protocol;
  /** Lower case, as iptables wants it. */
  proto: 'tcp' | 'udp' | 'sctp';
  clusterIP: string;
  port: number;
  /** 0 when none. */
  nodePort: number;
  externalIPs: string[];
  loadBalancerIPs: string[];
  loadBalancerSourceRanges: string[];
  /** 0 without ClientIP affinity. */
  affinityTimeoutSeconds: number;
  externallyAccessible: boolean;
  internalPolicyLocal: boolean;
  externalPolicyLocal: boolean;
  /** Every endpoint known for this port, ready or not. */
  endpoints: EndpointInfo[];
  /** Endpoints for Cluster policy: ready ones, else serving-and-terminating ones. */
  clusterEndpoints: EndpointInfo[];
  /** Endpoints for Local policy: local ready ones, else local serving-and-terminating ones. */
  localEndpoints: EndpointInfo[];
  /** Union of the two that the policies in use need: each gets a KUBE-SEP chain. */
  reachableEndpoints: EndpointInfo[];
  /** Any usable endpoint anywhere: false means REJECT. */
  hasEndpoints: boolean;
}

export interface ServicePortOptions {
  /** This node's name; endpoints with that nodeName are local. */
  nodeName?: string;
}

/** Services that get no rules: headless, ExternalName, no cluster IP. */
export function isProxied(svc: Service): boolean {
  return svc.type !== 'ExternalName' && svc.clusterIP !== '' && svc.clusterIP !== 'None';
}

function collectEndpoints(svc: Service, protocol: Protocol, portName: string, slices: EndpointSlice[], nodeName?: string): EndpointInfo[] {
  const byKey = new Map<string, EndpointInfo>();
  for (const slice of slices) {
    const port = slice.ports.find((p) => p.name === portName && p.protocol === protocol);
    if (!port) continue;
    for (const ep of slice.endpoints) {
      // Upstream uses the first address only: the others are for the same pod.
      const ip = ep.addresses[0];
      if (!ip) continue;
      const key = `${ip}:${port.port}`;
      const prev = byKey.get(key);
      // The same endpoint in two slices (e.g. during a slice rewrite): the ready copy wins.
      if (prev && (prev.ready || !ep.conditions.ready)) continue;
      byKey.set(key, { ip, port: port.port, key, ...ep.conditions, local: nodeName !== undefined && ep.nodeName === nodeName });
    }
  }
  // Upstream orders endpoints by their `ip:port` string.
  return [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

export function servicePorts(state: ProxyState, opts: ServicePortOptions = {}): ServicePortInfo[] {
  const slicesBySvc = new Map<string, EndpointSlice[]>();
  for (const s of state.endpointSlices) {
    const k = `${s.namespace}/${s.serviceName}`;
    const list = slicesBySvc.get(k);
    if (list) list.push(s);
    else slicesBySvc.set(k, [s]);
  }
  const out: ServicePortInfo[] = [];
  for (const svc of state.services) {
    if (!isProxied(svc)) continue;
    const slices = slicesBySvc.get(`${svc.namespace}/${svc.name}`) ?? [];
    for (const p of svc.ports) {
      const endpoints = collectEndpoints(svc, p.protocol, p.name, slices, opts.nodeName);
      const nodePort = p.nodePort ?? 0;
      const externallyAccessible = nodePort !== 0 || svc.externalIPs.length > 0 || svc.loadBalancerIPs.length > 0;
      const info: ServicePortInfo = {
        service: svc,
        name: servicePortName(svc, p.name),
        protocol: p.protocol,
        proto: p.protocol.toLowerCase() as ServicePortInfo['proto'],
        clusterIP: svc.clusterIP,
        port: p.port,
        nodePort,
        externalIPs: svc.externalIPs,
        loadBalancerIPs: svc.loadBalancerIPs,
        loadBalancerSourceRanges: svc.loadBalancerSourceRanges,
        affinityTimeoutSeconds: svc.sessionAffinity === 'ClientIP' ? svc.affinityTimeoutSeconds : 0,
        externallyAccessible,
        internalPolicyLocal: svc.internalTrafficPolicy === 'Local',
        externalPolicyLocal: externallyAccessible && svc.externalTrafficPolicy === 'Local',
        endpoints,
        clusterEndpoints: [],
        localEndpoints: [],
        reachableEndpoints: [],
        hasEndpoints: false,
      };
      categorize(info);
      out.push(info);
    }
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.protocol < b.protocol ? -1 : 1));
}

function categorize(s: ServicePortInfo): void {
  // Externally accessible ports need cluster endpoints even with Local external policy:
  // traffic from pods and from the node itself short-circuits to them.
  const usesCluster = !s.internalPolicyLocal || s.externallyAccessible;
  const usesLocal = s.internalPolicyLocal || s.externalPolicyLocal;
  const servingTerminating = (e: EndpointInfo) => e.serving && e.terminating;
  if (usesCluster) {
    s.clusterEndpoints = s.endpoints.filter((e) => e.ready);
    // Terminating-but-serving endpoints are a last resort, so that a rollout of the
    // last replicas does not drop connections.
    if (s.clusterEndpoints.length === 0) s.clusterEndpoints = s.endpoints.filter(servingTerminating);
    s.hasEndpoints = s.clusterEndpoints.length > 0;
  }
  if (!usesLocal) {
    s.reachableEndpoints = s.clusterEndpoints;
    return;
  }
  if (s.endpoints.some((e) => e.ready || servingTerminating(e))) s.hasEndpoints = true;
  const localReady = s.endpoints.filter((e) => e.local && e.ready);
  s.localEndpoints = localReady.length > 0 ? localReady : s.endpoints.filter((e) => e.local && servingTerminating(e));
  if (!usesCluster) {
    s.reachableEndpoints = s.localEndpoints;
    return;
  }
  const merged = new Map<string, EndpointInfo>();
  for (const e of [...s.clusterEndpoints, ...s.localEndpoints]) merged.set(e.key, e);
  s.reachableEndpoints = [...merged.values()].sort((a, b) => (a.key < b.key ? -1 : 1));
}
