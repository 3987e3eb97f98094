// The iptables planner: service ports in, iptables-restore text out, in kube-proxy's
// layout (pkg/proxy/iptables/proxier.go). Pure: the executor applies the text.
//
// Partial sync: every service port renders into its own block (its KUBE-SVC/SVL/EXT/FW/SEP
// chains). Given the previous result, only blocks whose text changed are written; the
// shared chains (KUBE-SERVICES, KUBE-NODEPORTS, ...) and the small filter table are
// always written whole. Chains that no block owns any more are flushed and deleted.

import { cidrContains, parseCidr } from '../ip.js';
import type { EndpointInfo, ServicePortInfo } from '../ports.js';
import { extChain, fwChain, isServiceChain, sepChain, svcChain, svlChain } from './names.js';

export const KUBE_SERVICES = 'KUBE-SERVICES';
export const KUBE_EXTERNAL_SERVICES = 'KUBE-EXTERNAL-SERVICES';
export const KUBE_NODEPORTS = 'KUBE-NODEPORTS';
export const KUBE_POSTROUTING = 'KUBE-POSTROUTING';
export const KUBE_MARK_MASQ = 'KUBE-MARK-MASQ';
export const KUBE_FORWARD = 'KUBE-FORWARD';
export const KUBE_PROXY_FIREWALL = 'KUBE-PROXY-FIREWALL';
export const KUBE_PROXY_CANARY = 'KUBE-PROXY-CANARY';

/** The chains bosun owns outright in each table (besides the per-service ones in nat). */
export const FILTER_CHAINS = [KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL, KUBE_PROXY_CANARY];
export const NAT_CHAINS = [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ, KUBE_PROXY_CANARY];

export const NODEPORTS_COMMENT = 'kubernetes service nodeports; NOTE: this must be the last rule in this chain';

export interface IptablesOptions {
  /** The pod CIDR: traffic to a cluster IP from outside it is masqueraded. */
  clusterCIDR?: string;
  /** Masquerade all traffic to cluster IPs. */
  masqueradeAll?: boolean;
  /** Default 0x4000 (bit 14), as kube-proxy. */
  masqueradeMark?: string;
  /** Add --random-fully to MASQUERADE (iptables >= 1.6.2). */
  randomFully?: boolean;
  /** NodePorts on 127.0.0.0/8 too; needs route_localnet=1. Default false. */
  localhostNodePorts?: boolean;
  /** nf_conntrack_tcp_be_liberal is set: no DROP of INVALID packets. */
  conntrackTCPLiberal?: boolean;
  /** Above this many endpoints, per-endpoint comments are dropped. Default 1000. */
  largeClusterThreshold?: number;
  /** This node's IP: lets it reach its own LoadBalancer IPs through source ranges. */
  nodeIP?: string;
}

interface Block {
  chains: string[];
  rules: string[];
  /** chains + rules, to compare with the previous sync. */
  text: string;
}

export interface Ruleset {
  /** iptables-restore input (for `--noflush`). */
  text: string;
  full: boolean;
  /** Per service port (`ns/name:port/proto`): its chains and rules, kept for the next partial sync. */
  blocks: Map<string, Block>;
  /** Every per-service nat chain the ruleset defines. */
  serviceChains: Set<string>;
  /** Per-service chains this text deletes. */
  staleChains: string[];
  /** Service ports whose block was written. */
  writtenBlocks: number;
  /** Rules that exist once applied (not just the ones written). */
  natRules: number;
  filterRules: number;
  lines: number;
  bytes: number;
}

export interface RenderSync {
  /** The last applied result: render a partial sync against it. Absent: full sync. */
  previous?: Ruleset;
  /** Full sync: the nat chains that exist now (iptables-save), to find stale ones. */
  existingNatChains?: Iterable<string>;
}

const probabilityCache: string[] = [];

/**
 * kube-proxy prints 1/n with Go's %0.10f. toFixed agrees except on exact binary ties at
 * the 11th decimal, where Go rounds half to even and toFixed rounds up; among 1/n only
 * n = 2048 (0.00048828125) is such a tie.
 */
export function probability(n: number): string {
  let p = probabilityCache[n];
  if (p === undefined) {
    p = n === 2048 ? '0.0004882812' : (1 / n).toFixed(10);
    probabilityCache[n] = p;
  }
  return p;
}

