// UDP has no connection to end: conntrack keeps sending a flow to the endpoint it was
// NATed to until the entry times out, even after that endpoint is gone. So when an
// endpoint leaves (or a Service gets its first endpoints, replacing flows that were
// being rejected), the stale entries are deleted. TCP needs none of this.

import type { ServicePortInfo } from './ports.js';

export interface ConntrackDeletion {
  protocol: 'udp';
  /** Original destination: a cluster, external or load-balancer IP. */
  origDst?: string;
  /** Original destination port: a node port. */
  dport?: number;
  /** The endpoint the flow was NATed to. */
  dstNat?: string;
}

export function conntrackArgs(d: ConntrackDeletion): string[] {
  const args = ['-D', '-p', d.protocol];
  if (d.origDst) args.push('--orig-dst', d.origDst);
  if (d.dport) args.push('--dport', String(d.dport));
  if (d.dstNat) args.push('--dst-nat', d.dstNat);
  return args;
}

const serviceIPs = (s: ServicePortInfo) => [s.clusterIP, ...s.externalIPs, ...s.loadBalancerIPs];
const key = (s: ServicePortInfo) => `${s.name}/${s.proto}`;

/** The deletions a change from `prev` to `next` calls for. */
export function staleConntrackEntries(prevAll: ServicePortInfo[], nextAll: ServicePortInfo[]): ConntrackDeletion[] {
  // Only UDP matters: filter first, so that 10k TCP Services cost a scan and no maps.
  const prev = prevAll.filter((s) => s.proto === 'udp');
  const next = nextAll.filter((s) => s.proto === 'udp');
  const out: ConntrackDeletion[] = [];
  const seen = new Set<string>();
  const add = (d: ConntrackDeletion) => {
    const k = conntrackArgs(d).join(' ');
    if (!seen.has(k)) {
      seen.add(k);
      out.push(d);
    }
  };
  const nextByKey = new Map(next.map((s) => [key(s), s]));
  for (const p of prev) {
    if (p.proto !== 'udp') continue;
    const n = nextByKey.get(key(p));
    const still = new Set(n?.reachableEndpoints.map((e) => e.key) ?? []);
    for (const e of p.reachableEndpoints) {
      if (still.has(e.key)) continue;
      for (const ip of serviceIPs(p)) add({ protocol: 'udp', origDst: ip, dstNat: e.ip });
      if (p.nodePort) add({ protocol: 'udp', dport: p.nodePort, dstNat: e.ip });
    }
  }
  const prevByKey = new Map(prev.map((s) => [key(s), s]));
  for (const n of next) {
    if (n.proto !== 'udp' || n.reachableEndpoints.length === 0) continue;
    if ((prevByKey.get(key(n))?.reachableEndpoints.length ?? 0) > 0) continue;
    for (const ip of serviceIPs(n)) add({ protocol: 'udp', origDst: ip });
    if (n.nodePort) add({ protocol: 'udp', dport: n.nodePort });
  }
  return out;
}
