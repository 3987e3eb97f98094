import { hostname } from 'node:os';
import { isValidQuantity, parseQuantity } from '../../manifests/index.js';
import { ConfigError } from '../config-error.js';
import { SysctlAllowlist } from '../vocab/index.js';
import { parseRegistryMirrors, type RegistryMirrors } from '../pull/mirrors.js';
import { parseAllowlistPattern, VERIFICATION_POLICIES, type VerificationPolicy } from '../pull/verify.js';
import { validateReservation } from '../resources/node.js';
import { DEFAULT_EVICTION_HARD, parseThresholdFlag, ThresholdError } from '../resources/thresholds.js';
import type { Parser, Taint } from './parse.js';
import { bool, duration, formatDuration, headerFlag, headerMap, httpURL, int, ipList, list, oneOf, port, positiveInt, str, stringMap, taints } from './parse.js';

// Every setting of the agent, once: its AgentConfig field, its KubeletConfiguration key, its
// flag (kubelet's or kube-proxy's name), default, parser, help and whether SIGHUP applies
// it. AgentConfig, the defaults, the config-file and flag parsers, every command's --help,
// scripts/config.yaml and the README's table are made from this list
// (`npm run gen:settings` writes the last two; test/unit/settings.test.ts checks them).

export const GROUPS = {
  node: 'This node',
  sources: 'Pod sources and sync',
  state: 'State and container logs',
  engine: 'Container engine and images',
  network: 'Pod network, DNS and Services',
  security: 'Pod security',
  api: 'APIs, ports and authentication',
  resources: 'Resources, cgroups, eviction and image garbage collection',
  logging: "The agent's own logs",
} as const;
export type Group = keyof typeof GROUPS;

interface Base<F extends string, T> {
  /** The AgentConfig field. */
  readonly field: F;
  /** The config file's (KubeletConfiguration's) key; none: a flag only. */
  readonly key?: string;
  /** The flag (without "--"); none: the config file only. */
  readonly flag?: string;
  /** More flags for the same setting. */
  readonly aliases?: readonly string[];
  /** What the value looks like, in --help ("DIR", "DURATION"). */
  readonly arg: string;
  /** The default in words, where it depends on the host or the environment. */
  readonly defaultText?: string;
  readonly parse: Parser<T>;
  /** The config file's shape, where it differs from the flag's. */
  readonly parseFile?: Parser<T>;
  /** A value as the flag writes it (durations, sizes, maps); default: String(v). */
  readonly show?: (v: T) => string;
  /** A value as the config file writes it; default: show(v) for scalars, v for objects. */
  readonly fileValue?: (v: T) => unknown;
  readonly help: string;
  /** SIGHUP applies it to the running agent (Agent.reload); the others wait for a restart. */
  readonly reload?: boolean;
  readonly group: Group;
}
export interface RequiredSetting<F extends string, T> extends Base<F, T> {
  readonly default: T;
  readonly optional?: false;
}
export interface OptionalSetting<F extends string, T> extends Base<F, T> {
  readonly default?: undefined;
  readonly optional: true;
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Setting = RequiredSetting<string, any> | OptionalSetting<string, any>;

// The value type comes from the parser alone (a default 'json' must not widen it to string).
const req = <F extends string, T>(s: Omit<RequiredSetting<F, T>, 'default'> & { default: NoInfer<T> }): RequiredSetting<F, T> => s;
const opt = <F extends string, T>(s: Omit<OptionalSetting<F, T>, 'optional'>): OptionalSetting<F, T> => ({ ...s, optional: true });

// ---------------------------------------------------------------- parsers of one setting

/** preloadedImagesVerificationAllowlist: each entry checked as kubelet does. */
function allowlist(v: unknown, where: string): string[] {
  const l = list(v);
  for (const p of l) {
    try {
      parseAllowlistPattern(p);
    } catch (err) {
      throw new ConfigError(`${where}: Invalid value: ${(err as Error).message}`);
    }
  }
  return l;
}

function logMaxSize(v: unknown, where: string): number {
  if (!isValidQuantity(v) || parseQuantity(v) <= 0) throw new ConfigError(`${where}: Invalid value: ${JSON.stringify(v)}: a positive quantity like "10Mi"`);
  return Math.floor(parseQuantity(v));
}

function logMaxFiles(v: unknown, where: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 2) throw new ConfigError(`${where}: Invalid value: ${JSON.stringify(v)}: must be greater than 1`);
  return n;
}

