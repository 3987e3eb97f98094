// Small engine operations shared by sandboxes and containers.

import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import type { ContainerState } from '../runtime.js';
import { engineMessage, isNotFound, statusCode } from './errors.js';

/** Docker reports "never" as Go's zero time; CRI uses 0. */
export function dockerTime(s: string | undefined | null): number {
  if (!s) return 0;
  const ms = Date.parse(s);
  return Number.isFinite(ms) && ms > 0 ? ms : 0;
}

/** Docker's State.Status (also the list's State) to CRI's, as dockershim did. */
export function toContainerState(status: string | undefined): ContainerState {
  switch (status) {
    case 'created':
      return 'created';
    case 'running':
    case 'paused':
      return 'running';
    case 'exited':
      return 'exited';
    default:
      // restarting, removing, dead: nothing a caller can rely on.
      return 'unknown';
  }
}

/** Force removal; a container that is already gone (or going) is not an error. */
export async function forceRemove(docker: Docker, id: string): Promise<void> {
  try {
    await docker.getContainer(id).remove({ force: true, v: true });
  } catch (err) {
    if (isNotFound(err)) return;
    // 409 "removal of container ... is already in progress": someone else is doing it.
    if (statusCode(err) === 409 && /already in progress/i.test(engineMessage(err))) return;
    throw err;
  }
}

/**
 * CRI's StopContainer: idempotent, and when it returns the container is no longer running.
 * A zero timeout means SIGKILL without a stop signal first (docker stop -t 0 would still
 * send SIGTERM, which a process can act on).
 */
export async function stopWithTimeout(docker: Docker, id: string, timeoutSeconds: number): Promise<void> {
  const c = docker.getContainer(id);
  try {
    if (timeoutSeconds <= 0) {
      await c.kill({ signal: 'SIGKILL' });
      await c.wait({ condition: 'not-running' });
    } else {
      await c.stop({ t: Math.ceil(timeoutSeconds) });
    }
  } catch (err) {
    const sc = statusCode(err);
    // 404 gone, 304 already stopped, 409 "is not running" (kill on a stopped container).
    if (sc === 404 || sc === 304) return;
    if (sc === 409 && /is not running/i.test(engineMessage(err))) return;
    throw err;
  }
}

/**
 * Creates a container, coping with what a crashed or interrupted earlier attempt left:
 * a name conflict with a Created (never started) container is removed and retried; with
 * anything else the old container is kept (its status may still matter to the caller)
 * and the new one gets a suffixed name, as dockershim did. A create that fails after
 * the engine registered the container leaves a Created container behind: remove it.
 */
export async function createContainer(
  docker: Docker,
  opts: Docker.ContainerCreateOptions & { name: string },
): Promise<string> {
  try {
    return (await docker.createContainer(opts)).id;
  } catch (err) {
    if (statusCode(err) === 409 && /already in use/i.test(engineMessage(err))) {
      const old = await docker
        .getContainer(opts.name)
        .inspect()
        .catch(() => undefined);
      if (old?.State.Status === 'created') {
        await forceRemove(docker, old.Id);
        return (await docker.createContainer(opts)).id;
      }
      return (await docker.createContainer({ ...opts, name: `${opts.name}_${randomBytes(4).toString('hex')}` })).id;
    }
    await removeLeftoverByName(docker, opts.name);
    throw err;
  }
}

async function removeLeftoverByName(docker: Docker, name: string): Promise<void> {
  try {
    const left = await docker.getContainer(name).inspect();
    if (left.State.Status === 'created') await forceRemove(docker, left.Id);
  } catch {
    // Nothing left behind, or the engine is unreachable: the original error matters more.
  }
}

/** Starts a container; on failure removes it so no Created container lingers. */
export async function startOrRemove(docker: Docker, id: string): Promise<void> {
  try {
    await docker.getContainer(id).start();
  } catch (err) {
    // 304: already started (a retried call): that is success.
    if (statusCode(err) === 304) return;
    await forceRemove(docker, id).catch(() => undefined);
    throw err;
  }
}

/** Ids of the managed containers (not sandboxes) that belong to a sandbox. */
export async function containersOfSandbox(docker: Docker, sandboxId: string, labelKey: string): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${labelKey}=${sandboxId}`] } });
  return list.map((c) => c.Id);
}
