// Can this host's runc lower a container's oom_score_adj? Lowering below the parent's value
// needs CAP_SYS_RESOURCE; some VMs run the engine without it, and then runc fails the start
// of such a container with "can't get final child's PID from pipe: EOF", which names nothing.
// One probe container with the sandbox's score answers it for the engine's lifetime.

import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';

/** Label on the probe container, so an interrupted probe can be found and removed. */
export const OOM_PROBE_LABEL = 'io.bosun.oom-probe';

/** What the probe tries: the pause container's score, the lowest any container gets. */
const PROBE_SCORE = -998;

export interface OomProbeResult {
  /** The lowest oom_score_adj containers may be given: -1000 when lowering works, else 0. */
  minOomScoreAdj: number;
  /** Why lowering is not possible (the engine's error), when it is not. */
  reason?: string;
}

const cache = new Map<string, Promise<OomProbeResult>>();

/**
 * Creates and starts a probe container (the pause image, no network) with oom_score_adj
 * -998. Started: the host lets the runtime lower scores. Refused: scores below 0 are raised
 * to 0, which keeps Guaranteed pods below Burstable (>= 3) and BestEffort (1000). A probe
 * that cannot run at all (no image) assumes lowering works, as on any ordinary host.
 * Cached per engine socket.
 */
export function probeMinOomScoreAdj(docker: Docker, key: string, image: string): Promise<OomProbeResult> {
  let hit = cache.get(key);
  if (!hit) {
    hit = runProbe(docker, image);
    cache.set(key, hit);
  }
  return hit;
}

async function runProbe(docker: Docker, image: string): Promise<OomProbeResult> {
  try {
    await docker.getImage(image).inspect();
  } catch {
    return { minOomScoreAdj: -1000 };
  }
  for (const old of await docker.listContainers({ all: true, filters: { label: [OOM_PROBE_LABEL] } }).catch(() => [])) {
    await docker.getContainer(old.Id).remove({ force: true }).catch(() => undefined);
  }
  let container: Docker.Container | undefined;
  try {
    container = await docker.createContainer({
      name: `bosun-oom-probe-${randomBytes(4).toString('hex')}`,
      Image: image,
      Labels: { [OOM_PROBE_LABEL]: 'true' },
      HostConfig: { NetworkMode: 'none', OomScoreAdj: PROBE_SCORE },
    });
    await container.start();
    return { minOomScoreAdj: -1000 };
  } catch (err) {
    return { minOomScoreAdj: 0, reason: ((err as { json?: { message?: string } }).json?.message ?? (err as Error).message).trim() };
  } finally {
    await container?.remove({ force: true }).catch(() => undefined);
  }
}
