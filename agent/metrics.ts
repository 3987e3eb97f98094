import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ProbeMetrics } from '../probes/index.js';
import type { PodView } from './pods/manager.js';

// kubelet's metric names, as dashboards expect them (REFERENCE.md "Agent HTTP API").

export interface MetricSources {
  pods(): PodView[];
  probes: ProbeMetrics;
  /** The Service proxy (agent/services.ts), sampled on each scrape. */
  proxy?: {
    metrics(): { syncs: number; lastSyncDurationMs: number; lastSyncFull: boolean } | undefined;
    takeLatencySamples(): number[];
  };
  /** The container engine's health (agent/runtime/health.ts). */
  runtime?: { ready(): boolean; onChange(listener: (c: { ready: boolean }) => void): unknown };
}

/** kube-proxy's network programming buckets: 0.25 s steps, then 1 s, 5 s and 30 s steps up to 5 min. */
export function programmingBuckets(): number[] {
  const lin = (start: number, width: number, n: number) => Array.from({ length: n }, (_, i) => start + i * width);
  return [...lin(0.25, 0.25, 2), ...lin(1, 1, 59), ...lin(60, 5, 12), ...lin(120, 30, 7)];
}

/** kubelet's size labels of image_pull_duration_seconds (metrics.GetImageSizeBucket): each bucket's lower bound is exclusive. */
const IMAGE_SIZE_BUCKETS: [number, string][] = [
  [0, '0-10MB'], [10 * 2 ** 20, '10MB-100MB'], [100 * 2 ** 20, '100MB-500MB'], [500 * 2 ** 20, '500MB-1GB'],
  [2 ** 30, '1GB-5GB'], [5 * 2 ** 30, '5GB-10GB'], [10 * 2 ** 30, '10GB-20GB'], [20 * 2 ** 30, '20GB-30GB'],
  [30 * 2 ** 30, '30GB-40GB'], [40 * 2 ** 30, '40GB-60GB'], [60 * 2 ** 30, '60GB-100GB'], [100 * 2 ** 30, 'GT100GB'],
];

/** The image_size_in_bytes label for a pulled image ("N/A" when the engine gave no size). */
export function imageSizeBucket(bytes: number): string {
  if (!(bytes > 0)) return 'N/A';
  for (let i = IMAGE_SIZE_BUCKETS.length - 1; i >= 0; i--) if (bytes > IMAGE_SIZE_BUCKETS[i]![0]) return IMAGE_SIZE_BUCKETS[i]![1];
  return 'N/A';
}

export class AgentMetrics {
  readonly registry = new Registry();
  /** Only the prober's series: /metrics/probes. */
  readonly probeRegistry = new Registry();
  readonly podStart: Histogram;
  readonly podStartSLI: Histogram;
  readonly relist: Histogram;
  /** kubelet_pod_worker_duration_seconds{operation_type}: every pod worker step. */
  readonly podWorker: Histogram;
  /** kubelet_evictions{eviction_signal}: pods the eviction manager evicted. */
  readonly evictions: Counter;
  private readonly imagePullDuration: Histogram;
  private readonly seenRunning = new Set<string>();

