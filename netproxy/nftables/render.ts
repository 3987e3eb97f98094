// The nftables planner: service ports in, one `nft -f` transaction out. Pure: the
// executor applies the text.
//
// Semantics are kube-proxy's nftables mode (pkg/proxy/nftables/proxier.go): verdict maps
// keyed by destination ip . protocol . port (and protocol . port for NodePorts),
// REJECT/DROP maps in the filter hooks for Services without (local) endpoints, a reject
// for unknown ports of cluster IPs, masquerade by mark, ClientIP affinity in dynamic sets
// with timeouts, Local traffic policies with the pod/host short-circuit.
//
// The layout is not upstream's. Upstream gives every service port and every endpoint its
// own chain; on this kernel the cost of a transaction grows with the number of chains
// (10k Services x 4 endpoints: 50k chains, 82 s), while map and set elements cost almost
// nothing. So here the number of chains does not grow with the number of Services:
//
//   service-ips / service-nodeports   key -> goto <class chain>   (4 + 2 class chains:
//                                      Cluster or Local policy, internal or external)
//   <family>-count                     key -> goto <family>-n<N>  (N = endpoint count)
//   <family>-n<N>                      affinity lookups, then numgen random mod N vmap
//                                      -> goto <family>-pick-<i>
//   <family>-pick-<i>                  record affinity, dnat to key map @<family>-eps-<i>
//   <family>-eps-<i>                   key -> endpoint ip . port (the i-th endpoint)
//
// A family is ip|np (keyed by ip . proto . port, or proto . port for NodePorts) x
// cluster|local (which endpoint list). The chains depend only on the distinct endpoint
// counts, the largest one, and the distinct affinity timeouts; a change to one Service is
// a handful of element deletes and adds (a partial sync never rewrites a chain unless
// that shape changes).

import type { EndpointInfo, ServicePortInfo } from '../ports.js';

export interface NftOptions {
  /** Table name (family ip). Default `kube-proxy`, as upstream. */
  table?: string;
  /** The pod CIDR: traffic to a cluster IP from outside it is masqueraded. */
  clusterCIDR?: string;
  masqueradeAll?: boolean;
  /** Default 0x4000, as kube-proxy. */
  masqueradeMark?: string;
  /** NodePorts on 127.0.0.0/8 too (needs route_localnet=1). Default false. */
  localhostNodePorts?: boolean;
}

export const DEFAULT_NFT_TABLE = 'kube-proxy';

/** One service port's share of the table: the elements it adds and the shape it needs. */
interface Contribution {
  info: ServicePortInfo;
  /** Flat (set, key, value) triples: one array, not one per element (10k Services: 110k). */
  elems: string[];
  /** `<family>:<endpoint count>` per endpoint list it uses. */
  counts: string[];
  /** Affinity timeout, 0 without. */
  timeout: number;
}

/**
 * What a table holds, as the planner sees it: object declarations, and the elements (with
 * a count of the rare ones several ports want: a cluster IP or an endpoint they share),
 * kept per contribution so that a partial sync touches only the ports that changed.
 */
export interface NftState {
  /** `chain NAME` / `set NAME` / `map NAME` -> its declaration (chains: with their rules). */
  objects: Map<string, string>;
  /** Named set/map -> element key -> value ('' for sets). */
  elements: Map<string, Map<string, string>>;
  /** `set<TAB>key` -> how many ports beyond the first want that element (absent: one). */
  shared: Map<string, number>;
  contributions: Map<string, Contribution>;
  /** The ServicePortInfo objects of the contributions, to skip unchanged ones by identity. */
  keyOf: WeakMap<ServicePortInfo, string>;
  /** `<family>:<n>` -> ports using it; affinity timeout -> ports using it. */
  counts: Map<string, number>;
  timeouts: Map<number, number>;
}

export interface NftRuleset {
  text: string;
  full: boolean;
  state: NftState;
  /** Rules in the table once applied. */
  rules: number;
  /** Elements in the (non-dynamic) sets and maps once applied. */
  elements: number;
  /** Element adds and deletes this transaction carries. */
  elementChanges: number;
  /** Chains this transaction (re)writes. */
  chainsWritten: number;
  /** Service ports whose elements were recomputed. */
  portsChanged: number;
  lines: number;
  bytes: number;
}

