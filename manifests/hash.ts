import { createHash } from 'node:crypto';

/**
 * JSON with object keys sorted at every level and undefined fields dropped, so equal
 * content gives equal text whatever the key order or formatting of the source.
 */
export function canonicalJSON(value: unknown): string {
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return canonicalJSON((value as { toJSON: () => unknown }).toJSON());
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJSON(v))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJSON(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** sha256 (hex) of canonicalJSON(value): a content hash, e.g. of a container spec. */
export function hashObject(value: unknown): string {
  return createHash('sha256').update(canonicalJSON(value)).digest('hex');
}
