import { join } from 'node:path';
import { hasLength } from '../../base/index.js';
import type { Pod, PodStatus } from '../../manifests/index.js';
import { findPodLogDir, followLogFile, logAttempts, readLogFile, Renderer, timestampNanos, type CriLine } from '../logs/index.js';
import { status, type Status } from './api.js';

// /containerLogs and pods/log, read from the CRI log files agent/logs writes (kubelet's
// ReadLogs): tail first, then sinceSeconds/sinceTime, limitBytes, timestamps, previous,
// follow (until the container's run ends or the client goes away).

export interface LogQuery {
  container?: string;
  tailLines?: number;
  sinceSeconds?: number;
  sinceTime?: string;
  timestamps: boolean;
  previous: boolean;
  follow: boolean;
  limitBytes?: number;
}

export function parseLogQuery(q: URLSearchParams): LogQuery | Status {
  const int = (name: string): number | undefined | Status => {
    const v = q.get(name);
    if (v === null || v === '') return undefined;
    const n = Number(v);
    if (!Number.isInteger(n)) return status(400, 'BadRequest', `invalid ${name}: ${JSON.stringify(v)}`);
    return n;
  };
  const flag = (name: string) => ['1', 'true', 'True'].includes(q.get(name) ?? '');
  const tail = int('tailLines');
  const since = int('sinceSeconds');
  const limit = int('limitBytes');
  for (const x of [tail, since, limit]) if (typeof x === 'object') return x;
  if (typeof since === 'number' && since < 1) return status(400, 'BadRequest', 'sinceSeconds must be greater than 0');
  if (typeof limit === 'number' && limit < 1) return status(400, 'BadRequest', 'limitBytes must be greater than 0');
  const sinceTime = q.get('sinceTime') ?? undefined;
  if (sinceTime && !Number.isFinite(Date.parse(sinceTime))) return status(400, 'BadRequest', `invalid sinceTime: ${JSON.stringify(sinceTime)}`);
  if (sinceTime && since !== undefined) return status(400, 'BadRequest', 'at most one of sinceTime or sinceSeconds may be specified');
  return {
    ...(q.get('container') ? { container: q.get('container')! } : {}),
    ...(typeof tail === 'number' && tail >= 0 ? { tailLines: tail } : {}),
    ...(typeof since === 'number' ? { sinceSeconds: since } : {}),
    ...(sinceTime ? { sinceTime } : {}),
    ...(typeof limit === 'number' ? { limitBytes: limit } : {}),
    timestamps: flag('timestamps'),
    previous: flag('previous'),
    follow: flag('follow'),
  };
}

/** Which container and which of its log files; a Status when there is none to read. */
export function pickLog(pod: Pod, st: PodStatus, q: LogQuery, podLogsDir: string): { path: string; container: string; attempt: number } | Status {
  const name = pod.metadata.name;
  const specNames = pod.spec.containers.map((c) => c.name);
  const all = [...(pod.spec.initContainers ?? []).map((c) => c.name), ...specNames];
  let container = q.container;
  if (!container) {
    const def = pod.metadata.annotations?.['kubectl.kubernetes.io/default-container'];
    if (def && all.includes(def)) container = def;
    else if (hasLength(specNames, 1)) container = specNames[0];
    else return status(400, 'BadRequest', `a container name must be specified for pod ${name}, choose one of: [${all.join(' ')}]`);
  }
  if (!all.includes(container) && !(pod.spec.ephemeralContainers ?? []).some((c) => c.name === container)) return status(400, 'BadRequest', `container ${container} is not valid for pod ${name}`);
  const dir = findPodLogDir(podLogsDir, pod.metadata.namespace, name, pod.metadata.uid);
  const attempts = dir ? logAttempts(join(dir, container)) : [];
  const cs = [...(st.initContainerStatuses ?? []), ...(st.containerStatuses ?? []), ...(st.ephemeralContainerStatuses ?? [])].find((s) => s.name === container);
  // As kubelet reads the status: the current run is the status's container (in a crash
  // back-off, the run that just ended), previous is lastState's run: the one before the
  // running one, or in a back-off that same last run.
  const current = cs && attempts.includes(cs.restartCount) ? cs.restartCount : attempts[0];
  let previous: number | undefined = attempts[1];
  if (cs) previous = !cs.lastState.terminated ? undefined : cs.state.running ? attempts.find((a) => a < cs.restartCount) : attempts[0];
  const attempt = q.previous ? previous : current;
  if (attempt === undefined || !dir) {
    if (q.previous) return status(400, 'BadRequest', `previous terminated container "${container}" in pod "${name}" not found`);
    return status(400, 'BadRequest', `container "${container}" in pod "${name}" is waiting to start: ${cs?.state.waiting?.reason ?? 'ContainerCreating'}`);
  }
  return { path: join(dir, container, `${attempt}.log`), container, attempt };
}

/**
 * Writes the log to `out`; with follow, keeps writing until `running()` says this run of
 * the container is over or the signal aborts.
 */
export async function streamLog(
  path: string,
  q: LogQuery,
  out: { write(b: Buffer): boolean; once(ev: 'drain', f: () => void): unknown },
  running: () => boolean,
  signal: AbortSignal,
  now = Date.now(),
): Promise<void> {
  const cutoffMs = q.sinceSeconds !== undefined ? now - q.sinceSeconds * 1000 : q.sinceTime ? Date.parse(q.sinceTime) : undefined;
  const cutoff = cutoffMs !== undefined ? BigInt(cutoffMs) * 1_000_000n : undefined;
  const renderer = new Renderer(q.timestamps);
  let budget = q.limitBytes ?? Infinity;
  const emit = async (lines: CriLine[]): Promise<boolean> => {
    const keep = cutoff === undefined ? lines : lines.filter((l) => timestampNanos(l.timestamp) >= cutoff);
    if (!keep.length) return true;
    let buf = renderer.render(keep);
    if (buf.length > budget) buf = buf.subarray(0, budget);
    budget -= buf.length;
    if (buf.length && !out.write(buf)) await new Promise<void>((r) => out.once('drain', r));
    return budget > 0;
  };
  let first: { lines: CriLine[]; end: number };
  try {
    first = readLogFile(path, q.tailLines);
  } catch {
    return;
  }
  if (!(await emit(first.lines)) || !q.follow || q.previous) return;
  const ac = new AbortController();
  const onAbort = () => ac.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    // Back-pressure: the follower reads no further until the client has taken these lines.
    await followLogFile(path, async (lines) => {
      if (!(await emit(lines))) ac.abort();
    }, { from: first.end, signal: ac.signal, idle: async () => !running() });
  } catch {
    // the file went away (pod removed): the log ends
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
