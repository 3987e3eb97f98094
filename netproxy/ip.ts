// IPv4 helpers. bosun's proxy is IPv4-only (as the pod network here is), so a 32-bit
// number is enough and avoids pulling in an address library.

export interface Cidr {
  /** Network address as an unsigned 32-bit number. */
  base: number;
  bits: number;
  text: string;
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export function parseIPv4(s: string): number | undefined {
  const parts = s.split('.');
  if (parts.length !== 4 || !parts.every((p) => OCTET.test(p))) return undefined;
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

export function isIPv4(s: string): boolean {
  return parseIPv4(s) !== undefined;
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function mask(bits: number): number {
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

/** Parses `a.b.c.d/n` (a bare address is a /32); host bits must be zero. */
export function parseCidr(s: string): Cidr | undefined {
  const [ip, len, ...rest] = s.split('/');
  if (rest.length > 0 || ip === undefined) return undefined;
  const addr = parseIPv4(ip);
  const bits = len === undefined ? 32 : /^\d{1,2}$/.test(len) ? Number(len) : NaN;
  if (addr === undefined || !(bits >= 0 && bits <= 32)) return undefined;
  if (((addr & mask(bits)) >>> 0) !== addr) return undefined;
  return { base: addr, bits, text: `${ip}/${bits}` };
}

export function cidrContains(c: Cidr, ip: string): boolean {
  const n = parseIPv4(ip);
  return n !== undefined && ((n & mask(c.bits)) >>> 0) === c.base;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const bits = Math.min(a.bits, b.bits);
  return ((a.base & mask(bits)) >>> 0) === ((b.base & mask(bits)) >>> 0);
}
