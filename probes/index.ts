// Public surface of probes/: probe and hook handlers and the probe manager.

export {
  HttpGetError, KUBE_VERSION, LIFECYCLE_USER_AGENT, MAX_OUTPUT_BYTES, PROBE_USER_AGENT, ProbeError, SleepInterruptedError,
  execProbe, formatPod, grpcProbe, httpGet, httpGetProbe, httpGetURL, resolvePort, runProbeHandler, sleepAction,
  tcpSocketProbe,
  type ExecRuntime, type GrpcProbeOptions, type HttpGetOptions, type HttpGetResponse, type ProbeOutcome, type ProbeResult,
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