function sysctlPatterns(v: unknown, where: string): string[] {
  const l = list(v);
  try {
    new SysctlAllowlist(l);
  } catch (err) {
    throw new ConfigError(`${where}: Invalid value: ${JSON.stringify(l)}: ${(err as Error).message}`);
  }
  return l;
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** KubeletConfiguration's authentication block: x509.clientCAFile; anonymous access and the webhook cannot be turned on here. */
function authentication(v: unknown, where: string): string | undefined {
  const a = (v ?? {}) as { x509?: { clientCAFile?: unknown }; anonymous?: { enabled?: unknown }; webhook?: { enabled?: unknown } };
  if (a.anonymous?.enabled === true) throw new ConfigError(`${where}.anonymous.enabled: Invalid value: true: bosun refuses anonymous requests on the kubelet port`);
  if (a.webhook?.enabled === true) throw new ConfigError(`${where}.webhook.enabled: Invalid value: true: needs an API server (TokenReview)`);
  return a.x509?.clientCAFile === undefined ? undefined : String(a.x509.clientCAFile);
}

const authorizationMode = oneOf(['AlwaysAllow', 'Webhook']);
const logFormat = oneOf(['json', 'text']);
const cgroupDriver = oneOf(['cgroupfs', 'systemd']);
const iptablesBackend = oneOf(['auto', 'legacy', 'nft']);
const proxyMode = oneOf(['iptables', 'nftables', 'ipvs', 'none']);

function reservation(v: unknown, where: string): Record<string, string> {
  const m = stringMap(v, where);
  const why = validateReservation(m);
  if (why) throw new ConfigError(`${where}: Invalid value: ${why}`);
  return m;
}

/** A threshold map in the file; "memory.available<100Mi,..." on the command line. */
function thresholdMap(v: unknown, where: string): Record<string, string> {
  try {
    return typeof v === 'string' ? parseThresholdFlag(v, where) : stringMap(v, where);
  } catch (err) {
    if (err instanceof ThresholdError) throw new ConfigError(err.message);
    throw err;
  }
}

function durationMap(v: unknown, where: string): Record<string, number> {
  return Object.fromEntries(Object.entries(stringMap(v, where)).map(([k, d]) => [k, duration(d, `${where}.${k}`)]));
}

const percent = int(0, 100);
const keyValues = (sep: string) => (m: Record<string, string>) => Object.entries(m).map(([k, v]) => `${k}${sep}${v}`).join(',');
const showDuration = (ms: number) => formatDuration(ms);

// ---------------------------------------------------------------- the table

export const SETTINGS = [
  // ---- this node
  req({
    field: 'nodeName', key: 'nodeName', flag: 'node-name', aliases: ['hostname-override'], arg: 'NAME', group: 'node',
    default: hostname().toLowerCase(), defaultText: 'the host name, lowercased', parse: str,
    help: 'The node name: pod names get "-<node>" appended (a lowercase RFC 1123 subdomain).',
  }),
  opt({
    field: 'nodeIP', key: 'nodeIP', flag: 'node-ip', arg: 'IP', group: 'node', defaultText: "the default route's address", parse: str,
    help: "The node's address: status.hostIP, and what hostNetwork pods see.",
  }),
  req({
    field: 'nodeLabels', key: 'nodeLabels', flag: 'node-labels', arg: 'K=V,...', group: 'node', default: {} as Record<string, string>, parse: stringMap, show: keyValues('='),
    help: "Labels of the Node object; nodeSelector and node affinity are checked against them.",
  }),
  req({
    field: 'registerWithTaints', key: 'registerWithTaints', flag: 'register-with-taints', arg: 'K[=V]:EFFECT,...', group: 'node', default: [] as Taint[], parse: taints,
    show: (t) => t.map((x) => `${x.key}${x.value !== undefined ? `=${x.value}` : ''}:${x.effect}`).join(','),
    help: 'Taints the Node is registered with (cluster mode, at registration only).',
  }),
  opt({
    field: 'kubeconfig', flag: 'kubeconfig', arg: 'FILE', group: 'node', defaultText: 'standalone', parse: str,
    help: 'Join the API server of this kubeconfig (cluster mode): the Node, its Lease, pods bound to it, status and events.',
  }),
  opt({
    field: 'proxyKubeconfig', flag: 'proxy-kubeconfig', arg: 'FILE', group: 'node', defaultText: 'the node\'s --kubeconfig', parse: str,
    // A node may not read EndpointSlices (Node authorizer): upstream's kube-proxy has its own identity, bound to system:node-proxier.
    help: 'The identity the Service proxy reads EndpointSlices with (kube-proxy\'s --kubeconfig; needs --kubeconfig).',
  }),

  // ---- sources and sync
  req({
    field: 'podManifestPath', key: 'staticPodPath', flag: 'pod-manifest-path', arg: 'DIR', group: 'sources', default: '/etc/kubernetes/manifests', parse: str,
    help: 'Static pod manifests: every *.yaml, *.yml and *.json file here is a pod of this node.',
  }),
  req({
    field: 'fileCheckFrequencyMs', key: 'fileCheckFrequency', flag: 'file-check-frequency', arg: 'DURATION', group: 'sources', default: 20_000, parse: duration, show: showDuration, reload: true,
    help: 'How often the manifest directory is re-listed (it is watched with inotify as well).',
  }),
  req({
    field: 'syncFrequencyMs', key: 'syncFrequency', flag: 'sync-frequency', arg: 'DURATION', group: 'sources', default: 60_000, parse: duration, show: showDuration, reload: true,
    help: 'How often a pod with nothing to do is re-planned anyway (kubelet\'s default); changes and pending retries are synced at once or at the next 1 s tick.',
  }),
  opt({
    field: 'manifestURL', key: 'staticPodURL', flag: 'manifest-url', arg: 'URL', group: 'sources', defaultText: 'none', parse: httpURL,
    help: 'A URL to fetch static pods from as well (kubelet\'s staticPodURL).',
  }),
  req({
    field: 'manifestURLHeader', key: 'staticPodURLHeader', flag: 'manifest-url-header', arg: 'K:V,...', group: 'sources', default: {} as Record<string, string>,
    parse: headerFlag, parseFile: headerMap, show: keyValues(':'), fileValue: (m) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, [v]])),
    help: 'HTTP headers sent with each --manifest-url request (file: header -> list of values).',
  }),
  req({
    field: 'httpCheckFrequencyMs', key: 'httpCheckFrequency', flag: 'http-check-frequency', arg: 'DURATION', group: 'sources', default: 20_000, parse: duration, show: showDuration, reload: true,
    help: 'How often --manifest-url is fetched.',
  }),

  // ---- state and logs
  req({
    field: 'rootDir', key: 'rootDir', flag: 'root-dir', arg: 'DIR', group: 'state', default: '/var/lib/bosun', parse: str,
    help: "The agent's state; image archives dropped in <rootDir>/images are loaded (air-gapped nodes).",
  }),
  req({
    field: 'podLogsDir', key: 'podLogsDir', arg: 'DIR', group: 'state', default: '/var/log/pods', parse: str,
    help: 'Container logs, <ns>_<pod>_<uid>/<container>/<restart>.log in the CRI format.',
  }),
  req({
    field: 'containerLogsDir', key: 'containerLogsDir', arg: 'DIR', group: 'state', default: '/var/log/containers', parse: str,
    help: 'Where the <pod>_<ns>_<container>-<id>.log symlinks go.',
  }),
  req({
    field: 'containerLogMaxSize', key: 'containerLogMaxSize', flag: 'container-log-max-size', arg: 'QUANTITY', group: 'state', default: 10 * 1024 * 1024, parse: logMaxSize,
    show: (n) => (n % (1024 * 1024) === 0 ? `${n / (1024 * 1024)}Mi` : n % 1024 === 0 ? `${n / 1024}Ki` : String(n)),
    help: 'A container log file is rotated past this size.',
  }),
  req({
    field: 'containerLogMaxFiles', key: 'containerLogMaxFiles', flag: 'container-log-max-files', arg: 'N', group: 'state', default: 5, parse: logMaxFiles,
    help: 'Log files kept per container, the live one included (at least 2).',
  }),

  // ---- engine and images
  req({
    field: 'containerRuntimeEndpoint', key: 'containerRuntimeEndpoint', flag: 'container-runtime-endpoint', arg: 'URL', group: 'engine', default: 'unix:///var/run/docker.sock', parse: str,
    help: "The engine's socket: any socket named docker.sock is a Docker engine, else containerd.",
  }),
  req({
    field: 'pauseImage', key: 'podInfraContainerImage', flag: 'pod-infra-container-image', arg: 'REF', group: 'engine', default: 'localhost/bosun/pause:3.10', parse: str,
    help: 'The pause (sandbox) image.',
  }),
  req({
    field: 'serializeImagePulls', key: 'serializeImagePulls', flag: 'serialize-image-pulls', arg: 'BOOL', group: 'engine', default: true, parse: bool,
    help: 'Pull one image at a time.',
  }),
  opt({
    field: 'maxParallelImagePulls', key: 'maxParallelImagePulls', flag: 'max-parallel-image-pulls', arg: 'N', group: 'engine', defaultText: 'no limit', parse: positiveInt,
    help: 'At most this many pulls at once (only with serializeImagePulls false).',
  }),
  opt({
    field: 'imageCredentialProviderConfig', key: 'imageCredentialProviderConfig', flag: 'image-credential-provider-config', arg: 'FILE', group: 'engine', defaultText: 'none', parse: str,
    help: "kubelet's CredentialProviderConfig: exec plugins that give registry credentials (with the bin dir).",
  }),
  opt({
    field: 'imageCredentialProviderBinDir', key: 'imageCredentialProviderBinDir', flag: 'image-credential-provider-bin-dir', arg: 'DIR', group: 'engine', defaultText: 'none', parse: str,
    help: 'Where the credential provider plugins are.',
  }),
  req({
    field: 'registryMirrors', key: 'registryMirrors', arg: 'MAP', group: 'engine', default: {} as RegistryMirrors, parse: parseRegistryMirrors,
    help: 'Registry host -> list of mirror URLs, tried in order before the registry itself.',
  }),
  req({
    field: 'containerdRegistryConfigPath', key: 'containerdRegistryConfigPath', flag: 'containerd-registry-config-path', arg: 'DIR', group: 'engine', default: '/etc/containerd/certs.d', parse: str,
    help: "containerd's registry config_path, where registryMirrors become hosts.toml files.",
  }),
  req({
    field: 'imagePullOfflineFallback', key: 'imagePullOfflineFallback', flag: 'image-pull-offline-fallback', arg: 'BOOL', group: 'engine', default: false, parse: bool,
    help: 'Run a present image when an Always pull cannot reach the registry (never on "not found" or "unauthorized").',
  }),
  req({
    field: 'imagePullCredentialsVerificationPolicy', key: 'imagePullCredentialsVerificationPolicy', arg: 'POLICY', group: 'engine', default: 'NeverVerifyPreloadedImages' as VerificationPolicy, parse: oneOf(VERIFICATION_POLICIES),
    help: 'Which present images a pod (IfNotPresent, Never) may run only with credentials that pulled them: NeverVerify, NeverVerifyPreloadedImages (those bosun pulled), NeverVerifyAllowlistedImages, AlwaysVerify.',
  }),
  req({
    field: 'preloadedImagesVerificationAllowlist', key: 'preloadedImagesVerificationAllowlist', arg: 'IMAGE,...', group: 'engine', default: [] as string[], parse: allowlist, show: (l) => l.join(','),
    help: 'With NeverVerifyAllowlistedImages: images ("registry/repo") or prefixes ("registry/*") never verified.',
  }),

  // ---- network
  req({
    field: 'podCIDR', key: 'podCIDR', flag: 'pod-cidr', arg: 'CIDR', group: 'network', default: '10.244.0.0/16', parse: str,
    help: 'The pod network.',
  }),
  req({
    field: 'podBridge', key: 'podBridge', flag: 'pod-bridge', arg: 'NAME', group: 'network', default: 'bosun0', parse: str,
    help: 'The Linux bridge of the Docker pod network (a second Docker engine needs its own).',
  }),
  req({
    field: 'clusterDNS', key: 'clusterDNS', flag: 'cluster-dns', arg: 'IP,...', group: 'network', default: [] as string[], parse: ipList, show: (l) => l.join(','),
    help: 'DNS servers of ClusterFirst pods; none: they get the host\'s resolv.conf.',
  }),
  req({
    field: 'clusterDomain', key: 'clusterDomain', flag: 'cluster-domain', arg: 'DOMAIN', group: 'network', default: 'cluster.local', parse: str,
    help: 'The cluster DNS domain (search paths of ClusterFirst pods).',
  }),
  req({
    field: 'resolvConf', key: 'resolvConf', flag: 'resolv-conf', arg: 'FILE', group: 'network', default: '/etc/resolv.conf', parse: str,
    help: 'The resolver configuration Default pods get.',
  }),
  req({
    field: 'serviceCIDR', key: 'serviceCIDR', flag: 'service-cluster-ip-range', arg: 'CIDR', group: 'network', default: '10.96.0.0/12', parse: str,
    help: 'The Service CIDR, routed to the pod bridge.',
  }),
  req({
    field: 'proxyMode', key: 'proxyMode', flag: 'proxy-mode', arg: 'MODE', group: 'network', default: 'iptables', parse: proxyMode,
    help: 'The Service proxy: iptables, nftables, ipvs, or none (off).',
  }),
  req({
    field: 'iptablesBackend', key: 'iptablesBackend', flag: 'iptables-backend', arg: 'auto|legacy|nft', group: 'network', default: 'auto', parse: iptablesBackend,
    help: "The iptables backend of the iptables mode; auto: the one the host's rules already use.",
  }),

  // ---- pod security
  req({
    field: 'allowedUnsafeSysctls', key: 'allowedUnsafeSysctls', flag: 'allowed-unsafe-sysctls', arg: 'NAME,...', group: 'security', default: [] as string[], parse: sysctlPatterns, show: (l) => l.join(','),
    help: 'Namespaced sysctls (or "prefix*") pods may set beyond the safe set.',
  }),
  req({
    field: 'seccompDefault', key: 'seccompDefault', arg: 'BOOL', group: 'security', default: false, parse: bool,
    help: 'RuntimeDefault instead of Unconfined for containers that set no seccomp profile.',
  }),

  // ---- APIs
  req({
    field: 'readOnlyPort', key: 'readOnlyPort', flag: 'read-only-port', arg: 'PORT', group: 'api', default: 10255, parse: port,
    help: 'The read-only API (GET /pods, /events, /healthz, /metrics; bosun get reads it); 0 disables.',
  }),
  req({
    field: 'readOnlyAddress', key: 'readOnlyAddress', flag: 'read-only-address', arg: 'ADDR', group: 'api', default: '127.0.0.1', parse: str,
    help: 'Address of the read-only port (not --address: it is unauthenticated).',
  }),
  req({
    field: 'port', key: 'port', flag: 'port', arg: 'PORT', group: 'api', default: 10250, parse: port,
    help: 'The kubelet API, HTTPS and authenticated (kubectl logs, exec, port-forward); 0 disables.',
  }),
  req({
    field: 'address', key: 'address', flag: 'address', arg: 'ADDR', group: 'api', default: '127.0.0.1', parse: str,
    help: 'Address of the kubelet port.',
  }),
  opt({
    field: 'tlsCertFile', key: 'tlsCertFile', flag: 'tls-cert-file', arg: 'FILE', group: 'api', defaultText: 'made under <rootDir>/pki', parse: str,
    help: 'Serving certificate of the kubelet port (with --tls-private-key-file).',
  }),
  opt({
    field: 'tlsPrivateKeyFile', key: 'tlsPrivateKeyFile', flag: 'tls-private-key-file', arg: 'FILE', group: 'api', defaultText: 'made under <rootDir>/pki', parse: str,
    help: 'Its private key.',
  }),
  opt({
    field: 'tokenAuthFile', flag: 'token-auth-file', arg: 'FILE', group: 'api', defaultText: '<rootDir>/pki/tokens.csv, made once', parse: str,
    help: 'Bearer tokens, kube-apiserver\'s token,user,uid[,"groups"] lines.',
  }),
  opt({
    field: 'clientCAFile', key: 'authentication', flag: 'client-ca-file', arg: 'FILE', group: 'api', defaultText: 'none', parse: str,
    parseFile: authentication, fileValue: (f) => ({ x509: { clientCAFile: f } }),
    help: 'Client certificates signed by this CA authenticate (CN user, O groups); file: authentication.x509.clientCAFile.',
  }),
  req({
    field: 'authorizationMode', key: 'authorization', flag: 'authorization-mode', arg: 'MODE', group: 'api', default: 'AlwaysAllow', parse: authorizationMode,
    parseFile: (v, where) => authorizationMode((v as { mode?: unknown } | null)?.mode ?? 'AlwaysAllow', `${where}.mode`), fileValue: (mode) => ({ mode }),
    help: 'AlwaysAllow: any authenticated user may do everything; Webhook: a SubjectAccessReview per request (needs --kubeconfig). File: authorization.mode.',
  }),
  req({
    field: 'authenticationTokenWebhook', flag: 'authentication-token-webhook', arg: 'BOOL', group: 'api', default: false, parse: bool,
    help: 'Check unknown bearer tokens with a TokenReview (needs --kubeconfig).',
  }),
  req({
    field: 'healthzPort', key: 'healthzPort', flag: 'healthz-port', arg: 'PORT', group: 'api', default: 10248, parse: port,
    help: 'Plain-HTTP /healthz; 0 disables.',
  }),
  req({
    field: 'healthzBindAddress', key: 'healthzBindAddress', flag: 'healthz-bind-address', arg: 'ADDR', group: 'api', default: '127.0.0.1', parse: str,
    help: 'Address of the healthz port.',
  }),

  // ---- resources
  req({
    field: 'cgroupDriver', key: 'cgroupDriver', flag: 'cgroup-driver', arg: 'cgroupfs|systemd', group: 'resources', default: 'cgroupfs', parse: cgroupDriver,
    help: "Must be the engine's (docker info: CgroupDriver).",
  }),
  req({
    field: 'cgroupRoot', key: 'cgroupRoot', flag: 'cgroup-root', arg: 'PATH', group: 'resources', default: '/', parse: str,
    help: 'Where kubepods is made ("/" or a path; a slice with the systemd driver).',
  }),
  req({
    field: 'cgroupsPerQOS', key: 'cgroupsPerQOS', flag: 'cgroups-per-qos', arg: 'BOOL', group: 'resources', default: true, parse: bool,
    help: 'Pod and QoS cgroups; off: containers go where the engine puts them.',
  }),
  req({
    field: 'cpuCFSQuota', key: 'cpuCFSQuota', flag: 'cpu-cfs-quota', arg: 'BOOL', group: 'resources', default: true, parse: bool,
    help: 'Enforce CPU limits with a CFS quota.',
  }),
  req({
    field: 'podPidsLimit', key: 'podPidsLimit', flag: 'pod-max-pids', arg: 'N', group: 'resources', default: -1, parse: int(-1),
    help: 'Pids per pod (the pod cgroup and each container); -1: no limit.',
  }),
  req({
    field: 'maxPods', key: 'maxPods', flag: 'max-pods', arg: 'N', group: 'resources', default: 110, parse: int(1),
    help: 'Pods this node admits.',
  }),
  req({
    field: 'kubeReserved', key: 'kubeReserved', flag: 'kube-reserved', arg: 'RES=QTY,...', group: 'resources', default: {} as Record<string, string>, parse: reservation, show: keyValues('='),
    help: 'Resources kept for the agent and the engine (cpu, memory, ephemeral-storage, pid), out of allocatable.',
  }),
  req({
    field: 'systemReserved', key: 'systemReserved', flag: 'system-reserved', arg: 'RES=QTY,...', group: 'resources', default: {} as Record<string, string>, parse: reservation, show: keyValues('='),
    help: 'Resources kept for the operating system, out of allocatable.',
  }),
  req({
    field: 'evictionHard', key: 'evictionHard', flag: 'eviction-hard', arg: 'SIGNAL<QTY,...', group: 'resources', default: { ...DEFAULT_EVICTION_HARD } as Record<string, string>, parse: thresholdMap, show: keyValues('<'),
    help: 'Hard eviction thresholds; setting any replaces all the defaults.',
  }),
  req({
    field: 'evictionSoft', key: 'evictionSoft', flag: 'eviction-soft', arg: 'SIGNAL<QTY,...', group: 'resources', default: {} as Record<string, string>, parse: thresholdMap, show: keyValues('<'),
    help: 'Soft eviction thresholds (each needs a grace period).',
  }),
  req({
    field: 'evictionSoftGracePeriodMs', key: 'evictionSoftGracePeriod', flag: 'eviction-soft-grace-period', arg: 'SIGNAL=DURATION,...', group: 'resources', default: {} as Record<string, number>,
    parse: durationMap, show: (m) => Object.entries(m).map(([k, v]) => `${k}=${formatDuration(v)}`).join(','), fileValue: (m) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, formatDuration(v)])),
    help: 'How long a soft threshold must be crossed before pods are evicted.',
  }),
  req({
    field: 'evictionPressureTransitionPeriodMs', key: 'evictionPressureTransitionPeriod', flag: 'eviction-pressure-transition-period', arg: 'DURATION', group: 'resources', default: 5 * 60_000, parse: duration, show: showDuration,
    help: 'How long a pressure condition stays after its signal recovers.',
  }),
  req({
    field: 'evictionMaxPodGracePeriod', key: 'evictionMaxPodGracePeriod', flag: 'eviction-max-pod-grace-period', arg: 'SECONDS', group: 'resources', default: 0, parse: int(0),
    help: 'Grace period of a pod evicted for a soft threshold; 0: its own.',
  }),
  req({
    field: 'evictionMonitoringPeriodMs', key: 'evictionMonitoringPeriod', flag: 'eviction-monitoring-period', arg: 'DURATION', group: 'resources', default: 10_000, parse: duration, show: showDuration,
    help: "How often the eviction manager checks (bosun's own; kubelet: 10s, fixed).",
  }),
  req({
    field: 'imageGCHighThresholdPercent', key: 'imageGCHighThresholdPercent', flag: 'image-gc-high-threshold', arg: 'PERCENT', group: 'resources', default: 85, parse: percent,
    help: 'Image garbage collection starts when the image filesystem is used past this percent...',
  }),
  req({
    field: 'imageGCLowThresholdPercent', key: 'imageGCLowThresholdPercent', flag: 'image-gc-low-threshold', arg: 'PERCENT', group: 'resources', default: 80, parse: percent,
    help: '...and removes unused images until it is used below this percent.',
  }),
  req({
    field: 'imageMinimumGCAgeMs', key: 'imageMinimumGCAge', flag: 'minimum-image-ttl-duration', arg: 'DURATION', group: 'resources', default: 2 * 60_000, parse: duration, show: showDuration,
    help: 'An image seen for less than this is never removed.',
  }),
  req({
    field: 'imageGCPeriodMs', key: 'imageGCPeriod', arg: 'DURATION', group: 'resources', default: 5 * 60_000, parse: duration, show: showDuration,
    help: "How often image garbage collection runs (bosun's own; kubelet: 5m, fixed).",
  }),

  // ---- the agent's logs
  req({
    field: 'logFormat', key: 'logFormat', flag: 'log-format', arg: 'json|text', group: 'logging', default: 'json', parse: logFormat,
    help: 'JSON lines (for the journal), or text for people.',
  }),
  opt({
    field: 'logLevel', key: 'logLevel', flag: 'log-level', arg: 'LEVEL', group: 'logging', defaultText: '$BOSUN_LOG_LEVEL, else info', parse: oneOf(LOG_LEVELS) as Parser<string>, reload: true,
    help: 'trace, debug, info, warn, error, fatal or silent.',
  }),
] as const;

