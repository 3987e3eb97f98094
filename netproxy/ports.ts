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

function collectEndpoints(_svc: Service, protocol: Protocol, portName: string, slices: EndpointSlice[], nodeName?: string): EndpointInfo[] {
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

/**
 * What servicePorts computed last time, per Service: a Service whose object and slice
 * objects are the same as then gets the same ServicePortInfo objects back, which the
 * planners take as "unchanged" without looking inside. This is how a change to one
 * Service among 10k costs what that Service costs (upstream's change trackers).
 */
export interface ServicePortsCache {
  nodeName?: string;
  bySvc: Map<string, { svc: Service; slices: EndpointSlice[]; ports: ServicePortInfo[] }>;
  /** Slice objects already accounted for in bySvc. */
  slices: WeakSet<EndpointSlice>;
  sliceCount: number;
  sorted?: ServicePortInfo[];
  /** Position of each port in `sorted`. */
  index: Map<ServicePortInfo, number>;
}

export function newServicePortsCache(): ServicePortsCache {
  return { bySvc: new Map(), slices: new WeakSet(), sliceCount: 0, index: new Map() };
}

// Keys of objects seen before are not built again (10k template strings per sync add up).
const keys = new WeakMap<object, string>();
const svcKey = (s: Service) => keys.get(s) ?? (keys.set(s, `${s.namespace}/${s.name}`), `${s.namespace}/${s.name}`);
const sliceKey = (s: EndpointSlice) => keys.get(s) ?? (keys.set(s, `${s.namespace}/${s.serviceName}`), `${s.namespace}/${s.serviceName}`);
const byName = (a: ServicePortInfo, b: ServicePortInfo) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.protocol < b.protocol ? -1 : 1);

function groupSlices(slices: EndpointSlice[], only?: Set<string>): Map<string, EndpointSlice[]> {
  const by = new Map<string, EndpointSlice[]>();
  for (const s of slices) {
    const k = sliceKey(s);
    if (only && !only.has(k)) continue;
    const list = by.get(k);
    if (list) list.push(s);
    else by.set(k, [s]);
  }
  return by;
}

export function servicePorts(state: ProxyState, opts: ServicePortOptions = {}, cache?: ServicePortsCache): ServicePortInfo[] {
  if (!cache) {
    const slicesBySvc = groupSlices(state.endpointSlices);
    const out: ServicePortInfo[] = [];
    for (const svc of state.services) if (isProxied(svc)) out.push(...portsOf(svc, slicesBySvc.get(svcKey(svc)) ?? [], opts));
    return out.sort(byName);
  }
  return cachedServicePorts(state, opts, cache);
}

/**
 * With a cache: only Services whose object or slices are new objects are recomputed; the
 * others keep their ServicePortInfo objects, and the sorted list is patched in place when
 * no port appeared or vanished. A change to one Service costs two scans of identity checks.
 */
function cachedServicePorts(state: ProxyState, opts: ServicePortOptions, cache: ServicePortsCache): ServicePortInfo[] {
  if (cache.nodeName !== opts.nodeName) Object.assign(cache, newServicePortsCache(), { nodeName: opts.nodeName });
  const dirty = new Set<string>();
  let knownSlices = 0;
  for (const sl of state.endpointSlices) {
    if (cache.slices.has(sl)) knownSlices++;
    else dirty.add(sliceKey(sl));
  }
  // Slices accounted for before and absent now. Those of dirty Services are expected (a
  // slice replaced by a new object); any other means a slice went away elsewhere.
  let missing = cache.sliceCount - knownSlices;
  if (missing > 0 && dirty.size > 0) {
    let released = 0;
    for (const k of dirty) released += cache.bySvc.get(k)?.slices.length ?? 0;
    let stillThere = 0;
    for (const sl of state.endpointSlices) if (cache.slices.has(sl) && dirty.has(sliceKey(sl))) stillThere++;
    missing -= released - stillThere;
  }
  if (missing > 0) {
    const present = new Set(state.endpointSlices);
    for (const [k, e] of cache.bySvc) if (e.slices.some((sl) => !present.has(sl))) dirty.add(k);
  }
  const todo: Service[] = [];
  let kept = 0;
  let replaced = 0;
  for (const svc of state.services) {
    if (!isProxied(svc)) continue;
    const key = svcKey(svc);
    const hit = cache.bySvc.get(key);
    if (hit && hit.svc === svc && !dirty.has(key)) kept++;
    else {
      todo.push(svc);
      if (hit) replaced++;
    }
  }
  let sameKeys = cache.sorted !== undefined;
  const swaps = new Map<ServicePortInfo, ServicePortInfo>();
  if (kept + replaced < cache.bySvc.size) {
    // A Service went away (or stopped being proxied).
    sameKeys = false;
    const present = new Set(state.services.filter(isProxied).map(svcKey));
    for (const [k, e] of cache.bySvc) {
      if (present.has(k)) continue;
      for (const sl of e.slices) cache.slices.delete(sl);
      cache.sliceCount -= e.slices.length;
      cache.bySvc.delete(k);
    }
  }
  if (todo.length > 0) {
    const slicesBySvc = groupSlices(state.endpointSlices, new Set(todo.map(svcKey)));
    for (const svc of todo) {
      const key = svcKey(svc);
      const slices = slicesBySvc.get(key) ?? [];
      const ports = portsOf(svc, slices, opts);
      const hit = cache.bySvc.get(key);
      for (const sl of hit?.slices ?? []) cache.slices.delete(sl);
      for (const sl of slices) cache.slices.add(sl);
      cache.sliceCount += slices.length - (hit?.slices.length ?? 0);
      cache.bySvc.set(key, { svc, slices, ports });
      if (!hit || hit.ports.length !== ports.length || hit.ports.some((p, i) => p.name !== ports[i]!.name || p.protocol !== ports[i]!.protocol)) sameKeys = false;
      else hit.ports.forEach((p, i) => swaps.set(p, ports[i]!));
    }
  }
  if (sameKeys && cache.sorted) {
    if (swaps.size > 0) {
      // A new array (callers keep the old one as "previous"), patched at known positions.
      const next = cache.sorted.slice();
      for (const [old, p] of swaps) {
        const i = cache.index.get(old)!;
        next[i] = p;
        cache.index.delete(old);
        cache.index.set(p, i);
      }
      cache.sorted = next;
    }
  } else {
    const out: ServicePortInfo[] = [];
    for (const e of cache.bySvc.values()) out.push(...e.ports);
    cache.sorted = out.sort(byName);
    cache.index = new Map(cache.sorted.map((p, i) => [p, i]));
  }
  return cache.sorted;
}

function portsOf(svc: Service, slices: EndpointSlice[], opts: ServicePortOptions): ServicePortInfo[] {
  const out: ServicePortInfo[] = [];
  {
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
  return out;
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
