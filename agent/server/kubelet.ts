import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { Runtime } from '../../cri/index.js';
import type { Pod } from '../../manifests/index.js';
import type { AgentConfig } from '../config.js';
import type { EventRecorder } from '../events.js';
import type { Logger } from '../log.js';
import type { PodManager } from '../pods/manager.js';
import type { SourceFile } from '../sources/file.js';
import { L } from '../vocab/index.js';
import { nodeObject } from './api.js';
import { Authenticator, parseTokenFile } from './auth.js';
import { WebhookAuth, type ReviewClient } from './webhook.js';
import { StatsCollector } from './collect.js';
import { nodeFacts } from './nodeinfo.js';
import { ensureServingCert, ensureTokenFile, pkiDir } from './pki.js';
import { startHealthzServer, startSecureServer, type SecureServer } from './secure.js';

// Starts the kubelet port (10250, HTTPS, authenticated) and the healthz port (10248) from
// the agent's parts. The read-only port (10255) stays in readonly.ts.

export interface KubeletApiDeps {
  config: AgentConfig;
  log: Logger;
  runtime: Runtime;
  pods: PodManager;
  events: EventRecorder;
  metrics(which: 'all' | 'probes'): Promise<{ contentType: string; body: string }>;
  hostIP: string;
  cordoned(): boolean;
  /** Why the container runtime is not ready, undefined while it is. */
  runtimeDown?(detail?: boolean): string | undefined;
  /** The API server's client, for TokenReview and SubjectAccessReview (cluster mode). */
  reviews?: ReviewClient;
  /** The manifest directory's files (ConfigMaps, Secrets, Services to serve; who wrote what). */
  sourceFiles?(): SourceFile[];
  /** Standalone mode only: kubectl's writes become files, and the directory is read again after each. */
  writes?: { rescan(): Promise<void> };
}

export interface KubeletApi {
  secure?: SecureServer;
  healthz?: Server;
  close(): Promise<void>;
}

export const MAX_PODS = 110;

/** The serving pair, token file and client CA to use (given files, or made under <root-dir>/pki). */
export async function servingMaterial(config: AgentConfig, hostIP: string): Promise<{ cert: Buffer; key: Buffer; ca?: Buffer; caFile?: string; certFile: string; tokenFile: string }> {
  const dir = pkiDir(config.rootDir);
  const files = config.tlsCertFile && config.tlsPrivateKeyFile
    ? { certFile: config.tlsCertFile, keyFile: config.tlsPrivateKeyFile, caFile: undefined }
    : await ensureServingCert(dir, config.nodeName, hostIP === '127.0.0.1' ? [] : [hostIP]);
  const tokenFile = config.tokenAuthFile ?? ensureTokenFile(dir);
  return {
    cert: readFileSync(files.certFile),
    key: readFileSync(files.keyFile),
    ...(config.clientCAFile ? { ca: readFileSync(config.clientCAFile) } : {}),
    ...(files.caFile ? { caFile: files.caFile } : {}),
    certFile: files.certFile,
    tokenFile,
  };
}

