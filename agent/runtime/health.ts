import type { LabelFilter, RuntimeEvent, RuntimeService } from '../../cri/index.js';
import { RuntimeError } from '../../cri/index.js';
import type { Clock } from '../../base/index.js';
import type { Logger } from '../log.js';

// kubelet's runtimeState (pkg/kubelet/runtime.go) and updateRuntimeUp (kubelet.go), made
// event-driven: kubelet asks the runtime's Status every 5 s and calls it down 30 s after
// the last good answer; bosun learns it sooner, from the engine's own signals: its event
// stream ending (dockerd closes its API first when it gets SIGTERM, before it stops any
// container) and calls failing with Unavailable. While down, nothing is started or killed
// (kubelet's syncLoop skips pod synchronization on runtimeErrors); the engine is probed
// with a back-off, and it is up again only when it answers a version call and both lists
// and its event stream is open again: a socket that accepts connections while the engine
// is still restoring its containers is not an engine that is up.

/** kubelet's words, which the node's Ready condition carries while the engine is away. */
export const RUNTIME_DOWN = 'container runtime is down';

export interface RuntimeHealthOptions {
  runtime: Pick<RuntimeService, 'version' | 'listPodSandboxes' | 'listContainers' | 'subscribe'>;
  log: Logger;
  clock: Clock;
  /**
   * First probe after the engine went away, doubling to maxDelayMs (kubelet's sync loop backs
   * off from 100 ms to 5 s and checks the runtime every 5 s; 2 s here: a probe is one version
   * call and two lists, and pods wait for it after every engine restart).
   */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** A probe that takes longer than this failed: a hung engine is not an engine that is up. */
  probeTimeoutMs?: number;
  /** Only these objects' events (this node's: other agents share the engine). */
  eventFilter?: LabelFilter;
}

export interface RuntimeCondition {
  ready: boolean;
  /** Why not, in kubelet's words ("container runtime is down"); empty while ready. */
  message: string;
  /** The last error that said so (for /healthz and the logs); empty while ready. */
  detail: string;
  /** When the state last changed (ms since the epoch). */
  since: number;
}

/** The next probe delay: doubling from initial, capped (kubelet's syncLoop back-off). */
export function nextProbeDelay(previousMs: number | undefined, initialMs: number, maxMs: number): number {
  return previousMs === undefined ? initialMs : Math.min(maxMs, previousMs * 2);
}

export function isUnavailable(err: unknown): boolean {
  return err instanceof RuntimeError && err.code === 'Unavailable';
}

export class RuntimeHealth {
  private up = false;
  private since: number;
  private lastError = 'container runtime status check may not have completed yet';
  private unsubscribe?: () => void;
  private readonly eventListeners = new Set<(e: RuntimeEvent) => void>();
  private readonly upListeners = new Set<() => void>();
  private readonly changeListeners = new Set<(c: RuntimeCondition) => void>();
  private probing?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private wake?: () => void;
  private stopped = false;
  /** How many times the engine went away (a counter for the metrics). */
  downs = 0;
  private readonly initialDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly probeTimeoutMs: number;

  constructor(private readonly opts: RuntimeHealthOptions) {
    this.since = opts.clock.now();
    this.initialDelayMs = opts.initialDelayMs ?? 100;
    this.maxDelayMs = opts.maxDelayMs ?? 2_000;
    this.probeTimeoutMs = opts.probeTimeoutMs ?? 10_000;
  }

  /** Probes once and opens the event stream; resolves once the engine is up, or when the first probe failed (probing goes on). */
  async start(): Promise<void> {
    try {
      await this.probe();
      this.markUp();
    } catch (err) {
      this.markDown(err, 'first runtime status check');
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.wake?.();
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  ready(): boolean {
    return this.up;
  }

  condition(): RuntimeCondition {
    return { ready: this.up, message: this.up ? '' : RUNTIME_DOWN, detail: this.up ? '' : this.lastError, since: this.since };
  }

  /** Engine events (the pod cache's hint to relist sooner), from the one stream this module keeps open. */
  subscribe(onEvent: (e: RuntimeEvent) => void): () => void {
    this.eventListeners.add(onEvent);
    return () => this.eventListeners.delete(onEvent);
  }

  /** Called each time the engine is back (and once at start when it is up then). */
  onUp(listener: () => void): () => void {
    this.upListeners.add(listener);
    return () => this.upListeners.delete(listener);
  }

  onChange(listener: (c: RuntimeCondition) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /**
   * A runtime call failed. Returns true when the failure says the engine is away (the
   * caller need not log it: this module says it once); false for any other error.
   */
  failed(err: unknown, what: string): boolean {
    if (!isUnavailable(err)) return false;
    this.markDown(err, what);
    return true;
  }

  private markDown(err: unknown, what: string): void {
    if (this.stopped) return;
    this.lastError = `${what}: ${err instanceof Error ? err.message : String(err)}`;
    if (!this.up && this.probing) return;
    const wasUp = this.up;
    this.up = false;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (wasUp) {
      this.downs++;
      this.since = this.opts.clock.now();
      this.opts.log.warn({ err: this.lastError }, `${RUNTIME_DOWN}: pods are neither started nor stopped until it answers again`);
      this.emitChange();
    }
    this.probing = this.recover().finally(() => (this.probing = undefined));
  }

  private markUp(): void {
    const wasDown = !this.up;
    this.up = true;
    this.since = this.opts.clock.now();
    if (wasDown) {
      if (this.downs > 0) this.opts.log.info({ downFor: this.lastError }, 'container runtime is up again: relisting, then pods are synced as after an agent restart');
      this.emitChange();
      for (const l of this.upListeners) l();
    }
  }

  private emitChange(): void {
    const c = this.condition();
    for (const l of this.changeListeners) l(c);
  }

  private async recover(): Promise<void> {
    let delay: number | undefined;
    while (!this.stopped) {
      delay = nextProbeDelay(delay, this.initialDelayMs, this.maxDelayMs);
      await new Promise<void>((r) => {
        this.wake = r;
        this.timer = setTimeout(r, delay);
      });
      if (this.stopped) return;
      try {
        await this.probe();
        this.markUp();
        return;
      } catch (err) {
        this.lastError = `runtime status check: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
  }

  /**
   * kubelet's runtime status check, stricter: the engine answers a version call and both
   * lists, and its event stream opens. On success the stream stays open as the live one;
   * when it later ends, the engine is going away.
   */
  private async probe(): Promise<void> {
    const rt = this.opts.runtime;
    await withTimeout(Promise.all([rt.version(), rt.listPodSandboxes(), rt.listContainers()]), this.probeTimeoutMs, 'version and list');
    let unsubscribe: (() => void) | undefined;
    let live = false;
    await withTimeout(new Promise<void>((resolve, reject) => {
      unsubscribe = rt.subscribe(
        (e) => { for (const l of this.eventListeners) l(e); },
        (err) => {
          if (!live) return reject(err);
          // Only the stream that is the live one may call the engine down.
          if (this.unsubscribe === unsubscribe) this.markDown(new RuntimeError('Unavailable', err.message, { cause: err }), 'engine event stream');
        },
        () => resolve(),
        this.opts.eventFilter,
      );
    }), this.probeTimeoutMs, 'opening the event stream').catch((err: unknown) => {
      unsubscribe?.();
      throw err;
    });
    live = true;
    this.unsubscribe?.();
    this.unsubscribe = unsubscribe;
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new RuntimeError('Unavailable', `${what}: no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
