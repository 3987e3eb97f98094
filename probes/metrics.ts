// Probe metrics as plain in-memory data, shaped like kubelet's prober_probe_total and
// prober_probe_duration_seconds; the agent maps them onto its metrics registry.

export type ProbeTypeLabel = 'Liveness' | 'Readiness' | 'Startup';
export type ProbeResultLabel = 'successful' | 'failed' | 'unknown';

export interface ProbeSeriesLabels {
  probe_type: ProbeTypeLabel;
  container: string;
  pod: string;
  namespace: string;
  pod_uid: string;
}

export interface ProbeTotal {
  labels: ProbeSeriesLabels & { result: ProbeResultLabel };
  value: number;
}

export type DurationListener = (labels: ProbeSeriesLabels, seconds: number) => void;

function seriesKey(l: ProbeSeriesLabels): string {
  return [l.pod_uid, l.container, l.probe_type].join('\u0000');
}

export class ProbeMetrics {
  private readonly totals = new Map<string, Map<ProbeResultLabel, number>>();
  private readonly labels = new Map<string, ProbeSeriesLabels>();
  private readonly listeners = new Set<DurationListener>();

  count(labels: ProbeSeriesLabels, result: ProbeResultLabel): void {
    const key = seriesKey(labels);
    let byResult = this.totals.get(key);
    if (!byResult) {
      byResult = new Map();
      this.totals.set(key, byResult);
      this.labels.set(key, { ...labels });
    }
    byResult.set(result, (byResult.get(result) ?? 0) + 1);
  }

  observe(labels: ProbeSeriesLabels, seconds: number): void {
    for (const l of this.listeners) {
      try {
        l(labels, seconds);
      } catch {
        // A broken exporter must not stop probing.
      }
    }
  }

  /** prober_probe_total, one entry per label set. */
  probeTotal(): ProbeTotal[] {
    const out: ProbeTotal[] = [];
    for (const [key, byResult] of this.totals) {
      const labels = this.labels.get(key) as ProbeSeriesLabels;
      for (const [result, value] of byResult) out.push({ labels: { ...labels, result }, value });
    }
    return out;
  }

  /** Every probe's duration, for a histogram (prober_probe_duration_seconds). */
  onDuration(listener: DurationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Drops a worker's series when it stops, as kubelet does, so that gone pods do not linger. */
  forget(labels: ProbeSeriesLabels): void {
    const key = seriesKey(labels);
    this.totals.delete(key);
    this.labels.delete(key);
  }
}