export interface NftRenderSync {
  /**
   * The last applied result: render a partial sync against it. Its state is taken over
   * (updated in place, so that a change costs what it touches, not the table's size):
   * do not use `previous` again; a failed apply calls for a full render.
   */
  previous?: NftRuleset;
  /** Full sync: `chain X` / `set X` / `map X` that exist in the table now, to delete the stale ones. */
  existing?: Iterable<string>;
}

type Space = 'ip' | 'np';
type Pool = 'cluster' | 'local';
const FAMILIES: [Space, Pool][] = [['ip', 'cluster'], ['ip', 'local'], ['np', 'cluster'], ['np', 'local']];
const KEY: Record<Space, string> = { ip: 'ip daddr . meta l4proto . th dport', np: 'meta l4proto . th dport' };
const KEY_TYPE: Record<Space, string> = { ip: 'ipv4_addr . inet_proto . inet_service', np: 'inet_proto . inet_service' };

// Static sets and maps (flushed and refilled by a full sync).
const STATIC: [string, string][] = [
  ['service-ips', `type ${KEY_TYPE.ip} : verdict`],
  ['service-nodeports', `type ${KEY_TYPE.np} : verdict`],
  ['no-endpoint-services', `type ${KEY_TYPE.ip} : verdict`],
  ['no-endpoint-external', `type ${KEY_TYPE.ip} : verdict`],
  ['no-endpoint-nodeports', `type ${KEY_TYPE.np} : verdict`],
  ['cluster-ips', 'type ipv4_addr'],
  ['hairpin', 'type ipv4_addr . ipv4_addr'],
  ...FAMILIES.map(([sp, po]): [string, string] => [`${sp}-${po}-count`, `type ${KEY_TYPE[sp]} : verdict`]),
];

const kindOf = (decl: string) => (decl.startsWith('type ') || decl.startsWith('typeof ') ? (decl.includes(' : ') ? 'map' : 'set') : 'chain');

const ipKey = (ip: string, s: ServicePortInfo, port = s.port) => `${ip} . ${s.proto} . ${port}`;
const npKey = (s: ServicePortInfo) => `${s.proto} . ${s.nodePort}`;
const epValue = (e: EndpointInfo) => `${e.ip} . ${e.port}`;

function addEndpoints(c: Contribution, sp: Space, po: Pool, key: string, eps: EndpointInfo[]): void {
  if (eps.length === 0) return;
  const fam = `${sp}-${po}`;
  c.elems.push(`${fam}-count`, key, `goto ${fam}-n${eps.length}`);
  eps.forEach((e, i) => c.elems.push(`${fam}-eps-${i}`, key, epValue(e)));
  c.counts.push(`${fam}:${eps.length}`);
}

function contribution(s: ServicePortInfo): Contribution {
  const c: Contribution = { info: s, elems: [], counts: [], timeout: 0 };
  const el = (set: string, key: string, value = '') => c.elems.push(set, key, value);
  const kc = ipKey(s.clusterIP, s);
  el('cluster-ips', s.clusterIP);
  const usesLocalInternal = s.internalPolicyLocal;
  const hasInternal = s.hasEndpoints && (!usesLocalInternal || s.localEndpoints.length > 0);
  const hasExternal = s.hasEndpoints && (!s.externalPolicyLocal || s.localEndpoints.length > 0);
  const extKeys = [...s.externalIPs, ...s.loadBalancerIPs].map((ip) => ipKey(ip, s));
  if (s.affinityTimeoutSeconds > 0 && s.hasEndpoints) {
    c.timeout = s.affinityTimeoutSeconds;
    for (const k of [kc, ...extKeys]) el(`affinity-ip-t${c.timeout}`, k);
    if (s.nodePort) el(`affinity-np-t${c.timeout}`, npKey(s));
  }
  for (const e of s.reachableEndpoints) el('hairpin', `${e.ip} . ${e.ip}`);

  if (!s.hasEndpoints) {
    el('no-endpoint-services', kc, 'goto reject-chain');
    for (const k of extKeys) el('no-endpoint-external', k, 'goto reject-chain');
    if (s.nodePort) el('no-endpoint-nodeports', npKey(s), 'goto reject-chain');
    return c;
  }
  if (hasInternal) {
    el('service-ips', kc, `goto ${usesLocalInternal ? 'svc-local' : 'svc-cluster'}`);
    addEndpoints(c, 'ip', usesLocalInternal ? 'local' : 'cluster', kc, usesLocalInternal ? s.localEndpoints : s.clusterEndpoints);
  } else {
    el('no-endpoint-services', kc, 'drop');
  }
  if (!s.externallyAccessible) return c;
  // External destinations keep their DNAT even without local endpoints: pods and the
  // node itself short-circuit to the cluster endpoints; others meet the DROP below.
  for (const k of extKeys) {
    el('service-ips', k, `goto ${s.externalPolicyLocal ? 'ext-local' : 'ext-cluster'}`);
    addEndpoints(c, 'ip', 'cluster', k, s.clusterEndpoints);
    if (s.externalPolicyLocal) addEndpoints(c, 'ip', 'local', k, s.localEndpoints);
    if (!hasExternal) el('no-endpoint-external', k, 'drop');
  }
  if (s.nodePort) {
    const kn = npKey(s);
    el('service-nodeports', kn, `goto ${s.externalPolicyLocal ? 'np-local' : 'np-cluster'}`);
    addEndpoints(c, 'np', 'cluster', kn, s.clusterEndpoints);
    if (s.externalPolicyLocal) addEndpoints(c, 'np', 'local', kn, s.localEndpoints);
    if (!hasExternal) el('no-endpoint-nodeports', kn, 'drop');
  }
  return c;
}