const blockKey = (s: ServicePortInfo) => `${s.name}/${s.proto}`;

interface Ctx {
  opts: IptablesOptions;
  largeCluster: boolean;
  natServices: string[];
  natNodePorts: string[];
  filterServices: string[];
  filterExternal: string[];
  filterFirewall: string[];
}

/**
 * The last door before iptables-restore, whose input is line-based: a newline in a comment
 * starts a rule of its own, a quote ends the comment. The model has validated every name
 * (DNS labels, IANA port names), so for valid objects this changes nothing; anything else
 * is replaced rather than trusted.
 */
export function ruleText(s: string): string {
  return s.replace(/[^A-Za-z0-9._:/>-]/g, '_');
}

function renderPort(s: ServicePortInfo, c: Ctx): Block {
  const { opts } = c;
  const name = ruleText(s.name);
  const p = s.proto;
  const match = `-m ${p} -p ${p}`;
  const svc = svcChain(name, p);
  const svl = svlChain(name, p);
  const ext = extChain(name, p);
  const fw = fwChain(name, p);

  const usesClusterChain = s.clusterEndpoints.length > 0;
  const usesLocalChain = s.localEndpoints.length > 0;
  const internalChain = s.internalPolicyLocal ? svl : svc;
  const hasInternal = s.hasEndpoints && (!s.internalPolicyLocal || usesLocalChain);
  const externalPolicyChain = s.externalPolicyLocal ? svl : svc;
  const hasExternal = s.hasEndpoints && (!s.externalPolicyLocal || usesLocalChain);
  const usesExtChain = s.hasEndpoints && s.externallyAccessible;
  const usesFwChain = s.hasEndpoints && s.loadBalancerIPs.length > 0 && s.loadBalancerSourceRanges.length > 0;
  const lbChain = usesFwChain ? fw : ext;

  let internalTarget = '';
  let internalComment = '';
  let externalTarget = '';
  let externalComment = '';
  if (!s.hasEndpoints) {
    internalTarget = externalTarget = 'REJECT';
    internalComment = externalComment = `"${name} has no endpoints"`;
  } else {
    if (!hasInternal) {
      internalTarget = 'DROP';
      internalComment = `"${name} has no local endpoints"`;
    }
    if (!hasExternal) {
      externalTarget = 'DROP';
      externalComment = `"${name} has no local endpoints"`;
    }
  }

  const clusterIPMatch = `-m comment --comment "${name} cluster IP" ${match} -d ${s.clusterIP} --dport ${s.port}`;
  if (hasInternal) c.natServices.push(`-A ${KUBE_SERVICES} ${clusterIPMatch} -j ${internalChain}`);
  else c.filterServices.push(`-A ${KUBE_SERVICES} -m comment --comment ${internalComment} ${match} -d ${s.clusterIP} --dport ${s.port} -j ${internalTarget}`);

  for (const ip of s.externalIPs) {
    if (s.hasEndpoints) c.natServices.push(`-A ${KUBE_SERVICES} -m comment --comment "${name} external IP" ${match} -d ${ip} --dport ${s.port} -j ${ext}`);
    if (!hasExternal) c.filterExternal.push(`-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment ${externalComment} ${match} -d ${ip} --dport ${s.port} -j ${externalTarget}`);
  }
  for (const ip of s.loadBalancerIPs) {
    if (s.hasEndpoints) c.natServices.push(`-A ${KUBE_SERVICES} -m comment --comment "${name} loadbalancer IP" ${match} -d ${ip} --dport ${s.port} -j ${lbChain}`);
    if (usesFwChain) {
      c.filterFirewall.push(`-A ${KUBE_PROXY_FIREWALL} -m comment --comment "${name} traffic not accepted by ${fw}" ${match} -d ${ip} --dport ${s.port} -j DROP`);
    }
  }
  if (!hasExternal) {
    for (const ip of s.loadBalancerIPs) {
      c.filterExternal.push(`-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment ${externalComment} ${match} -d ${ip} --dport ${s.port} -j ${externalTarget}`);
    }
  }
  if (s.nodePort !== 0) {
    if (s.hasEndpoints) c.natNodePorts.push(`-A ${KUBE_NODEPORTS} -m comment --comment ${name} ${match} --dport ${s.nodePort} -j ${ext}`);
    if (!hasExternal) {
      c.filterExternal.push(`-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment ${externalComment} -m addrtype --dst-type LOCAL ${match} --dport ${s.nodePort} -j ${externalTarget}`);
    }
  }

  const chains: string[] = [];
  const rules: string[] = [];
  if (hasInternal) {
    if (opts.masqueradeAll) rules.push(`-A ${internalChain} ${clusterIPMatch} -j ${KUBE_MARK_MASQ}`);
    // Off-cluster traffic to a VIP may have been routed here from elsewhere: masquerade
    // it so that replies come back through this node.
    else if (opts.clusterCIDR) rules.push(`-A ${internalChain} ${clusterIPMatch} ! -s ${opts.clusterCIDR} -j ${KUBE_MARK_MASQ}`);
  }
  if (usesExtChain) {
    chains.push(ext);
    if (!s.externalPolicyLocal) {
      rules.push(`-A ${ext} -m comment --comment "masquerade traffic for ${name} external destinations" -j ${KUBE_MARK_MASQ}`);
    } else {
      // Pods and the node itself are not "external": they short-circuit to the cluster
      // chain, as if they had gone out to a load balancer and come back.
      if (opts.clusterCIDR) rules.push(`-A ${ext} -m comment --comment "pod traffic for ${name} external destinations" -s ${opts.clusterCIDR} -j ${svc}`);
      rules.push(`-A ${ext} -m comment --comment "masquerade LOCAL traffic for ${name} external destinations" -m addrtype --src-type LOCAL -j ${KUBE_MARK_MASQ}`);
      rules.push(`-A ${ext} -m comment --comment "route LOCAL traffic for ${name} external destinations" -m addrtype --src-type LOCAL -j ${svc}`);
    }
    if (hasExternal) rules.push(`-A ${ext} -j ${externalPolicyChain}`);
  }
  if (usesFwChain) {
    chains.push(fw);
    const head = `-A ${fw} -m comment --comment "${name} loadbalancer IP"`;
    let allowFromNode = false;
    for (const range of s.loadBalancerSourceRanges) {
      rules.push(`${head} -s ${range} -j ${ext}`);
      const cidr = parseCidr(range);
      if (opts.nodeIP && cidr && cidrContains(cidr, opts.nodeIP)) allowFromNode = true;
    }
    // A VIP bound on this node loops back with itself as source.
    if (allowFromNode) for (const ip of s.loadBalancerIPs) rules.push(`${head} -s ${ip} -j ${ext}`);
    rules.push(`-A ${fw} -m comment --comment "other traffic to ${name} will be dropped by KUBE-PROXY-FIREWALL"`);
  }
  const sepOf = (e: EndpointInfo) => sepChain(name, p, e.key);
  const epComment = (e: EndpointInfo) => (c.largeCluster ? '' : ` -m comment --comment "${name} -> ${ruleText(e.key)}"`);
  const toEndpoints = (chain: string, eps: EndpointInfo[]) => {
    chains.push(chain);
    if (s.affinityTimeoutSeconds > 0) {
      for (const e of eps) {
        const sep = sepOf(e);
        rules.push(`-A ${chain}${epComment(e)} -m recent --name ${sep} --rcheck --seconds ${s.affinityTimeoutSeconds} --reap -j ${sep}`);
      }
    }
    eps.forEach((e, i) => {
      const stat = i < eps.length - 1 ? ` -m statistic --mode random --probability ${probability(eps.length - i)}` : '';
      rules.push(`-A ${chain}${epComment(e)}${stat} -j ${sepOf(e)}`);
    });
  };
  if (usesClusterChain) toEndpoints(svc, s.clusterEndpoints);
  if (usesLocalChain) toEndpoints(svl, s.localEndpoints);
  const svcComment = c.largeCluster ? '' : ` -m comment --comment ${name}`;
  for (const e of s.reachableEndpoints) {
    const sep = sepOf(e);
    chains.push(sep);
    // Hairpin: a pod reaching itself through the VIP must see the reply come from the
    // VIP, so its own traffic is masqueraded.
    rules.push(`-A ${sep}${svcComment} -s ${e.ip} -j ${KUBE_MARK_MASQ}`);
    const recent = s.affinityTimeoutSeconds > 0 ? ` -m recent --name ${sep} --set` : '';
    rules.push(`-A ${sep}${svcComment}${recent} ${match} -j DNAT --to-destination ${e.key}`);
  }
  return { chains, rules, text: chains.join('\n') + '\n' + rules.join('\n') };
}

