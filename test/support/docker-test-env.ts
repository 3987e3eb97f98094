// Shared helpers for tests that run against the real Docker engine. Everything a test
// creates carries TEST_RUN_LABEL so that an interrupted run's leftovers can be found and
// removed by the next run (/var/lib/docker survives between sessions).

import { randomBytes } from 'node:crypto';
import { access } from 'node:fs/promises';
import Docker from 'dockerode';
import type { ContainerConfig, PodSandboxConfig } from '../../cri/index.js';
import { BUSYBOX, sleep } from './common.js';

export const DOCKER_SOCKET = '/var/run/docker.sock';
export const TEST_RUN_LABEL = 'bosun.io/test-run';
export { BUSYBOX };
export const PAUSE = 'localhost/bosun/pause:3.10';
/** Networks and image repositories created by tests start with this. */
export const TEST_NAME_PREFIX = 'bosun-test-';

export function randomId(bytes = 4): string {
  return randomBytes(bytes).toString('hex');
}

/** Waits for the engine to answer: it may be restarting (setup scripts restart dockerd). */
export async function waitForDocker(docker: Docker, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      await access(DOCKER_SOCKET);
      await docker.ping();
      return;
    } catch (err) {
      last = err;
      await sleep(500);
    }
  }
  throw new Error(`Docker engine at ${DOCKER_SOCKET} did not answer within ${timeoutMs} ms: ${String(last)}`);
}

/**
 * Leftovers younger than this may belong to a test run that is still going on in
 * another vitest process (several engineers share this engine): they are left alone.
 */
export const LEFTOVER_MIN_AGE_MS = 5 * 60_000;

/**
 * Removes the containers of one test run, or of every run when runId is undefined
 * (leftovers of interrupted runs, if old enough), plus test networks and test image tags.
 */
export async function removeTestResources(docker: Docker, runId?: string): Promise<void> {
  const label = runId === undefined ? TEST_RUN_LABEL : `${TEST_RUN_LABEL}=${runId}`;
  const cutoffSeconds = (Date.now() - LEFTOVER_MIN_AGE_MS) / 1000;
  const containers = (await docker.listContainers({ all: true, filters: { label: [label] } })).filter(
    (c) => runId !== undefined || c.Created < cutoffSeconds,
  );
  await Promise.all(
    containers.map((c) =>
      docker
        .getContainer(c.Id)
        .remove({ force: true, v: true })
        .catch(() => undefined),
    ),
  );
  // By name: networks made by the runtime under test carry only the runtime's labels.
  const networks = await docker.listNetworks();
  for (const n of networks) {
    const old = runId !== undefined || Date.parse(n.Created ?? '') < cutoffSeconds * 1000;
    if (n.Name.startsWith(`${TEST_NAME_PREFIX}${runId ?? ''}`) && old) {
      await docker.getNetwork(n.Id).remove().catch(() => undefined);
    }
  }
  const images = await docker.listImages();
  for (const img of images) {
    for (const tag of img.RepoTags ?? []) {
      if (tag.startsWith(`localhost/${TEST_NAME_PREFIX}${runId ?? ''}`)) {
        await docker.getImage(tag).remove().catch(() => undefined);
      }
    }
  }
}

/** A sandbox config for a fresh pod with its own uid, labelled with the run id. */
export function testSandboxConfig(runId: string, overrides: Partial<PodSandboxConfig> = {}): PodSandboxConfig {
  const uid = `${runId}-${randomId()}`;
  const name = overrides.metadata?.name ?? `pod-${randomId(3)}`;
  return {
    metadata: { name, namespace: 'bosun-test', uid, attempt: 0 },
    hostname: name,
    labels: { [TEST_RUN_LABEL]: runId, app: 'cri-test' },
    annotations: {},
    portMappings: [],
    hostNetwork: false,
    hostPID: false,
    hostIPC: false,
    sharePid: false,
    ...overrides,
  };
}

export function testContainerConfig(
  runId: string,
  name: string,
  overrides: Partial<ContainerConfig> = {},
): ContainerConfig {
  return {
    metadata: { name, attempt: 0 },
    image: BUSYBOX,
    envs: [],
    mounts: [],
    labels: { [TEST_RUN_LABEL]: runId },
    annotations: {},
    ...overrides,
  };
}
