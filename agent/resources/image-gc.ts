import type { ContainerStatus, ImageInfo, Runtime } from '../../cri/index.js';
import type { Clock } from '../../base/index.js';
import type { Logger } from '../log.js';

// Image garbage collection (pkg/kubelet/images/image_gc_manager.go): when the image
// filesystem is used past the high threshold, unused images go, least recently used first,
// until usage is down to the low threshold. Never an image a container uses (running or
// not: a dead container still needs its image for logs and restarts), never one a desired
// pod names, never the pause image nor one the runtime pins. As upstream, an image goes by
// its id, with all its names, and only when no name of it is in use; the runtime refuses the
// removal when a container outside bosun's view uses it. The plan is pure; ImageGC carries it out.

export interface ImageRecord {
  id: string;
  size: number;
  /** When the agent first saw the image. */
  firstDetected: number;
  /** When the agent last saw a container using it (firstDetected when never). */
  lastUsed: number;
}

export interface ImageGCPolicy {
  highThresholdPercent: number;
  lowThresholdPercent: number;
  /** imageMinimumGCAge: images seen for less than this are never collected. */
  minAgeMs: number;
}

export interface ImageGCPlan {
  usagePercent: number;
  /** Bytes to free to reach the low threshold; 0 when below the high one. */
  bytesToFree: number;
  /** Image ids to remove, in order. */
  remove: string[];
  /** What the removals add up to. */
  bytesFreed: number;
}

/**
 * GarbageCollect + freeSpace. usage = 100 - available*100/capacity (integer, as upstream);
 * at or above the high threshold, free capacity*(100-low)/100 - available bytes from the
 * images nobody uses, oldest lastUsed first (then oldest detection).
 */
export function planImageGC(images: readonly ImageRecord[], inUse: ReadonlySet<string>, fs: { capacity: number; available: number }, policy: ImageGCPolicy, now: number, freeAll = false): ImageGCPlan {
  const usagePercent = fs.capacity > 0 ? 100 - Math.trunc((fs.available * 100) / fs.capacity) : 0;
  let bytesToFree = 0;
  if (freeAll) bytesToFree = Number.MAX_SAFE_INTEGER;
  else if (policy.highThresholdPercent < 100 && usagePercent >= policy.highThresholdPercent) {
    bytesToFree = Math.max(0, Math.trunc((fs.capacity * (100 - policy.lowThresholdPercent)) / 100) - fs.available);
  }
  const plan: ImageGCPlan = { usagePercent, bytesToFree, remove: [], bytesFreed: 0 };
  if (bytesToFree <= 0) return plan;
  const candidates = images
    .filter((i) => !inUse.has(i.id) && now - i.firstDetected >= policy.minAgeMs)
    .sort((a, b) => a.lastUsed - b.lastUsed || a.firstDetected - b.firstDetected);
  for (const i of candidates) {
    if (plan.bytesFreed >= bytesToFree) break;
    plan.remove.push(i.id);
    plan.bytesFreed += i.size;
  }
  return plan;
}

/** The images in use: of every container the runtime holds, the images desired pods name, the pause image, the runtime's pinned ones. */
export function imagesInUse(images: readonly ImageInfo[], containers: readonly ContainerStatus[], pinnedRefs: readonly string[]): Set<string> {
  const used = new Set<string>(images.filter((i) => i.pinned).map((i) => i.id));
  const byRef = new Map<string, string>();
  for (const i of images) {
    byRef.set(i.id, i.id);
    for (const t of i.repoTags) byRef.set(t, i.id);
    for (const d of i.repoDigests) byRef.set(d, i.id);
  }
  const resolve = (ref: string) => byRef.get(ref) ?? byRef.get(ref.includes(':') || ref.includes('@') ? ref : `${ref}:latest`) ?? byRef.get(`docker.io/library/${ref}`);
  for (const c of containers) {
    const id = byRef.get(c.imageRef) ?? resolve(c.image);
    if (id) used.add(id);
  }
  for (const ref of pinnedRefs) {
    const id = resolve(ref);
    if (id) used.add(id);
  }
  return used;
}

export interface ImageGCOptions {
  runtime: Pick<Runtime, 'listImages' | 'listContainers' | 'removeImage' | 'imageFsInfo'>;
  policy: ImageGCPolicy;
  clock: Clock;
  log: Logger;
  /** Images that must stay whatever happens: the pause image and what desired pods name. */
  pinned(): string[];
}

/** The executor: remembers when each image was first seen and last used, and removes per plan. */
export class ImageGC {
  private readonly records = new Map<string, { firstDetected: number; lastUsed: number }>();

  constructor(private readonly o: ImageGCOptions) {}

  /** detectImages: refresh first-seen and last-used times. */
  private async detect(now: number): Promise<{ images: ImageInfo[]; inUse: Set<string> }> {
    const [images, containers] = await Promise.all([this.o.runtime.listImages(), this.o.runtime.listContainers()]);
    const inUse = imagesInUse(images, containers, this.o.pinned());
    const seen = new Set<string>();
    for (const i of images) {
      seen.add(i.id);
      const r = this.records.get(i.id) ?? { firstDetected: now, lastUsed: now };
      if (inUse.has(i.id)) r.lastUsed = now;
      this.records.set(i.id, r);
    }
    for (const id of this.records.keys()) if (!seen.has(id)) this.records.delete(id);
    return { images, inUse };
  }

  /** One collection; `freeAll` (disk pressure) frees every unused image whatever the thresholds. */
  async collect(freeAll = false): Promise<ImageGCPlan> {
    const now = this.o.clock.now();
    const { images, inUse } = await this.detect(now);
    const [fs] = await this.o.runtime.imageFsInfo();
    if (!fs) return { usagePercent: 0, bytesToFree: 0, remove: [], bytesFreed: 0 };
    const records: ImageRecord[] = images.map((i) => ({ id: i.id, size: i.size, ...this.records.get(i.id)! }));
    const policy = freeAll ? { ...this.o.policy, minAgeMs: 0 } : this.o.policy;
    const plan = planImageGC(records, inUse, { capacity: fs.capacityBytes, available: fs.availableBytes }, policy, now, freeAll);
    if (plan.bytesToFree > 0 && !freeAll) {
      this.o.log.info({ usagePercent: plan.usagePercent, high: this.o.policy.highThresholdPercent, low: this.o.policy.lowThresholdPercent, bytesToFree: plan.bytesToFree }, 'image filesystem usage is over the high threshold: removing unused images');
    }
    const removed: string[] = [];
    for (const id of plan.remove) {
      try {
        await this.o.runtime.removeImage(id);
        removed.push(id);
        this.records.delete(id);
        this.o.log.info({ image: id, size: images.find((i) => i.id === id)?.size }, 'removed unused image');
      } catch (err) {
        this.o.log.warn({ image: id, err: (err as Error).message }, 'image not removed');
      }
    }
    if (plan.bytesToFree > 0 && !freeAll && plan.bytesFreed < plan.bytesToFree) {
      this.o.log.warn({ bytesToFree: plan.bytesToFree, bytesFreed: plan.bytesFreed }, `Failed to garbage collect required amount of images. Attempted to free ${plan.bytesToFree} bytes, but only found ${plan.bytesFreed} bytes eligible to free.`);
    }
    return { ...plan, remove: removed };
  }
}
