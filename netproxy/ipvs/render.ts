// IPVS mode planner: the same service ports rendered as IPVS virtual servers
// (ipvsadm-restore text), the ipsets that let a handful of iptables rules cover every
// Service (ipset restore text), that small iptables remainder, and the addresses to bind
// on the kube-ipvs0 dummy link. Pure, like the iptables planner.

import type { EndpointInfo, ServicePortInfo } from '../ports.js';
import { KUBE_FORWARD, KUBE_MARK_MASQ, KUBE_POSTROUTING, KUBE_SERVICES } from '../iptables/render.js';

export const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'sh', 'dh', 'sed', 'nq'] as const;
export type Scheduler = (typeof SCHEDULERS)[number];
export const IPVS_DUMMY_LINK = 'kube-ipvs0';

export interface IpvsOptions {
  /** Default rr. */
  scheduler?: Scheduler;
  /** Node addresses that NodePorts listen on. */
  nodeIPs?: string[];
  clusterCIDR?: string;
  masqueradeAll?: boolean;
  masqueradeMark?: string;
  randomFully?: boolean;
}

export interface RealServer {
  address: string;
  port: number;
  weight: number;
}

export interface VirtualServer {
  protocol: 'tcp' | 'udp' | 'sctp';
  address: string;
  port: number;
  scheduler: Scheduler;
  /** ClientIP affinity: IPVS persistence, in seconds. */
  persistenceSeconds?: number;
  realServers: RealServer[];
}

export interface IpsetSpec {
  name: string;
  type: string;
  comment: string;
  entries: string[];
}

export interface IpvsPlan {
  virtualServers: VirtualServer[];
  ipsets: IpsetSpec[];
  /** Addresses (cluster, external, load-balancer IPs) to bind on kube-ipvs0, /32 each. */
  addresses: string[];
  /** `ipvsadm-restore` input (run after `ipvsadm --clear` on a full sync). */
  ipvsadm: string;
  /** `ipset restore -exist` input. */
  ipset: string;
  /** `iptables-restore --noflush` input. */
  iptables: string;
}

const SET = {
  clusterIP: ['KUBE-CLUSTER-IP', 'hash:ip,port', 'Kubernetes service cluster ip + port for masquerade purpose'],
  loopBack: ['KUBE-LOOP-BACK', 'hash:ip,port,ip', 'Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose'],
  externalIP: ['KUBE-EXTERNAL-IP', 'hash:ip,port', 'Kubernetes service external ip + port for masquerade and filter purpose'],
  externalIPLocal: ['KUBE-EXTERNAL-IP-LOCAL', 'hash:ip,port', 'Kubernetes service external ip + port with externalTrafficPolicy=local'],
  loadBalancer: ['KUBE-LOAD-BALANCER', 'hash:ip,port', 'Kubernetes service lb portal'],
  loadBalancerLocal: ['KUBE-LOAD-BALANCER-LOCAL', 'hash:ip,port', 'Kubernetes service load balancer ip + port with externalTrafficPolicy=local'],
  nodePortTCP: ['KUBE-NODE-PORT-TCP', 'bitmap:port', 'Kubernetes nodeport TCP port for masquerade purpose'],
  nodePortLocalTCP: ['KUBE-NODE-PORT-LOCAL-TCP', 'bitmap:port', 'Kubernetes nodeport TCP port with externalTrafficPolicy=local'],
  nodePortUDP: ['KUBE-NODE-PORT-UDP', 'bitmap:port', 'Kubernetes nodeport UDP port for masquerade purpose'],
  nodePortLocalUDP: ['KUBE-NODE-PORT-LOCAL-UDP', 'bitmap:port', 'Kubernetes nodeport UDP port with externalTrafficPolicy=local'],
  nodePortSCTP: ['KUBE-NODE-PORT-SCTP-HASH', 'hash:ip,port', "Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'"],
  nodePortLocalSCTP: ['KUBE-NODE-PORT-LOCAL-SCTP-HASH', 'hash:ip,port', "Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type 'hash ip:port'"],
} as const;
type SetId = keyof typeof SET;

const PROTO_FLAG = { tcp: '-t', udp: '-u', sctp: '--sctp-service' } as const;

