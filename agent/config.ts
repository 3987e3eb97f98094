import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { isValidQuantity, parseQuantity } from '../manifests/index.js';
import { SysctlAllowlist } from './vocab/index.js';
import { parseRegistryMirrors, type RegistryMirrors } from './pull/mirrors.js';
import { ConfigError } from './config-error.js';
import type { ResourceConfig } from './resources/config.js';
import { duration, RESOURCE_DEFAULTS, RESOURCE_FILE_FIELDS, RESOURCE_FLAGS, validateResourceConfig } from './resources/config.js';

export { ConfigError };

// Configuration shaped like KubeletConfiguration (kubelet.config.k8s.io/v1beta1) with the
// flag names kubelet uses. Precedence: defaults < config file < flags.

/** Resources, cgroups, eviction and image GC: agent/resources/config.ts. */
export interface AgentConfig extends ResourceConfig {
  podManifestPath: string;
  rootDir: string;
  nodeName: string;
  readOnlyPort: number;
  /** Address the kubelet (HTTPS) port binds to. */
  address: string;
  /**
   * Address the read-only port binds to: its own setting, not `address`, because the
   * read-only port is unauthenticated and serves full pod specs (deviation from kubelet).
   */
  readOnlyAddress: string;
  podCIDR: string;
  /**
   * The Linux bridge of the Docker pod network (bosun's own; kubelet leaves the network to
   * CNI). A second Docker engine on the same host needs a bridge of its own.
   */
  podBridge: string;
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
  proxyMode: 'iptables' | 'nftables' | 'ipvs' | 'none';
  /** iptables mode: which iptables backend; auto = what the host's rules already use (upstream's iptables-wrapper). */
  iptablesBackend: 'auto' | 'legacy' | 'nft';
  /** kubelet's staticPodURL / staticPodURLHeader / httpCheckFrequency. */
  manifestURL?: string;
  manifestURLHeader: Record<string, string>;
  httpCheckFrequencyMs: number;
  /** The kubelet API (HTTPS, authenticated) on `address`; 0 disables. */
  port: number;
  /** Serving pair; unset: made under <root-dir>/pki on first start. */
  tlsCertFile?: string;
  tlsPrivateKeyFile?: string;
  /** kube-apiserver token file (token,user,uid[,"groups"]); unset: <root-dir>/pki/tokens.csv, made on first start. */
  tokenAuthFile?: string;
  /** Client certificates signed by this CA authenticate as CN (user) and O (groups). */
  clientCAFile?: string;
  /**
   * AlwaysAllow: any authenticated user may do everything. Webhook: each request is checked
   * with a SubjectAccessReview at the API server of --kubeconfig (cluster mode).
   */
  authorizationMode: 'AlwaysAllow' | 'Webhook';
  /** Bearer tokens the node does not know are checked with a TokenReview at the API server. */
  authenticationTokenWebhook: boolean;
  /** Plain-HTTP /healthz; 0 disables. */
  healthzPort: number;
  healthzBindAddress: string;
  /** The API server to join (kubelet's --kubeconfig); unset: standalone. */
  kubeconfig?: string;
  /**
   * kube-proxy's --kubeconfig: the identity the Service proxy reads EndpointSlices with (the
   * Node authorizer does not let a node read them; upstream binds system:kube-proxy to
   * system:node-proxier). Unset: the node's --kubeconfig.
   */
  proxyKubeconfig?: string;
  /** --node-labels and --register-with-taints, for the Node object. */
  nodeLabels: Record<string, string>;
  registerWithTaints: { key: string; value?: string; effect: string }[];
  // ---- image pulls (agent/pull) ----
  /** kubelet's serializeImagePulls (default true) and maxParallelImagePulls (unset: no limit when not serialized). */
  serializeImagePulls: boolean;
  maxParallelImagePulls?: number;
  /** kubelet's --image-credential-provider-config and --image-credential-provider-bin-dir (exec plugins). */
  imageCredentialProviderConfig?: string;
  imageCredentialProviderBinDir?: string;
  /** Registry host -> mirror URLs tried in order (then the registry itself). */
  registryMirrors: RegistryMirrors;
  /** containerd's registry config_path, where registryMirrors become hosts.toml files. */
  containerdRegistryConfigPath: string;
  /** Run a present image when an Always pull cannot reach the registry (never on "not found"/"unauthorized"). */
  imagePullOfflineFallback: boolean;
}

