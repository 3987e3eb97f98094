import type { Pod } from '../manifests/index.js';

// `bosun get pods` prints what `kubectl get pods` prints, column for column.

/**
 * kubectl's READY column: sidecars (init containers with restartPolicy Always) count in the
 * total, and as ready once started and ready, up to the first init container still holding
 * the pod; app containers count when running and ready.
 */
export function podReadyCount(p: Pod): string {
  const inits = p.spec.initContainers ?? [];
  const sidecar = (name: string) => inits.some((c) => c.name === name && c.restartPolicy === 'Always');
  const total = p.spec.containers.length + inits.filter((c) => c.restartPolicy === 'Always').length;
  let ready = 0;
  for (const c of p.status?.initContainerStatuses ?? []) {
    if (c.state.terminated && c.state.terminated.exitCode === 0) continue;
    if (sidecar(c.name) && c.started) {
      if (c.ready) ready++;
      continue;
    }
    break;
  }
  ready += (p.status?.containerStatuses ?? []).filter((s) => s.ready && s.state.running).length;
  return `${ready}/${total}`;
}

/** kubectl's STATUS column (printers/internalversion printPod, simplified faithfully). */
export function podStatusColumn(p: Pod): string {
  const s = p.status ?? {};
  let reason = s.reason ?? s.phase ?? 'Unknown';
  const inits = s.initContainerStatuses ?? [];
  let initializing = false;
  inits.forEach((c, i) => {
    if (initializing) return;
    const t = c.state.terminated;
    if (t && t.exitCode === 0) return;
    if (c.started && c.state.running) return; // a running sidecar does not hold the pod
    initializing = true;
    if (t) reason = t.reason ? `Init:${t.reason}` : t.signal ? `Init:Signal:${t.signal}` : `Init:ExitCode:${t.exitCode}`;
    else if (c.state.waiting?.reason && c.state.waiting.reason !== 'PodInitializing') reason = `Init:${c.state.waiting.reason}`;
    else reason = `Init:${i}/${inits.length}`;
  });
  if (!initializing) {
    let hasRunning = false;
    for (const c of [...(s.containerStatuses ?? [])].reverse()) {
      if (c.state.waiting?.reason) reason = c.state.waiting.reason;
      else if (c.state.terminated?.reason) reason = c.state.terminated.reason;
      else if (c.state.terminated) reason = c.state.terminated.signal ? `Signal:${c.state.terminated.signal}` : `ExitCode:${c.state.terminated.exitCode}`;
      else if (c.state.running && c.ready) hasRunning = true;
    }
    if (reason === 'Completed' && hasRunning) reason = s.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? 'Running' : 'NotReady';
  }
  if (p.metadata.deletionTimestamp) reason = 'Terminating';
  return reason;
}

export function restartsColumn(p: Pod, now: number): string {
  const all = [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])];
  const n = all.reduce((a, c) => a + c.restartCount, 0);
  let last = 0;
  for (const c of all) {
    const f = c.lastState.terminated?.finishedAt;
    if (f) last = Math.max(last, Date.parse(f));
  }
  return n > 0 && last ? `${n} (${age(now - last)} ago)` : String(n);
}

/** kubectl's duration format: 45s, 3m10s, 5h, 2d3h. */
export function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60 ? `${s % 60}s` : ''}`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return h < 8 && m % 60 ? `${h}h${m % 60}m` : `${h}h`;
  const d = Math.floor(h / 24);
  return d < 8 && h % 24 ? `${d}d${h % 24}h` : `${d}d`;
}

export function table(rows: string[][]): string {
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd((widths[i] ?? 0) + 3))).join('').trimEnd()).join('\n') + '\n';
}

export function podTable(pods: Pod[], wide: boolean, now = Date.now(), allNamespaces = true): string {
  const head = [...(allNamespaces ? ['NAMESPACE'] : []), 'NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', ...(wide ? ['IP', 'NODE'] : [])];
  const rows = pods.map((p) => [
    ...(allNamespaces ? [p.metadata.namespace] : []),
    p.metadata.name,
    podReadyCount(p),
    podStatusColumn(p),
    restartsColumn(p, now),
    p.status?.startTime ? age(now - Date.parse(p.status.startTime)) : '<unknown>',
    ...(wide ? [p.status?.podIP ?? '<none>', p.spec.nodeName ?? '<none>'] : []),
  ]);
  return table([head, ...rows]);
}
