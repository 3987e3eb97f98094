import { isIP, type Socket } from 'node:net';
import type { Container, IntOrString, Pod } from '../../manifests/index.js';

export type ProbeOutcome = 'Success' | 'Failure' | 'Warning';

export interface ProbeResult {
  result: ProbeOutcome;
  /** What kubelet would put after "Liveness probe failed: " in the event. */
  output: string;
}

/**
 * The probe could not be run at all (unknown port name, no pod IP, no handler). kubelet
 * throws such results away instead of counting them as failures.
 */
export class ProbeError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProbeError';
  }
}

/**
 * The release the agent answers as (major and minor, as kubelet's version.Get()). The agent
 * passes its own in: probes/ sits below agent/ and holds no version of its own.
 */
export interface KubeVersion {
  readonly major: string;
  readonly minor: string;
}

/** kubelet's User-Agent for probes ('probe') and lifecycle hooks ('lifecycle'): kube-<purpose>/<major>.<minor>. */
export function kubeUserAgent(purpose: 'probe' | 'lifecycle', v: KubeVersion): string {
  return `kube-${purpose}/${v.major}.${v.minor}`;
}

/** kubelet reads at most this much of a probe's output or response body. */
export const MAX_OUTPUT_BYTES = 10 * 1024;

/** Largest delay setTimeout accepts; longer ones fire after 1 ms. */
export const MAX_TIMER_MS = 0x7fffffff;

/** kubelet's format.Pod: `name_namespace(uid)`. */
export function formatPod(pod: Pick<Pod, 'metadata'>): string {
  return `${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})`;
}

/** Go's %q for the strings that show up in messages (close enough: JSON escaping). */
export function goQuote(s: string): string {
  return JSON.stringify(s);
}

export function joinHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** probe.ResolveContainerPort: a number, a container port's name, or a number in a string. */
export function resolvePort(port: IntOrString, container: Pick<Container, 'name' | 'ports'> | undefined): number {
  let n: number;
  if (typeof port === 'number') {
    n = port;
  } else {
    const named = container?.ports?.find((p) => p.name === port);
    if (named) n = named.containerPort;
    else if (/^\d+$/.test(port)) n = Number.parseInt(port, 10);
    else throw new ProbeError(`port ${port} not found in container ${goQuote(container?.name ?? '')}`);
  }
  if (!Number.isInteger(n) || n <= 0 || n >= 65536) throw new ProbeError(`invalid port number: ${n}`);
  return n;
}

const errnoText: Record<string, string> = {
  ECONNREFUSED: 'connect: connection refused',
  EHOSTUNREACH: 'connect: no route to host',
  ENETUNREACH: 'connect: network is unreachable',
  EADDRNOTAVAIL: 'connect: cannot assign requested address',
  ECONNRESET: 'read: connection reset by peer',
  EPIPE: 'write: broken pipe',
  ETIMEDOUT: 'i/o timeout',
};

/** A socket error worded like Go's net package, which is what users know from kubelet. */
export function dialErrorText(host: string, port: number, err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `dial tcp: lookup ${host}: no such host`;
  const text = (code && errnoText[code]) ?? (err instanceof Error ? err.message : String(err));
  return `dial tcp ${joinHostPort(host, port)}: ${text}`;
}

/**
 * Closes with RST (SO_LINGER 0) so that the probing side keeps no TIME_WAIT socket: at
 * hundreds of probes a second those would exhaust ephemeral ports and conntrack entries.
 */
export function hardClose(socket: Socket | undefined): void {
  if (!socket || socket.destroyed) return;
  socket.on('error', () => undefined);
  // Not connected yet: nothing to linger, and resetAndDestroy would wait for the connect.
  if (socket.connecting) {
    socket.destroy();
    return;
  }
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

/** A read or write error after the connection was made, worded like Go's net package. */
export function errnoMessage(err: NodeJS.ErrnoException): string {
  return (err.code && errnoText[err.code]) ?? err.message;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
