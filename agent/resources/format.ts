// Quantities printed the way apimachinery's Quantity.String() prints what kubelet builds
// with resource.NewQuantity / NewMilliQuantity (canonical form). Pure.

const BINARY = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];

/** BinarySI: the largest power-of-1024 suffix that leaves an integer ("100Mi", "16393728Ki", "1234567"). */
export function formatBinarySI(n: number): string {
  const v = Math.trunc(n);
  if (v === 0) return '0';
  let k = 0;
  let m = v;
  while (k < BINARY.length - 1 && m % 1024 === 0) {
    m /= 1024;
    k++;
  }
  return `${m}${BINARY[k]}`;
}

/** DecimalSI millicores: "2", "1500m". */
export function formatMilli(milli: number): string {
  const v = Math.trunc(milli);
  return v % 1000 === 0 ? String(v / 1000) : `${v}m`;
}
