// Reading manifest files: YAML (multi-document) or JSON, one object per document, with
// `kind: List` / `*List` documents expanded. Never throws: each bad document is an error
// of its own and the good documents of the same file are still returned.

import { LineCounter, parseAllDocuments, type Tags } from 'yaml';
import { ManifestError } from './errors.js';
import { MAX_DEPTH, MAX_DOCUMENTS, MAX_MANIFEST_BYTES, depthOf, tooDeepAt, findDuplicateJSONKey } from './limits.js';
import type { KubeObject } from './types.js';

export interface ParsedObject {
  object: KubeObject;
  /** The file path or URL the object came from. */
  source: string;
  /** The document's 0-based position in the file (empty documents count). */
  index: number;
  /** For an object expanded from a List: its position in `items`. */
  item?: number;
}

export interface ParseResult {
  objects: ParsedObject[];
  errors: ManifestError[];
}

// Kubernetes reads YAML with go-yaml v2, i.e. YAML 1.1: `0644` is octal (420) and
// `yes`/`on` are booleans. But like go-yaml (decoding into interface{}) it keeps
// timestamps as strings and has no base-60 numbers (`1:20` stays a string).
// go-yaml takes a plain scalar as a float only when Go's ParseFloat reads it, so `.`, `-.`
// or `.e3` stay strings (`searches: [.]`); the yaml library's 1.1 patterns would make them NaN.
const FLOAT = 'tag:yaml.org,2002:float';
const needsDigit = (re: RegExp): RegExp => new RegExp(re.source.replace(/^\^/, '^(?=[^eE]*[0-9])'), re.flags);
const kubeTags = (tags: Tags): Tags =>
  tags
    .filter((t) => typeof t === 'string'
      ? !['timestamp', 'intTime', 'floatTime'].includes(t)
      : !(t.tag === 'tag:yaml.org,2002:timestamp' || t.format === 'TIME'))
    .map((t) => typeof t !== 'string' && t.tag === FLOAT && t.test && !t.test.test('.nan')
      ? { ...t, test: needsDigit(t.test) }
      : t);

const isMapping = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'a sequence';
  if (v === null) return 'null';
  return `a ${typeof v}`;
}