export const DEFAULTS: AgentConfig = {
  ...RESOURCE_DEFAULTS,
  podManifestPath: '/etc/kubernetes/manifests',
  rootDir: '/var/lib/bosun',
  nodeName: hostname().toLowerCase(),
  readOnlyPort: 10255,
  address: '127.0.0.1',
  readOnlyAddress: '127.0.0.1',
  podCIDR: '10.244.0.0/16',
  podBridge: 'bosun0',
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
  iptablesBackend: 'auto',
  manifestURLHeader: {},
  httpCheckFrequencyMs: 20_000,
  port: 10250,
  authorizationMode: 'AlwaysAllow',
  authenticationTokenWebhook: false,
  healthzPort: 10248,
  healthzBindAddress: '127.0.0.1',
  nodeLabels: {},
  registerWithTaints: [],
  serializeImagePulls: true,
  registryMirrors: {},
  containerdRegistryConfigPath: '/etc/containerd/certs.d',
  imagePullOfflineFallback: false,
};

function positiveInt(v: unknown, field: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`${field}: Invalid value: ${JSON.stringify(v)}: must be a positive integer`);
  return n;
}

function urlValue(v: unknown, field: string): string {
  const s = String(v);
  let ok = false;
  try {
    const u = new URL(s);
    ok = u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    ok = false;
  }
  if (!ok) throw new ConfigError(`${field}: Invalid value: "${s}": an http:// or https:// URL`);
  return s;
}

/** staticPodURLHeader is a map of header -> list of values, as in KubeletConfiguration. */
function headerMap(v: unknown, field: string): Record<string, string> {
  if (v == null || typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(`${field}: Invalid value: expected a map of header name to values`);
  return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, Array.isArray(x) ? x.map(String).join(', ') : String(x)]));
}

/** kubelet's `--manifest-url-header 'a:hello,b:again'`. */
function headerFlag(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of String(v).split(',')) {
    const i = pair.indexOf(':');
    if (i <= 0) throw new ConfigError(`--manifest-url-header: Invalid value: "${pair}": expected key:value[,key:value]`);
    out[pair.slice(0, i).trim()] = pair.slice(i + 1).trim();
  }
  return out;
}

function boolFlag(v: unknown, field: string): boolean {
  if (v === 'true' || v === true) return true;
  if (v === 'false' || v === false) return false;
  throw new ConfigError(`${field}: Invalid value: ${JSON.stringify(v)}: expected true or false`);
}

function authorizationMode(v: unknown, field: string): 'AlwaysAllow' | 'Webhook' {
  if (v === 'AlwaysAllow' || v === 'Webhook') return v;
  throw new ConfigError(`${field}: Unsupported value: ${JSON.stringify(v)}: supported values: "AlwaysAllow", "Webhook"`);
}

/** KubeletConfiguration's authentication block: x509.clientCAFile; anonymous access cannot be turned on. */
function authentication(v: unknown, field: string): string | undefined {
  const a = (v ?? {}) as { x509?: { clientCAFile?: unknown }; anonymous?: { enabled?: unknown }; webhook?: { enabled?: unknown } };
  if (a.anonymous?.enabled === true) throw new ConfigError(`${field}.anonymous.enabled: Invalid value: true: bosun refuses anonymous requests on the kubelet port`);
  if (a.webhook?.enabled === true) throw new ConfigError(`${field}.webhook.enabled: Invalid value: true: needs an API server (TokenReview)`);
  return a.x509?.clientCAFile === undefined ? undefined : String(a.x509.clientCAFile);
}

function proxyMode(v: unknown, field: string): AgentConfig['proxyMode'] {
  if (v === 'iptables' || v === 'nftables' || v === 'ipvs' || v === 'none') return v;
  throw new ConfigError(`${field}: Unsupported value: ${JSON.stringify(v)}: supported values: "iptables", "nftables", "ipvs", "none"`);
}

function iptablesBackend(v: unknown, field: string): AgentConfig['iptablesBackend'] {
  if (v === 'auto' || v === 'legacy' || v === 'nft') return v;
  throw new ConfigError(`${field}: Unsupported value: ${JSON.stringify(v)}: supported values: "auto", "legacy", "nft"`);
}

function ipList(v: unknown, field: string): string[] {
  const list = Array.isArray(v) ? v.map(String) : String(v).split(',').map((x) => x.trim()).filter(Boolean);
  for (const ip of list) if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip) && !ip.includes(':')) throw new ConfigError(`${field}: Invalid value: "${ip}": must be an IP address`);
  return list;
}


/** Go-style durations as KubeletConfiguration writes them: "20s", "1m30s", "500ms". */
export const parseDuration = duration;

