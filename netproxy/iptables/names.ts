// kube-proxy's chain names, so that `iptables-save | grep KUBE-SVC-...` and every tool
// and runbook written against kube-proxy keep working on a bosun node.

import { createHash } from 'node:crypto';

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** First 16 characters of base32(sha256(s)): 16 chars are 80 bits, i.e. the first 10 bytes. */
function hash16(s: string): string {
  const d = createHash('sha256').update(s).digest();
  let out = '';
  let bits = 0;
  let acc = 0;
  for (let i = 0; i < 10; i++) {
    acc = (acc << 8) | d[i]!;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += B32[(acc >>> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}

/** `servicePortName` is `ns/name:port`, `protocol` lower case. */
export const svcChain = (servicePortName: string, protocol: string) => `KUBE-SVC-${hash16(servicePortName + protocol)}`;
export const svlChain = (servicePortName: string, protocol: string) => `KUBE-SVL-${hash16(servicePortName + protocol)}`;
export const extChain = (servicePortName: string, protocol: string) => `KUBE-EXT-${hash16(servicePortName + protocol)}`;
export const fwChain = (servicePortName: string, protocol: string) => `KUBE-FW-${hash16(servicePortName + protocol)}`;
/** `endpoint` is `ip:port`. */
export const sepChain = (servicePortName: string, protocol: string, endpoint: string) =>
  `KUBE-SEP-${hash16(servicePortName + protocol + endpoint)}`;

const SERVICE_CHAIN_PREFIXES = ['KUBE-SVC-', 'KUBE-SVL-', 'KUBE-EXT-', 'KUBE-FW-', 'KUBE-SEP-'];

/** Per-service chains: the ones stale-chain removal may delete. */
export function isServiceChain(name: string): boolean {
  return SERVICE_CHAIN_PREFIXES.some((p) => name.startsWith(p));
}
