// The runtimes the conformance suite runs against, and their cleanup. containerd is bosun's
// own CRI containerd (scripts/setup-host.sh --containerd). In CI (CI=true) a runtime that
// cannot be reached fails the suite instead of skipping it.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createContainerdRuntime, createDockerRuntime, CONTAINERD_DEFAULTS, type Runtime } from '../../cri/index.js';
import { LEFTOVER_MIN_AGE_MS, TEST_RUN_LABEL } from './docker-test-env.js';

export type RuntimeKind = 'docker' | 'containerd';
export const CONTAINERD_ENDPOINT = `unix://${CONTAINERD_DEFAULTS.socketPath}`;
export const CONTAINERD_POD_CIDR = /^10\.245\.\d+\.\d+$/;

const execFileP = promisify(execFile);

/**
 * Whether bosun's containerd answers; when it does not, runs setup-host.sh --containerd
 * once (idempotent) and asks again. In CI a containerd that still does not answer throws.
 */
export async function containerdAvailable(): Promise<boolean> {
  const probe = async () => {
    const rt = await createContainerdRuntime().catch(() => undefined);
    await rt?.close();
    return rt !== undefined;
  };
  if (await probe()) return true;
  let setupError = '';
  try {
    await execFileP('scripts/setup-host.sh', ['--quiet', '--containerd'], { timeout: 300_000 });
  } catch (err) {
    setupError = String((err as { stderr?: string }).stderr ?? err);
  }
  if (await probe()) return true;
  if (process.env.CI === 'true') throw new Error(`CI: bosun's containerd cannot be set up: ${setupError}`);
  console.warn(`containerd at ${CONTAINERD_ENDPOINT} unavailable: its tests are skipped (${setupError.trim()})`);
  return false;
}

export function createTestRuntime(kind: RuntimeKind): Promise<Runtime> {
  return kind === 'docker' ? createDockerRuntime({}) : createContainerdRuntime();
}

/** Fails, naming the image and what makes it, when a test image is not in the runtime. */
export async function requireImage(kind: RuntimeKind, ref: string, madeBy: string): Promise<void> {
  const rt = await createTestRuntime(kind);
  try {
    if (!(await rt.imageStatus(ref))) throw new Error(`test image ${ref} is not in ${kind}: ${madeBy}`);
  } finally {
    await rt.close();
  }
}

/**
 * Stops and removes the sandboxes (with their containers) of one run, or of every old enough
 * run when runId is undefined, through the runtime itself.
 */
export async function removeRuntimeTestResources(rt: Runtime, runId?: string): Promise<void> {
  const cutoff = Date.now() - LEFTOVER_MIN_AGE_MS;
  await removeWhere(rt, (labels, createdAt) =>
    runId === undefined ? labels[TEST_RUN_LABEL] !== undefined && createdAt < cutoff : labels[TEST_RUN_LABEL] === runId);
}

/**
 * Removes the containers and sandboxes of one test agent's node (bosun.io/node-name) through
 * the runtime. Stop the agent first: a running agent recreates what this removes.
 */
export function removeNodePods(rt: Runtime, nodeName: string): Promise<void> {
  return removeWhere(rt, (labels) => labels['bosun.io/node-name'] === nodeName);
}

async function removeWhere(rt: Runtime, mine: (labels: Record<string, string>, createdAt: number) => boolean): Promise<void> {
  for (const c of await rt.listContainers()) {
    if (mine(c.labels, c.createdAt)) await rt.removeContainer(c.id).catch(() => undefined);
  }
  for (const s of await rt.listPodSandboxes()) {
    if (!mine(s.labels, s.createdAt)) continue;
    await rt.stopPodSandbox(s.id).catch(() => undefined);
    await rt.removePodSandbox(s.id).catch(() => undefined);
  }
}
