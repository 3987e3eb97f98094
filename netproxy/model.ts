// The proxy's view of Services and their endpoints, built from Kubernetes documents
// (Service, Endpoints, EndpointSlice), plus the two jobs an API server and a controller
// manager would otherwise do for a standalone node: NodePort allocation and the
// endpoints controller. Everything here is pure; rules are planned from a ProxyState.

import { createHash } from 'node:crypto';
import {
  type FieldError, type KubeObject, type Protocol, capBytes, formatFieldError, isDNS1035Label, truncate, isDNS1123Label, isDNS1123Subdomain,
} from '../manifests/index.js';
import { cidrContains, isIPv4, parseCidr } from './ip.js';

export type { Protocol };
export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';
export type TrafficPolicy = 'Cluster' | 'Local';
export type SessionAffinity = 'None' | 'ClientIP';

export interface ServicePort {
  /** '' only when the Service has a single port. */
  name: string;
  protocol: Protocol;
  port: number;
  /** A container port number, or the name of a container port. */
  targetPort: number | string;
  nodePort?: number;
}

export interface Service {
  namespace: string;
  name: string;
  type: ServiceType;
  /** 'None' for headless Services, '' for ExternalName. */
  clusterIP: string;
  /** Absent: endpoints are given by hand (Endpoints / EndpointSlice documents). */
  selector?: Record<string, string>;
  ports: ServicePort[];
  externalIPs: string[];
  /** status.loadBalancer.ingress[].ip */
  loadBalancerIPs: string[];
  loadBalancerSourceRanges: string[];
  sessionAffinity: SessionAffinity;
  /** Meaningful only with ClientIP affinity. */
  affinityTimeoutSeconds: number;
  externalTrafficPolicy: TrafficPolicy;
  internalTrafficPolicy: TrafficPolicy;
  publishNotReadyAddresses: boolean;
  allocateLoadBalancerNodePorts: boolean;
}

export interface EndpointConditions {
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

export interface Endpoint {
  addresses: string[];
  conditions: EndpointConditions;
  nodeName?: string;
}

export interface EndpointPort {
  name: string;
  port: number;
  protocol: Protocol;
}

/** discovery.k8s.io/v1 EndpointSlice, IPv4 only. */
export interface EndpointSlice {
  namespace: string;
  name: string;
  /** The kubernetes.io/service-name label: the Service these endpoints belong to. */
  serviceName: string;
  endpoints: Endpoint[];
  ports: EndpointPort[];
}

export interface ProxyState {
  services: Service[];
  endpointSlices: EndpointSlice[];
}

export const DEFAULT_AFFINITY_TIMEOUT_SECONDS = 10800;
export const MAX_AFFINITY_TIMEOUT_SECONDS = 86400;
export const NODE_PORT_RANGE = { min: 30000, max: 32767 } as const;
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** One object's validation problems; the message names the object and each field. */
export class ModelError extends Error {
  readonly kind: string;
  readonly namespace: string;
  readonly objectName: string;
  readonly errors: FieldError[];

  constructor(kind: string, namespace: string, name: string, errors: FieldError[]) {
    super(capBytes(`${kind} ${JSON.stringify(truncate(`${namespace}/${name}`, 256))}: ${errors.map(formatFieldError).join('; ')}`));
    this.name = 'ModelError';
    this.kind = kind;
    this.namespace = namespace;
    this.objectName = name;
    this.errors = errors;
  }
}

// ---- reading documents -------------------------------------------------------------

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const PROTOCOLS: readonly Protocol[] = ['SCTP', 'TCP', 'UDP'];
const supported = (vs: readonly string[]) => `supported values: ${vs.map((v) => JSON.stringify(v)).join(', ')}`;
const IP_DETAIL = 'must be a valid IPv4 address, (e.g. 10.9.8.7)';
const PORT_DETAIL = 'must be between 1 and 65535, inclusive';

/** Reads a field of an unknown-shaped document, recording type errors as it goes. */
class Reader {
  readonly errs: FieldError[] = [];

  invalid(field: string, value: unknown, detail: string): void {
    this.errs.push({ field, type: 'Invalid value', value, detail });
  }

  str(o: Obj | undefined, key: string, path: string): string | undefined {
    const v = o?.[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') {
      this.invalid(path, v, 'must be a string');
      return undefined;
    }
    return v;
  }

