import type { Server } from 'node:http';
import { join } from 'node:path';
import type { Runtime } from '../cri/index.js';
import { createRuntime, isDockerEndpoint, probeDockerOomScore } from '../cri/index.js';
import type { Pod } from '../manifests/index.js';
import type { Clock } from '../base/index.js';
import { systemClock } from '../base/index.js';
import type { AgentConfig } from './config.js';
import { readFileSync } from 'node:fs';
import { parseResolvConf } from './dns/dns.js';
import { EventRecorder } from './events.js';
import { ObjectStore } from './objects/store.js';
import type { NodeEnv } from './pods/prepare.js';
import { ImageImporter } from './images.js';
import { CredentialProviders, loadCredentialProviderConfig, nodeDockerConfig, PullRecords, writeHostsFiles } from './pull/index.js';
import { AgentMetrics } from './metrics.js';
import type { Logger } from './log.js';
import { detectNodeIP } from './node.js';
import { PodManager } from './pods/manager.js';
import { ResourceManager } from './resources/index.js';
import { LogManager } from './logs/index.js';
import { goArch, standardNodeLabels } from './server/api.js';
import { startReadOnlyServer } from './server/readonly.js';
import { startKubeletApi, type KubeletApi } from './server/kubelet.js';
import { ServiceProxy } from './services.js';
import { FileSource } from './sources/file.js';
import { detectNodeFeatures } from './pods/fields.js';
import { HttpSource } from './sources/http.js';
import { SourceMerger } from './sources/merge.js';
import { ApiServerSource } from './apiserver/index.js';
import { L } from './vocab/index.js';
import { RuntimeHealth } from './runtime/health.js';

// Wiring, in the direction of the flow: sources -> pod manager (workers, planner,
// executor, cache) -> status -> local API.
export class Agent {
  readonly pods: PodManager;
  readonly events: EventRecorder;
  /** Copies container output into the CRI log files under podLogsDir. */
  readonly logs: LogManager;
  readonly objects = new ObjectStore();
  private source: FileSource;
  private importer: ImageImporter;
  readonly metrics: AgentMetrics;
  private server?: Server;
  private api?: KubeletApi;
  readonly services: ServiceProxy;
  private cordoned = false;
  private readonly merger: SourceMerger;
  private http?: HttpSource;
  private reportedConflicts = '';
  private lastPods?: Pod[];
  /** Set with --kubeconfig: the API server as a pod source, the Node, its Lease, status, events. */
  readonly apiserver?: ApiServerSource;
  /** Whether the container engine answers: no pod is synced while it does not. */
  readonly health: RuntimeHealth;

