// Reading manifest files: YAML (multi-document) or JSON, one object per document, with
// `kind: List` / `*List` documents expanded. Never throws: each bad document is an error
// of its own and the good documents of the same file are still returned.

import { LineCounter, parseAllDocuments, type Tags } from 'yaml';
import { ManifestError } from './errors.js';
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
const kubeTags = (tags: Tags): Tags =>
  tags.filter((t) => typeof t === 'string'
    ? !['timestamp', 'intTime', 'floatTime'].includes(t)
    : !(t.tag === 'tag:yaml.org,2002:timestamp' || t.format === 'TIME'));

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

  const addObject = (v: unknown, index: number, item?: number) => {
    const prefix = item === undefined ? '' : `items[${item}].`;
    if (!isMapping(v)) {
      fail(index, `${item === undefined ? 'document' : `items[${item}]`} must be a mapping with apiVersion and kind, not ${describe(v)}`);
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

  const addDocument = (v: unknown, index: number) => {
    if (v === null || v === undefined) return; // an empty document
    if (isMapping(v) && typeof v.kind === 'string' && v.kind.endsWith('List')) {
      if (v.items === undefined || v.items === null) return;
      if (!Array.isArray(v.items)) {
        fail(index, `Invalid value: ${describe(v.items)}: must be an array`, { kind: v.kind, field: 'items' });
        return;
      }
      v.items.forEach((it, j) => addObject(it, index, j));
      return;
    }
    addObject(v, index);
  };

  // JSON first when it looks like JSON, for its sharper error positions; YAML (a superset)
  // decides, as kubelet itself converts every manifest from YAML.
  let jsonError: string | undefined;
  if (/^\s*[{[]/.test(text) || source.endsWith('.json')) {
    try {
      addDocument(JSON.parse(text), 0);
      return result;
    } catch (e) {
      jsonError = jsonErrorMessage(text, (e as Error).message);
    }
  }

  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { version: '1.1', customTags: kubeTags, lineCounter, prettyErrors: false });
  Array.from(docs).forEach((doc, index) => {
    const err = doc.errors[0];
    if (err) {
      if (jsonError) return fail(index, jsonError);
      const { line, col } = lineCounter.linePos(err.pos[0]);
      return fail(index, `yaml: line ${line}, column ${col}: ${err.message}`);
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      return fail(index, `yaml: ${(e as Error).message}`);
    }
    addDocument(value, index);
  });
  return result;
}

/** Node's JSON.parse messages give a byte position; people want a line and column. */
function jsonErrorMessage(text: string, message: string): string {
  const m = /at position (\d+)/.exec(message);
  if (!m) return `invalid JSON: ${message}`;
  const pos = Number(m[1]);
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const col = pos - before.lastIndexOf('\n');
  return `invalid JSON: line ${line}, column ${col}: ${message.replace(/ in JSON at position \d+.*$/, '')}`;
}