  int(o: Obj | undefined, key: string, path: string): number | undefined {
    const v = o?.[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      this.invalid(path, v, 'must be an integer');
      return undefined;
    }
    return v;
  }

  bool(o: Obj | undefined, key: string, path: string): boolean | undefined {
    const v = o?.[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') {
      this.invalid(path, v, 'must be a boolean');
      return undefined;
    }
    return v;
  }

  obj(o: Obj | undefined, key: string, path: string): Obj | undefined {
    const v = o?.[key];
    if (v === undefined || v === null) return undefined;
    if (!isObj(v)) {
      this.invalid(path, v, 'must be an object');
      return undefined;
    }
    return v;
  }

  list(o: Obj | undefined, key: string, path: string): unknown[] {
    const v = o?.[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      this.invalid(path, v, 'must be a list');
      return [];
    }
    return v;
  }

  oneOf<T extends string>(o: Obj | undefined, key: string, path: string, values: readonly T[], dflt: T): T {
    const v = this.str(o, key, path);
    if (v === undefined || v === '') return dflt;
    if (!(values as readonly string[]).includes(v)) {
      this.errs.push({ field: path, type: 'Unsupported value', value: v, detail: supported([...values].sort()) });
      return dflt;
    }
    return v as T;
  }

  protocol(o: Obj | undefined, path: string): Protocol {
    return this.oneOf(o, 'protocol', path, PROTOCOLS, 'TCP');
  }

  port(o: Obj | undefined, key: string, path: string, required = true): number | undefined {
    const v = this.int(o, key, path);
    if (v === undefined) {
      if (required && !this.errs.some((e) => e.field === path)) this.errs.push({ field: path, type: 'Required value' });
      return undefined;
    }
    if (v < 1 || v > 65535) {
      this.invalid(path, v, PORT_DETAIL);
      return undefined;
    }
    return v;
  }

