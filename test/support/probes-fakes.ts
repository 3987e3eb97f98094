// Fakes for driving the probe manager by hand: timers that only move when told to, and
// a prober whose answers the test scripts.

import type { Container, Pod } from '../../manifests/index.js';
import type { Timers } from '../../base/index.js';
import type { ExecRuntime, ProbeKind, ProbeResult, ProbeRunner } from '../../probes/index.js';

/** Lets promise chains started by fired timers run to completion. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}

export class FakeTimers implements Timers {
  private t: number;
  private seq = 0;
  private readonly queue = new Map<number, { at: number; fn: () => void }>();

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.queue.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.queue.delete(handle as number);
  }

  get pending(): number {
    return this.queue.size;
  }

  /** Moves time forward, firing due timers in order and settling promises after each. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await flush();
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.queue) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.queue.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
    await flush();
  }
}

export interface ProbeCall {
  kind: ProbeKind;
  container: string;
  containerId: string;
  at: number;
  timeoutMs: number;
}

type Answer = ProbeResult | Error | (() => Promise<ProbeResult>);

/** Answers each probe kind with what the test set last (Success by default). */
export class ScriptedProber {
  readonly calls: ProbeCall[] = [];
  private readonly answers = new Map<ProbeKind, Answer>();

  constructor(private readonly timers: FakeTimers) {}

  set(kind: ProbeKind, answer: Answer | 'Success' | 'Failure' | 'Warning'): void {
    this.answers.set(kind, typeof answer === 'string' ? { result: answer, output: `${kind} said ${answer}` } : answer);
  }

  count(kind: ProbeKind): number {
    return this.calls.filter((c) => c.kind === kind).length;
  }

  readonly run: ProbeRunner = (_probe, target, timeoutMs, kind) => {
    this.calls.push({ kind, container: target.container.name, containerId: target.containerId, at: this.timers.now(), timeoutMs });
    const a = this.answers.get(kind) ?? { result: 'Success', output: '' };
    if (a instanceof Error) return Promise.reject(a);
    if (typeof a === 'function') return a();
    return Promise.resolve(a);
  };
}

export function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

export function probedPod(containers: Container[], extra: { restartPolicy?: Pod['spec']['restartPolicy']; initContainers?: Container[] } = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'default', uid: 'uid-1' },
    spec: { containers, initContainers: extra.initContainers, restartPolicy: extra.restartPolicy ?? 'Always' },
  } as Pod;
}

/** A runtime whose execSync answers `r` (or throws it) and records each call's arguments. */
export function execRuntime(r: { stdout?: string; stderr?: string; exitCode?: number; timedOut?: boolean } | Error): ExecRuntime & { calls: unknown[][] } {
  const calls: unknown[][] = [];
  return {
    calls,
    execSync: async (...args: unknown[]) => {
      calls.push(args);
      if (r instanceof Error) throw r;
      return { stdout: Buffer.from(r.stdout ?? ''), stderr: Buffer.from(r.stderr ?? ''), exitCode: r.exitCode ?? 0, timedOut: r.timedOut ?? false };
    },
  };
}
