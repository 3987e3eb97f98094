import type { Pod } from '../../manifests/index.js';

// Sysctls (pkg/kubelet/sysctl and component-helpers/node/util/sysctl).

/** The sysctls kubelet allows without configuration (SafeSysctlAllowlist). */
export const SAFE_SYSCTLS = [
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
];

export type SysctlNamespace = 'IPC' | 'net' | 'uts';

const NAMESPACES: Record<string, SysctlNamespace> = { 'kernel.sem': 'IPC', 'kernel.domainname': 'uts', 'kernel.hostname': 'uts' };
const PREFIX_NAMESPACES: Record<string, SysctlNamespace> = { 'kernel.shm': 'IPC', 'kernel.msg': 'IPC', 'fs.mqueue.': 'IPC', 'net.': 'net' };

/** "net/ipv4/conf/eth0.100/rp_filter" -> "net.ipv4.conf.eth0/100.rp_filter" (NormalizeName). */
export function normalizeSysctl(name: string): string {
  const i = name.search(/[./]/);
  if (i < 0 || name[i] === '.') return name;
  return name.replace(/[./]/g, (ch) => (ch === '.' ? '/' : '.'));
}

/** The kernel namespace a sysctl (or a pattern's prefix) lives in; undefined: not namespaced. */
export function sysctlNamespace(name: string): SysctlNamespace | undefined {
  const n = normalizeSysctl(name);
  if (NAMESPACES[n]) return NAMESPACES[n];
  for (const [p, ns] of Object.entries(PREFIX_NAMESPACES)) if (n.startsWith(p)) return ns;
  return undefined;
}

/** An allowlist from the safe set plus allowedUnsafeSysctls (names, or prefixes ending in "*"). */
export class SysctlAllowlist {
  private readonly names = new Map<string, SysctlNamespace>();
  private readonly prefixes = new Map<string, SysctlNamespace>();

  constructor(unsafe: readonly string[] = []) {
    for (const pattern of [...SAFE_SYSCTLS, ...unsafe]) {
      const prefixed = pattern.endsWith('*');
      const key = normalizeSysctl(prefixed ? pattern.slice(0, -1) : pattern);
      const ns = sysctlNamespace(key);
      if (!ns) throw new Error(`the sysctls "${pattern}" are not known to be namespaced`);
      (prefixed ? this.prefixes : this.names).set(key, ns);
    }
  }

  /** undefined when allowed, else kubelet's reason text. */
  check(name: string, hostNet: boolean, hostIPC: boolean): string | undefined {
    const n = normalizeSysctl(name);
    let ns = this.names.get(n);
    if (ns === undefined) for (const [p, pns] of this.prefixes) if (n.startsWith(p)) ns = pns;
    if (ns === undefined) return `"${n}" not allowlisted`;
    if ((ns === 'IPC' && hostIPC) || (ns === 'net' && hostNet)) return `"${n}" not allowed with host ${ns} enabled`;
    return undefined;
  }
}

/** The pod's sysctls for the sandbox (admission has already checked them). */
export function podSysctls(pod: Pod): Record<string, string> | undefined {
  const list = pod.spec.securityContext?.sysctls ?? [];
  if (list.length === 0) return undefined;
  return Object.fromEntries(list.map((s) => [normalizeSysctl(s.name), s.value]));
}
