// Public surface of netproxy/: the kube-proxy role. Model (Services, EndpointSlices,
// NodePort allocation, the local endpoints controller), the iptables and IPVS planners,
// the iptables executor and proxy loop, and the Service CIDR route.

import { execaRunner, type Runner } from './exec.js';
import { cleanupIptables } from './iptables/executor.js';
import { removeServiceCidrRoute, type RouteOptions } from './route.js';

export * from './model.js';
export { type EndpointInfo, type ServicePortInfo, type ServicePortOptions, isProxied, servicePorts } from './ports.js';
export { type ConntrackDeletion, conntrackArgs, staleConntrackEntries } from './conntrack.js';
export { type CommandResult, type Runner, execaRunner } from './exec.js';
export { type Cidr, cidrContains, cidrsOverlap, isIPv4, parseCidr } from './ip.js';
export { extChain, fwChain, isServiceChain, sepChain, svcChain, svlChain } from './iptables/names.js';
export { type IptablesOptions, type RenderSync, type Ruleset, probability, renderIptables } from './iptables/render.js';
export { type IptablesBackend, type JumpRule, IptablesExecutor, JUMP_RULES, RestoreError, cleanupIptables } from './iptables/executor.js';
export { type Clock, type LogFn, type ProxierMetrics, type ProxierOptions, Proxier, systemClock } from './proxier.js';
export {
  type HairpinOptions, type HostRoute, type RouteOptions, DEFAULT_BRIDGE, DEFAULT_POD_CIDR, DEFAULT_SERVICE_CIDR, ServiceCidrError,
  checkServiceCidr, enableHairpin, ensureServiceCidrRoute, hostRoutes, removeServiceCidrRoute,
} from './route.js';
export {
  type IpsetSpec, type IpvsOptions, type IpvsPlan, type RealServer, type Scheduler, type VirtualServer,
  IPVS_DUMMY_LINK, SCHEDULERS, addressChanges, renderIpvs,
} from './ipvs/render.js';
export { type IpvsAvailability, type IpvsCheckOptions, IPVS_MODULES, ipvsAvailable } from './ipvs/available.js';
export { IpvsExecutor } from './ipvs/executor.js';

export interface CleanupOptions {
  runner?: Runner;
  /** Also remove the Service CIDR route to the pod bridge. */
  route?: RouteOptions | false;
}

/**
 * `bosun proxy cleanup`: removes every rule and chain the proxy made (and the Service
 * CIDR route unless `route: false`). Returns the problems met; empty means clean.
 */
export async function cleanup(opts: CleanupOptions = {}): Promise<string[]> {
  const runner = opts.runner ?? execaRunner;
  const problems = await cleanupIptables(runner);
  if (opts.route !== false) {
    try {
      await removeServiceCidrRoute({ ...opts.route, runner });
    } catch (err) {
      problems.push(String(err instanceof Error ? err.message : err));
    }
  }
  return problems;
}