  private constructor(
    readonly config: AgentConfig,
    readonly runtime: Runtime,
    private readonly log: Logger,
    clock: Clock,
    /** Pod cgroups, node allocatable, eviction, image GC; nodeStatus() for the node object. */
    readonly resources: ResourceManager,
    /** Status containerIDs are `<runtimeName>://<id>` (docker, containerd). */
    runtimeName = 'docker',
  ) {
    const hostIP = config.nodeIP ?? detectNodeIP();
    this.health = new RuntimeHealth({ runtime, log, clock, eventFilter: { labels: { [L.node]: config.nodeName } } });
    this.events = new EventRecorder(clock, config.nodeName);
    this.services = new ServiceProxy({
      mode: config.proxyMode,
      iptablesBackend: config.iptablesBackend,
      serviceCIDR: config.serviceCIDR,
      podCIDR: config.podCIDR,
      bridge: config.podBridge,
      createBridge: runtimeName !== 'docker',
      nodeName: config.nodeName,
      nodeIP: hostIP,
      syncPeriodMs: 30_000,
      minSyncPeriodMs: 1_000,
    }, log);
    const features = detectNodeFeatures(runtimeName, config.clusterDomain);
    const env: NodeEnv = {
      rootDir: config.rootDir,
      podLogsDir: config.podLogsDir,
      objects: this.objects,
      hostIP,
      // What resourceFieldRef reports for a limit a container did not set.
      node: { cpuMilli: resources.node.allocatable.cpuMilli, memoryBytes: resources.node.allocatable.memory, ephemeralBytes: resources.node.allocatable.ephemeralStorage },
      dns: { clusterDNS: config.clusterDNS, clusterDomain: config.clusterDomain, host: readResolvConf(config.resolvConf) },
      serviceEnv: (ns) => this.services.serviceEnv(ns),
      prepared: new Map(),
      seccompDefault: config.seccompDefault,
      ...resources.nodeEnv(),
    };
    // What nodeSelector and required node affinity are checked against at admission.
    const node = { name: config.nodeName, labels: { ...standardNodeLabels(config.nodeName, goArch(process.arch)), ...config.nodeLabels } };
    this.pods = new PodManager({
      runtime, runtimeName, log, clock, events: this.events, env, hostIP, nodeName: config.nodeName, syncPeriodMs: config.syncFrequencyMs,
      admission: { allowedUnsafeSysctls: config.allowedUnsafeSysctls, node, features },
      admissionContext: () => ({ allowedUnsafeSysctls: config.allowedUnsafeSysctls, node, features, ...resources.admissionContext() }),
      logs: { flush: (c) => this.logs.flush(c), removed: (c) => this.logs.removed(c) },
      health: this.health,
      images: {
        serializeImagePulls: config.serializeImagePulls,
        ...(config.maxParallelImagePulls !== undefined ? { maxParallelImagePulls: config.maxParallelImagePulls } : {}),
        nodeCredentials: nodeDockerConfig(join(config.rootDir, 'config.json'), log),
        ...(config.imageCredentialProviderConfig && config.imageCredentialProviderBinDir
          ? { providers: new CredentialProviders(loadCredentialProviderConfig(config.imageCredentialProviderConfig, config.imageCredentialProviderBinDir), config.imageCredentialProviderBinDir, () => clock.now()) }
          : {}),
        // containerd applies mirrors itself, from the hosts.toml files written at start.
        ...(runtimeName === 'docker' ? { mirrors: config.registryMirrors } : {}),
        offlineFallback: config.imagePullOfflineFallback,
        verification: { policy: config.imagePullCredentialsVerificationPolicy, allowlist: config.preloadedImagesVerificationAllowlist, records: new PullRecords(config.rootDir) },
        // this.metrics is made below, before any pod syncs.
        onPulled: (seconds, size) => this.metrics.imagePulled(seconds, size),
      },
    });
    this.logs = new LogManager({
      runtime,
      source: this.pods.cache,
      policy: { maxSize: config.containerLogMaxSize, maxFiles: config.containerLogMaxFiles },
      containerLogsDir: config.containerLogsDir,
      log,
      paused: () => !this.health.ready(),
      podLogsDir: config.podLogsDir,
    });
    this.merger = new SourceMerger(['file', ...(config.manifestURL ? ['http'] : []), ...(config.kubeconfig ? ['api'] : [])]);
    if (config.kubeconfig) {
      const api = new ApiServerSource({
        kubeconfig: config.kubeconfig, nodeName: config.nodeName, rootDir: config.rootDir, log,
        labels: config.nodeLabels, taints: config.registerWithTaints,
        nodeInfo: {
          nodeName: config.nodeName, address: hostIP, podCIDR: config.podCIDR, rootDir: config.rootDir, port: config.port, maxPods: config.maxPods, startedAt: Date.now(),
          runtimeVersion: async () => { const v = await runtime.version(); return `${v.runtimeName}://${v.runtimeVersion}`; },
          ready: () => this.pods.healthy(),
          runtimeDown: () => this.runtimeDown(),
          cordoned: () => this.cordoned,
        },
        resources: () => resources.nodeStatus(),
        stopped: (uid) => this.pods.stopped(uid),
        onUpdate: (s) => {
          this.merger.set('api', s);
          this.applySources();
        },
        onTokens: (t) => {
          if (this.objects.setTokens(t)) this.pods.objectsChanged();
        },
        endpointSlices: config.proxyMode !== 'none',
        ...(config.proxyKubeconfig ? { proxyKubeconfig: config.proxyKubeconfig } : {}),
      });
      this.apiserver = api;
      // Tokens come from this API server: a pod waits for its token rather than failing.
      this.objects.setTokens(new Map());
      this.pods.onStatus(({ pod, status }) => api.status(pod, status));
      this.events.subscribe((e) => api.event(e));
    }
    this.source = this.fileSource();
    this.http = this.httpSource();
    this.importer = new ImageImporter(join(config.rootDir, 'images'), runtime, log);
    this.metrics = new AgentMetrics({ pods: () => this.pods.list(), probes: this.pods.probes.metrics, proxy: this.services, runtime: this.health });
    this.pods.cache.onRelist = (ms) => this.metrics.relist.observe(ms / 1000);
    this.pods.onSync = (seconds, operation) => this.metrics.podWorker.observe({ operation_type: operation }, seconds);
    resources.onEviction = (signal) => this.metrics.evictions.inc({ eviction_signal: signal });
    // Readiness changes reach the Service endpoints through pod status.
    this.pods.onStatus(() => this.services.setPods(this.pods.list()));
    this.pods.onStatus(({ pod, status }) => {
      if (status.phase !== 'Running') return;
      const seen = Date.parse(pod.metadata.annotations?.['kubernetes.io/config.seen'] ?? '');
      if (Number.isFinite(seen)) this.metrics.podRunning(pod.metadata.uid, seen, clock.now());
    });
  }

