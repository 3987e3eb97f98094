import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';

/**
 * The node's own address: the IPv4 address of the interface that holds the default route
 * (read from /proc, no packet sent), else the first non-internal address that is not on a
 * container bridge.
 */
export function detectNodeIP(): string {
  const ifaces = networkInterfaces();
  let routeIface: string | undefined;
  try {
    for (const line of readFileSync('/proc/net/route', 'utf8').split('\n').slice(1)) {
      const [iface, dest] = line.trim().split(/\s+/);
      if (dest === '00000000') {
        routeIface = iface;
        break;
      }
    }
  } catch {
    // not Linux or no /proc: fall through
  }
  const v4 = (name: string) => (ifaces[name] ?? []).find((a) => a.family === 'IPv4' && !a.internal)?.address;
  if (routeIface && v4(routeIface)) return v4(routeIface)!;
  for (const name of Object.keys(ifaces)) {
    if (/^(docker|bosun|br-|veth|cni|flannel|kube)/.test(name)) continue;
    const a = v4(name);
    if (a) return a;
  }
  return '127.0.0.1';
}