type Entry = (typeof SETTINGS)[number];
type ValueOf<E> = E extends Base<string, infer T> ? T : never;

/** The agent's configuration: one property per setting of SETTINGS. */
export type AgentConfig = { -readonly [E in Entry as E extends { optional: true } ? never : E['field']]: ValueOf<E> } & {
  -readonly [E in Entry as E extends { optional: true } ? E['field'] : never]?: ValueOf<E>;
};

export const DEFAULTS: AgentConfig = Object.fromEntries(
  (SETTINGS as readonly Setting[]).filter((s) => !s.optional).map((s) => [s.field, s.default]),
) as AgentConfig;

/** Flag (and alias) -> its setting. */
export const FLAGS: Readonly<Record<string, Setting>> = Object.fromEntries(
  (SETTINGS as readonly Setting[]).flatMap((s) => [s.flag, ...(s.aliases ?? [])].filter((f): f is string => !!f).map((f) => [f, s])),
);

/** Config-file key -> its setting. */
export const FILE_KEYS: Readonly<Record<string, Setting>> = Object.fromEntries(
  (SETTINGS as readonly Setting[]).filter((s) => s.key).map((s) => [s.key!, s]),
);

/** The fields SIGHUP applies to a running agent. */
export const RELOADABLE: readonly (keyof AgentConfig)[] = (SETTINGS as readonly Setting[]).filter((s) => s.reload).map((s) => s.field as keyof AgentConfig);

/** A value as the flag (and --help, and the README) writes it. */
export function showValue(s: Setting, v: unknown): string {
  if (s.show) return s.show(v);
  if (Array.isArray(v)) return v.join(',');
  if (v && typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** The default as --help and the README write it. */
export function showDefault(s: Setting): string {
  return s.defaultText ?? (showValue(s, s.default) || 'none');
}

/** A value as the config file writes it (YAML). */
export function fileValue(s: Setting, v: unknown): unknown {
  if (s.fileValue) return s.fileValue(v);
  if (v && typeof v === 'object') return v;
  return s.show ? s.show(v) : v;
}