/** Endpoint counts, largest index and affinity timeouts in use: the shape of the chains. */
interface Shape {
  counts: Map<string, Set<number>>;
  maxEndpoints: Map<string, number>;
  timeouts: Set<number>;
}

function shapeOf(st: NftState): Shape {
  const shape: Shape = { counts: new Map(), maxEndpoints: new Map(), timeouts: new Set(st.timeouts.keys()) };
  for (const k of st.counts.keys()) {
    const [fam, n] = k.split(':') as [string, string];
    let c = shape.counts.get(fam);
    if (!c) shape.counts.set(fam, (c = new Set()));
    c.add(Number(n));
    shape.maxEndpoints.set(fam, Math.max(shape.maxEndpoints.get(fam) ?? 0, Number(n)));
  }
  return shape;
}

/** Element changes of one render: (set, key) -> the value before it (undefined: absent). */
type Touched = Map<string, Map<string, string | undefined>>;

function touch(t: Touched | undefined, st: NftState, set: string, key: string): void {
  if (!t) return;
  let m = t.get(set);
  if (!m) t.set(set, (m = new Map()));
  if (!m.has(key)) m.set(key, st.elements.get(set)?.get(key));
}

const bump = <K>(m: Map<K, number>, k: K, d: number) => {
  const v = (m.get(k) ?? 0) + d;
  if (v <= 0) m.delete(k);
  else m.set(k, v);
};

function addContribution(st: NftState, key: string, c: Contribution, t?: Touched): void {
  st.contributions.set(key, c);
  st.keyOf.set(c.info, key);
  const e = c.elems;
  for (let i = 0; i < e.length; i += 3) {
    const set = e[i]!;
    const k = e[i + 1]!;
    touch(t, st, set, k);
    let m = st.elements.get(set);
    if (!m) st.elements.set(set, (m = new Map()));
    if (m.has(k)) bump(st.shared, `${set}\t${k}`, 1);
    // Two ports claiming one key with different values is a conflict in the Services
    // themselves (validation reports it); the later one wins, as in the iptables rules.
    m.set(k, e[i + 2]!);
  }
  for (const n of c.counts) bump(st.counts, n, 1);
  if (c.timeout) bump(st.timeouts, c.timeout, 1);
}

function removeContribution(st: NftState, key: string, t: Touched): void {
  const c = st.contributions.get(key);
  if (!c) return;
  st.contributions.delete(key);
  st.keyOf.delete(c.info);
  const e = c.elems;
  for (let i = 0; i < e.length; i += 3) {
    const set = e[i]!;
    const k = e[i + 1]!;
    touch(t, st, set, k);
    const sk = `${set}\t${k}`;
    if (st.shared.has(sk)) bump(st.shared, sk, -1);
    else st.elements.get(set)?.delete(k);
  }
  for (const n of c.counts) bump(st.counts, n, -1);
  if (c.timeout) bump(st.timeouts, c.timeout, -1);
}

function chain(b: { objects: Map<string, string> }, name: string, rules: string[], hook?: string): void {
  b.objects.set(`chain ${name}`, [hook ? `${hook};` : '', ...rules].filter(Boolean).join('\n'));
}

