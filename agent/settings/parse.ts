import { ConfigError } from '../config-error.js';

// The value parsers of the settings table. Each takes the raw value (a string from a flag,
// any YAML value from the config file) and `where` (the flag, or "<file>: <key>"), and
// throws a ConfigError that names both.

export type Parser<T> = (v: unknown, where: string) => T;

export const str: Parser<string> = (v) => String(v);

/** Go durations as KubeletConfiguration writes them ("20s", "1m30s", "500ms"); a bare number is seconds. In ms. */
export function duration(v: unknown, where: string): number {
  if (typeof v === 'number') return v * 1000;
  const s = String(v).trim();
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0;
  let consumed = '';
  for (let m = re.exec(s); m; m = re.exec(s)) {
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    consumed += m[0];
  }
  if (!s || consumed !== s) throw new ConfigError(`${where}: Invalid value: "${s}": a duration like "20s", "1m" or "500ms"`);
  return total;
}

/** ms as Go prints a time.Duration ("20s", "5m0s", "1h0m0s", "500ms"), which duration() reads back. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  if (h) return `${h}h${m}m${s}s`;
  if (m) return `${m}m${s}s`;
  return `${s}s`;
}

export function bool(v: unknown, where: string): boolean {
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === 'false') return v === 'true';
  throw new ConfigError(`${where}: Invalid value: ${JSON.stringify(v)}: must be true or false`);
}

export function int(min: number, max = Number.MAX_SAFE_INTEGER): Parser<number> {
  return (v, where) => {
    const n = Number(v);
    if (v === '' || v === null || typeof v === 'boolean' || !Number.isInteger(n) || n < min || n > max) {
      throw new ConfigError(`${where}: Invalid value: ${JSON.stringify(v)}: must be an integer from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ''}`);
    }
    return n;
  };
}

export function positiveInt(v: unknown, where: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`${where}: Invalid value: ${JSON.stringify(v)}: must be a positive integer`);
  return n;
}

export function port(v: unknown, where: string): number {
  const n = Number(v);
  if (v === '' || v === null || !Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(`${where}: Invalid value: ${JSON.stringify(v)}: must be a port number (0 disables)`);
  return n;
}

/** One of a fixed set of strings. */
export function oneOf<const T extends string>(values: readonly T[]): Parser<T> {
  return (v, where) => {
    if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T;
    throw new ConfigError(`${where}: Unsupported value: ${JSON.stringify(v)}: supported values: ${values.map((x) => `"${x}"`).join(', ')}`);
  };
}

export function httpURL(v: unknown, where: string): string {
  const s = String(v);
  let ok = false;
  try {
    const u = new URL(s);
    ok = u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    ok = false;
  }
  if (!ok) throw new ConfigError(`${where}: Invalid value: "${s}": an http:// or https:// URL`);
  return s;
}

/** A list in the file; "a,b" on the command line. */
export function list(v: unknown): string[] {
  return Array.isArray(v) ? v.map(String) : String(v).split(',').map((x) => x.trim()).filter(Boolean);
}

export function ipList(v: unknown, where: string): string[] {
  const ips = list(v);
  for (const ip of ips) if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip) && !ip.includes(':')) throw new ConfigError(`${where}: Invalid value: "${ip}": must be an IP address`);
  return ips;
}

/** A map in the file; "k=v,k2=v2" on the command line. */
export function stringMap(v: unknown, where: string): Record<string, string> {
  if (v === null || v === undefined) return {};
  if (typeof v === 'object' && !Array.isArray(v)) return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, String(x)]));
  if (typeof v !== 'string') throw new ConfigError(`${where}: Invalid value: expected a map`);
  const out: Record<string, string> = {};
  for (const kv of v.split(',').map((x) => x.trim()).filter(Boolean)) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new ConfigError(`${where}: Invalid value: "${kv}": expected key=value`);
    out[kv.slice(0, i).trim()] = kv.slice(i + 1).trim();
  }
  return out;
}

/** staticPodURLHeader: a map of header -> list of values, as in KubeletConfiguration. */
export function headerMap(v: unknown, where: string): Record<string, string> {
  if (v == null || typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(`${where}: Invalid value: expected a map of header name to values`);
  return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, Array.isArray(x) ? x.map(String).join(', ') : String(x)]));
}

/** kubelet's `--manifest-url-header 'a:hello,b:again'`. */
export function headerFlag(v: unknown, where: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of String(v).split(',')) {
    const i = pair.indexOf(':');
    if (i <= 0) throw new ConfigError(`${where}: Invalid value: "${pair}": expected key:value[,key:value]`);
    out[pair.slice(0, i).trim()] = pair.slice(i + 1).trim();
  }
  return out;
}

export type Taint = { key: string; value?: string; effect: string };

/** `key=value:Effect,key:Effect` on the command line, or a list of taints (config file). */
export function taints(v: unknown, where: string): Taint[] {
  if (Array.isArray(v)) {
    return v.map((t, i) => {
      const at = `${where}[${i}]`;
      if (!t || typeof t !== 'object' || Array.isArray(t)) throw new ConfigError(`${at}: Invalid value: ${JSON.stringify(t)}: expected a taint {key, value, effect}`);
      const { key, value, effect } = t as Record<string, unknown>;
      if (typeof key !== 'string' || key === '') throw new ConfigError(`${at}.key: Required value: a non-empty string`);
      if (value !== undefined && value !== null && typeof value !== 'string') throw new ConfigError(`${at}.value: Invalid value: ${JSON.stringify(value)}: must be a string`);
      if (effect !== 'NoSchedule' && effect !== 'PreferNoSchedule' && effect !== 'NoExecute') {
        throw new ConfigError(`${at}.effect: Unsupported value: ${JSON.stringify(effect ?? null)}: supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"`);
      }
      return { key, ...(typeof value === 'string' ? { value } : {}), effect };
    });
  }
  return String(v).split(',').map((t) => t.trim()).filter(Boolean).map((t) => {
    const [, key, value, effect] = /^([^=:]+)(?:=([^:]*))?:(NoSchedule|PreferNoSchedule|NoExecute)$/.exec(t) ?? [];
    if (key === undefined || effect === undefined) throw new ConfigError(`${where}: Invalid value: "${t}": expected key[=value]:NoSchedule|PreferNoSchedule|NoExecute`);
    return { key, ...(value !== undefined ? { value } : {}), effect };
  });
}
