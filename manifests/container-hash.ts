// The hash recorded on each container that tells, after any restart of the agent, whether a
// running container still matches its spec (kubelet: kubecontainer.HashContainer, compared in
// kuberuntime's containerChanged).
//
// Why versioned and why so few inputs: a hash of the whole defaulted container changes when a
// new release adds a field or a default, and then every running container looks changed and is
// restarted by the upgrade (kubernetes#63814, and the reason upstream's HashContainer now
// hashes only name and image). Here each version names its inputs once and never changes them;
// a container records the version it was hashed with, and is compared with that version's
// inputs. A release that must hash something new adds a version and keeps the old ones, so
// containers made by earlier releases are still judged by their own rule.
//
// Why name and image are enough: a static pod's UID covers the whole manifest but for
// resources (manifests/static.ts), so any other edit is a new pod, not a changed container;
// an API pod's containers are immutable but for image and resources.

import { createHash } from 'node:crypto';
import { canonicalJSON, hashObject } from './hash.js';
import { milliValue } from './quantity.js';
import type { Container } from './types.js';

/** The version new containers are hashed with. */
export const CONTAINER_HASH_VERSION = 1;

/** `full`: what must be unchanged for a container to keep running where it cannot be resized; `withoutResources`: the same without what an in-place resize changes. */
export type ContainerHashPart = 'full' | 'withoutResources';

type Inputs = (c: Container, part: ContainerHashPart) => unknown;

// Released versions: never edit one, add the next.
const VERSIONS: ReadonlyMap<number, Inputs> = new Map([
  [1, (c: Container, part: ContainerHashPart) => ({
    name: c.name,
    image: c.image ?? '',
    ...(part === 'full' ? { resources: resourceValues(c), restartOnResize: restartOnResize(c) } : {}),
  })],
]);

const VERSIONED = /^v(\d{1,6})-([0-9a-f]{16})$/;
// What agents before the versioned hash recorded: 16 hex digits of sha256 over the whole container.
const LEGACY = /^[0-9a-f]{16}$/;

/** The value to record on a new container: `v<version>-<16 hex digits>`. */
export function containerSpecHash(c: Container, part: ContainerHashPart = 'full'): string {
  return hashWith(CONTAINER_HASH_VERSION, c, part)!;
}

/**
 * Whether a container that recorded `recorded` was made from a spec different from `c` in what
 * `recorded`'s version hashes. Nothing recorded, a version this agent does not know (recorded
 * by a newer agent before a downgrade) or a value it cannot read is not a change: never restart
 * a container on a hash it cannot judge.
 */
export function containerSpecChanged(recorded: string | undefined, c: Container, part: ContainerHashPart = 'full'): boolean {
  if (!recorded) return false;
  const m = VERSIONED.exec(recorded);
  if (m) {
    const want = hashWith(Number(m[1]), c, part);
    return want !== undefined && want !== recorded;
  }
  if (LEGACY.test(recorded)) return legacyHash(c, part) !== recorded;
  return false;
}

function hashWith(version: number, c: Container, part: ContainerHashPart): string | undefined {
  const inputs = VERSIONS.get(version);
  if (!inputs) return undefined;
  const hex = createHash('sha256').update(canonicalJSON(inputs(c, part))).digest('hex');
  return `v${version}-${hex.slice(0, 16)}`;
}

/**
 * The hash agents recorded before versions existed: the whole container, so it still
 * restarts such a container when a later release adds a default to a field the container
 * leaves unset. Kept only to judge containers those agents made.
 */
export function legacyHash(c: Container, part: ContainerHashPart): string {
  if (part === 'full') return hashObject(c).slice(0, 16);
  const { resources: _r, resizePolicy: _p, ...rest } = c;
  return hashObject(rest).slice(0, 16);
}

/** Requests and limits as numbers (thousandths), requests defaulted from limits as the API does: "0.1" and "100m" are one value. */
function resourceValues(c: Container): { limits: Record<string, number>; requests: Record<string, number> } {
  const values = (m: Record<string, string | number> | undefined): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(m ?? {})) {
      try {
        out[k] = milliValue(v);
      } catch {
        out[k] = Number.NaN; // validation refuses these; the hash must not throw
      }
    }
    return out;
  };
  const limits = values(c.resources?.limits);
  return { limits, requests: { ...limits, ...values(c.resources?.requests) } };
}

/** The resources whose resize restarts the container (the default, NotRequired, is left out, so defaulting it changes nothing). */
function restartOnResize(c: Container): string[] {
  return (c.resizePolicy ?? []).filter((p) => p.restartPolicy === 'RestartContainer').map((p) => p.resourceName).sort();
}
