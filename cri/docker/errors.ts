import { RuntimeError, type RuntimeErrorCode } from '../runtime.js';

/** The parts of a dockerode error we rely on (it throws plain Errors with extra fields). */
interface EngineErrorFields {
  statusCode?: number;
  json?: unknown;
  reason?: string;
  code?: string;
}

export function statusCode(err: unknown): number | undefined {
  if (typeof err === 'object' && err !== null) {
    const sc = (err as EngineErrorFields).statusCode;
    return typeof sc === 'number' ? sc : undefined;
  }
  return undefined;
}

export function isNotFound(err: unknown): boolean {
  return statusCode(err) === 404;
}

/**
 * The engine's own words: dockerode's message is "(HTTP code 404) no such container -
 * No such container: abc"; the JSON body's message is what `docker` would print.
 */
export function engineMessage(err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    const json = (err as EngineErrorFields).json;
    if (typeof json === 'object' && json !== null && 'message' in json) {
      const m = (json as { message: unknown }).message;
      if (typeof m === 'string' && m.trim() !== '') return m.trim();
    }
    if (Buffer.isBuffer(json) || typeof json === 'string') {
      const s = json.toString().trim();
      try {
        const parsed: unknown = JSON.parse(s);
        if (typeof parsed === 'object' && parsed !== null && 'message' in parsed) {
          return String((parsed as { message: unknown }).message).trim();
        }
      } catch {
        // not JSON: fall through to the raw text
      }
      if (s !== '') return s;
    }
  }
  // Streaming endpoints (pull, load, events) carry no parsed body: the engine's text is
  // only in dockerode's message, after its "(HTTP code 500) server error - " prefix.
  if (err instanceof Error) return err.message.replace(/^\(HTTP code \d+\) [^-]*- /, '').trim();
  return String(err);
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'EACCES']);

/** True when the engine could not be reached at all (socket gone while dockerd restarts). */
export function isConnectionError(err: unknown): boolean {
  if (typeof err === 'object' && err !== null) {
    const code = (err as EngineErrorFields).code;
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
  }
  return false;
}

/**
 * Wraps an engine failure with the caller's context. An unreachable engine always
 * becomes 'Unavailable' whatever the operation, so callers can tell "the engine is
 * down, try later" from "this pod's config is wrong"; with no code, any other failure
 * is a plain Error (the interface gives codes only to errors callers must tell apart).
 */
export function wrapEngineError(code: RuntimeErrorCode | undefined, context: string, err: unknown): Error {
  if (err instanceof RuntimeError) return new RuntimeError(err.code, `${context}: ${err.message}`, { cause: err });
  const message = `${context}: ${engineMessage(err)}`;
  if (isConnectionError(err)) return new RuntimeError('Unavailable', message, { cause: err });
  return code === undefined ? new Error(message, { cause: err }) : new RuntimeError(code, message, { cause: err });
}
