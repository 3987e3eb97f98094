// Safety net for the Service CIDR: a cluster IP that has no rules (yet, or any more)
// must not follow the default route off the machine. Routing the whole Service CIDR to
// the local pod bridge keeps such packets here, where nothing answers them.

import { execaRunner, mustRun, type Runner } from './exec.js';
import { cidrsOverlap, parseCidr } from './ip.js';

export const DEFAULT_SERVICE_CIDR = '10.96.0.0/12';
export const DEFAULT_POD_CIDR = '10.244.0.0/16';
export const DEFAULT_BRIDGE = 'bosun0';

export interface RouteOptions {
  serviceCIDR?: string;
  podCIDR?: string;
  /** The pod bridge the Service CIDR is routed to. */
  bridge?: string;
  runner?: Runner;
}

/** One entry of `ip -j route`. */
export interface HostRoute {
  dst: string;
  dev?: string;
  gateway?: string;
  protocol?: string;
}

export class ServiceCidrError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServiceCidrError';
  }
}

const describe = (r: HostRoute) => [r.dst, r.gateway && `via ${r.gateway}`, r.dev && `dev ${r.dev}`].filter(Boolean).join(' ');

/**
 * Throws ServiceCidrError when the Service CIDR is malformed or overlaps the pod CIDR or
 * a host route other than the default route and our own route to the bridge.
 */
export function checkServiceCidr(serviceCIDR: string, podCIDR: string, routes: HostRoute[], bridge = DEFAULT_BRIDGE): void {
  const svc = parseCidr(serviceCIDR);
  if (!svc) throw new ServiceCidrError(`service CIDR ${JSON.stringify(serviceCIDR)} is not an IPv4 CIDR with zero host bits (e.g. 10.96.0.0/12)`);
  const pod = parseCidr(podCIDR);
  if (!pod) throw new ServiceCidrError(`pod CIDR ${JSON.stringify(podCIDR)} is not an IPv4 CIDR with zero host bits (e.g. 10.244.0.0/16)`);
  if (cidrsOverlap(svc, pod)) throw new ServiceCidrError(`service CIDR ${svc.text} overlaps the pod CIDR ${pod.text}: choose ranges that do not overlap`);
  for (const r of routes) {
    if (r.dst === 'default') continue;
    const dst = parseCidr(r.dst);
    if (!dst || dst.bits === 0) continue;
    if (dst.text === svc.text && r.dev === bridge) continue;
    if (cidrsOverlap(svc, dst)) {
      throw new ServiceCidrError(`service CIDR ${svc.text} overlaps the host route ${describe(r)}: cluster IPs would hide real hosts; choose another --service-cluster-ip-range`);
    }
  }
}

export async function hostRoutes(run: Runner = execaRunner): Promise<HostRoute[]> {
  const out = await mustRun(run, 'ip', ['-j', '-4', 'route', 'show']);
  const parsed: unknown = JSON.parse(out || '[]');
  return Array.isArray(parsed) ? (parsed as HostRoute[]) : [];
}

/** Checks the ranges against the host, then routes the Service CIDR to the pod bridge. */
export async function ensureServiceCidrRoute(opts: RouteOptions = {}): Promise<void> {
  const run = opts.runner ?? execaRunner;
  const cidr = opts.serviceCIDR ?? DEFAULT_SERVICE_CIDR;
  const bridge = opts.bridge ?? DEFAULT_BRIDGE;
  const link = await run('ip', ['-j', 'link', 'show', 'dev', bridge]);
  if (link.exitCode !== 0) {
    throw new ServiceCidrError(
      `pod bridge ${bridge} not found: create the pod network first (docker network create --subnet ${opts.podCIDR ?? DEFAULT_POD_CIDR} -o com.docker.network.bridge.name=${bridge} bosun)`,
    );
  }
  checkServiceCidr(cidr, opts.podCIDR ?? DEFAULT_POD_CIDR, await hostRoutes(run), bridge);
  await mustRun(run, 'ip', ['route', 'replace', parseCidr(cidr)!.text, 'dev', bridge]);
}

export async function removeServiceCidrRoute(opts: RouteOptions = {}): Promise<void> {
  const run = opts.runner ?? execaRunner;
  const cidr = parseCidr(opts.serviceCIDR ?? DEFAULT_SERVICE_CIDR);
  if (!cidr) return;
  const r = await run('ip', ['route', 'del', cidr.text, 'dev', opts.bridge ?? DEFAULT_BRIDGE]);
  // "No such process" / "Cannot find device": already gone.
  if (r.exitCode !== 0 && !/No such process|Cannot find device/.test(r.stderr)) {
    throw new Error(`ip route del ${cidr.text} failed: ${r.stderr.trim()}`);
  }
}