  /** kubelet's runtime error for the node's Ready condition (with the last error for /healthz), undefined while the engine is up. */
  runtimeDown(detail = false): string | undefined {
    const c = this.health.condition();
    if (c.ready) return undefined;
    return detail ? `${c.message} (${c.detail})` : c.message;
  }

  private fileSource(): FileSource {
    return new FileSource(this.config.podManifestPath, this.config.nodeName, this.log, (s) => {
      this.merger.set('file', s);
      this.applySources();
    }, this.config.fileCheckFrequencyMs);
  }

  private httpSource(): HttpSource | undefined {
    const c = this.config;
    if (!c.manifestURL) return undefined;
    return new HttpSource(c.manifestURL, c.manifestURLHeader, c.nodeName, this.log, (s) => {
      this.merger.set('http', s);
      this.applySources();
    }, c.httpCheckFrequencyMs);
  }

  /** Every source's latest set, merged, becomes the desired pods and the known objects. */
  private applySources(): void {
    const m = this.merger.merged();
    if (this.objects.replace(m.objects)) this.pods.objectsChanged();
    this.services.setObjects(m.objects, this.merger.objectsOf('api'));
    const conflicts = m.conflicts.join('\n');
    if (conflicts && conflicts !== this.reportedConflicts) this.log.error({ conflicts: m.conflicts }, 'the same pod from two sources');
    this.reportedConflicts = conflicts;
    this.lastPods = m.pods;
    this.apiserver?.setDesired(m.pods);
    this.pods.setDesired(this.cordoned ? [] : m.pods, this.merger.ready, this.cordoned ? [] : m.held);
    this.metrics.retainOnly(new Set(this.pods.list().map((v) => v.pod.metadata.uid)));
  }

  /**
   * Cordoned (`bosun drain`): the sources are still read, but no pod is desired, so every pod
   * is terminated like one whose manifest was deleted, and none starts until uncordoned.
   */
  setCordoned(on: boolean): void {
    this.cordoned = on;
    if (this.lastPods) this.pods.setDesired(on ? [] : this.lastPods, this.merger.ready);
  }

  /** SIGHUP (see lifecycle.ts): applies what can change live; the rest waits for a restart. */
  reload(next: AgentConfig): void {
    this.config.logLevel = next.logLevel; // applied to the logger by the caller
    if (next.fileCheckFrequencyMs !== this.config.fileCheckFrequencyMs) {
      this.config.fileCheckFrequencyMs = next.fileCheckFrequencyMs;
      this.source.stop();
      this.source = this.fileSource();
      this.source.start().catch((err: Error) => this.log.error({ err: err.stack }, 'manifest directory source failed to start; the periodic re-list retries'));
    }
    if (next.syncFrequencyMs !== this.config.syncFrequencyMs) {
      this.config.syncFrequencyMs = next.syncFrequencyMs;
      this.pods.setSyncPeriod(next.syncFrequencyMs);
    }
    if (next.httpCheckFrequencyMs !== this.config.httpCheckFrequencyMs) {
      this.config.httpCheckFrequencyMs = next.httpCheckFrequencyMs;
      if (this.http) {
        this.http.stop();
        this.http = this.httpSource();
        void this.http?.start();
      }
    }
  }

