import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from './config-error.js';
import { validateResourceConfig } from './resources/config.js';
import type { AgentConfig } from './settings/index.js';
import { DEFAULTS, duration, FILE_KEYS, FLAGS } from './settings/index.js';

export { ConfigError, DEFAULTS, FLAGS };
export type { AgentConfig };

// Configuration shaped like KubeletConfiguration (kubelet.config.k8s.io/v1beta1) with the
// flag names kubelet uses; every setting is one row of agent/settings/table.ts.
// Precedence: defaults < config file < flags.

/** Go-style durations as KubeletConfiguration writes them: "20s", "1m30s", "500ms". */
export const parseDuration = duration;

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
    const s = FILE_KEYS[k];
    if (!s) throw new ConfigError(`${path}: unknown field "${k}" (supported: ${Object.keys(FILE_KEYS).join(', ')})`);
    try {
      (out as Record<string, unknown>)[s.field] = (s.parseFile ?? s.parse)(v, `${path}: ${k}`);
    } catch (err) {
      // A converter that met a shape it did not expect ([null], a map for a list): still a
      // config error naming the field, never a TypeError.
      if (err instanceof ConfigError) throw err;
      throw new ConfigError(`${path}: ${k}: Invalid value: ${JSON.stringify(v)?.slice(0, 200)}: ${(err as Error).message}`);
    }
  }
  return out;
}

export function resolveConfig(flags: Record<string, string | undefined>, configPath?: string): AgentConfig {
  const fromFile = configPath ? loadConfigFile(configPath) : {};
  const fromFlags: Partial<AgentConfig> = {};
  for (const [flag, s] of Object.entries(FLAGS)) {
    const v = flags[flag];
    if (v !== undefined) (fromFlags as Record<string, unknown>)[s.field] = s.parse(v, `--${flag}`);
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