// KubeletConfiguration field -> our field, with a converter.
const FILE_FIELDS: Record<string, [keyof AgentConfig, (v: unknown, f: string) => unknown]> = {
  ...RESOURCE_FILE_FIELDS,
  staticPodPath: ['podManifestPath', String],
  readOnlyPort: ['readOnlyPort', (v, f) => port(v, f)],
  address: ['address', String],
  readOnlyAddress: ['readOnlyAddress', String],
  podCIDR: ['podCIDR', String],
  podBridge: ['podBridge', String],
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
  iptablesBackend: ['iptablesBackend', iptablesBackend],
  staticPodURL: ['manifestURL', urlValue],
  staticPodURLHeader: ['manifestURLHeader', headerMap],
  httpCheckFrequency: ['httpCheckFrequencyMs', parseDuration],
  port: ['port', (v, f) => port(v, f)],
  tlsCertFile: ['tlsCertFile', String],
  tlsPrivateKeyFile: ['tlsPrivateKeyFile', String],
  authentication: ['clientCAFile', authentication],
  authorization: ['authorizationMode', (v, f) => authorizationMode((v as { mode?: unknown } | null)?.mode ?? 'AlwaysAllow', `${f}.mode`)],
  healthzPort: ['healthzPort', (v, f) => port(v, f)],
  healthzBindAddress: ['healthzBindAddress', String],
  nodeLabels: ['nodeLabels', (v, f) => nodeLabels(v, f)],
  registerWithTaints: ['registerWithTaints', (v, f) => taints(v, f)],
  serializeImagePulls: ['serializeImagePulls', (v, f) => bool(v, f)],
  maxParallelImagePulls: ['maxParallelImagePulls', (v, f) => positiveInt(v, f)],
  imageCredentialProviderConfig: ['imageCredentialProviderConfig', String],
  imageCredentialProviderBinDir: ['imageCredentialProviderBinDir', String],
  registryMirrors: ['registryMirrors', (v, f) => parseRegistryMirrors(v, f)],
  containerdRegistryConfigPath: ['containerdRegistryConfigPath', String],
  imagePullOfflineFallback: ['imagePullOfflineFallback', (v, f) => bool(v, f)],
};

/** `a=b,c=d` or a map (config file). */
function nodeLabels(v: unknown, field: string): Record<string, string> {
  if (v && typeof v === 'object' && !Array.isArray(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, String(x)]));
  const out: Record<string, string> = {};
  for (const kv of String(v).split(',').map((x) => x.trim()).filter(Boolean)) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new ConfigError(`${field}: Invalid value: "${kv}": expected key=value`);
    out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

/** `key=value:Effect,key:Effect` or a list of taints (config file). */
function taints(v: unknown, field: string): AgentConfig['registerWithTaints'] {
  if (Array.isArray(v)) {
    return v.map((t, i) => {
      const at = `${field}[${i}]`;
      if (!t || typeof t !== 'object' || Array.isArray(t)) throw new ConfigError(`${at}: Invalid value: ${JSON.stringify(t)}: expected a taint {key, value, effect}`);
      const { key, value, effect } = t as Record<string, unknown>;
      if (typeof key !== 'string' || key === '') throw new ConfigError(`${at}.key: Required value: a non-empty string`);
      if (value !== undefined && value !== null && typeof value !== 'string') throw new ConfigError(`${at}.value: Invalid value: ${JSON.stringify(value)}: must be a string`);
      if (effect !== 'NoSchedule' && effect !== 'PreferNoSchedule' && effect !== 'NoExecute') {
        throw new ConfigError(`${at}.effect: Unsupported value: ${JSON.stringify(effect ?? null)}: supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"`);
      }
      return { key, ...(typeof value === 'string' ? { value } : {}), effect };
    });
  }
  return String(v).split(',').map((t) => t.trim()).filter(Boolean).map((t) => {
    const m = /^([^=:]+)(?:=([^:]*))?:(NoSchedule|PreferNoSchedule|NoExecute)$/.exec(t);
    if (!m) throw new ConfigError(`${field}: Invalid value: "${t}": expected key[=value]:NoSchedule|PreferNoSchedule|NoExecute`);
    return { key: m[1], ...(m[2] !== undefined ? { value: m[2] } : {}), effect: m[3] };
  });
}

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
    try {
      (out as Record<string, unknown>)[f[0]] = f[1](v, `${path}: ${k}`);
    } catch (err) {
      // A converter that met a shape it did not expect ([null], a map for a list): still a
      // config error naming the field, never a TypeError.
      if (err instanceof ConfigError) throw err;
      throw new ConfigError(`${path}: ${k}: Invalid value: ${JSON.stringify(v)?.slice(0, 200)}: ${(err as Error).message}`);
    }
  }
  return out;
}

