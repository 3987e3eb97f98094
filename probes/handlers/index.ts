import type { Container, Pod, ProbeHandler } from '../../manifests/index.js';
import { ProbeError, formatPod, kubeUserAgent, type KubeVersion, type ProbeResult } from './common.js';
import { execProbe, type ExecRuntime } from './exec.js';
import { grpcProbe } from './grpc.js';
import { httpGetProbe } from './http.js';
import { tcpSocketProbe } from './tcp.js';

export * from './common.js';
export { combinedOutput, execProbe, execTimedOutText, type ExecRuntime } from './exec.js';
export {
  HEALTH_CHECK_METHOD, SERVING_STATUS, decodeHealthCheckRequest, decodeHealthCheckResponse, encodeHealthCheckRequest,
  encodeHealthCheckResponse, grpcProbe, type GrpcProbeOptions,
} from './grpc.js';
export {
  HTTP_RESPONSE_TO_HTTPS, HttpGetError, httpGet, httpGetProbe, httpGetURL, judgeHttpResponse, probeHeaders, type HttpGetOptions,
  type HttpGetResponse,
} from './http.js';
export { SleepInterruptedError, sleepAction } from './sleep.js';
export { tcpSocketProbe, type TcpProbeOptions } from './tcp.js';

/** What a probe runs against. */
export interface ProbeTarget {
  pod: Pod;
  container: Container;
  containerId: string;
  podIP?: string;
}

/**
 * Runs whichever handler the probe has. Resolves with the verdict; rejects (ProbeError,
 * runtime errors) when the probe could not be run, which kubelet does not count as a result.
 */
export function runProbeHandler(
  handler: ProbeHandler,
  target: ProbeTarget,
  deps: { runtime: ExecRuntime; kubeVersion: KubeVersion },
  timeoutMs: number,
): Promise<ProbeResult> {
  const { container, podIP } = target;
  const userAgent = kubeUserAgent('probe', deps.kubeVersion);
  if (handler.exec) return execProbe(deps.runtime, target.containerId, handler.exec.command ?? [], timeoutMs);
  if (handler.httpGet) return httpGetProbe(handler.httpGet, { container, podIP, timeoutMs, userAgent });
  if (handler.tcpSocket) return tcpSocketProbe(handler.tcpSocket, { container, podIP, timeoutMs });
  if (handler.grpc) return grpcProbe(handler.grpc, { podIP, timeoutMs, userAgent });
  return Promise.reject(new ProbeError(`missing probe handler for ${formatPod(target.pod)}:${container.name}`));
}
