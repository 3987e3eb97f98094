// Service, Endpoints and EndpointSlice as the API server validates them
// (pkg/apis/core/validation ValidateService / ValidateEndpoints, pkg/apis/discovery/validation
// ValidateEndpointSlice), with upstream's field paths. These objects feed the packet filter:
// every name here ends up in an iptables-restore comment or a chain hash, every address and
// port in a rule, so nothing reaches netproxy that the API server would have refused.
// Input is the manifest before defaulting: absent or '' where upstream defaults is accepted.

import { isIP } from 'node:net';
import type { FieldError } from './errors.js';
import * as names from './names.js';
import { invalid, isObject, supported } from './schema.js';

type Obj = Record<string, unknown>;

const PROTOCOLS = ['SCTP', 'TCP', 'UDP'] as const;
const SERVICE_TYPES = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'] as const;
const IP_MSG = 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)';

/** Reports a value of the wrong JSON type; true when the value may be used as T. */
function typed(v: unknown, want: 'string' | 'int' | 'bool' | 'object' | 'array', path: string, errs: FieldError[]): boolean {
  if (v === undefined || v === null) return false;
  const ok = want === 'string' ? typeof v === 'string'
    : want === 'int' ? Number.isInteger(v)
    : want === 'bool' ? typeof v === 'boolean'
    : want === 'object' ? isObject(v)
    : Array.isArray(v);
  if (!ok) errs.push({ field: path, type: 'Invalid value', value: v, detail: `must be ${want === 'int' ? 'an integer' : want === 'array' ? 'an array' : want === 'object' ? 'an object' : `a ${want}`}` });
  return ok;
}

const str = (o: Obj, k: string, path: string, errs: FieldError[]): string | undefined =>
  typed(o[k], 'string', path, errs) ? (o[k] as string) : undefined;
const int = (o: Obj, k: string, path: string, errs: FieldError[]): number | undefined =>
  typed(o[k], 'int', path, errs) ? (o[k] as number) : undefined;
const objOf = (o: Obj, k: string, path: string, errs: FieldError[]): Obj | undefined =>
  typed(o[k], 'object', path, errs) ? (o[k] as Obj) : undefined;
const listOf = (o: Obj, k: string, path: string, errs: FieldError[]): unknown[] =>
  typed(o[k], 'array', path, errs) ? (o[k] as unknown[]) : [];

function enumOf(o: Obj, k: string, path: string, values: readonly string[], errs: FieldError[], required = false): string | undefined {
  const v = str(o, k, path, errs);
  if (v === undefined || v === '') {
    if (required && (o[k] === undefined || o[k] === null || o[k] === '')) errs.push({ field: path, type: 'Required value' });
    return undefined;
  }
  if (!values.includes(v)) errs.push({ field: path, type: 'Unsupported value', value: v, detail: supported(values) });
  return v;
}

/** ValidateEndpointIP / ValidateNonSpecialIP: an address traffic may be sent to. */
export function endpointIPProblems(ip: string): string[] {
  const family = isIP(ip);
  if (!family) return [IP_MSG];
  const errs: string[] = [];
  if (family === 4) {
    const [a, b, c] = ip.split('.').map(Number) as [number, number, number];
    if (ip === '0.0.0.0') errs.push('may not be unspecified (0.0.0.0, ::)');
    if (a === 127) errs.push('may not be in the loopback range (127.0.0.0/8, ::1/128)');
    if (a === 169 && b === 254) errs.push('may not be in the link-local range (169.254.0.0/16, fe80::/10)');
    if (a === 224 && b === 0 && c === 0) errs.push('may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)');
  } else {
    const lower = ip.toLowerCase();
    if (/^[0:]+$/.test(lower)) errs.push('may not be unspecified (0.0.0.0, ::)');
    if (/^[0:]*:0*1$/.test(lower)) errs.push('may not be in the loopback range (127.0.0.0/8, ::1/128)');
    if (/^fe[89ab]/.test(lower)) errs.push('may not be in the link-local range (169.254.0.0/16, fe80::/10)');
    if (/^ff02:/.test(lower)) errs.push('may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)');
  }
  return errs;
}

function validateLabels(m: Obj, path: string, errs: FieldError[]): void {
  for (const [k, v] of Object.entries(m)) {
    errs.push(...invalid(path, k, names.isQualifiedName(k)));
    if (typeof v !== 'string') errs.push({ field: `${path}[${k}]`, type: 'Invalid value', value: v, detail: 'must be a string' });
    else errs.push(...invalid(path, v, names.isValidLabelValue(v)));
  }
}

