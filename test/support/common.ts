// What many tests share: the test image, sleeping, and waiting for a condition (prefer
// waiting for a condition over sleeping: the machine may be loaded).

/** The busybox image scripts/setup-host.sh builds from Debian's busybox-static. */
export const BUSYBOX = 'localhost/bosun/busybox:1';

/**
 * Upstream's agnhost (test/images/agnhost of the release in scripts/cluster/k8s/go.mod) as
 * scripts/setup-host.sh builds it from scripts/cluster/build-e2e.sh's binary: /agnhost on
 * that busybox, for its real servers (grpc-health-checking).
 */
export const AGNHOST = 'localhost/bosun/agnhost:1';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `fn` until it gives something other than undefined; fails naming `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 15_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** `x`, or a test failure naming `what` when it is missing (instead of a `!` that fails later, far away). */
export function must<T>(x: T | undefined | null, what: string): T {
  if (x === undefined || x === null) throw new Error(`expected ${what}, found ${x}`);
  return x;
}