// Weight 1 for all: the endpoint sets already hold only usable endpoints (terminating
// ones only as a fallback, where they must take traffic).
function realServers(eps: EndpointInfo[]): RealServer[] {
  return eps.map((e) => ({ address: e.ip, port: e.port, weight: 1 }));
}

export function renderIpvs(ports: ServicePortInfo[], opts: IpvsOptions = {}): IpvsPlan {
  const scheduler = opts.scheduler ?? 'rr';
  if (!SCHEDULERS.includes(scheduler)) throw new Error(`unknown IPVS scheduler ${JSON.stringify(scheduler)} (one of ${SCHEDULERS.join(', ')})`);
  const mark = opts.masqueradeMark ?? '0x4000';
  const entries = new Map<SetId, Set<string>>(Object.keys(SET).map((k) => [k as SetId, new Set<string>()]));
  const add = (id: SetId, e: string) => entries.get(id)!.add(e);
  const vss: VirtualServer[] = [];
  const addresses = new Set<string>();

  for (const s of ports) {
    const vs = (address: string, port: number, eps: EndpointInfo[]): VirtualServer => ({
      protocol: s.proto,
      address,
      port,
      scheduler,
      ...(s.affinityTimeoutSeconds > 0 ? { persistenceSeconds: s.affinityTimeoutSeconds } : {}),
      realServers: realServers(eps),
    });
    const internal = s.internalPolicyLocal ? s.localEndpoints : s.clusterEndpoints;
    const external = s.externalPolicyLocal ? s.localEndpoints : s.clusterEndpoints;
    const ipPort = (ip: string, port: number) => `${ip},${s.proto}:${port}`;

    vss.push(vs(s.clusterIP, s.port, internal));
    addresses.add(s.clusterIP);
    add('clusterIP', ipPort(s.clusterIP, s.port));
    for (const e of s.reachableEndpoints) add('loopBack', `${e.ip},${s.proto}:${e.port},${e.ip}`);
    for (const ip of s.externalIPs) {
      vss.push(vs(ip, s.port, external));
      addresses.add(ip);
      add(s.externalPolicyLocal ? 'externalIPLocal' : 'externalIP', ipPort(ip, s.port));
    }
    for (const ip of s.loadBalancerIPs) {
      vss.push(vs(ip, s.port, external));
      addresses.add(ip);
      add('loadBalancer', ipPort(ip, s.port));
      if (s.externalPolicyLocal) add('loadBalancerLocal', ipPort(ip, s.port));
    }
    if (s.nodePort) {
      for (const ip of opts.nodeIPs ?? []) vss.push(vs(ip, s.nodePort, external));
      const local = s.externalPolicyLocal;
      if (s.proto === 'sctp') {
        for (const ip of opts.nodeIPs ?? []) add(local ? 'nodePortLocalSCTP' : 'nodePortSCTP', ipPort(ip, s.nodePort));
      } else {
        const id = `nodePort${local ? 'Local' : ''}${s.proto.toUpperCase()}` as SetId;
        add(id, String(s.nodePort));
      }
    }
  }

  const ipsets: IpsetSpec[] = (Object.keys(SET) as SetId[]).map((id) => {
    const [name, type, comment] = SET[id];
    return { name, type, comment, entries: [...entries.get(id)!].sort() };
  });

  const ipvsadm = vss.flatMap((v) => {
    const svc = `${PROTO_FLAG[v.protocol]} ${v.address}:${v.port}`;
    return [
      `-A ${svc} -s ${v.scheduler}${v.persistenceSeconds ? ` -p ${v.persistenceSeconds}` : ''}`,
      ...v.realServers.map((r) => `-a ${svc} -r ${r.address}:${r.port} -m -w ${r.weight}`),
    ];
  });

  const ipset = ipsets.flatMap((s) => [
    `create ${s.name} ${s.type} ${s.type === 'bitmap:port' ? 'range 0-65535' : 'family inet hashsize 1024 maxelem 65536'} comment`,
    `flush ${s.name}`,
    ...s.entries.map((e) => `add ${s.name} ${e} comment "${s.comment}"`),
  ]);

  return {
    virtualServers: vss,
    ipsets,
    addresses: [...addresses].sort(),
    ipvsadm: ipvsadm.join('\n') + '\n',
    ipset: ipset.join('\n') + '\n',
    iptables: renderIpvsIptables(entries, opts, mark),
  };
}

