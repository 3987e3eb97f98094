import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { isValidQuantity, parseQuantity } from '../manifests/index.js';
import { SysctlAllowlist } from './pods/security.js';

// Configuration shaped like KubeletConfiguration (kubelet.config.k8s.io/v1beta1) with the
// flag names kubelet uses. Precedence: defaults < config file < flags.

export interface AgentConfig {
  podManifestPath: string;
  rootDir: string;
  nodeName: string;
  readOnlyPort: number;
  /** Address the read-only port binds to. */
  address: string;
  podCIDR: string;
  containerRuntimeEndpoint: string;
  fileCheckFrequencyMs: number;
  syncFrequencyMs: number;
  nodeIP?: string;
  logFormat: 'json' | 'text';
  /** pino level; unset: $BOSUN_LOG_LEVEL or info. Changes live on SIGHUP. */
  logLevel?: string;
  pauseImage: string;
  clusterDNS: string[];
  clusterDomain: string;
  podLogsDir: string;
  /** kubelet's containerLogMaxSize (bytes here; "10Mi" in the file) and containerLogMaxFiles. */
  containerLogMaxSize: number;
  containerLogMaxFiles: number;
  /** Where the `<pod>_<ns>_<container>-<id>.log` symlinks go (kubelet: /var/log/containers). */
  containerLogsDir: string;
  /** kubelet's allowedUnsafeSysctls: sysctls (or "prefix*") allowed beyond the safe set. */
  allowedUnsafeSysctls: string[];
  /** kubelet's seccompDefault: RuntimeDefault instead of Unconfined for containers that set none. */
  seccompDefault: boolean;
  resolvConf: string;
  /** kube-proxy's settings: the Service CIDR routed to the pod bridge, and the proxy mode. */
  serviceCIDR: string;
  proxyMode: 'iptables' | 'ipvs' | 'none';
}

export const DEFAULTS: AgentConfig = {
  podManifestPath: '/etc/kubernetes/manifests',
  rootDir: '/var/lib/bosun',
  nodeName: hostname().toLowerCase(),
  readOnlyPort: 10255,
  address: '127.0.0.1',
  podCIDR: '10.244.0.0/16',
  containerRuntimeEndpoint: 'unix:///var/run/docker.sock',
  fileCheckFrequencyMs: 20_000,
  syncFrequencyMs: 1_000,
  logFormat: 'json',
  pauseImage: 'localhost/bosun/pause:3.10',
  clusterDNS: [],
  clusterDomain: 'cluster.local',
  podLogsDir: '/var/log/pods',
  containerLogMaxSize: 10 * 1024 * 1024,
  containerLogMaxFiles: 5,
  containerLogsDir: '/var/log/containers',
  allowedUnsafeSysctls: [],
  seccompDefault: false,
  resolvConf: '/etc/resolv.conf',
  serviceCIDR: '10.96.0.0/12',
  proxyMode: 'iptables',
};

function proxyMode(v: unknown, field: string): AgentConfig['proxyMode'] {
  if (v === 'iptables' || v === 'ipvs' || v === 'none') return v;
  throw new ConfigError(`${field}: Unsupported value: ${JSON.stringify(v)}: supported values: "iptables", "ipvs", "none"`);
}

function ipList(v: unknown, field: string): string[] {
  const list = Array.isArray(v) ? v.map(String) : String(v).split(',').map((x) => x.trim()).filter(Boolean);
  for (const ip of list) if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip) && !ip.includes(':')) throw new ConfigError(`${field}: Invalid value: "${ip}": must be an IP address`);
  return list;
}

export class ConfigError extends Error {}

/** Go-style durations as KubeletConfiguration writes them: "20s", "1m30s", "500ms". */
export function parseDuration(v: unknown, field: string): number {
  if (typeof v === 'number') return v * 1000;
  const s = String(v).trim();
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0;
  let consumed = '';
  for (let m = re.exec(s); m; m = re.exec(s)) {
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    consumed += m[0];
  }
  if (!s || consumed !== s) throw new ConfigError(`${field}: Invalid value: "${s}": a duration like "20s", "1m" or "500ms"`);
  return total;
}

// KubeletConfiguration field -> our field, with a converter.
const FILE_FIELDS: Record<string, [keyof AgentConfig, (v: unknown, f: string) => unknown]> = {
  staticPodPath: ['podManifestPath', String],
  readOnlyPort: ['readOnlyPort', (v, f) => port(v, f)],
  address: ['address', String],
  podCIDR: ['podCIDR', String],
  containerRuntimeEndpoint: ['containerRuntimeEndpoint', String],
  fileCheckFrequency: ['fileCheckFrequencyMs', parseDuration],
  syncFrequency: ['syncFrequencyMs', parseDuration],
  nodeName: ['nodeName', String],
  rootDir: ['rootDir', String],
  nodeIP: ['nodeIP', String],
  logFormat: ['logFormat', (v, f) => logFormat(v, f)],
  logLevel: ['logLevel', (v, f) => logLevel(v, f)],
  podInfraContainerImage: ['pauseImage', String],
  clusterDNS: ['clusterDNS', ipList],
  clusterDomain: ['clusterDomain', String],
  podLogsDir: ['podLogsDir', String],
  containerLogMaxSize: ['containerLogMaxSize', (v, f) => logMaxSize(v, f)],
  containerLogMaxFiles: ['containerLogMaxFiles', (v, f) => logMaxFiles(v, f)],
  containerLogsDir: ['containerLogsDir', String],
  allowedUnsafeSysctls: ['allowedUnsafeSysctls', (v, f) => sysctlPatterns(v, f)],
  seccompDefault: ['seccompDefault', (v, f) => bool(v, f)],
  resolvConf: ['resolvConf', String],
  serviceCIDR: ['serviceCIDR', String],
  proxyMode: ['proxyMode', proxyMode],
};