  ipv4(v: unknown, path: string): string | undefined {
    if (typeof v !== 'string' || !isIPv4(v)) {
      this.invalid(path, v, IP_DETAIL);
      return undefined;
    }
    return v;
  }
}

function identity(obj: KubeObject): { namespace: string; name: string } {
  const meta = obj.metadata ?? {};
  return { namespace: meta.namespace || 'default', name: typeof meta.name === 'string' ? meta.name : '' };
}

/**
 * Names go into rule comments and chain hashes: checked here with upstream's rules whatever
 * the source (the API server has checked them already; a file or URL went through
 * manifests' validation; anything else has not).
 */
function checkNames(r: Reader, namespace: string, name: string, nameRule: (v: string) => string[]): void {
  for (const m of isDNS1123Label(namespace)) r.invalid('metadata.namespace', namespace, m);
  if (name) for (const m of nameRule(name)) r.invalid('metadata.name', name, m);
}

function checkPortName(r: Reader, name: string, path: string): void {
  if (name) for (const m of isDNS1123Label(name)) r.invalid(path, name, m);
}

const IANA_SVC_NAME = /^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/;

function checkTargetPortName(r: Reader, v: string, path: string): void {
  if (v.length > 15 || !IANA_SVC_NAME.test(v) || v.includes('--') || !/[a-z]/.test(v)) {
    r.invalid(path, v, 'must be a port number or an IANA_SVC_NAME: at most 15 characters, a-z, 0-9 and \'-\', at least one letter, no "--", no leading or trailing \'-\'');
  }
}

export interface ServiceParseOptions {
  /** When set, cluster IPs must lie inside it (so they are routed to the pod bridge). */
  serviceCIDR?: string;
}

/** Builds a Service from a v1 Service document; throws ModelError naming every bad field. */
export function serviceFromObject(obj: KubeObject, opts: ServiceParseOptions = {}): Service {
  const { namespace, name } = identity(obj);
  const r = new Reader();
  if (!name) r.errs.push({ field: 'metadata.name', type: 'Required value' });
  checkNames(r, namespace, name, isDNS1035Label);
  const spec = r.obj(obj as Obj, 'spec', 'spec') ?? {};
  const status = r.obj(obj as Obj, 'status', 'status');
  const type = r.oneOf(spec, 'type', 'spec.type', ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'], 'ClusterIP');
  const external = type === 'ExternalName';

  let clusterIP = r.str(spec, 'clusterIP', 'spec.clusterIP') ?? '';
  if (external) {
    if (!r.str(spec, 'externalName', 'spec.externalName')) r.errs.push({ field: 'spec.externalName', type: 'Required value' });
    clusterIP = '';
  } else if (clusterIP === 'None') {
    if (type !== 'ClusterIP') r.invalid('spec.clusterIP', clusterIP, `may not be set to 'None' for ${type} services`);
  } else if (clusterIP === '') {
    // Skip when a non-string value was already reported by the reader.
    if (spec.clusterIP === undefined || spec.clusterIP === null || spec.clusterIP === '') {
      r.errs.push({
        field: 'spec.clusterIP',
        type: 'Required value',
        detail: `bosun allocates no cluster IPs: set one${opts.serviceCIDR ? ` within ${opts.serviceCIDR}` : ''}, or 'None' for a headless Service`,
      });
    }
  } else if (r.ipv4(clusterIP, 'spec.clusterIP') !== undefined && opts.serviceCIDR) {
    const cidr = parseCidr(opts.serviceCIDR);
    if (cidr && !cidrContains(cidr, clusterIP)) r.invalid('spec.clusterIP', clusterIP, `must be within the service CIDR ${opts.serviceCIDR}`);
  }

  const ports: ServicePort[] = [];
  const rawPorts = r.list(spec, 'ports', 'spec.ports');
  const names = new Set<string>();
  const portKeys = new Set<string>();
  rawPorts.forEach((raw, i) => {
    const path = `spec.ports[${i}]`;
    if (!isObj(raw)) return r.invalid(path, raw, 'must be an object');
    const pname = r.str(raw, 'name', `${path}.name`) ?? '';
    checkPortName(r, pname, `${path}.name`);
    if (pname === '' && rawPorts.length > 1) r.errs.push({ field: `${path}.name`, type: 'Required value' });
    if (pname !== '' && names.has(pname)) r.errs.push({ field: `${path}.name`, type: 'Duplicate value', value: pname });
    names.add(pname);
    const protocol = r.protocol(raw, `${path}.protocol`);
    const port = r.port(raw, 'port', `${path}.port`);
    const key = `${port}/${protocol}`;
    if (port !== undefined && portKeys.has(key)) r.errs.push({ field: path, type: 'Duplicate value', value: { port, protocol } });
    portKeys.add(key);
    let targetPort: number | string | undefined = port;
    const tp = raw.targetPort;
    if (typeof tp === 'string' && tp !== '' && !/^\d+$/.test(tp)) {
      checkTargetPortName(r, tp, `${path}.targetPort`);
      targetPort = tp;
    } else if (tp !== undefined && tp !== null && tp !== '' && tp !== 0) {
      const n = Number(tp);
      if (!Number.isInteger(n) || n < 1 || n > 65535) r.invalid(`${path}.targetPort`, tp, PORT_DETAIL);
      else targetPort = n;
    }
    const nodePort = r.int(raw, 'nodePort', `${path}.nodePort`) || undefined;
    if (nodePort !== undefined) {
      if (type !== 'NodePort' && type !== 'LoadBalancer') {
        r.errs.push({ field: `${path}.nodePort`, type: 'Forbidden', detail: `may not be used when \`type\` is '${type}'` });
      } else if (nodePort < NODE_PORT_RANGE.min || nodePort > NODE_PORT_RANGE.max) {
        r.invalid(`${path}.nodePort`, nodePort, `provided port is not in the valid range. The range of valid ports is ${NODE_PORT_RANGE.min}-${NODE_PORT_RANGE.max}`);
      }
    }
    if (port !== undefined && targetPort !== undefined) ports.push({ name: pname, protocol, port, targetPort, ...(nodePort ? { nodePort } : {}) });
  });
  if (rawPorts.length === 0 && !external && clusterIP !== 'None') r.errs.push({ field: 'spec.ports', type: 'Required value' });

  let selector: Record<string, string> | undefined;
  const sel = r.obj(spec, 'selector', 'spec.selector');
  if (sel && Object.keys(sel).length > 0) {
    selector = {};
    for (const [k, v] of Object.entries(sel)) {
      if (typeof v !== 'string') r.invalid(`spec.selector[${k}]`, v, 'must be a string');
      else selector[k] = v;
    }
  }

  const ipList = (o: Obj | undefined, key: string, path: string) =>
    r.list(o, key, path).map((v, i) => r.ipv4(v, `${path}[${i}]`)).filter((v): v is string => v !== undefined);
  const externalIPs = ipList(spec, 'externalIPs', 'spec.externalIPs');
  const loadBalancerIPs: string[] = [];
  const lb = r.obj(status, 'loadBalancer', 'status.loadBalancer');
  r.list(lb, 'ingress', 'status.loadBalancer.ingress').forEach((ing, i) => {
    // Hostname-only ingress (some cloud LBs) has nothing for a node to capture.
    if (isObj(ing) && ing.ip !== undefined) {
      const ip = r.ipv4(ing.ip, `status.loadBalancer.ingress[${i}].ip`);
      if (ip) loadBalancerIPs.push(ip);
    }
  });
  const loadBalancerSourceRanges = r.list(spec, 'loadBalancerSourceRanges', 'spec.loadBalancerSourceRanges').flatMap((v, i) => {
    const c = typeof v === 'string' ? parseCidr(v.trim()) : undefined;
    if (!c) {
      r.invalid(`spec.loadBalancerSourceRanges[${i}]`, v, 'must be a valid IPv4 CIDR, (e.g. 10.0.0.0/8)');
      return [];
    }
    return [c.text];
  });

  const sessionAffinity = r.oneOf(spec, 'sessionAffinity', 'spec.sessionAffinity', ['ClientIP', 'None'], 'None');
  let affinityTimeoutSeconds = DEFAULT_AFFINITY_TIMEOUT_SECONDS;
  const tpath = 'spec.sessionAffinityConfig.clientIP.timeoutSeconds';
  const cfg = r.obj(r.obj(spec, 'sessionAffinityConfig', 'spec.sessionAffinityConfig'), 'clientIP', 'spec.sessionAffinityConfig.clientIP');
  const timeout = r.int(cfg, 'timeoutSeconds', tpath);
  if (timeout !== undefined) {
    if (sessionAffinity !== 'ClientIP') {
      r.errs.push({ field: 'spec.sessionAffinityConfig', type: 'Forbidden', detail: 'must not be set when `sessionAffinity` is None' });
    } else if (timeout <= 0 || timeout > MAX_AFFINITY_TIMEOUT_SECONDS) {
      r.invalid(tpath, timeout, `must be greater than 0 and less than ${MAX_AFFINITY_TIMEOUT_SECONDS}`);
    } else affinityTimeoutSeconds = timeout;
  }

  const policies = ['Cluster', 'Local'] as const;
  const svc: Service = {
    namespace,
    name,
    type,
    clusterIP,
    ...(selector ? { selector } : {}),
    ports,
    externalIPs,
    loadBalancerIPs,
    loadBalancerSourceRanges,
    sessionAffinity,
    affinityTimeoutSeconds,
    externalTrafficPolicy: r.oneOf(spec, 'externalTrafficPolicy', 'spec.externalTrafficPolicy', policies, 'Cluster'),
    internalTrafficPolicy: r.oneOf(spec, 'internalTrafficPolicy', 'spec.internalTrafficPolicy', policies, 'Cluster'),
    publishNotReadyAddresses: r.bool(spec, 'publishNotReadyAddresses', 'spec.publishNotReadyAddresses') ?? false,
    allocateLoadBalancerNodePorts: r.bool(spec, 'allocateLoadBalancerNodePorts', 'spec.allocateLoadBalancerNodePorts') ?? true,
  };
  if (r.errs.length > 0) throw new ModelError('Service', namespace, name, r.errs);
  return svc;
}

function readConditions(r: Reader, raw: Obj, path: string): EndpointConditions {
  const c = r.obj(raw, 'conditions', `${path}.conditions`);
  // Upstream reads an unset condition as: ready, serving = ready, not terminating.
  const ready = r.bool(c, 'ready', `${path}.conditions.ready`) ?? true;
  return {
    ready,
    serving: r.bool(c, 'serving', `${path}.conditions.serving`) ?? ready,
    terminating: r.bool(c, 'terminating', `${path}.conditions.terminating`) ?? false,
  };
}

function readPorts(r: Reader, o: Obj, path: string): EndpointPort[] {
  return r.list(o, 'ports', path).flatMap((raw, i) => {
    const p = `${path}[${i}]`;
    if (!isObj(raw)) return (r.invalid(p, raw, 'must be an object'), []);
    const port = r.port(raw, 'port', `${p}.port`);
    const protocol = r.protocol(raw, `${p}.protocol`);
    const name = r.str(raw, 'name', `${p}.name`) ?? '';
    checkPortName(r, name, `${p}.name`);
    return port === undefined ? [] : [{ name, port, protocol }];
  });
}

/**
 * Builds an EndpointSlice from a discovery.k8s.io/v1 document. Returns null for
 * non-IPv4 slices (kube-proxy ignores the other family too); throws ModelError.
 */
export function endpointSliceFromObject(obj: KubeObject): EndpointSlice | null {
  const { namespace, name } = identity(obj);
  const r = new Reader();
  const o = obj as Obj;
  const addressType = r.str(o, 'addressType', 'addressType');
  if (addressType === 'IPv6' || addressType === 'FQDN') return null;
  if (addressType !== 'IPv4') {
    if (addressType === undefined) r.errs.push({ field: 'addressType', type: 'Required value' });
    else r.errs.push({ field: 'addressType', type: 'Unsupported value', value: addressType, detail: supported(['FQDN', 'IPv4', 'IPv6']) });
  }
  checkNames(r, namespace, name, isDNS1123Subdomain);
  const serviceName = obj.metadata?.labels?.[SERVICE_NAME_LABEL];
  if (!serviceName) {
    r.errs.push({ field: `metadata.labels[${SERVICE_NAME_LABEL}]`, type: 'Required value', detail: 'names the Service these endpoints belong to' });
  } else for (const m of isDNS1035Label(String(serviceName))) r.invalid(`metadata.labels[${SERVICE_NAME_LABEL}]`, serviceName, m);
  const endpoints = r.list(o, 'endpoints', 'endpoints').flatMap((raw, i): Endpoint[] => {
    const path = `endpoints[${i}]`;
    if (!isObj(raw)) return (r.invalid(path, raw, 'must be an object'), []);
    const addrs = r.list(raw, 'addresses', `${path}.addresses`);
    if (addrs.length === 0) r.errs.push({ field: `${path}.addresses`, type: 'Required value' });
    const addresses = addrs.map((a, j) => r.ipv4(a, `${path}.addresses[${j}]`)).filter((a): a is string => a !== undefined);
    const nodeName = r.str(raw, 'nodeName', `${path}.nodeName`);
    return [{ addresses, conditions: readConditions(r, raw, path), ...(nodeName ? { nodeName } : {}) }];
  });
  const ports = readPorts(r, o, 'ports');
  if (r.errs.length > 0) throw new ModelError('EndpointSlice', namespace, name, r.errs);
  return { namespace, name, serviceName: serviceName!, endpoints, ports };
}

/** Converts a v1 Endpoints document (named after its Service) to slice shape. */
export function endpointSliceFromEndpoints(obj: KubeObject): EndpointSlice {
  const { namespace, name } = identity(obj);
  const r = new Reader();
  if (!name) r.errs.push({ field: 'metadata.name', type: 'Required value' });
  checkNames(r, namespace, name, isDNS1035Label);
  const endpoints: Endpoint[] = [];
  const ports: EndpointPort[] = [];
  r.list(obj as Obj, 'subsets', 'subsets').forEach((raw, i) => {
    const path = `subsets[${i}]`;
    if (!isObj(raw)) return r.invalid(path, raw, 'must be an object');
    const subsetPorts = readPorts(r, raw, `${path}.ports`);
    for (const [key, ready] of [['addresses', true], ['notReadyAddresses', false]] as const) {
      r.list(raw, key, `${path}.${key}`).forEach((a, j) => {
        const apath = `${path}.${key}[${j}]`;
        if (!isObj(a)) return r.invalid(apath, a, 'must be an object');
        const ip = r.ipv4(a.ip, `${apath}.ip`);
        const nodeName = r.str(a, 'nodeName', `${apath}.nodeName`);
        if (ip) endpoints.push({ addresses: [ip], conditions: { ready, serving: ready, terminating: false }, ...(nodeName ? { nodeName } : {}) });
      });
    }
    // Subsets may carry different port sets; the proxy joins endpoints to ports by port
    // name, so flattening is exact as long as a name means one port number throughout.
    for (const p of subsetPorts) {
      const prev = ports.find((q) => q.name === p.name && q.protocol === p.protocol);
      if (!prev) ports.push(p);
      else if (prev.port !== p.port) r.invalid(`${path}.ports`, p.port, `port ${JSON.stringify(p.name)} is ${prev.port} in an earlier subset: bosun needs one number per port name`);
    }
  });
  if (r.errs.length > 0) throw new ModelError('Endpoints', namespace, name, r.errs);
  return { namespace, name, serviceName: name, endpoints, ports };
}

// ---- NodePort allocation -----------------------------------------------------------

/** `ns/name:port` (or `ns/name` for an unnamed port): kube-proxy's ServicePortName. */
export function servicePortName(svc: { namespace: string; name: string }, portName: string): string {
  return `${svc.namespace}/${svc.name}${portName ? `:${portName}` : ''}`;
}

function needsNodePorts(svc: Service): boolean {
  return svc.type === 'NodePort' || (svc.type === 'LoadBalancer' && svc.allocateLoadBalancerNodePorts);
}

export interface NodePortAllocation {
  services: Service[];
  /** servicePortName -> node port, for every allocated (not user-set) port: persist it and pass it back as `previous`. */
  allocated: Record<string, number>;
  errors: ModelError[];
}

/**
 * Gives every NodePort/LoadBalancer port without a nodePort one in 30000-32767. The
 * starting point is a hash of the port's name, so the choice does not depend on other
 * Services; `previous` (the last result's `allocated`) keeps a port's number even when a
 * newcomer hashes to the same slot. Two Services asking for the same nodePort: the first
 * by namespace/name keeps it, the other is reported and gets no node port.
 */
export function allocateNodePorts(services: Service[], previous: Record<string, number> = {}): NodePortAllocation {
  const size = NODE_PORT_RANGE.max - NODE_PORT_RANGE.min + 1;
  const used = new Map<number, { svc: string; protocols: Set<Protocol> }>();
  const errors: ModelError[] = [];
  // Only Services that take node ports are copied (their ports get numbers below); the rest
  // stay the caller's objects, so that a cache keyed by object sees them unchanged.
  const out = services.map((s) => (needsNodePorts(s) ? { ...s, ports: s.ports.map((p) => ({ ...p })) } : s));
  const ordered = out.filter(needsNodePorts).sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  const take = (port: number, svc: string, protocol: Protocol): boolean => {
    const u = used.get(port);
    // One Service may use a number once per protocol (e.g. DNS on TCP and UDP).
    if (u && (u.svc !== svc || u.protocols.has(protocol))) return false;
    if (u) u.protocols.add(protocol);
    else used.set(port, { svc, protocols: new Set([protocol]) });
    return true;
  };

  for (const svc of ordered) {
    if (!needsNodePorts(svc)) continue;
    const key = `${svc.namespace}/${svc.name}`;
    const errs: FieldError[] = [];
    svc.ports.forEach((p, i) => {
      if (p.nodePort === undefined || take(p.nodePort, key, p.protocol)) return;
      errs.push({ field: `spec.ports[${i}].nodePort`, type: 'Invalid value', value: p.nodePort, detail: 'provided port is already allocated' });
      delete p.nodePort;
    });
    if (errs.length > 0) errors.push(new ModelError('Service', svc.namespace, svc.name, errs));
  }

  const allocated: Record<string, number> = {};
  const pending: { svc: Service; port: ServicePort; name: string }[] = [];
  for (const svc of ordered) {
    if (!needsNodePorts(svc)) continue;
    for (const port of svc.ports) {
      if (port.nodePort !== undefined) continue;
      const name = servicePortName(svc, port.name);
      const prev = previous[name];
      if (prev !== undefined && prev >= NODE_PORT_RANGE.min && prev <= NODE_PORT_RANGE.max && take(prev, `${svc.namespace}/${svc.name}`, port.protocol)) {
        port.nodePort = allocated[name] = prev;
      } else pending.push({ svc, port, name });
    }
  }
  for (const { svc, port, name } of pending) {
    const start = createHash('sha256').update(name).digest().readUInt32BE(0) % size;
    for (let i = 0; i < size; i++) {
      const candidate = NODE_PORT_RANGE.min + ((start + i) % size);
      if (take(candidate, `${svc.namespace}/${svc.name}`, port.protocol)) {
        port.nodePort = allocated[name] = candidate;
        break;
      }
    }
    if (port.nodePort === undefined) {
      const i = svc.ports.indexOf(port);
      errors.push(new ModelError('Service', svc.namespace, svc.name, [
        { field: `spec.ports[${i}].nodePort`, type: 'Invalid value', value: 0, detail: `range ${NODE_PORT_RANGE.min}-${NODE_PORT_RANGE.max} is full` },
      ]));
    }
  }
  return { services: out, allocated, errors };
}

// ---- the local endpoints controller ------------------------------------------------

export interface PodInfo {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  /** '' or absent until the sandbox has an address. */
  podIP?: string;
  ready: boolean;
  terminating: boolean;
  containerPorts: { name?: string; containerPort: number; protocol?: Protocol }[];
  nodeName?: string;
}

function resolveTargetPort(pod: PodInfo, port: ServicePort): number | undefined {
  if (typeof port.targetPort === 'number') return port.targetPort;
  return pod.containerPorts.find((c) => c.name === port.targetPort && (c.protocol ?? 'TCP') === port.protocol)?.containerPort;
}

/**
 * What the EndpointSlice controller would publish for Services with a selector, from
 * this node's pods. Pods whose named target ports resolve to different numbers land in
 * different slices, as upstream; a pod without a named port is left out of that port.
 */
export function computeEndpointSlices(services: Service[], pods: PodInfo[]): EndpointSlice[] {
  const slices: EndpointSlice[] = [];
  for (const svc of services) {
    if (!svc.selector || svc.type === 'ExternalName') continue;
    const selector = Object.entries(svc.selector);
    const groups = new Map<string, { ports: EndpointPort[]; endpoints: { pod: string; ep: Endpoint }[] }>();
    for (const pod of pods) {
      if (pod.namespace !== svc.namespace || !pod.podIP || !isIPv4(pod.podIP)) continue;
      if (!selector.every(([k, v]) => pod.labels[k] === v)) continue;
      const ports = svc.ports.flatMap((p) => {
        const n = resolveTargetPort(pod, p);
        return n === undefined ? [] : [{ name: p.name, port: n, protocol: p.protocol }];
      });
      const signature = JSON.stringify(ports);
      let g = groups.get(signature);
      if (!g) groups.set(signature, (g = { ports, endpoints: [] }));
      const ready = svc.publishNotReadyAddresses || (pod.ready && !pod.terminating);
      g.endpoints.push({
        pod: pod.name,
        ep: {
          addresses: [pod.podIP],
          conditions: { ready, serving: svc.publishNotReadyAddresses || pod.ready, terminating: pod.terminating },
          ...(pod.nodeName ? { nodeName: pod.nodeName } : {}),
        },
      });
    }
    for (const [signature, g] of [...groups].sort(([a], [b]) => a.localeCompare(b))) {
      const suffix = createHash('sha256').update(signature).digest('hex').slice(0, 8);
      slices.push({
        namespace: svc.namespace,
        name: `${svc.name}-${suffix}`,
        serviceName: svc.name,
        ports: g.ports,
        endpoints: g.endpoints.sort((a, b) => a.pod.localeCompare(b.pod)).map((e) => e.ep),
      });
    }
  }
  return slices;
}

// ---- putting it together -----------------------------------------------------------

export interface BuildStateOptions extends ServiceParseOptions {
  /** This node's pods, for Services with a selector. */
  pods?: PodInfo[];
  /** The last build's `nodePorts`, so allocated node ports survive restarts. */
  previousNodePorts?: Record<string, number>;
  /**
   * The selector Services whose endpoints are computed from `pods` (default: all). A cluster's
   * Services get theirs only from the API's EndpointSlices, as kube-proxy does: the API's
   * controller sees every node's pods and their readiness, this node sees only its own.
   */
  endpointsFromPods?: (svc: Service) => boolean;
}

export interface BuildStateResult {
  state: ProxyState;
  /** Problems with single objects; those objects are left out, the rest is usable. */
  errors: ModelError[];
  nodePorts: Record<string, number>;
}

/**
 * What one build parsed and allocated, by source object, for the next build: the objects an
 * informer hands out again unchanged are not parsed again and come out as the same Service /
 * EndpointSlice objects, so that the proxy recomputes only what changed (upstream's change
 * trackers do the same per event). Valid for one set of parse options.
 */
export interface BuildStateCache {
  parsed: WeakMap<KubeObject, Service | EndpointSlice | null | ModelError>;
  /** The allocated copy of a NodePort/LoadBalancer Service, by the parsed Service. */
  allocated: WeakMap<Service, Service>;
}

export function newBuildStateCache(): BuildStateCache {
  return { parsed: new WeakMap(), allocated: new WeakMap() };
}

function parseObject(obj: KubeObject, opts: ServiceParseOptions): Service | EndpointSlice | null | ModelError {
  try {
    if (obj.kind === 'Service') return serviceFromObject(obj, opts);
    if (obj.kind === 'EndpointSlice') return endpointSliceFromObject(obj);
    if (obj.kind === 'Endpoints') return endpointSliceFromEndpoints(obj);
    return null;
  } catch (err) {
    if (err instanceof ModelError) return err;
    throw err;
  }
}

const samePorts = (a: Service, b: Service) => a.ports.length === b.ports.length && a.ports.every((p, i) => p.nodePort === b.ports[i]!.nodePort);

/**
 * The proxy's state from a set of documents (other kinds are ignored): Services,
 * hand-written Endpoints/EndpointSlices, and slices computed from `pods`. With `cache`, the
 * documents seen by an earlier build with it are not parsed again (see BuildStateCache).
 */
export function buildProxyState(objects: KubeObject[], opts: BuildStateOptions = {}, cache?: BuildStateCache): BuildStateResult {
  const errors: ModelError[] = [];
  const services: Service[] = [];
  const slices: EndpointSlice[] = [];
  const fromEndpoints = new Set<EndpointSlice>();
  const seen = new Set<string>();
  for (const obj of objects) {
    if (obj.kind !== 'Service' && obj.kind !== 'EndpointSlice' && obj.kind !== 'Endpoints') continue;
    let r = cache?.parsed.get(obj);
    if (r === undefined) {
      r = parseObject(obj, opts);
      cache?.parsed.set(obj, r);
    }
    if (r instanceof ModelError) {
      errors.push(r);
    } else if (obj.kind === 'Service') {
      const svc = r as Service;
      const key = `${svc.namespace}/${svc.name}`;
      if (seen.has(key)) errors.push(new ModelError('Service', svc.namespace, svc.name, [{ field: 'metadata.name', type: 'Duplicate value', value: svc.name }]));
      else {
        seen.add(key);
        services.push(svc);
      }
    } else if (r) {
      const s = r as EndpointSlice;
      if (obj.kind === 'Endpoints') fromEndpoints.add(s);
      slices.push(s);
    }
  }
  const alloc = allocateNodePorts(services, opts.previousNodePorts);
  if (cache) {
    // The same node ports as last time: hand out last time's copy.
    alloc.services = alloc.services.map((s, i) => {
      const src = services[i]!;
      if (s === src) return s;
      const prev = cache.allocated.get(src);
      if (prev && samePorts(prev, s)) return prev;
      cache.allocated.set(src, s);
      return s;
    });
  }
  errors.push(...alloc.errors);
  const local = opts.endpointsFromPods;
  const computed = computeEndpointSlices(local ? alloc.services.filter(local) : alloc.services, opts.pods ?? []);
  // As upstream's mirroring controller: v1 Endpoints count only for selector-less
  // Services; a selector's endpoints come from the pods.
  const withSelector = new Set(alloc.services.filter((s) => s.selector).map((s) => `${s.namespace}/${s.name}`));
  const manual = slices.filter((s) => !(fromEndpoints.has(s) && withSelector.has(`${s.namespace}/${s.serviceName}`)));
  return { state: { services: alloc.services, endpointSlices: [...manual, ...computed] }, errors, nodePorts: alloc.allocated };
}