function validatePortName(name: string, path: string, seen: Set<string>, errs: FieldError[]): void {
  if (name !== '') errs.push(...invalid(path, name, names.isDNS1123Label(name)));
  if (seen.has(name)) errs.push({ field: path, type: 'Duplicate value', value: name });
  seen.add(name);
}

// --- Service ---------------------------------------------------------------------------

export function serviceRules(svc: Obj, errs: FieldError[]): void {
  const spec = objOf(svc, 'spec', 'spec', errs) ?? {};
  const type = enumOf(spec, 'type', 'spec.type', SERVICE_TYPES, errs) ?? 'ClusterIP';
  const clusterIP = str(spec, 'clusterIP', 'spec.clusterIP', errs) ?? '';
  const headless = clusterIP === 'None';
  if (clusterIP !== '' && !headless && !isIP(clusterIP)) errs.push({ field: 'spec.clusterIP', type: 'Invalid value', value: clusterIP, detail: IP_MSG });
  listOf(spec, 'clusterIPs', 'spec.clusterIPs', errs).forEach((ip, i) => {
    const path = `spec.clusterIPs[${i}]`;
    if (typeof ip !== 'string') errs.push({ field: path, type: 'Invalid value', value: ip, detail: 'must be a string' });
    else if (ip !== 'None' && !isIP(ip)) errs.push({ field: path, type: 'Invalid value', value: ip, detail: IP_MSG });
  });

  if (type === 'ExternalName') {
    const ext = str(spec, 'externalName', 'spec.externalName', errs);
    if (!ext) errs.push({ field: 'spec.externalName', type: 'Required value' });
    else errs.push(...invalid('spec.externalName', ext, names.isDNS1123Subdomain(ext.replace(/\.$/, ''))));
  }

  const ports = listOf(spec, 'ports', 'spec.ports', errs);
  if (ports.length === 0 && !headless && type !== 'ExternalName' && spec.ports !== undefined && !Array.isArray(spec.ports)) {
    // the type error is already reported
  } else if (ports.length === 0 && !headless && type !== 'ExternalName') {
    errs.push({ field: 'spec.ports', type: 'Required value' });
  }
  const portNames = new Set<string>();
  ports.forEach((raw, i) => {
    const path = `spec.ports[${i}]`;
    if (!isObject(raw)) return void errs.push({ field: path, type: 'Invalid value', value: raw, detail: 'must be an object' });
    const name = str(raw, 'name', `${path}.name`, errs) ?? '';
    if (name === '' && ports.length > 1) errs.push({ field: `${path}.name`, type: 'Required value' });
    validatePortName(name, `${path}.name`, portNames, errs);
    const port = int(raw, 'port', `${path}.port`, errs);
    if (port === undefined) {
      if (raw.port === undefined || raw.port === null) errs.push({ field: `${path}.port`, type: 'Required value' });
    } else errs.push(...invalid(`${path}.port`, port, names.isValidPortNum(port)));
    enumOf(raw, 'protocol', `${path}.protocol`, PROTOCOLS, errs);
    const tp = raw.targetPort;
    if (typeof tp === 'string' && tp !== '') errs.push(...invalid(`${path}.targetPort`, tp, /^\d+$/.test(tp) ? names.isValidPortNum(Number(tp)) : names.isValidPortName(tp)));
    else if (typeof tp === 'number' && tp !== 0) errs.push(...invalid(`${path}.targetPort`, tp, Number.isInteger(tp) ? names.isValidPortNum(tp) : ['must be an integer']));
    else if (tp !== undefined && tp !== null && tp !== '' && tp !== 0) errs.push({ field: `${path}.targetPort`, type: 'Invalid value', value: tp, detail: 'must be an integer or a string' });
    const nodePort = int(raw, 'nodePort', `${path}.nodePort`, errs);
    if (nodePort) errs.push(...invalid(`${path}.nodePort`, nodePort, names.isValidPortNum(nodePort)));
    const appProtocol = str(raw, 'appProtocol', `${path}.appProtocol`, errs);
    if (appProtocol) errs.push(...invalid(`${path}.appProtocol`, appProtocol, names.isQualifiedName(appProtocol)));
  });

  const selector = objOf(spec, 'selector', 'spec.selector', errs);
  if (selector) validateLabels(selector, 'spec.selector', errs);

  listOf(spec, 'externalIPs', 'spec.externalIPs', errs).forEach((ip, i) => {
    const path = `spec.externalIPs[${i}]`;
    if (typeof ip !== 'string') errs.push({ field: path, type: 'Invalid value', value: ip, detail: 'must be a string' });
    else errs.push(...invalid(path, ip, endpointIPProblems(ip)));
  });
  listOf(spec, 'loadBalancerSourceRanges', 'spec.loadBalancerSourceRanges', errs).forEach((c, i) => {
    const path = `spec.loadBalancerSourceRanges[${i}]`;
    const [ip, bits, extra] = typeof c === 'string' ? c.trim().split('/') : [];
    const family = ip ? isIP(ip) : 0;
    const ok = family && bits !== undefined && extra === undefined && /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
    if (!ok) errs.push({ field: path, type: 'Invalid value', value: c, detail: 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)' });
  });

  enumOf(spec, 'sessionAffinity', 'spec.sessionAffinity', ['ClientIP', 'None'], errs);
  enumOf(spec, 'externalTrafficPolicy', 'spec.externalTrafficPolicy', ['Cluster', 'Local'], errs);
  enumOf(spec, 'internalTrafficPolicy', 'spec.internalTrafficPolicy', ['Cluster', 'Local'], errs);
  enumOf(spec, 'ipFamilyPolicy', 'spec.ipFamilyPolicy', ['PreferDualStack', 'RequireDualStack', 'SingleStack'], errs);
  listOf(spec, 'ipFamilies', 'spec.ipFamilies', errs).forEach((f, i) => {
    if (f !== 'IPv4' && f !== 'IPv6') errs.push({ field: `spec.ipFamilies[${i}]`, type: 'Unsupported value', value: f, detail: supported(['IPv4', 'IPv6']) });
  });
  for (const k of ['publishNotReadyAddresses', 'allocateLoadBalancerNodePorts']) typed(spec[k], 'bool', `spec.${k}`, errs);
  const affinity = objOf(spec, 'sessionAffinityConfig', 'spec.sessionAffinityConfig', errs);
  const clientIP = affinity && objOf(affinity, 'clientIP', 'spec.sessionAffinityConfig.clientIP', errs);
  const timeout = clientIP && int(clientIP, 'timeoutSeconds', 'spec.sessionAffinityConfig.clientIP.timeoutSeconds', errs);
  if (timeout !== undefined && timeout !== null && (timeout <= 0 || timeout > 86400)) {
    errs.push({ field: 'spec.sessionAffinityConfig.clientIP.timeoutSeconds', type: 'Invalid value', value: timeout, detail: 'must be greater than 0 and less than 86400' });
  }
}

// --- Endpoints ---------------------------------------------------------------------------

function validateEndpointPorts(list: unknown[], path: string, errs: FieldError[], opts: { requireNameWhenMany: boolean; requirePort: boolean }): void {
  const seen = new Set<string>();
  list.forEach((raw, i) => {
    const p = `${path}[${i}]`;
    if (!isObject(raw)) return void errs.push({ field: p, type: 'Invalid value', value: raw, detail: 'must be an object' });
    const name = str(raw, 'name', `${p}.name`, errs) ?? '';
    if (name === '' && opts.requireNameWhenMany && list.length > 1) errs.push({ field: `${p}.name`, type: 'Required value' });
    validatePortName(name, `${p}.name`, seen, errs);
    const port = int(raw, 'port', `${p}.port`, errs);
    // EndpointSlice ports may be unset ("all ports"); upstream leaves their range to the
    // int32 type, but a number out of range would fail the whole iptables-restore.
    if (port !== undefined) errs.push(...invalid(`${p}.port`, port, names.isValidPortNum(port)));
    else if (opts.requirePort && (raw.port === undefined || raw.port === null)) errs.push(...invalid(`${p}.port`, 0, names.isValidPortNum(0)));
    enumOf(raw, 'protocol', `${p}.protocol`, PROTOCOLS, errs);
    const appProtocol = str(raw, 'appProtocol', `${p}.appProtocol`, errs);
    if (appProtocol) errs.push(...invalid(`${p}.appProtocol`, appProtocol, names.isQualifiedName(appProtocol)));
  });
}

export function endpointsRules(ep: Obj, errs: FieldError[]): void {
  listOf(ep, 'subsets', 'subsets', errs).forEach((raw, i) => {
    const path = `subsets[${i}]`;
    if (!isObject(raw)) return void errs.push({ field: path, type: 'Invalid value', value: raw, detail: 'must be an object' });
    const ready = listOf(raw, 'addresses', `${path}.addresses`, errs);
    const notReady = listOf(raw, 'notReadyAddresses', `${path}.notReadyAddresses`, errs);
    if (ready.length === 0 && notReady.length === 0) errs.push({ field: path, type: 'Required value', detail: 'must specify `addresses` or `notReadyAddresses`' });
    for (const [key, list] of [['addresses', ready], ['notReadyAddresses', notReady]] as const) {
      list.forEach((a, j) => {
        const ap = `${path}.${key}[${j}]`;
        if (!isObject(a)) return void errs.push({ field: ap, type: 'Invalid value', value: a, detail: 'must be an object' });
        const ip = str(a, 'ip', `${ap}.ip`, errs);
        if (ip === undefined || ip === '') {
          if (a.ip === undefined || a.ip === null || a.ip === '') errs.push({ field: `${ap}.ip`, type: 'Required value' });
        } else errs.push(...invalid(`${ap}.ip`, ip, endpointIPProblems(ip)));
        const hostname = str(a, 'hostname', `${ap}.hostname`, errs);
        if (hostname) errs.push(...invalid(`${ap}.hostname`, hostname, names.isDNS1123Label(hostname)));
        const nodeName = str(a, 'nodeName', `${ap}.nodeName`, errs);
        if (nodeName) errs.push(...invalid(`${ap}.nodeName`, nodeName, names.isDNS1123Subdomain(nodeName)));
      });
    }
    validateEndpointPorts(listOf(raw, 'ports', `${path}.ports`, errs), `${path}.ports`, errs, { requireNameWhenMany: true, requirePort: true });
  });
}

// --- EndpointSlice -------------------------------------------------------------------------

const MAX_ENDPOINTS = 1000;
const MAX_ADDRESSES = 100;
const MAX_PORTS = 100;

export function endpointSliceRules(slice: Obj, errs: FieldError[]): void {
  const addressType = typeof slice.addressType === 'string' ? slice.addressType : '';
  const endpoints = listOf(slice, 'endpoints', 'endpoints', errs);
  if (endpoints.length > MAX_ENDPOINTS) {
    errs.push({ field: 'endpoints', type: 'Too many', value: endpoints.length, detail: `must have at most ${MAX_ENDPOINTS} items` });
  } else {
    endpoints.forEach((raw, i) => {
      const path = `endpoints[${i}]`;
      if (!isObject(raw)) return void errs.push({ field: path, type: 'Invalid value', value: raw, detail: 'must be an object' });
      const addresses = listOf(raw, 'addresses', `${path}.addresses`, errs);
      if (addresses.length === 0) errs.push({ field: `${path}.addresses`, type: 'Required value', detail: 'must contain at least 1 address' });
      else if (addresses.length > MAX_ADDRESSES) errs.push({ field: `${path}.addresses`, type: 'Too many', value: addresses.length, detail: `must have at most ${MAX_ADDRESSES} items` });
      else addresses.forEach((a, j) => {
        const ap = `${path}.addresses[${j}]`;
        if (typeof a !== 'string') return void errs.push({ field: ap, type: 'Invalid value', value: a, detail: 'must be a string' });
        if (addressType === 'IPv4' && isIP(a) !== 4) errs.push({ field: ap, type: 'Invalid value', value: a, detail: 'must be a valid IPv4 address' });
        else if (addressType === 'IPv6' && isIP(a) !== 6) errs.push({ field: ap, type: 'Invalid value', value: a, detail: 'must be a valid IPv6 address' });
        else if (addressType === 'IPv4' || addressType === 'IPv6') errs.push(...invalid(ap, a, endpointIPProblems(a)));
        else if (addressType === 'FQDN') errs.push(...invalid(ap, a, names.isDNS1123Subdomain(a.replace(/\.$/, ''))));
      });
      const conditions = objOf(raw, 'conditions', `${path}.conditions`, errs);
      if (conditions) for (const k of ['ready', 'serving', 'terminating']) typed(conditions[k], 'bool', `${path}.conditions.${k}`, errs);
      const hostname = str(raw, 'hostname', `${path}.hostname`, errs);
      if (hostname) errs.push(...invalid(`${path}.hostname`, hostname, names.isDNS1123Label(hostname)));
      const nodeName = str(raw, 'nodeName', `${path}.nodeName`, errs);
      if (nodeName) errs.push(...invalid(`${path}.nodeName`, nodeName, names.isDNS1123Subdomain(nodeName)));
    });
  }
  const ports = listOf(slice, 'ports', 'ports', errs);
  if (ports.length > MAX_PORTS) errs.push({ field: 'ports', type: 'Too many', value: ports.length, detail: `must have at most ${MAX_PORTS} items` });
  else validateEndpointPorts(ports, 'ports', errs, { requireNameWhenMany: false, requirePort: false });
  const meta = isObject(slice.metadata) ? slice.metadata : {};
  const labels = isObject(meta.labels) ? meta.labels : {};
  const svcName = labels['kubernetes.io/service-name'];
  if (typeof svcName === 'string' && svcName !== '') errs.push(...invalid('metadata.labels[kubernetes.io/service-name]', svcName, names.isDNS1035Label(svcName)));
}