function renderStructure(b: { objects: Map<string, string> }, shape: Shape, opts: NftOptions): void {
  const mark = opts.masqueradeMark ?? '0x4000';
  const masq = `meta mark set meta mark | ${mark}`;
  for (const [name, decl] of STATIC) b.objects.set(`${kindOf(decl)} ${name}`, decl);
  const timeouts = [...shape.timeouts].sort((x, y) => x - y);
  for (const t of timeouts) {
    b.objects.set(`set affinity-ip-t${t}`, `type ${KEY_TYPE.ip}`);
    b.objects.set(`set affinity-np-t${t}`, `type ${KEY_TYPE.np}`);
  }

  // Empty; its absence means someone deleted or flushed the table (upstream's canary).
  chain(b, 'canary', []);
  chain(b, 'nat-prerouting', ['jump services'], 'type nat hook prerouting priority dstnat; policy accept');
  chain(b, 'nat-output', ['jump services'], 'type nat hook output priority -100; policy accept');
  chain(b, 'nat-postrouting', [
    // Hairpin: a pod that reached itself through a Service must see the reply come
    // from the Service, not from itself: masquerade when source = DNAT destination.
    `ct status dnat ip saddr . ip daddr @hairpin ${masq}`,
    // Clear the mark, so that a packet going through the stack again is not masqueraded twice.
    `meta mark & ${mark} == ${mark} meta mark set meta mark ^ ${mark} masquerade fully-random`,
  ], 'type nat hook postrouting priority srcnat; policy accept');
  const nodePortDst = opts.localhostNodePorts ? 'fib daddr type local' : 'fib daddr type local ip daddr != 127.0.0.0/8';
  chain(b, 'services', [
    `${KEY.ip} vmap @service-ips`,
    // Must come last: NodePorts match any local address; cluster IPs win first.
    `${nodePortDst} ${KEY.np} vmap @service-nodeports`,
  ]);
  // Off-cluster traffic to a VIP may have been routed here: masquerade it so that the
  // replies come back through this node.
  const internalMasq = opts.masqueradeAll ? [masq] : opts.clusterCIDR ? [`ip saddr != ${opts.clusterCIDR} ${masq}`] : [];
  chain(b, 'svc-cluster', [...internalMasq, `${KEY.ip} vmap @ip-cluster-count`]);
  chain(b, 'svc-local', [...internalMasq, `${KEY.ip} vmap @ip-local-count`]);
  for (const sp of ['ip', 'np'] as const) {
    chain(b, `${sp === 'ip' ? 'ext' : 'np'}-cluster`, [masq, `${KEY[sp]} vmap @${sp}-cluster-count`]);
    // Local policy: pods and the node itself are not "external" and go to any endpoint
    // (as if through a load balancer and back); the node's own traffic is masqueraded.
    chain(b, `${sp === 'ip' ? 'ext' : 'np'}-local`, [
      ...(opts.clusterCIDR ? [`ip saddr ${opts.clusterCIDR} ${KEY[sp]} vmap @${sp}-cluster-count`] : []),
      `fib saddr type local ${masq} ${KEY[sp]} vmap @${sp}-cluster-count`,
      `${KEY[sp]} vmap @${sp}-local-count`,
    ]);
  }

  const affinity = timeouts.length > 0;
  for (const [sp, po] of FAMILIES) {
    const fam = `${sp}-${po}`;
    const max = shape.maxEndpoints.get(fam) ?? 0;
    for (let i = 0; i < max; i++) {
      b.objects.set(`map ${fam}-eps-${i}`, `type ${KEY_TYPE[sp]} : ipv4_addr . inet_service`);
      if (affinity) b.objects.set(`set ${fam}-aff-${i}`, `typeof ip saddr . ${KEY[sp]}; flags dynamic,timeout; timeout 1d`);
      chain(b, `${fam}-pick-${i}`, [
        ...timeouts.map((t) => `${KEY[sp]} @affinity-${sp}-t${t} update @${fam}-aff-${i} { ip saddr . ${KEY[sp]} timeout ${t}s }`),
        `dnat ip to ${KEY[sp]} map @${fam}-eps-${i}`,
      ]);
    }
    for (const n of [...(shape.counts.get(fam) ?? [])].sort((x, y) => x - y)) {
      const rules: string[] = [];
      // An affinity entry names the endpoint index the client got last time.
      if (affinity) for (let i = 0; i < n; i++) rules.push(`ip saddr . ${KEY[sp]} @${fam}-aff-${i} goto ${fam}-pick-${i}`);
      if (n === 1) rules.push(`goto ${fam}-pick-0`);
      else rules.push(`numgen random mod ${n} vmap { ${Array.from({ length: n }, (_, i) => `${i} : goto ${fam}-pick-${i}`).join(', ')} }`);
      chain(b, `${fam}-n${n}`, rules);
    }
  }

  // Filter hooks. Before DNAT (priority -110) the destination is still the Service's:
  // Services without endpoints are rejected, Local ones without local endpoints dropped.
  chain(b, 'reject-chain', ['reject']);
  chain(b, 'filter-input', ['ct state new jump external-check', `ct state new ${nodePortDst} ${KEY.np} vmap @no-endpoint-nodeports`], 'type filter hook input priority -110; policy accept');
  chain(b, 'filter-forward', ['ct state new jump endpoints-check', 'ct state new jump external-check', 'ct state new jump cluster-ips-check'], 'type filter hook forward priority -110; policy accept');
  chain(b, 'filter-output', ['ct state new jump endpoints-check'], 'type filter hook output priority -110; policy accept');
  // After DNAT (-90): whatever still goes to a cluster IP matched no Service port.
  chain(b, 'filter-output-post-dnat', ['ct state new jump cluster-ips-check'], 'type filter hook output priority -90; policy accept');
  chain(b, 'endpoints-check', [`${KEY.ip} vmap @no-endpoint-services`]);
  chain(b, 'external-check', [`${KEY.ip} vmap @no-endpoint-external`]);
  chain(b, 'cluster-ips-check', ['ip daddr @cluster-ips reject']);
}

