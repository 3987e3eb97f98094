import type { ServiceError } from '@grpc/grpc-js';
import type { GRPCAction } from '../../manifests/index.js';
import { ProbeError, goQuote, joinHostPort, type ProbeResult } from './common.js';

type Grpc = typeof import('@grpc/grpc-js');
let grpcModule: Promise<Grpc> | undefined;
/** gRPC is loaded by the first gRPC probe: ~12 MiB resident that most agents never need. */
const loadGrpc = (): Promise<Grpc> => (grpcModule ??= import('@grpc/grpc-js'));

// grpc.health.v1 (grpc/grpc-proto health.proto) has two one-field messages; encoding them
// by hand spares a protobuf toolchain:
//   HealthCheckRequest  { string service = 1; }
//   HealthCheckResponse { ServingStatus status = 1; }

export const HEALTH_CHECK_METHOD = '/grpc.health.v1.Health/Check';

export const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;

function encodeVarint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

function readVarint(buf: Buffer, pos: number): [number, number] {
  let value = 0;
  let mult = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++] as number;
    value += (b & 0x7f) * mult;
    mult *= 128;
    if ((b & 0x80) === 0) return [value, pos];
  }
  throw new Error('varint too long');
}

export function encodeHealthCheckRequest(req: { service: string }): Buffer {
  if (req.service === '') return Buffer.alloc(0);
  const s = Buffer.from(req.service, 'utf8');
  return Buffer.concat([Buffer.from([0x0a, ...encodeVarint(s.length)]), s]);
}

export function decodeHealthCheckRequest(buf: Buffer): { service: string } {
  let service = '';
  forEachField(buf, (field, wire, value) => {
    if (field === 1 && wire === 2) service = (value as Buffer).toString('utf8');
  });
  return { service };
}

export function encodeHealthCheckResponse(res: { status: number }): Buffer {
  return res.status === 0 ? Buffer.alloc(0) : Buffer.from([0x08, ...encodeVarint(res.status)]);
}

export function decodeHealthCheckResponse(buf: Buffer): { status: number } {
  let status = 0;
  forEachField(buf, (field, wire, value) => {
    if (field === 1 && wire === 0) status = value as number;
  });
  return { status };
}

/** Walks a message's fields, skipping unknown ones by their wire type. */
function forEachField(buf: Buffer, visit: (field: number, wire: number, value: number | Buffer) => void): void {
  let pos = 0;
  while (pos < buf.length) {
    let key: number;
    [key, pos] = readVarint(buf, pos);
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) {
      let v: number;
      [v, pos] = readVarint(buf, pos);
      visit(field, wire, v);
    } else if (wire === 2) {
      let len: number;
      [len, pos] = readVarint(buf, pos);
      if (pos + len > buf.length) throw new Error('truncated field');
      visit(field, wire, buf.subarray(pos, pos + len));
      pos += len;
    } else if (wire === 1) {
      pos += 8;
    } else if (wire === 5) {
      pos += 4;
    } else {
      throw new Error(`unsupported wire type ${wire}`);
    }
  }
  if (pos > buf.length) throw new Error('truncated message');
}

/** Go's names for status codes (codes.Code.String()), as kubelet's messages show them. */
function goCodeName(grpcStatus: Grpc['status'], code: number): string {
  const name = grpcStatus[code];
  if (name === undefined) return `Code(${code})`;
  if (name === 'CANCELLED') return 'Canceled';
  return name
    .toLowerCase()
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}

function goDuration(ms: number): string {
  return ms >= 1000 ? `${ms / 1000}s` : `${ms}ms`;
}

export interface GrpcProbeOptions {
  podIP?: string;
  timeoutMs: number;
  /** kubelet's kube-probe/<major>.<minor> (kubeUserAgent); unset: grpc-js's own. */
  userAgent?: string;
}

/**
 * grpc.health.v1.Health/Check on the pod IP, as kubelet's prober (pkg/probe/grpc): one
 * deadline, the probe's timeout, covers the connection and the call. kubelet dials with
 * WithBlock, so a port that refuses or never answers is dialled again until the deadline and
 * reported as a connect timeout, never as an RPC error. Only SERVING is a Success; every
 * other answer and error is a Failure (the prober never reports an error), with kubelet's
 * messages. The service name is sent as given ("" asks for the server as a whole).
 */
export async function grpcProbe(action: GRPCAction, opts: GrpcProbeOptions): Promise<ProbeResult> {
  if (!opts.podIP) throw new ProbeError('pod has no IP address to probe');
  const addr = joinHostPort(opts.podIP, action.port);
  const { Client, Metadata, credentials, status: grpcStatus } = await loadGrpc();
  const deadline = Date.now() + opts.timeoutMs;
  const client = new Client(addr, credentials.createInsecure(), {
    // A private subchannel, so that close() really drops the connection: kubelet dials
    // afresh for every probe, and a shared pool would keep sockets around.
    'grpc.use_local_subchannel_pool': 1,
    ...(opts.userAgent ? { 'grpc.primary_user_agent': opts.userAgent } : {}),
    'grpc.enable_retries': 0,
  });
  try {
    const connected = await new Promise<boolean>((resolve) => client.waitForReady(deadline, (err) => resolve(!err)));
    if (!connected) {
      return { result: 'Failure', output: `timeout: failed to connect service ${goQuote(addr)} within ${goDuration(opts.timeoutMs)}: context deadline exceeded` };
    }
    const res = await new Promise<{ status: number }>((resolve, reject) => {
      client.makeUnaryRequest(
        HEALTH_CHECK_METHOD,
        encodeHealthCheckRequest,
        decodeHealthCheckResponse,
        { service: action.service ?? '' },
        new Metadata(),
        { deadline },
        (err, value) => (err || !value ? reject(err ?? new Error('empty response')) : resolve(value)),
      );
    });
    if (res.status !== 1) {
      const name = SERVING_STATUS[res.status] ?? String(res.status);
      return { result: 'Failure', output: `service unhealthy (responded with ${JSON.stringify(name)})` };
    }
    return { result: 'Success', output: 'service healthy' };
  } catch (err) {
    const e = err as Partial<ServiceError>;
    if (e.code === grpcStatus.UNIMPLEMENTED) {
      return {
        result: 'Failure',
        output: `error: this server does not implement the grpc health protocol (grpc.health.v1.Health): ${e.details ?? ''}`,
      };
    }
    if (e.code === grpcStatus.DEADLINE_EXCEEDED) {
      return { result: 'Failure', output: `timeout: health rpc did not complete within ${goDuration(opts.timeoutMs)}` };
    }
    const desc = typeof e.code === 'number' ? `rpc error: code = ${goCodeName(grpcStatus, e.code)} desc = ${e.details ?? ''}` : String(e.message ?? err);
    return { result: 'Failure', output: `error: health rpc probe failed: ${desc}` };
  } finally {
    client.close();
  }
}