  static async create(config: AgentConfig, log: Logger, clock: Clock = systemClock): Promise<Agent> {
    const socketPath = config.containerRuntimeEndpoint.replace(/^unix:\/\//, '');
    // Said once, here: pods still start, Guaranteed ones and sandboxes with a score of 0.
    const docker = isDockerEndpoint(config.containerRuntimeEndpoint);
    const oom = docker ? await probeDockerOomScore(socketPath, config.pauseImage).catch(() => undefined) : undefined;
    if (oom && oom.minOomScoreAdj > -1000) {
      log.warn({ minOomScoreAdj: oom.minOomScoreAdj, engineError: oom.reason }, 'this host does not let the runtime lower oom_score_adj (no CAP_SYS_RESOURCE): negative scores (Guaranteed -997, pause -998) are raised to 0, below Burstable (>= 3) and BestEffort (1000)');
    }
    const runtime = await createRuntime(config.containerRuntimeEndpoint, {
      podCIDR: config.podCIDR,
      bridgeName: config.podBridge,
      pauseImage: config.pauseImage,
      ...(oom ? { minOomScoreAdj: oom.minOomScoreAdj } : {}),
    });
    try {
      const resources = await ResourceManager.create({ config, runtime, log, clock });
      return new Agent(config, runtime, log, clock, resources, docker ? 'docker' : 'containerd');
    } catch (err) {
      await runtime.close();
      throw err;
    }
  }

  async start(): Promise<void> {
    const v = await this.runtime.version();
    this.log.info({ node: this.config.nodeName, runtime: `${v.runtimeName} ${v.runtimeVersion}`, manifests: this.config.podManifestPath }, 'bosun starting');
    if (!isDockerEndpoint(this.config.containerRuntimeEndpoint) && Object.keys(this.config.registryMirrors).length > 0) {
      const r = await writeHostsFiles(this.config.containerdRegistryConfigPath, this.config.registryMirrors);
      if (r.written.length) this.log.info({ files: r.written }, 'registry mirrors written for containerd');
      if (r.foreign.length) this.log.warn({ files: r.foreign }, 'registry mirrors not applied: these hosts.toml files were not written by bosun and are left alone');
    }
    await this.importer.start();
    await this.health.start();
    // The cache is filled before the sources are read: the first sync sees what runs and
    // adopts it instead of starting it again.
    await this.pods.start();
    this.log.debug({}, 'pod cache filled');
    this.resources.start(this.pods);
    this.logs.start();
    await this.services.start();
    this.log.debug({}, 'service proxy started');
    await this.source.start();
    await this.http?.start();
    await this.apiserver?.start();
    if (this.config.readOnlyPort > 0) {
      this.server = await startReadOnlyServer({
        pods: () => this.pods.list(),
        events: () => this.events.list(),
        healthy: () => this.pods.healthy(),
        runtimeDown: () => this.runtimeDown(true),
        metrics: async (which) => {
          const r = which === 'all' ? this.metrics.registry : this.metrics.probeRegistry;
          return { contentType: r.contentType, body: await r.metrics() };
        },
      }, this.config.readOnlyPort, this.config.readOnlyAddress);
      this.log.info({ address: `${this.config.readOnlyAddress}:${this.config.readOnlyPort}` }, 'read-only API listening');
    }
    // The kubelet port (HTTPS, authenticated) and the healthz port.
    this.api = await startKubeletApi({
      config: this.config, log: this.log, runtime: this.runtime, pods: this.pods, events: this.events, hostIP: this.config.nodeIP ?? detectNodeIP(),
      cordoned: () => this.cordoned,
      runtimeDown: (detail) => this.runtimeDown(detail),
      ...(this.apiserver ? { reviews: this.apiserver.client } : {}),
      sourceFiles: () => this.source.files(),
      // With an API server, it owns the pods: kubectl writes there, not to this node's files.
      ...(this.config.kubeconfig ? {} : { writes: { rescan: () => this.source.scan() } }),
      metrics: async (which) => {
        const r = which === 'all' ? this.metrics.registry : this.metrics.probeRegistry;
        return { contentType: r.contentType, body: await r.metrics() };
      },
    });
  }

  async stop(): Promise<void> {
    this.source.stop();
    this.http?.stop();
    await this.apiserver?.stop();
    this.importer.stop();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    await this.api?.close();
    await this.resources.stop();
    await this.pods.stop();
    this.health.stop();
    await this.logs.stop();
    // The rules stay: Services keep working while the agent is down, as with kube-proxy.
    await this.services.stop();
    await this.runtime.close();
  }
}

function readResolvConf(path: string): { servers: string[]; searches: string[]; options: string[] } {
  try {
    return parseResolvConf(readFileSync(path, 'utf8'));
  } catch {
    return { servers: [], searches: [], options: [] };
  }
}