const isDynamic = (decl: string) => decl.includes('flags dynamic');

function declare(table: string, key: string, decl: string): string {
  const [kind, name] = key.split(' ') as [string, string];
  if (kind === 'chain') {
    const hook = decl.startsWith('type ') ? decl.slice(0, decl.indexOf(';') + 1) : '';
    return `add chain ip ${table} ${name}${hook ? ` { ${hook} }` : ''}`;
  }
  return `add ${kind} ip ${table} ${name} { ${decl.replace(/\n/g, '; ')}; }`;
}

function chainRules(decl: string): string[] {
  return decl.split('\n').filter((l) => l !== '' && !l.startsWith('type '));
}

const CHUNK = 1000;

/** `add element` lines (or `delete element`: keys only), CHUNK elements a line. */
function elementLines(out: string[], verb: 'add' | 'delete', table: string, set: string, entries: Map<string, string>): void {
  let part: string[] = [];
  const flush = () => {
    if (part.length > 0) out.push(`${verb} element ip ${table} ${set} { ${part.join(', ')} }`);
    part = [];
  };
  // forEach: no [key, value] array per element.
  entries.forEach((v, k) => {
    part.push(verb === 'add' && v !== '' ? `${k} : ${v}` : k);
    if (part.length === CHUNK) flush();
  });
  flush();
}

const portKey = (s: ServicePortInfo) => `${s.name}/${s.proto}`;

/**
 * Renders the whole table, or (with `sync.previous`) only what changed since: ports whose
 * ServicePortInfo is the same object as last time are skipped without a look inside
 * (servicePorts keeps the objects of unchanged Services).
 */