const chainLine = (name: string) => `:${name} - [0:0]`;

/** Renders the whole ruleset, or (with `sync.previous`) only what changed since. */
export function renderIptables(ports: ServicePortInfo[], opts: IptablesOptions = {}, sync: RenderSync = {}): Ruleset {
  const mark = opts.masqueradeMark ?? '0x4000';
  const totalEndpoints = ports.reduce((n, s) => n + s.endpoints.length, 0);
  const c: Ctx = {
    opts,
    largeCluster: totalEndpoints > (opts.largeClusterThreshold ?? 1000),
    natServices: [],
    natNodePorts: [],
    filterServices: [],
    filterExternal: [],
    filterFirewall: [],
  };

  const prev = sync.previous;
  const blocks = new Map<string, Block>();
  const serviceChains = new Set<string>();
  const written: Block[] = [];
  let blockRules = 0;
  for (const s of ports) {
    const b = renderPort(s, c);
    const key = blockKey(s);
    blocks.set(key, b);
    for (const ch of b.chains) serviceChains.add(ch);
    blockRules += b.rules.length;
    if (!prev || prev.blocks.get(key)?.text !== b.text) written.push(b);
  }

  const candidates = prev ? prev.serviceChains : new Set(sync.existingNatChains ?? []);
  const staleChains = [...candidates].filter((ch) => isServiceChain(ch) && !serviceChains.has(ch)).sort();

  const filterFixed: string[] = [];
  if (!opts.conntrackTCPLiberal) filterFixed.push(`-A ${KUBE_FORWARD} -m conntrack --ctstate INVALID -j DROP`);
  filterFixed.push(
    `-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding rules" -m mark --mark ${mark}/${mark} -j ACCEPT`,
    `-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
  );
  const filterRules = [...c.filterServices, ...c.filterExternal, ...c.filterFirewall, ...filterFixed];

  const natFixed = [
    `-A ${KUBE_POSTROUTING} -m mark ! --mark ${mark}/${mark} -j RETURN`,
    // Clear the mark so that a packet that goes through the stack again is not masqueraded twice.
    `-A ${KUBE_POSTROUTING} -j MARK --xor-mark ${mark}`,
    `-A ${KUBE_POSTROUTING} -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE${opts.randomFully ? ' --random-fully' : ''}`,
    `-A ${KUBE_MARK_MASQ} -j MARK --or-mark ${mark}`,
  ];
  // Must stay last: NodePorts match any local address, ClusterIP rules must win first.
  const nodePortsJump = `-A ${KUBE_SERVICES} -m comment --comment "${NODEPORTS_COMMENT}" -m addrtype --dst-type LOCAL${opts.localhostNodePorts ? '' : ' ! -d 127.0.0.0/8'} -j ${KUBE_NODEPORTS}`;

  const out: string[] = ['*filter', ...FILTER_CHAINS.map(chainLine), ...filterRules, 'COMMIT', '*nat', ...NAT_CHAINS.map(chainLine)];
  for (const b of written) for (const ch of b.chains) out.push(chainLine(ch));
  for (const ch of staleChains) out.push(chainLine(ch));
  out.push(...natFixed, ...c.natServices, nodePortsJump, ...c.natNodePorts);
  for (const b of written) out.push(...b.rules);
  for (const ch of staleChains) out.push(`-X ${ch}`);
  out.push('COMMIT');
  const text = out.join('\n') + '\n';

  return {
    text,
    full: !prev,
    blocks,
    serviceChains,
    staleChains,
    writtenBlocks: written.length,
    natRules: natFixed.length + c.natServices.length + 1 + c.natNodePorts.length + blockRules,
    filterRules: filterRules.length,
    lines: out.length,
    bytes: Buffer.byteLength(text),
  };
}