function renderIpvsIptables(entries: Map<SetId, Set<string>>, opts: IpvsOptions, mark: string): string {
  const nonEmpty = (id: SetId) => entries.get(id)!.size > 0;
  const matchSet = (id: SetId, dirs: string) => `-m comment --comment "${SET[id][2]}" -m set --match-set ${SET[id][0]} ${dirs}`;
  const nat: string[] = [
    `-A ${KUBE_POSTROUTING} ${matchSet('loopBack', 'dst,dst,src')} -j MASQUERADE`,
    `-A ${KUBE_POSTROUTING} -m mark ! --mark ${mark}/${mark} -j RETURN`,
    `-A ${KUBE_POSTROUTING} -j MARK --xor-mark ${mark}`,
    `-A ${KUBE_POSTROUTING} -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE${opts.randomFully ? ' --random-fully' : ''}`,
    `-A ${KUBE_MARK_MASQ} -j MARK --or-mark ${mark}`,
  ];
  if (opts.masqueradeAll) nat.push(`-A ${KUBE_SERVICES} ${matchSet('clusterIP', 'dst,dst')} -j ${KUBE_MARK_MASQ}`);
  else if (opts.clusterCIDR) nat.push(`-A ${KUBE_SERVICES} ${matchSet('clusterIP', 'dst,dst')} ! -s ${opts.clusterCIDR} -j ${KUBE_MARK_MASQ}`);
  if (nonEmpty('externalIP')) nat.push(`-A ${KUBE_SERVICES} ${matchSet('externalIP', 'dst,dst')} -j ${KUBE_MARK_MASQ}`);
  if (nonEmpty('externalIPLocal')) nat.push(`-A ${KUBE_SERVICES} ${matchSet('externalIPLocal', 'dst,dst')} -j ACCEPT`);
  if (nonEmpty('loadBalancer')) nat.push(`-A ${KUBE_SERVICES} ${matchSet('loadBalancer', 'dst,dst')} -j KUBE-LOAD-BALANCER`);
  nat.push(`-A ${KUBE_SERVICES} -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT`);
  nat.push(`-A ${KUBE_SERVICES} -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT`);
  if (nonEmpty('loadBalancer')) {
    nat.push(`-A ${KUBE_SERVICES} -m set --match-set KUBE-LOAD-BALANCER dst,dst -j ACCEPT`);
    if (nonEmpty('loadBalancerLocal')) nat.push(`-A KUBE-LOAD-BALANCER ${matchSet('loadBalancerLocal', 'dst,dst')} -j RETURN`);
    nat.push(`-A KUBE-LOAD-BALANCER -j ${KUBE_MARK_MASQ}`);
  }
  for (const proto of ['TCP', 'UDP', 'SCTP'] as const) {
    const hash = proto === 'SCTP';
    const local = `nodePortLocal${proto}` as SetId;
    const all = `nodePort${proto}` as SetId;
    const dirs = hash ? 'dst,dst' : 'dst';
    const p = proto.toLowerCase();
    // Local policy keeps the client's address: these ports return before the masquerade.
    if (nonEmpty(local)) nat.push(`-A KUBE-NODE-PORT -p ${p} ${matchSet(local, dirs)} -j RETURN`);
    if (nonEmpty(all)) nat.push(`-A KUBE-NODE-PORT -p ${p} ${matchSet(all, dirs)} -j ${KUBE_MARK_MASQ}`);
  }
  const natChains = [KUBE_SERVICES, KUBE_POSTROUTING, 'KUBE-NODE-PORT', 'KUBE-LOAD-BALANCER', KUBE_MARK_MASQ];
  const filter = [
    `-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding rules" -m mark --mark ${mark}/${mark} -j ACCEPT`,
    `-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
  ];
  return [
    '*filter', `:${KUBE_FORWARD} - [0:0]`, ...filter, 'COMMIT',
    '*nat', ...natChains.map((c) => `:${c} - [0:0]`), ...nat, 'COMMIT', '',
  ].join('\n');
}

/** What to change on kube-ipvs0: addresses to add and to remove. */
export function addressChanges(bound: string[], wanted: string[]): { add: string[]; remove: string[] } {
  const have = new Set(bound);
  const want = new Set(wanted);
  return { add: wanted.filter((a) => !have.has(a)), remove: bound.filter((a) => !want.has(a)) };
}