function logMaxSize(v: unknown, field: string): number {
  if (!isValidQuantity(v) || parseQuantity(v) <= 0) throw new ConfigError(`${field}: Invalid value: ${JSON.stringify(v)}: a positive quantity like "10Mi"`);
  return Math.floor(parseQuantity(v));
}

function logMaxFiles(v: unknown, field: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 2) throw new ConfigError(`${field}: Invalid value: ${JSON.stringify(v)}: must be greater than 1`);
  return n;
}

function sysctlPatterns(v: unknown, field: string): string[] {
  const list = Array.isArray(v) ? v.map(String) : String(v).split(',').map((x) => x.trim()).filter(Boolean);
  try {
    new SysctlAllowlist(list);
  } catch (err) {
    throw new ConfigError(`${field}: Invalid value: ${JSON.stringify(list)}: ${(err as Error).message}`);
  }
  return list;
}

function bool(v: unknown, field: string): boolean {
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === 'false') return v === 'true';
  throw new ConfigError(`${field}: Invalid value: ${JSON.stringify(v)}: must be true or false`);
}

function port(v: unknown, field: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(`${field}: Invalid value: ${JSON.stringify(v)}: must be a port number (0 disables)`);
  return n;
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

function logLevel(v: unknown, field: string): string {
  if (typeof v === 'string' && LOG_LEVELS.includes(v)) return v;
  throw new ConfigError(`${field}: Unsupported value: ${JSON.stringify(v)}: supported values: ${LOG_LEVELS.map((l) => `"${l}"`).join(', ')}`);
}

function logFormat(v: unknown, field: string): 'json' | 'text' {
  if (v === 'json' || v === 'text') return v;
  throw new ConfigError(`${field}: Unsupported value: ${JSON.stringify(v)}: supported values: "json", "text"`);
}

export function loadConfigFile(path: string): Partial<AgentConfig> {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`${path}: ${(err as Error).message}`);
  }
  if (doc == null) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`${path}: expected a KubeletConfiguration mapping`);
  const out: Partial<AgentConfig> = {};
  for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
    if (k === 'apiVersion' || k === 'kind') continue;
    const f = FILE_FIELDS[k];
    if (!f) throw new ConfigError(`${path}: unknown field "${k}" (supported: ${Object.keys(FILE_FIELDS).join(', ')})`);
    (out as Record<string, unknown>)[f[0]] = f[1](v, `${path}: ${k}`);
  }
  return out;
}

export const FLAGS = {
  'pod-manifest-path': ['podManifestPath', String],
  'root-dir': ['rootDir', String],
  'node-name': ['nodeName', String],
  'hostname-override': ['nodeName', String],
  'read-only-port': ['readOnlyPort', (v: unknown) => port(v, '--read-only-port')],
  address: ['address', String],
  'pod-cidr': ['podCIDR', String],
  'container-runtime-endpoint': ['containerRuntimeEndpoint', String],
  'file-check-frequency': ['fileCheckFrequencyMs', (v: unknown) => parseDuration(v, '--file-check-frequency')],
  'sync-frequency': ['syncFrequencyMs', (v: unknown) => parseDuration(v, '--sync-frequency')],
  'node-ip': ['nodeIP', String],
  'log-format': ['logFormat', (v: unknown) => logFormat(v, '--log-format')],
  'log-level': ['logLevel', (v: unknown) => logLevel(v, '--log-level')],
  'pod-infra-container-image': ['pauseImage', String],
  'cluster-dns': ['clusterDNS', (v: unknown) => ipList(v, '--cluster-dns')],
  'cluster-domain': ['clusterDomain', String],
  'resolv-conf': ['resolvConf', String],
  'container-log-max-size': ['containerLogMaxSize', (v: unknown) => logMaxSize(v, '--container-log-max-size')],
  'container-log-max-files': ['containerLogMaxFiles', (v: unknown) => logMaxFiles(v, '--container-log-max-files')],
  'allowed-unsafe-sysctls': ['allowedUnsafeSysctls', (v: unknown) => sysctlPatterns(v, '--allowed-unsafe-sysctls')],
  'service-cluster-ip-range': ['serviceCIDR', String],
  'proxy-mode': ['proxyMode', (v: unknown) => proxyMode(v, '--proxy-mode')],
} as const satisfies Record<string, [keyof AgentConfig, (v: unknown) => unknown]>;

export function resolveConfig(flags: Record<string, string | undefined>, configPath?: string): AgentConfig {
  const fromFile = configPath ? loadConfigFile(configPath) : {};
  const fromFlags: Partial<AgentConfig> = {};
  for (const [flag, [field, conv]] of Object.entries(FLAGS)) {
    const v = flags[flag];
    if (v !== undefined) (fromFlags as Record<string, unknown>)[field] = conv(v);
  }
  const cfg = { ...DEFAULTS, ...fromFile, ...fromFlags };
  cfg.nodeName = cfg.nodeName.toLowerCase();
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(cfg.nodeName)) {
    throw new ConfigError(`--node-name: Invalid value: "${cfg.nodeName}": a lowercase RFC 1123 subdomain`);
  }
  if (!cfg.containerRuntimeEndpoint.startsWith('unix://')) {
    throw new ConfigError(`--container-runtime-endpoint: Invalid value: "${cfg.containerRuntimeEndpoint}": expected unix:///path/to/socket`);
  }
  return cfg;
}