export async function startKubeletApi(d: KubeletApiDeps): Promise<KubeletApi> {
  const { config, log } = d;
  const startedAt = Date.now();
  const out: KubeletApi = {
    async close() {
      await out.secure?.close();
      await new Promise<void>((r) => (out.healthz ? out.healthz.close(() => r()) : r()));
    },
  };
  if (config.healthzPort > 0) {
    out.healthz = await startHealthzServer(() => d.pods.healthy(), config.healthzPort, config.healthzBindAddress, () => d.runtimeDown?.(true));
    log.info({ address: `${config.healthzBindAddress}:${config.healthzPort}` }, 'healthz listening');
  }
  if (config.port <= 0) return out;

  const m = await servingMaterial(config, d.hostIP);
  const auth = new Authenticator(parseTokenFile(readFileSync(m.tokenFile, 'utf8'), m.tokenFile));
  const stats = new StatsCollector({
    nodeName: config.nodeName,
    rootDir: config.rootDir,
    podLogsDir: config.podLogsDir,
    imageFsDir: '/var/lib/docker',
    startedAt,
    pods: () => d.pods.list(),
    observed: (uid) => d.pods.cache.get(uid),
    runtime: d.runtime,
  });
  const node = async () => nodeObject(await nodeFacts({
    nodeName: config.nodeName,
    address: d.hostIP,
    podCIDR: config.podCIDR,
    rootDir: config.rootDir,
    port: config.port,
    maxPods: MAX_PODS,
    startedAt,
    runtimeVersion: async () => {
      const v = await d.runtime.version();
      return `${v.runtimeName}://${v.runtimeVersion}`;
    },
    ready: () => d.pods.healthy(),
    runtimeDown: () => d.runtimeDown?.(),
    cordoned: d.cordoned,
  }));
  out.secure = await startSecureServer({
    nodeName: config.nodeName,
    manifestDir: config.podManifestPath,
    podLogsDir: config.podLogsDir,
    log,
    runtime: d.runtime,
    pods: () => d.pods.list(),
    runningPods: () => runningPods(d.pods),
    sandboxOf: (uid) => d.pods.cache.get(uid).sandboxes.find((s) => s.state === 'ready')?.id,
    events: () => d.events.list(),
    healthy: () => d.pods.healthy(),
    runtimeDown: () => d.runtimeDown?.(true),
    metrics: d.metrics,
    stats,
    node,
    configz: () => configz(config),
    ...(d.sourceFiles ? { sourceFiles: d.sourceFiles } : {}),
    ...(d.writes ? { writes: d.writes } : {}),
    ...(d.reviews && (config.authorizationMode === 'Webhook' || config.authenticationTokenWebhook)
      ? { webhook: { auth: new WebhookAuth(d.reviews), tokens: config.authenticationTokenWebhook, authorize: config.authorizationMode === 'Webhook' } }
      : {}),
  }, { cert: m.cert, key: m.key, ...(m.ca ? { ca: m.ca } : {}) }, auth, config.port, config.address);
  log.info({ address: `${config.address}:${config.port}`, cert: m.certFile, tokens: m.tokenFile, clientCA: config.clientCAFile }, 'kubelet API listening (HTTPS, authenticated)');
  return out;
}

/** kubelet's /runningpods: what the runtime runs, as bare pods (names, UIDs, containers). */
function runningPods(pm: PodManager): Pod[] {
  const out: Pod[] = [];
  for (const uid of pm.cache.uids()) {
    const o = pm.cache.get(uid);
    const running = o.containers.filter((c) => c.state === 'running');
    const [first] = running;
    if (!first) continue;
    const labels = first.labels;
    out.push({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: labels[L.podName] ?? '', namespace: labels[L.podNamespace] ?? '', uid },
      spec: { containers: running.map((c) => ({ name: c.metadata.name, image: c.image })) },
    } as Pod);
  }
  return out;
}

/** /configz: the running configuration in KubeletConfiguration's names. */
function configz(c: AgentConfig): object {
  return {
    kind: 'KubeletConfiguration',
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    staticPodPath: c.podManifestPath,
    syncFrequency: `${c.syncFrequencyMs / 1000}s`,
    fileCheckFrequency: `${c.fileCheckFrequencyMs / 1000}s`,
    address: c.address,
    port: c.port,
    readOnlyPort: c.readOnlyPort,
    healthzPort: c.healthzPort,
    healthzBindAddress: c.healthzBindAddress,
    tlsCertFile: c.tlsCertFile ?? '',
    tlsPrivateKeyFile: c.tlsPrivateKeyFile ?? '',
    authentication: { anonymous: { enabled: false }, webhook: { enabled: c.authenticationTokenWebhook }, x509: { clientCAFile: c.clientCAFile ?? '' } },
    authorization: { mode: c.authorizationMode },
    clusterDomain: c.clusterDomain,
    clusterDNS: c.clusterDNS,
    podCIDR: c.podCIDR,
    podInfraContainerImage: c.pauseImage,
    containerRuntimeEndpoint: c.containerRuntimeEndpoint,
    podLogsDir: c.podLogsDir,
    containerLogMaxSize: String(c.containerLogMaxSize),
    containerLogMaxFiles: c.containerLogMaxFiles,
    maxPods: MAX_PODS,
    seccompDefault: c.seccompDefault,
    allowedUnsafeSysctls: c.allowedUnsafeSysctls,
    resolvConf: c.resolvConf,
  };
}
