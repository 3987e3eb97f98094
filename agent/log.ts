import { pino } from 'pino';
import type { DestinationStream, Logger as PinoLogger } from 'pino';

// Structured JSON lines with the keys DESIGN.md names (pod, podUID, container, probeType);
// `--log-format text` prints the same records as readable lines for a person at a terminal.
export type Logger = PinoLogger;

export function createLogger(opts: { format?: 'json' | 'text'; level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const level = opts.level ?? process.env.BOSUN_LOG_LEVEL ?? 'info';
  const dest = opts.destination ?? process.stderr;
  if (opts.format === 'text') {
    return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, { write: (line: string) => dest.write(textLine(line)) });
  }
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, dest as DestinationStream);
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

function textLine(json: string): string {
  const rec = JSON.parse(json) as Record<string, unknown>;
  const { time, level, msg, err, ...rest } = rec;
  const fields = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
  const error = err && typeof err === 'object' ? ` err="${(err as { message?: string }).message ?? ''}"` : '';
  return `${String(time)} ${LEVELS[level as number] ?? level} ${String(msg ?? '')}${fields ? ' ' + fields : ''}${error}\n`;
}

/** A logger that drops everything, for tests. */
export const silentLogger: Logger = pino({ level: 'silent' });
