// Limits at the doors through which manifests come in (a file, a URL body, an API object).
// Every recursive helper of manifests/ (defaults, hashing, error values) relies on the depth
// bound checked here at parse time: past it, nothing below ever sees the document.

/** kubelet's file and URL sources read at most this much (pkg/kubelet/config maxConfigLength). */
export const MAX_MANIFEST_BYTES = 10 * 1024 * 1024;

/**
 * Nesting depth of one document. Go's encoding/json stops at 10,000; JavaScript's recursive
 * walks overflow the stack long before that, and the deepest real pod field (a node
 * affinity match expression) is under 15 levels down, so 100 leaves room for anything real.
 */
export const MAX_DEPTH = 100;

/** Documents (or List items) in one file or body. */
export const MAX_DOCUMENTS = 1000;

/** One error message, whatever the value or the path it quotes. */
export const MAX_ERROR_BYTES = 4096;

/** A value quoted inside an error: enough to recognise it. */
export const MAX_QUOTED_VALUE = 256;

/** Cuts s to at most max UTF-16 units (every unit is at most 3 bytes in UTF-8), saying how much was cut. */
export function truncate(s: string, max: number): string {
  if (s.length <= max) return s;
  const note = `... (${s.length - max} more characters)`;
  return s.slice(0, Math.max(0, max - note.length)) + note;
}

/** truncate() to a byte budget: messages are capped in bytes. */
export function capBytes(s: string, maxBytes = MAX_ERROR_BYTES): string {
  if (Buffer.byteLength(s) <= maxBytes) return s;
  return truncate(s, Math.floor(maxBytes / 3));
}

/** The nesting depth of a parsed value, without recursion; stops counting past limit. */
export function depthOf(value: unknown, limit = MAX_DEPTH): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    const here = d + 1;
    if (here > max) max = here;
    if (max > limit) return max;
    for (const x of Array.isArray(v) ? v : Object.values(v)) if (typeof x === 'object' && x !== null) stack.push([x, here]);
  }
  return max;
}

/**
 * The offset of the first `[`/`{` (outside double-quoted strings) that opens level limit+1,
 * or -1: a cheap guard run before a parser, whose cost grows with depth, sees the text. Exact
 * for JSON; in YAML it may over-count brackets inside block scalars or comments, so YAML
 * gets a wide margin and the exact depthOf() after parsing.
 */
export function tooDeepAt(text: string, limit: number): number {
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (quoted) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) quoted = false;
    } else if (c === 0x22) quoted = true;
    else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > limit) return i;
    } else if (c === 0x5d || c === 0x7d) depth = Math.max(0, depth - 1);
  }
  return -1;
}

export interface DuplicateKey {
  key: string;
  line: number;
  column: number;
}

/**
 * The first key repeated within one JSON object, with its position, or undefined. JSON.parse
 * keeps the last of two equal keys silently (`"privileged":false,"privileged":true` gives
 * true); the API server's strict decoding and our YAML reader reject them. Only run on text
 * that JSON.parse accepted, so the scanner can trust the grammar.
 */
export function findDuplicateJSONKey(text: string): DuplicateKey | undefined {
  // One entry per open container: a Set of keys for an object, undefined for an array.
  const stack: (Set<string> | undefined)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{') {
      stack.push(new Set());
      expectKey = true;
    } else if (c === '[') {
      stack.push(undefined);
      expectKey = false;
    } else if (c === '}' || c === ']') {
      stack.pop();
      expectKey = false;
    } else if (c === ',') {
      expectKey = stack[stack.length - 1] !== undefined;
    } else if (c === '"') {
      const start = i;
      for (i++; text[i] !== '"'; i++) if (text[i] === '\\') i++;
      if (!expectKey) continue;
      expectKey = false;
      const key = JSON.parse(text.slice(start, i + 1)) as string;
      const keys = stack[stack.length - 1]!;
      if (keys.has(key)) {
        const before = text.slice(0, start);
        return { key, line: before.split('\n').length, column: start - before.lastIndexOf('\n') };
      }
      keys.add(key);
    }
  }
  return undefined;
}