export function parseManifests(text: string, source: string): ParseResult {
  const result: ParseResult = { objects: [], errors: [] };
  const fail = (index: number, detail: string, extra: Partial<ConstructorParameters<typeof ManifestError>[0]> = {}) =>
    result.errors.push(new ManifestError({ source, documentIndex: index, detail, ...extra }));

  const addObject = (v: unknown, index: number, at: string, item?: number) => {
    const prefix = item === undefined ? '' : `items[${item}].`;
    if (!isMapping(v)) {
      const detail = `must be a mapping with apiVersion and kind, not ${describe(v)}`;
      if (item === undefined) fail(index, `${at}: the document ${detail}`);
      else fail(index, `Invalid value: ${detail}`, { field: `items[${item}]` });
      return;
    }
    const meta = isMapping(v.metadata) ? v.metadata : {};
    const ctx = {
      kind: typeof v.kind === 'string' && v.kind ? v.kind : undefined,
      name: typeof meta.name === 'string' && meta.name ? meta.name : undefined,
    };
    let ok = true;
    for (const k of ['apiVersion', 'kind']) {
      if (v[k] === undefined || v[k] === null || v[k] === '') {
        fail(index, 'Required value', { ...ctx, field: prefix + k });
        ok = false;
      } else if (typeof v[k] !== 'string') {
        fail(index, `Invalid value: ${JSON.stringify(v[k])}: must be a string`, { ...ctx, field: prefix + k });
        ok = false;
      }
    }
    if (ok) result.objects.push({ object: v as KubeObject, source, index, ...(item === undefined ? {} : { item }) });
  };

  /** `at`: where the document starts (`line L, column C`), for errors about the whole of it. */
  const addDocument = (v: unknown, index: number, at: string) => {
    if (v === null || v === undefined) return; // an empty document
    if (isMapping(v) && typeof v.kind === 'string' && v.kind.endsWith('List')) {
      if (v.items === undefined || v.items === null) return;
      if (!Array.isArray(v.items)) {
        fail(index, `Invalid value: ${describe(v.items)}: must be an array`, { kind: v.kind, field: 'items' });
        return;
      }
      if (v.items.length > MAX_DOCUMENTS) {
        fail(index, `Too many: ${v.items.length}: must have at most ${MAX_DOCUMENTS} items`, { kind: v.kind, field: 'items' });
        return;
      }
      v.items.forEach((it, j) => addObject(it, index, at, j));
      return;
    }
    addObject(v, index, at);
  };

  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_MANIFEST_BYTES) {
    fail(0, `Too long: ${bytes} bytes: a manifest may have at most ${MAX_MANIFEST_BYTES} bytes`);
    return result;
  }

  // A byte-order mark is not JSON, and YAML skips it anyway.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);

  // JSON first when it looks like JSON, for its sharper error positions; YAML (a superset)
  // decides, as kubelet itself converts every manifest from YAML.
  let jsonError: string | undefined;
  if (/^\s*[{[]/.test(text) || source.endsWith('.json')) {
    // Checked before JSON.parse sees the text: the parse is fine, but every walk after it recurses.
    const deep = tooDeepAt(text, MAX_DEPTH);
    if (deep >= 0) {
      fail(0, `invalid JSON: ${position(text, deep)}: nesting deeper than ${MAX_DEPTH} levels`);
      return result;
    }
    let value: unknown;
    let parsed = false;
    try {
      value = JSON.parse(text);
      parsed = true;
    } catch (e) {
      jsonError = jsonErrorMessage(text, (e as Error).message);
    }
    if (parsed) {
      const dup = findDuplicateJSONKey(text);
      if (dup) {
        fail(0, `invalid JSON: line ${dup.line}, column ${dup.column}: duplicate key ${JSON.stringify(dup.key)}`);
        return result;
      }
      addDocument(value, 0, position(text, text.length - text.trimStart().length));
      return result;
    }
  }

  // YAML has no depth limit of its own and its parser's cost grows quickly with flow depth:
  // the bracket count first (it would also count 100 unclosed brackets inside a block
  // scalar, which no real manifest has), the exact depth of block nesting after.
  const deep = tooDeepAt(text, MAX_DEPTH);
  if (deep >= 0) {
    fail(0, jsonError ?? `yaml: ${position(text, deep)}: nesting deeper than ${MAX_DEPTH} levels`);
    return result;
  }
  const lineCounter = new LineCounter();
  let docs: ReturnType<typeof parseAllDocuments>;
  try {
    docs = parseAllDocuments(text, { version: '1.1', customTags: kubeTags, lineCounter, prettyErrors: false });
  } catch (e) {
    // The parser's own limits (or a stack it ran out of): one error for the whole text.
    fail(0, jsonError ?? `yaml: ${(e as Error).message}`);
    return result;
  }
  const all = Array.isArray(docs) ? docs : [docs];
  if (all.length > MAX_DOCUMENTS) {
    fail(MAX_DOCUMENTS, `yaml: ${position(text, all[MAX_DOCUMENTS]!.range?.[0] ?? 0)}: Too many: ${all.length} documents: a manifest may have at most ${MAX_DOCUMENTS}`);
    return result;
  }
  all.forEach((doc, index) => {
    const at = (pos: number) => {
      const { line, col } = lineCounter.linePos(pos);
      return `line ${line}, column ${col}`;
    };
    const err = doc.errors[0];
    if (err) {
      if (jsonError) return fail(index, jsonError);
      return fail(index, `yaml: ${at(err.pos[0])}: ${err.message}`);
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      return fail(index, `yaml: ${at(doc.range?.[0] ?? 0)}: ${(e as Error).message}`);
    }
    if (depthOf(value) > MAX_DEPTH) return fail(index, `yaml: ${at(doc.range?.[0] ?? 0)}: nesting deeper than ${MAX_DEPTH} levels`);
    addDocument(value, index, at(doc.range?.[0] ?? 0));
  });
  return result;
}

/** Node's JSON.parse messages give a byte position; people want a line and column. */
function jsonErrorMessage(text: string, message: string): string {
  const m = /at position (\d+)/.exec(message);
  const pos = m ? Number(m[1]) : /end of JSON input/.test(message) ? text.length : unexpectedTokenAt(text);
  // V8 quotes the text around the error (`Unexpected token 'x', "...": is not valid JSON`):
  // dropped, since the text may be a Secret's. The position says where to look.
  const bare = message
    .replace(/ at position \d+.*$/s, '')
    .replace(/ in JSON$/, '')
    .replace(/, ".*" is not valid JSON$/s, '')
    .replace(/^(Unexpected token) .*$/s, '$1')
    .replace(/ of JSON input$/, '');
  return `invalid JSON: ${position(text, pos)}: ${bare}`;
}

/** `line L, column C` of offset pos. */
function position(text: string, pos: number): string {
  const before = text.slice(0, pos);
  return `line ${before.split('\n').length}, column ${pos - before.lastIndexOf('\n')}`;
}

/**
 * Where JSON.parse found an unexpected token, which V8 does not say. A prefix of the text up
 * to that token fails only for running out of input; one that includes it fails otherwise:
 * a binary search over prefix lengths finds it in log2(n) parses, on the error path only.
 */
function unexpectedTokenAt(text: string): number {
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    let fine = true;
    try {
      JSON.parse(text.slice(0, mid + 1));
    } catch (e) {
      // Running out of input reads either way: "end of JSON input", or a position at the end.
      const msg = (e as Error).message;
      const at = /at position (\d+)/.exec(msg);
      fine = /end of JSON input/.test(msg) || (!!at && Number(at[1]) >= mid + 1);
    }
    if (fine) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