  constructor(src: MetricSources) {
    collectDefaultMetrics({ register: this.registry });
    // Gauges named *_total fail `promtool check metrics`; each has an unsuffixed twin by type.
    for (const n of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(n);
    const buckets = [0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200, 1800, 2700, 3600];
    this.podStart = new Histogram({ name: 'kubelet_pod_start_duration_seconds', help: 'Duration in seconds from kubelet seeing a pod for the first time to the pod starting to run', buckets, registers: [this.registry] });
    this.podStartSLI = new Histogram({ name: 'kubelet_pod_start_sli_duration_seconds', help: 'Duration in seconds to start a pod, excluding time to pull images and run init containers, measured from pod creation timestamp to when all its containers are reported as started and observed via watch', buckets, registers: [this.registry] });
    this.relist = new Histogram({ name: 'kubelet_pleg_relist_duration_seconds', help: 'Duration in seconds for relisting pods in PLEG.', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry] });
    this.podWorker = new Histogram({ name: 'kubelet_pod_worker_duration_seconds', help: 'Duration in seconds to sync a single pod. Broken down by operation type: create, update, or sync', labelNames: ['operation_type'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry] });
    this.imagePullDuration = new Histogram({
      name: 'kubelet_image_pull_duration_seconds', help: 'Duration in seconds to pull an image.', labelNames: ['image_size_in_bytes'], registers: [this.registry],
      buckets: [1, 5, 10, 20, 30, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200, 1800, 2700, 3600],
    });
    this.evictions = new Counter({ name: 'kubelet_evictions', help: 'Cumulative number of pod evictions by eviction signal', labelNames: ['eviction_signal'], registers: [this.registry] });
    new Gauge({
      name: 'kubelet_running_pods', help: 'Number of pods that have a running pod sandbox', registers: [this.registry],
      collect() {
        this.set(src.pods().filter((v) => v.status.conditions?.some((c) => c.type === 'PodReadyToStartContainers' && c.status === 'True')).length);
      },
    });
    new Gauge({
      name: 'kubelet_running_containers', help: 'Number of containers currently running', labelNames: ['container_state'], registers: [this.registry],
      collect() {
        const counts = { running: 0, exited: 0, created: 0, unknown: 0 };
        for (const v of src.pods()) {
          for (const c of [...(v.status.initContainerStatuses ?? []), ...(v.status.containerStatuses ?? [])]) {
            if (c.state.running) counts.running++;
            else if (c.state.terminated) counts.exited++;
            else if (c.containerID) counts.created++;
          }
        }
        for (const [k, n] of Object.entries(counts)) this.set({ container_state: k }, n);
      },
    });
    const probeTotal = new Counter({
      name: 'prober_probe_total', help: 'Cumulative number of a liveness, readiness or startup probe for a container by result.',
      labelNames: ['probe_type', 'result', 'container', 'pod', 'namespace', 'pod_uid'], registers: [this.registry, this.probeRegistry],
      collect() {
        this.reset();
        for (const t of src.probes.probeTotal()) this.inc({ ...t.labels }, t.value);
      },
    });
    void probeTotal;
    const probeDuration = new Histogram({
      name: 'prober_probe_duration_seconds', help: 'Duration in seconds for a probe response.',
      labelNames: ['probe_type', 'container', 'pod', 'namespace'], registers: [this.registry, this.probeRegistry],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    });
    src.probes.onDuration((l, seconds) => probeDuration.observe({ probe_type: l.probe_type, container: l.container, pod: l.pod, namespace: l.namespace }, seconds));
    if (src.proxy) this.proxyMetrics(src.proxy);
    const rt = src.runtime;
    if (rt) {
      // bosun's own: kubelet shows the same only as the node's Ready condition.
      new Gauge({ name: 'bosun_container_runtime_ready', help: 'Whether the container runtime answers (1) or is down (0); pods are neither started nor stopped while it is down.', registers: [this.registry], collect() { this.set(rt.ready() ? 1 : 0); } });
      const downs = new Counter({ name: 'bosun_container_runtime_down_total', help: 'How many times the container runtime went away since the agent started.', registers: [this.registry] });
      rt.onChange((c) => { if (!c.ready) downs.inc(); });
    }
  }

  /**
   * kube-proxy's histograms, fed on scrape: each network programming latency the proxier
   * recorded since the last scrape, and the duration of its last sync when it synced since
   * (one sample per scrape that saw new syncs: the proxier keeps only its last duration).
   */
  private proxyMetrics(proxy: NonNullable<MetricSources['proxy']>): void {
    // kube-proxy exports all syncs, and full and partial ones apart (its sync model rests on
    // partial syncs: the full histogram should hold about one sample an hour).
    const seen = { all: 0, full: 0, partial: 0 };
    const buckets = Array.from({ length: 15 }, (_, i) => 0.001 * 2 ** i);
    const syncHistogram = (name: string, help: string, kind: 'all' | 'full' | 'partial') => new Histogram({
      name, help, registers: [this.registry], buckets,
      collect() {
        const m = proxy.metrics();
        if (!m || m.syncs <= seen[kind]) return;
        seen[kind] = m.syncs;
        if (kind === 'all' || (kind === 'full') === m.lastSyncFull) this.observe(m.lastSyncDurationMs / 1000);
      },
    });
    syncHistogram('kubeproxy_sync_proxy_rules_duration_seconds', 'SyncProxyRules latency in seconds', 'all');
    syncHistogram('kubeproxy_sync_full_proxy_rules_duration_seconds', 'SyncProxyRules latency in seconds for full resyncs', 'full');
    syncHistogram('kubeproxy_sync_partial_proxy_rules_duration_seconds', 'SyncProxyRules latency in seconds for partial resyncs', 'partial');
    new Histogram({
      name: 'kubeproxy_network_programming_duration_seconds', help: 'In Cluster Network Programming Latency in seconds', registers: [this.registry],
      buckets: programmingBuckets(),
      collect() {
        for (const ms of proxy.takeLatencySamples()) this.observe(ms / 1000);
      },
    });
  }

  /** Records a pod's start the first time it is seen Running (firstSeen: when the agent first saw it). */
  podRunning(uid: string, firstSeenMs: number, nowMs: number): void {
    if (this.seenRunning.has(uid)) return;
    this.seenRunning.add(uid);
    const s = Math.max(0, (nowMs - firstSeenMs) / 1000);
    this.podStart.observe(s);
    this.podStartSLI.observe(s);
  }

  /** A successful pull, its wait for the puller included (as kubelet observes it). */
  imagePulled(seconds: number, sizeBytes: number): void {
    this.imagePullDuration.observe({ image_size_in_bytes: imageSizeBucket(sizeBytes) }, seconds);
  }

  forget(uid: string): void {
    this.seenRunning.delete(uid);
  }

  /** Forgets every pod but these: the set of pods seen running only grows otherwise. */
  retainOnly(live: ReadonlySet<string>): void {
    for (const uid of this.seenRunning) if (!live.has(uid)) this.forget(uid);
  }

  /** How many pods the metrics remember (for tests). */
  get remembered(): number {
    return this.seenRunning.size;
  }
}
