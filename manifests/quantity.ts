// Resource quantities ("100m", "128Mi", "1e3"), as apimachinery's resource.Quantity.
// Values are kept as exact integers of nano-units so that milliValue("0.1") is 100, not 101.

/** The message upstream gives for a malformed quantity. */
export const QUANTITY_FORMAT_MESSAGE =
  "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

const QUANTITY = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$/;
const DECIMAL_SUFFIX: Record<string, number> = { n: -9, u: -6, m: -3, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_SUFFIX: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };

// Upstream keeps a parsed quantity within int64 (resource.maxAllowed): larger magnitudes
// are capped, and non-zero values smaller than 1n round up to 1n. A quantity here is
// therefore an integer count of nano-units within +-(2^63-1) units, and no input, however
// large its exponent, costs more than a few small BigInt operations.
const NANO = 10n ** 9n;
const MAX_INT64 = 2n ** 63n - 1n;
const MAX_NANOS = MAX_INT64 * NANO;
/** Mantissa digits kept exactly; any further digit can only round the nano count up or be capped. */
const KEEP_DIGITS = 40;
/** Go parses the exponent of `e<n>` as an int32 (quantitySuffixer.interpret). */
const MAX_EXPONENT = 2 ** 31 - 1;

function toNanos(q: string | number): bigint | undefined {
  if (typeof q === 'number' && !Number.isFinite(q)) return undefined;
  const m = QUANTITY.exec(typeof q === 'number' ? String(q) : q);
  if (!m) return undefined;
  const [, sign, mantissa, suffix = ''] = m;
  const [int = '', frac = ''] = mantissa!.split('.');
  let exp10 = -frac.length;
  let exp2 = 0;
  if (suffix in BINARY_SUFFIX) exp2 = BINARY_SUFFIX[suffix]!;
  else if (suffix in DECIMAL_SUFFIX) exp10 += DECIMAL_SUFFIX[suffix]!;
  else if (suffix) {
    const e = Number(suffix.slice(1));
    if (!Number.isSafeInteger(e) || Math.abs(e) > MAX_EXPONENT) return undefined;
    exp10 += e;
  }
  let digits = (int + frac).replace(/^0+/, '');
  if (digits === '') return 0n;
  // Only the leading digits can matter: the rest is either capped away or a round-up.
  let inexact = false;
  if (digits.length > KEEP_DIGITS) {
    inexact = /[1-9]/.test(digits.slice(KEEP_DIGITS));
    exp10 += digits.length - KEEP_DIGITS;
    digits = digits.slice(0, KEEP_DIGITS);
  }
  // digits < 10^len, so the value < 10^(len + exp10) * 2^exp2, and 2^60 < 10^19.
  const magnitude = digits.length + exp10;
  let nanos: bigint;
  if (magnitude + (exp2 ? 19 : 0) > 19 + 20) nanos = MAX_NANOS; // 10^39 and more: far past int64
  else if (magnitude + 9 + 19 < 0) nanos = 1n; // under a nano, even times 2^60
  else {
    let num = BigInt(digits) * 2n ** BigInt(exp2);
    const shift = exp10 + 9;
    if (shift >= 0) num *= 10n ** BigInt(shift);
    else {
      const den = 10n ** BigInt(-shift);
      if (num % den !== 0n) inexact = true;
      num /= den;
    }
    nanos = inexact ? num + 1n : num;
    if (nanos > MAX_NANOS) nanos = MAX_NANOS;
  }
  return sign === '-' ? -nanos : nanos;
}

export function isValidQuantity(q: unknown): q is string | number {
  return (typeof q === 'string' || typeof q === 'number') && toNanos(q) !== undefined;
}

function mustParse(q: string | number): bigint {
  const r = toNanos(q);
  if (r === undefined) throw new Error(`invalid quantity ${JSON.stringify(typeof q === 'string' && q.length > 64 ? `${q.slice(0, 64)}...` : q)}: ${QUANTITY_FORMAT_MESSAGE}`);
  return r;
}

/** The value in base units (cores, bytes): "100m" -> 0.1, "128Mi" -> 134217728. Throws if malformed. */
export function parseQuantity(q: string | number): number {
  return Number(mustParse(q)) / 1e9;
}

/** The value in thousandths of the base unit, rounded up like upstream MilliValue: "100m" -> 100. */
export function milliValue(q: string | number): number {
  const n = mustParse(q);
  const floor = n / 1_000_000n; // truncates toward zero
  return Number(n % 1_000_000n !== 0n && n > 0n ? floor + 1n : floor);
}

/** Exact comparison: negative if a < b, 0 if equal, positive if a > b. Throws if malformed. */
export function compareQuantities(a: string | number, b: string | number): number {
  const d = mustParse(a) - mustParse(b);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}
