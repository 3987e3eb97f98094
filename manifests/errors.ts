// Error shapes that read like the API server's, so that users can search for them.

import { MAX_ERROR_BYTES, MAX_QUOTED_VALUE, capBytes, truncate } from './limits.js';

export type FieldErrorType =
  | 'Required value'
  | 'Invalid value'
  | 'Unsupported value'
  | 'Duplicate value'
  | 'Not found'
  | 'Forbidden'
  | 'Unknown field'
  | 'Too long'
  | 'Too many';

/** One problem at one field path, as apimachinery's field.Error. */
export interface FieldError {
  /** Path like `spec.containers[0].image`; '' for an error about the whole object. */
  field: string;
  type: FieldErrorType;
  detail?: string;
  value?: unknown;
}

/** A bad value as the message quotes it: cut short, since the value is the attacker's. */
function formatValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(truncate(v, MAX_QUOTED_VALUE));
  if (v === undefined) return 'null';
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  // Objects: their depth was bounded at parse time, so stringifying is safe; their size was not.
  return truncate(JSON.stringify(v) ?? 'null', MAX_QUOTED_VALUE);
}

/** The part after `field: `, as upstream's ErrorBody(). */
export function formatFieldErrorBody(e: FieldError): string {
  if (e.type === 'Unknown field') return `unknown field ${JSON.stringify(e.field)}`;
  // Upstream omits the bad value for these types.
  const omitValue = e.type === 'Required value' || e.type === 'Forbidden' || e.type === 'Too long' || !('value' in e);
  let s = omitValue ? e.type : `${e.type}: ${formatValue(e.value)}`;
  if (e.detail) s += `: ${e.detail}`;
  return s;
}

/** `spec.containers[0].image: Required value`, `unknown field "spec.nodeSelceter"`. */
export function formatFieldError(e: FieldError): string {
  if (e.type === 'Unknown field') return formatFieldErrorBody(e);
  if (e.field === '') return e.detail ?? e.type;
  return `${e.field}: ${formatFieldErrorBody(e)}`;
}

export interface ManifestErrorInit {
  source: string;
  documentIndex?: number;
  kind?: string;
  name?: string;
  field?: string;
  detail: string;
  /** Set when the error came from validation; the message is then formatted from it. */
  fieldError?: FieldError;
}

/**
 * A problem with one document of a manifest file or URL. The message names the source,
 * the object (or the 1-based document number when the object has no name) and the field:
 * `/etc/kubernetes/manifests/web.yaml: Pod "web": spec.containers[0].image: Required value`.
 */
export class ManifestError extends Error {
  readonly source: string;
  readonly documentIndex?: number;
  readonly kind?: string;
  /** The object's metadata.name. (`name` is taken by Error: it stays 'ManifestError'.) */
  readonly objectName?: string;
  readonly field?: string;
  readonly detail: string;
  readonly fieldError?: FieldError;

  constructor(init: ManifestErrorInit) {
    // A Secret's values are never quoted, whatever is wrong with them.
    if (init.kind === 'Secret' && init.fieldError && 'value' in init.fieldError) {
      const { value: _omitted, ...rest } = init.fieldError;
      init = { ...init, fieldError: rest, detail: formatFieldErrorBody(rest) };
    }
    // A kind is shown only when it reads like one: the value as written may be anything.
    if (init.kind !== undefined && !/^[A-Z][A-Za-z0-9]{0,62}$/.test(init.kind)) init = { ...init, kind: undefined };
    const parts: string[] = [init.source];
    if (init.kind && init.name) parts.push(`${init.kind} ${JSON.stringify(truncate(init.name, MAX_QUOTED_VALUE))}`);
    else {
      if (init.kind) parts.push(init.kind);
      if (init.documentIndex !== undefined) parts.push(`document ${init.documentIndex + 1}`);
    }
    if (init.fieldError) parts.push(formatFieldError(init.fieldError));
    else parts.push(init.field ? `${init.field}: ${init.detail}` : init.detail);
    super(capBytes(parts.join(': '), MAX_ERROR_BYTES));
    this.name = 'ManifestError';
    this.source = init.source;
    this.documentIndex = init.documentIndex;
    this.kind = init.kind;
    this.objectName = init.name;
    this.field = init.field;
    this.detail = init.detail;
    this.fieldError = init.fieldError;
  }
}
