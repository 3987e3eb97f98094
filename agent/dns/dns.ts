import type { Pod } from '../../manifests/index.js';

// Per-pod /etc/resolv.conf and /etc/hosts, as kubelet writes them (pkg/kubelet/network/dns
// and kubelet_pods.go managedHostsFileContent).

export interface DNSSettings {
  /** --cluster-dns: the cluster DNS servers; empty means none is configured. */
  clusterDNS: string[];
  clusterDomain: string;
  /** The node's own resolver configuration (dnsPolicy Default). */
  host: { servers: string[]; searches: string[]; options: string[] };
}

export interface PodDNS {
  servers: string[];
  searches: string[];
  options: string[];
}

export function parseResolvConf(text: string): PodDNS {
  const out: PodDNS = { servers: [], searches: [], options: [] };
  for (const line of text.split('\n')) {
    const [k, ...rest] = line.replace(/[#;].*/, '').trim().split(/\s+/);
    if (k === 'nameserver' && rest[0]) out.servers.push(rest[0]);
    else if (k === 'search' || k === 'domain') out.searches = rest;
    else if (k === 'options') out.options.push(...rest);
  }
  return out;
}

/** undefined: leave the runtime's default (host network pods under ClusterFirst). */
export function podDNS(pod: Pod, s: DNSSettings): PodDNS | undefined {
  const policy = pod.spec.dnsPolicy ?? 'ClusterFirst';
  let base: PodDNS;
  const clusterFirst = policy === 'ClusterFirstWithHostNet' || (policy === 'ClusterFirst' && !pod.spec.hostNetwork);
  if (policy === 'None') base = { servers: [], searches: [], options: [] };
  else if (clusterFirst && s.clusterDNS.length > 0) {
    const ns = pod.metadata.namespace;
    const d = s.clusterDomain;
    base = { servers: [...s.clusterDNS], searches: [`${ns}.svc.${d}`, `svc.${d}`, d, ...s.host.searches], options: ['ndots:5'] };
  } else {
    // ClusterFirst with no cluster DNS falls back to the node's resolver, as kubelet does.
    base = { servers: [...s.host.servers], searches: [...s.host.searches], options: [...s.host.options] };
  }
  const extra = pod.spec.dnsConfig;
  if (extra) {
    base.servers = dedupe([...base.servers, ...(extra.nameservers ?? [])]);
    base.searches = dedupe([...base.searches, ...(extra.searches ?? [])]);
    const opts = new Map(base.options.map((o) => [o.split(':')[0], o]));
    for (const o of extra.options ?? []) opts.set(o.name, o.value !== undefined ? `${o.name}:${o.value}` : o.name);
    base.options = [...opts.values()];
  }
  // glibc reads at most 3 nameservers and 32 search domains.
  base.servers = base.servers.slice(0, 3);
  base.searches = base.searches.slice(0, 32);
  return base;
}

function dedupe(xs: string[]): string[] {
  return [...new Set(xs)];
}

function aliasLines(pod: Pod): string[] {
  const aliases = pod.spec.hostAliases ?? [];
  if (!aliases.length) return [];
  return ['', '# Entries added by HostAliases.', ...aliases.map((a) => `${a.ip}\t${(a.hostnames ?? []).join('\t')}`)];
}

/** A host-network pod's hosts file: the node's own, plus the pod's hostAliases (nodeHostsFileContent). */
export function nodeHostsFile(pod: Pod, nodeHosts: string): string {
  const lines = aliasLines(pod);
  return `# Kubernetes-managed hosts file (host network).\n${nodeHosts}${lines.length ? lines.join('\n') + '\n' : ''}`;
}

export function hostsFile(pod: Pod, podIP: string, hostname: string, clusterDomain: string): string {
  const lines = [
    '# Kubernetes-managed hosts file.',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'fe00::0\tip6-mcastprefix',
    'fe00::1\tip6-allnodes',
    'fe00::2\tip6-allrouters',
  ];
  if (podIP) {
    // hostnameOverride names the host in full: no <subdomain>.<namespace>.svc domain is added
    // (GeneratePodHostNameAndDomain returns an empty domain with it), so `hostname -f` prints it.
    const sub = pod.spec.hostnameOverride ? undefined : pod.spec.subdomain;
    lines.push(sub ? `${podIP}\t${hostname}.${sub}.${pod.metadata.namespace}.svc.${clusterDomain}\t${hostname}` : `${podIP}\t${hostname}`);
  }
  const aliases = pod.spec.hostAliases ?? [];
  if (aliases.length) {
    lines.push('', '# Entries added by HostAliases.');
    for (const a of aliases) lines.push(`${a.ip}\t${(a.hostnames ?? []).join('\t')}`);
  }
  return lines.join('\n') + '\n';
}
