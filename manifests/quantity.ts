// Resource quantities ("100m", "128Mi", "1e3"), as apimachinery's resource.Quantity.
// Values are kept as exact rationals internally so that milliValue("0.1") is 100, not 101.

/** The message upstream gives for a malformed quantity. */
export const QUANTITY_FORMAT_MESSAGE =
  "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

const QUANTITY = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$/;
const DECIMAL_SUFFIX: Record<string, number> = { n: -9, u: -6, m: -3, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_SUFFIX: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };

interface Rational { num: bigint; den: bigint }

function toRational(q: string | number): Rational | undefined {
  if (typeof q === 'number' && !Number.isFinite(q)) return undefined;
  const m = QUANTITY.exec(typeof q === 'number' ? String(q) : q);
  if (!m) return undefined;
  const [, sign, mantissa, suffix = ''] = m;
  const [int, frac = ''] = mantissa!.split('.');
  let num = BigInt((int || '0') + frac) * (sign === '-' ? -1n : 1n);
  let exp10 = -frac.length;
  let exp2 = 0;
  if (suffix in BINARY_SUFFIX) exp2 = BINARY_SUFFIX[suffix]!;
  else if (suffix in DECIMAL_SUFFIX) exp10 += DECIMAL_SUFFIX[suffix]!;
  else if (suffix) exp10 += Number(suffix.slice(1));
  let den = 1n;
  if (exp10 >= 0) num *= 10n ** BigInt(exp10);
  else den = 10n ** BigInt(-exp10);
  num *= 2n ** BigInt(exp2);
  return { num, den };
}

export function isValidQuantity(q: unknown): q is string | number {
  return (typeof q === 'string' || typeof q === 'number') && toRational(q) !== undefined;
}

function mustParse(q: string | number): Rational {
  const r = toRational(q);
  if (!r) throw new Error(`invalid quantity ${JSON.stringify(q)}: ${QUANTITY_FORMAT_MESSAGE}`);
  return r;
}

/** The value in base units (cores, bytes): "100m" -> 0.1, "128Mi" -> 134217728. Throws if malformed. */
export function parseQuantity(q: string | number): number {
  const { num, den } = mustParse(q);
  return Number(num) / Number(den);
}

/** The value in thousandths of the base unit, rounded up like upstream MilliValue: "100m" -> 100. */
export function milliValue(q: string | number): number {
  const { num, den } = mustParse(q);
  const scaled = num * 1000n;
  const floor = scaled / den; // truncates toward zero
  return Number(scaled % den !== 0n && scaled > 0n ? floor + 1n : floor);
}

/** Exact comparison: negative if a < b, 0 if equal, positive if a > b. Throws if malformed. */
export function compareQuantities(a: string | number, b: string | number): number {
  const x = mustParse(a);
  const y = mustParse(b);
  const d = x.num * y.den - y.num * x.den;
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}
