// postStart and preStop handlers with kubelet's semantics and messages
// (pkg/kubelet/lifecycle/handlers.go). The caller decides what a failure means: a failed
// postStart kills the container, a failed preStop is reported and termination goes on.

import type { Container, HTTPGetAction, LifecycleHandler, Pod } from '../manifests/index.js';
import {
  HttpGetError, MAX_TIMER_MS, combinedOutput, errorText, execTimedOutText, formatPod, goQuote, httpGet,
  httpGetURL, kubeUserAgent, sleepAction, type ExecRuntime, type KubeVersion,
} from './handlers/index.js';

export interface HookTarget {
  pod: Pod;
  container: Container;
  containerId: string;
  /** Dialled by httpGet hooks without a host. */
  podIP?: string;
}

export interface HookDeps {
  runtime: ExecRuntime;
  /** The agent's release: httpGet hooks send kube-lifecycle/<major>.<minor>. */
  kubeVersion: KubeVersion;
}

export interface HookOptions {
  /**
   * Bound on the hook (for preStop: what is left of the grace period). kubelet gives
   * postStart no bound; without one, exec and httpGet wait as long as they take.
   */
  timeoutMs?: number;
  /** Aborts sleep and httpGet hooks (an exec runs until timeoutMs: the engine cannot cancel it). */
  signal?: AbortSignal;
}

export interface HookResult {
  ok: boolean;
  /** kubelet's full message, e.g. `Exec lifecycle hook ([sh -c x]) for Container "c" in Pod "p_ns(uid)" failed - error: ...`. */
  message: string;
  /**
   * The bare error (`command 'sh -c x' exited with 1: ...`), for status text such as
   * `PostStartHookError: <error>`.
   */
  error?: string;
  /** A Warning event for the pod even though the hook ran (kubelet's LifecycleHTTPFallback). */
  warning?: { reason: string; message: string };
}

/** Go's %v of a []string. */
function goList(items: string[]): string {
  return `[${items.join(' ')}]`;
}

function describeHandler(h: LifecycleHandler): string {
  const kinds = Object.keys(h).filter((k) => (h as Record<string, unknown>)[k] !== undefined);
  if (h.tcpSocket) return 'tcpSocket is not supported as a lifecycle handler';
  return kinds.length === 0 ? 'no action set' : `unknown action ${kinds.join(', ')}`;
}

export async function runHook(
  handler: LifecycleHandler,
  target: HookTarget,
  deps: HookDeps,
  options: HookOptions = {},
): Promise<HookResult> {
  const { container, pod } = target;
  const where = `for Container ${goQuote(container.name)} in Pod ${goQuote(formatPod(pod))}`;

  if (handler.exec) {
    const cmd = handler.exec.command ?? [];
    let error: string | undefined;
    let output = '';
    try {
      const r = await deps.runtime.execSync(target.containerId, cmd, Math.min(options.timeoutMs ?? MAX_TIMER_MS, MAX_TIMER_MS));
      output = combinedOutput(r.stdout, r.stderr);
      if (r.timedOut) error = execTimedOutText(cmd);
      else if (r.exitCode !== 0) error = `command '${cmd.join(' ')}' exited with ${r.exitCode}: ${r.stderr.toString('utf8')}`;
    } catch (err) {
      error = errorText(err);
    }
    if (error === undefined) return { ok: true, message: '' };
    return {
      ok: false,
      error,
      message: `Exec lifecycle hook (${goList(cmd)}) ${where} failed - error: ${error}, message: ${goQuote(output)}`,
    };
  }

  if (handler.httpGet) {
    // As kubelet: any HTTP answer is success; only a request that fails is a failure. HTTPS
    // checks no certificate (kubelet's hook client skips verification).
    const action = handler.httpGet;
    const get = (a: HTTPGetAction) => httpGet(a, {
      container,
      podIP: target.podIP,
      timeoutMs: options.timeoutMs,
      userAgent: kubeUserAgent('lifecycle', deps.kubeVersion),
      signal: options.signal,
    });
    try {
      await get(action);
      return { ok: true, message: '' };
    } catch (err) {
      // kubelet's runHTTPHandler: an HTTPS hook that a plain HTTP server answered is sent
      // again over HTTP, without its Authorization header; the first error stands if that
      // fails too.
      if (err instanceof HttpGetError && err.httpResponseToHttps) {
        const plain = { ...action, scheme: 'HTTP' as const, httpHeaders: action.httpHeaders?.filter((h) => h.name.toLowerCase() !== 'authorization') };
        const ok = await get(plain).then(() => true, () => false);
        if (ok) {
          const host = httpGetURL(action, container, target.podIP).host;
          return { ok: true, message: '', warning: { reason: 'LifecycleHTTPFallback', message: `request to HTTPS lifecycle hook ${host} got HTTP response, retry with HTTP succeeded` } };
        }
      }
      const error = errorText(err);
      return { ok: false, error, message: `HTTP lifecycle hook (${action.path ?? ''}) ${where} failed - error: ${error}` };
    }
  }

  if (handler.sleep) {
    try {
      const signals = [options.signal, options.timeoutMs === undefined ? undefined : AbortSignal.timeout(options.timeoutMs)];
      await sleepAction(handler.sleep.seconds, AbortSignal.any(signals.filter((s): s is AbortSignal => s !== undefined)));
      return { ok: true, message: '' };
    } catch (err) {
      const error = errorText(err);
      return { ok: false, error, message: `Sleep lifecycle hook (${handler.sleep.seconds}) ${where} failed - error: ${error}` };
    }
  }

  // tcpSocket lands here as in kubelet: the API keeps the field for compatibility only,
  // and documents that such hooks fail at runtime.
  const error = `invalid handler: ${describeHandler(handler)}`;
  return { ok: false, error, message: `Cannot run handler: ${error}` };
}