export function renderNftables(ports: ServicePortInfo[], opts: NftOptions = {}, sync: NftRenderSync = {}): NftRuleset {
  const table = opts.table ?? DEFAULT_NFT_TABLE;
  const prev = sync.previous;
  const st: NftState = prev
    ? { ...prev.state, objects: new Map() }
    : { objects: new Map(), elements: new Map(), shared: new Map(), contributions: new Map(), keyOf: new WeakMap(), counts: new Map(), timeouts: new Map() };
  const touched: Touched | undefined = prev ? new Map() : undefined;
  let portsChanged = 0;
  const changedKeys = new Set<string>();
  let unchanged = 0;
  for (const s of ports) {
    // The same object as last time: unchanged, found without building its key.
    if (prev && st.keyOf.has(s)) {
      unchanged++;
      continue;
    }
    const key = portKey(s);
    changedKeys.add(key);
    portsChanged++;
    if (prev) removeContribution(st, key, touched!);
    addContribution(st, key, contribution(s), touched);
  }
  // Some port of last time is in neither group: it is gone (a rare, full scan).
  if (prev && unchanged + changedKeys.size < st.contributions.size) {
    const present = new Set(ports);
    for (const [key, c] of [...st.contributions]) {
      if (!changedKeys.has(key) && !present.has(c.info)) {
        portsChanged++;
        removeContribution(st, key, touched!);
      }
    }
  }
  renderStructure(st, shapeOf(st), opts);

  const out: string[] = [];
  let chainsWritten = 0;
  let elementChanges = 0;
  const writeChain = (name: string, decl: string) => {
    out.push(`flush chain ip ${table} ${name}`);
    for (const r of chainRules(decl)) out.push(`add rule ip ${table} ${name} ${r}`);
    chainsWritten++;
  };
  if (!prev) {
    out.push(`add table ip ${table}`);
    for (const [key, decl] of st.objects) out.push(declare(table, key, decl));
    for (const [key, decl] of st.objects) {
      const [kind, name] = key.split(' ') as [string, string];
      if (kind === 'chain') writeChain(name, decl);
      // Affinity sets keep their entries across full syncs, as upstream's do.
      else if (!isDynamic(decl)) out.push(`flush ${kind} ip ${table} ${name}`);
    }
    for (const [set, m] of st.elements) {
      elementLines(out, 'add', table, set, m);
      elementChanges += m.size;
    }
    // What is ours but no longer wanted. Chains first: they may refer to the sets.
    const stale = [...(sync.existing ?? [])].filter((k) => !st.objects.has(k));
    stale.sort((x, y) => (x.startsWith('chain') === y.startsWith('chain') ? (x < y ? -1 : 1) : x.startsWith('chain') ? -1 : 1));
    for (const k of stale) if (k.startsWith('chain ')) out.push(`flush ${k.replace(' ', ` ip ${table} `)}`);
    for (const k of stale) out.push(`delete ${k.replace(' ', ` ip ${table} `)}`);
  } else {
    // New objects, and chains whose rules changed (only when the shape changed). Objects
    // no longer needed stay until the next full sync (unreferenced, and emptied below).
    for (const [key, decl] of st.objects) {
      const before = prev.state.objects.get(key);
      if (before === decl) continue;
      if (before === undefined) out.push(declare(table, key, decl));
      if (key.startsWith('chain ')) writeChain(key.slice(6), decl);
    }
    for (const [key, decl] of prev.state.objects) if (!st.objects.has(key)) st.objects.set(key, decl);
    const adds: string[] = [];
    for (const [set, m] of touched!) {
      const del = new Map<string, string>();
      const add = new Map<string, string>();
      const now = st.elements.get(set);
      for (const [k, before] of m) {
        const after = now?.get(k);
        if (before === after) continue;
        if (before !== undefined) del.set(k, before);
        if (after !== undefined) add.set(k, after);
      }
      elementLines(out, 'delete', table, set, del);
      elementLines(adds, 'add', table, set, add);
      elementChanges += del.size + add.size;
    }
    for (const l of adds) out.push(l);
  }
  const text = out.length > 0 ? out.join('\n') + '\n' : '';
  let rules = 0;
  let elements = 0;
  for (const [key, decl] of st.objects) if (key.startsWith('chain ')) rules += chainRules(decl).length;
  for (const m of st.elements.values()) elements += m.size;
  return { text, full: !prev, state: st, rules, elements, elementChanges, chainsWritten, portsChanged, lines: out.length, bytes: Buffer.byteLength(text) };
}

/**
 * `chain X` / `set X` / `map X` named in nft listing output (`list table`, or `list chains`
 * / `list sets` / `list maps`, which print every table of the family: with `table`, only
 * the objects inside that table's block).
 */
export function tableObjects(listing: string, table?: string): string[] {
  const out: string[] = [];
  let current: string | undefined;
  for (const line of listing.split('\n')) {
    const t = /^table \S+ (\S+) \{/.exec(line);
    if (t) {
      current = t[1];
      continue;
    }
    const m = /^\s+(chain|set|map) (\S+) \{/.exec(line);
    if (m && (table === undefined || current === table)) out.push(`${m[1]} ${m[2]}`);
  }
  return out;
}
