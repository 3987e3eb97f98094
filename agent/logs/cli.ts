import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Pod, PodList } from '../../manifests/index.js';
import { DEFAULTS, loadConfigFile } from '../config.js';
import { UserError } from '../user-error.js';
import { parseCommand, type Command } from '../settings/index.js';
import { followLogFile, readLogFile, Renderer } from './read.js';

// `bosun logs POD [-c C] [--previous] [--tail N] [--timestamps] [-f] [-n NS]`, read from the
// CRI log files: no running agent is needed. The agent's read-only API, when it answers,
// gives the pod's UID (several instances of a static pod may have left directories), the
// container order, and tells -f when the container has stopped.

export const LOGS_COMMAND: Command = {
  name: 'logs',
  usage: 'logs POD [-c CONTAINER] [-p] [--tail N] [--timestamps] [-f] [-n NAMESPACE]',
  summary: "Print a container's log, from the log files (no running agent is needed).",
  positionals: true,
  config: true,
  options: [
    { name: 'container', short: 'c', type: 'string', arg: 'NAME', help: 'The container (default: the only one, or the first).' },
    { name: 'previous', short: 'p', type: 'boolean', help: "The previous instance's log (after a restart)." },
    { name: 'tail', type: 'string', arg: 'N', help: 'The last N lines only (-1: all).' },
    { name: 'timestamps', type: 'boolean', help: 'Prefix each line with its RFC3339 timestamp.' },
    { name: 'follow', short: 'f', type: 'boolean', help: 'Keep printing what the container writes, until it stops.' },
    { name: 'namespace', short: 'n', type: 'string', arg: 'NAMESPACE', default: 'default', help: "The pod's namespace." },
    { name: 'server', type: 'string', arg: 'URL', default: 'http://127.0.0.1:10255', help: "The agent's read-only API (for the pod's UID and containers)." },
    { name: 'pod-logs-dir', type: 'string', arg: 'DIR', help: 'Where the log files are (default: podLogsDir of --config, else /var/log/pods).' },
  ],
};

export class LogsError extends UserError {}

async function apiPod(server: string, ns: string, name: string): Promise<Pod | null | undefined> {
  try {
    const res = await fetch(new URL('/pods', server), { signal: AbortSignal.timeout(2000) });
    if (!res.ok) return undefined;
    const list = (await res.json()) as PodList;
    return list.items.find((p) => p.metadata.namespace === ns && p.metadata.name === name) ?? null;
  } catch {
    return undefined; // no agent: the files alone
  }
}

function entries(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** The pod's log directory: by UID when known, else the newest `<ns>_<name>_*`. */
export function findPodLogDir(podLogsDir: string, ns: string, name: string, uid?: string): string | undefined {
  if (uid) {
    const d = join(podLogsDir, `${ns}_${name}_${uid}`);
    if (entries(d).length > 0 || statSafe(d)) return d;
  }
  const prefix = `${ns}_${name}_`;
  const dirs = entries(podLogsDir)
    .filter((d) => d.startsWith(prefix) && !d.slice(prefix.length).includes('_'))
    .map((d) => join(podLogsDir, d))
    .sort((a, b) => Number(statSafe(b)?.mtimeMs ?? 0) - Number(statSafe(a)?.mtimeMs ?? 0));
  return dirs[0];
}

function statSafe(p: string): ReturnType<typeof statSync> | undefined {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}

/** Restart counts that have a live log file, newest first. */
export function logAttempts(containerDir: string): number[] {
  return entries(containerDir)
    .map((f) => /^(\d+)\.log$/.exec(f)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number)
    .sort((a, b) => b - a);
}

export async function logsMain(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const parsed = parseCommand(LOGS_COMMAND, argv);
  const positionals = parsed.positionals;
  const values = parsed.values as { container?: string; previous?: boolean; tail?: string; timestamps?: boolean; follow?: boolean; namespace?: string; server?: string; config?: string; 'pod-logs-dir'?: string };
  const name = positionals[0];
  if (!name || positionals.length > 1) throw new LogsError('expected one pod name: bosun logs POD [-c CONTAINER] [flags]');
  const ns = values.namespace ?? 'default';
  let tail: number | undefined;
  if (values.tail !== undefined) {
    tail = Number(values.tail);
    if (!Number.isInteger(tail)) throw new LogsError(`invalid argument "${values.tail}" for "--tail" flag`);
    if (tail < 0) tail = undefined; // kubectl: -1 means all
  }
  const podLogsDir = values['pod-logs-dir'] ?? (values.config ? loadConfigFile(values.config).podLogsDir : undefined) ?? DEFAULTS.podLogsDir;

  const pod = await apiPod(values.server!, ns, name);
  const podDir = findPodLogDir(podLogsDir, ns, name, pod?.metadata.uid);
  if (pod === null || (!pod && !podDir)) {
    err.write(`Error from server (NotFound): pods "${name}" not found\n`);
    return 1;
  }

  let container = values.container;
  const specNames = pod ? [...pod.spec.containers.map((c) => c.name)] : [];
  const allNames = pod ? [...(pod.spec.initContainers ?? []).map((c) => c.name), ...specNames] : podDir ? entries(podDir).filter((e) => statSafe(join(podDir, e))?.isDirectory()) : [];
  if (!container) {
    if (pod) {
      container = specNames[0];
      if (specNames.length > 1) err.write(`Defaulted container "${container}" out of: ${specNames.join(', ')}\n`);
    } else if (allNames.length === 1) container = allNames[0];
    else {
      err.write(`error: a container name must be specified for pod ${name}, choose one of: [${allNames.join(' ')}]\n`);
      return 1;
    }
  } else if (pod && !allNames.includes(container)) {
    err.write(`error: container ${container} is not valid for pod ${name}\n`);
    return 1;
  }

  const cdir = podDir ? join(podDir, container!) : '';
  const attempts = podDir ? logAttempts(cdir) : [];
  const attempt = values.previous ? attempts[1] : attempts[0];
  if (attempt === undefined) {
    if (values.previous) err.write(`Error from server (BadRequest): previous terminated container "${container}" in pod "${name}" not found\n`);
    else {
      const st = [...(pod?.status?.initContainerStatuses ?? []), ...(pod?.status?.containerStatuses ?? [])].find((s) => s.name === container);
      const reason = st?.state.waiting?.reason ?? 'ContainerCreating';
      err.write(`Error from server (BadRequest): container "${container}" in pod "${name}" is waiting to start: ${reason}\n`);
    }
    return 1;
  }
  const path = join(cdir, `${attempt}.log`);
  const renderer = new Renderer(!!values.timestamps);
  const first = readLogFile(path, tail);
  out.write(renderer.render(first.lines));
  if (!values.follow || values.previous) return 0;

  const ac = new AbortController();
  const onSignal = () => ac.abort();
  process.once('SIGINT', onSignal);
  try {
    await followLogFile(path, (lines) => {
      out.write(renderer.render(lines));
    }, {
      from: first.end,
      signal: ac.signal,
      idle: async () => {
        // Follow while the agent says this run of the container is running.
        const now = await apiPod(values.server!, ns, name);
        if (now === undefined) return false;
        if (now === null) return true;
        const st = [...(now.status?.initContainerStatuses ?? []), ...(now.status?.containerStatuses ?? [])].find((s) => s.name === container);
        return !(st && st.restartCount === attempt && st.state.running);
      },
    });
  } finally {
    process.off('SIGINT', onSignal);
  }
  return 0;
}