export const FLAGS = {
  ...RESOURCE_FLAGS,
  'pod-manifest-path': ['podManifestPath', String],
  'root-dir': ['rootDir', String],
  'node-name': ['nodeName', String],
  'hostname-override': ['nodeName', String],
  'read-only-port': ['readOnlyPort', (v: unknown) => port(v, '--read-only-port')],
  address: ['address', String],
  'read-only-address': ['readOnlyAddress', String],
  'pod-cidr': ['podCIDR', String],
  'pod-bridge': ['podBridge', String],
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
  'iptables-backend': ['iptablesBackend', (v: unknown) => iptablesBackend(v, '--iptables-backend')],
  'manifest-url': ['manifestURL', (v: unknown) => urlValue(v, '--manifest-url')],
  'manifest-url-header': ['manifestURLHeader', headerFlag],
  'http-check-frequency': ['httpCheckFrequencyMs', (v: unknown) => parseDuration(v, '--http-check-frequency')],
  port: ['port', (v: unknown) => port(v, '--port')],
  'tls-cert-file': ['tlsCertFile', String],
  'tls-private-key-file': ['tlsPrivateKeyFile', String],
  'token-auth-file': ['tokenAuthFile', String],
  'client-ca-file': ['clientCAFile', String],
  'authorization-mode': ['authorizationMode', (v: unknown) => authorizationMode(v, '--authorization-mode')],
  'authentication-token-webhook': ['authenticationTokenWebhook', (v: unknown) => boolFlag(v, '--authentication-token-webhook')],
  'healthz-port': ['healthzPort', (v: unknown) => port(v, '--healthz-port')],
  'healthz-bind-address': ['healthzBindAddress', String],
  kubeconfig: ['kubeconfig', String],
  'proxy-kubeconfig': ['proxyKubeconfig', String],
  'node-labels': ['nodeLabels', (v: unknown) => nodeLabels(v, '--node-labels')],
  'register-with-taints': ['registerWithTaints', (v: unknown) => taints(v, '--register-with-taints')],
  'serialize-image-pulls': ['serializeImagePulls', (v: unknown) => bool(v, '--serialize-image-pulls')],
  'max-parallel-image-pulls': ['maxParallelImagePulls', (v: unknown) => positiveInt(v, '--max-parallel-image-pulls')],
  'image-credential-provider-config': ['imageCredentialProviderConfig', String],
  'image-credential-provider-bin-dir': ['imageCredentialProviderBinDir', String],
  'containerd-registry-config-path': ['containerdRegistryConfigPath', String],
  'image-pull-offline-fallback': ['imagePullOfflineFallback', (v: unknown) => bool(v, '--image-pull-offline-fallback')],
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
  if (!cfg.tlsCertFile !== !cfg.tlsPrivateKeyFile) {
    throw new ConfigError('--tls-cert-file and --tls-private-key-file: give both or neither');
  }
  if (cfg.authorizationMode === 'Webhook' && !cfg.kubeconfig) {
    throw new ConfigError('--authorization-mode: Unsupported value: "Webhook": needs an API server (--kubeconfig) for SubjectAccessReview; a standalone node supports "AlwaysAllow"');
  }
  if (cfg.proxyKubeconfig && !cfg.kubeconfig) {
    throw new ConfigError('--proxy-kubeconfig: needs an API server (--kubeconfig): a standalone node reads Services and EndpointSlices from its manifest directory');
  }
  if (cfg.authenticationTokenWebhook && !cfg.kubeconfig) {
    throw new ConfigError('--authentication-token-webhook: needs an API server (--kubeconfig) for TokenReview');
  }
  validateResourceConfig(cfg);
  // A Linux interface name: at most 15 bytes, no slash or space (dev_valid_name).
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/.test(cfg.podBridge)) {
    throw new ConfigError(`--pod-bridge: Invalid value: "${cfg.podBridge}": an interface name of 1 to 15 letters, digits, '-', '_' or '.'`);
  }
  // kubelet's validation: a parallel limit only means something when pulls are not serialized.
  if (cfg.serializeImagePulls && cfg.maxParallelImagePulls !== undefined && cfg.maxParallelImagePulls > 1) {
    throw new ConfigError(`maxParallelImagePulls: Invalid value: ${cfg.maxParallelImagePulls}: cannot be larger than 1 unless serializeImagePulls is false`);
  }
  if (!cfg.imageCredentialProviderConfig !== !cfg.imageCredentialProviderBinDir) {
    throw new ConfigError('--image-credential-provider-config and --image-credential-provider-bin-dir: give both or neither');
  }
  if (!cfg.containerRuntimeEndpoint.startsWith('unix://')) {
    throw new ConfigError(`--container-runtime-endpoint: Invalid value: "${cfg.containerRuntimeEndpoint}": expected unix:///path/to/socket`);
  }
  return cfg;
}
