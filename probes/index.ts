// Public surface of probes/: probe and hook handlers and the probe manager.

export {
  HttpGetError, MAX_OUTPUT_BYTES, ProbeError, SleepInterruptedError,
  execProbe, formatPod, grpcProbe, httpGet, httpGetProbe, httpGetURL, kubeUserAgent, resolvePort, runProbeHandler, sleepAction,
  tcpSocketProbe,
  type ExecRuntime, type GrpcProbeOptions, type HttpGetOptions, type HttpGetResponse, type KubeVersion, type ProbeOutcome, type ProbeResult,
  type ProbeTarget, type TcpProbeOptions,
} from './handlers/index.js';
export { runHook, type HookDeps, type HookOptions, type HookResult, type HookTarget } from './hooks.js';
export {
  ProbeManager, probeParams,
  type KillRequest, type ProbeEvent, type ProbeKind, type ProbeManagerDeps, type ProbeRunner,
  type ProbeState, type RunningContainer,
} from './manager.js';
export {
  ProbeMetrics, type DurationListener, type ProbeResultLabel, type ProbeSeriesLabels, type ProbeTotal, type ProbeTypeLabel,
} from './metrics.js';
