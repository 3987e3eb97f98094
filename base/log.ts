/**
 * What code below the agent (probes, netproxy) logs with: pino's argument order, fields
 * first. The agent passes its pino logger (agent/log.ts), which fits.
 */
export interface LogSink {
  debug(fields: object, msg: string): void;
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
}

export const silentSink: LogSink = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
