import { chmod, mkdir, open, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { failedToStart, type ContainerStatus as RuntimeContainer, type Mount } from '../../cri/index.js';
import type { Container, Pod } from '../../manifests/index.js';
import { lastLogText } from '../logs/read.js';
import { podDir } from '../volumes/plan.js';
import type { ObservedPod } from '../vocab/index.js';

// terminationMessagePath / terminationMessagePolicy as kubelet does them
// (kuberuntime_container.go makeMounts, getTerminationMessage, readLastStringFromContainerLogs):
// each container run gets a fresh host file bind-mounted at its terminationMessagePath; once
// the run has exited the file (at most its last 4096 bytes) is its terminated.message. With
// FallbackToLogsOnError, an empty file and a non-zero exit take the end of the log instead.

export const MAX_MESSAGE_BYTES = 4096;
export const DEFAULT_MESSAGE_PATH = '/dev/termination-log';

/** Creates the run's message file (mode 0666, any user may write it) and returns its mount. */
export async function terminationMessageMount(rootDir: string, pod: Pod, c: Container): Promise<Mount | undefined> {
  const path = c.terminationMessagePath ?? DEFAULT_MESSAGE_PATH;
  if (!path) return undefined;
  const dir = join(podDir(rootDir, pod.metadata.uid), 'containers', c.name);
  await mkdir(dir, { recursive: true, mode: 0o750 });
  const file = join(dir, randomBytes(4).toString('hex'));
  await writeFile(file, '', { mode: 0o666 });
  await chmod(file, 0o666); // whatever the umask
  return { containerPath: path, hostPath: file, readonly: false };
}

async function readLast(path: string, max: number): Promise<string> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const len = Math.min(size, max);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    return buf.toString('utf8');
  } finally {
    await fh.close();
  }
}

export interface ContainerLogs {
  /** Resolves once the container's output is in its log file (or after a short wait). */
  flush(c: RuntimeContainer): Promise<void>;
  /** The agent removed this container: its log files go with it (kubelet's removeContainerLog). */
  removed(c: RuntimeContainer): void;
}

/**
 * The message of an exited container run; undefined while it has none. Error text when the
 * file cannot be read, as kubelet reports it.
 */
export async function readTerminationMessage(c: RuntimeContainer, spec: Container | undefined, logs?: Pick<ContainerLogs, 'flush'>): Promise<string | undefined> {
  const path = spec?.terminationMessagePath ?? DEFAULT_MESSAGE_PATH;
  // A run that could not even start has no log to fall back to.
  const fallback = spec?.terminationMessagePolicy === 'FallbackToLogsOnError' && c.exitCode !== 0 && !failedToStart(c);
  // The run's output is in its log file before its end is reported (a CRI runtime closes the
  // log before it reports the exit): a client that reads the logs of a Succeeded pod gets all
  // of them (NodeConformance reads short-lived containers' output that way). Bounded wait.
  if (c.logPath && !failedToStart(c)) await logs?.flush(c);
  let message = '';
  const mount = path ? c.mounts?.find((m) => m.containerPath === path) : undefined;
  if (mount) {
    try {
      message = await readLast(mount.hostPath, MAX_MESSAGE_BYTES);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return `Error on reading termination log ${mount.hostPath}: ${(err as Error).message}`;
    }
  }
  if (message === '' && fallback && c.logPath) {
    try {
      message = lastLogText(c.logPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return `Error on reading termination message from logs: ${(err as Error).message}`;
    }
  }
  return message === '' ? undefined : message;
}

/**
 * Termination messages of a pod's exited containers, keyed by container id. Read once per
 * container run: an exited run's message never changes.
 */
export class TerminationMessages {
  private readonly byPod = new Map<string, Map<string, string | undefined>>();

  constructor(private readonly logs?: Pick<ContainerLogs, 'flush'>) {}

  async collect(pod: Pod, observed: ObservedPod): Promise<Map<string, string>> {
    const prev = this.byPod.get(pod.metadata.uid);
    const next = new Map<string, string | undefined>();
    const specs = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
    for (const c of observed.containers) {
      if (c.state !== 'exited') continue;
      if (prev?.has(c.id)) next.set(c.id, prev.get(c.id));
      else next.set(c.id, await readTerminationMessage(c, specs.find((s) => s.name === c.metadata.name), this.logs));
    }
    this.byPod.set(pod.metadata.uid, next);
    const out = new Map<string, string>();
    for (const [id, m] of next) if (m !== undefined) out.set(id, m);
    return out;
  }

  forget(uid: string): void {
    this.byPod.delete(uid);
  }
}
