// Public surface of netproxy/: the kube-proxy role. Model (Services, EndpointSlices,
// NodePort allocation, the local endpoints controller), the iptables and IPVS planners,
// the iptables executor and proxy loop, and the Service CIDR route.

import { runCommand, type Runner } from './exec.js';
import { type IptablesVariant, cleanupIptables } from './iptables/executor.js';
import { NftExecutor } from './nftables/executor.js';
import { DEFAULT_NFT_TABLE } from './nftables/render.js';
import { removePodForwarding } from './forward.js';
import { removeServiceCidrRoute, type RouteOptions } from './route.js';

export * from './model.js';
export {
  type EndpointInfo, type ServicePortInfo, type ServicePortOptions, type ServicePortsCache, isProxied, newServicePortsCache, servicePorts,
} from './ports.js';
export { type ConntrackDeletion, conntrackArgs, staleConntrackEntries } from './conntrack.js';
export { type CommandResult, type Runner, runCommand } from './exec.js';
export { type Cidr, cidrContains, cidrsOverlap, isIPv4, parseCidr } from './ip.js';
export { extChain, fwChain, isServiceChain, sepChain, svcChain, svlChain } from './iptables/names.js';
export { type IptablesOptions, type RenderSync, type Ruleset, probability, renderIptables } from './iptables/render.js';
export {
  type IptablesBackend, type IptablesVariant, type JumpRule, IPTABLES_HINT_CHAIN, IPTABLES_WAIT, IptablesExecutor, JUMP_RULES, RestoreError, cleanupIptables,
  iptablesCommands,
} from './iptables/executor.js';
export { IptablesDataplane } from './iptables/dataplane.js';
export { POD_FORWARD_CHAIN, POD_FORWARD_JUMP, ensurePodForwarding, mergePodForwardRules, podForwardRules, removePodForwarding } from './forward.js';
export {
  type BackendDecision, type BackendEvidence, type IptablesBackendChoice, chooseIptablesBackend, decideIptablesBackend, detectIptablesBackend, ensureIptablesHint,
  gatherBackendEvidence,
} from './iptables/backend.js';
export { type Dataplane, type SyncStats } from './dataplane.js';
export {
  type NftOptions, type NftRenderSync, type NftRuleset, type NftState, DEFAULT_NFT_TABLE, renderNftables, tableObjects,
} from './nftables/render.js';
export { NftError, NftExecutor, NftablesDataplane, validNftTable } from './nftables/executor.js';
export { type ProxierMetrics, type ProxierOptions, Proxier } from './proxier.js';
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
  /** The iptables binaries whose chains to remove. Default: both legacy and nft. */
  iptablesVariants?: IptablesVariant[];
  /** The nftables table to delete; false: leave nftables alone. Default `kube-proxy`. */
  nftTable?: string | false;
}

/**
 * `bosun proxy cleanup`: removes every rule and chain the proxy made, the pod network's
 * forwarding chain, and the Service CIDR route unless `route: false`. Returns the problems met; empty means clean.
 */
export async function cleanup(opts: CleanupOptions = {}): Promise<string[]> {
  const runner = opts.runner ?? runCommand;
  const problems: string[] = [];
  for (const v of opts.iptablesVariants ?? (['legacy', 'nft'] as const)) {
    try {
      problems.push(...(await cleanupIptables(runner, v)), ...(await removePodForwarding(v, runner)));
    } catch (err) {
      // The binaries of one backend may be missing on a host: nothing of ours is there.
      if (!/ENOENT|not found/.test(String(err))) problems.push(String(err instanceof Error ? err.message : err));
    }
  }
  if (opts.nftTable !== false) {
    try {
      await new NftExecutor(runner, opts.nftTable ?? DEFAULT_NFT_TABLE).deleteTable();
    } catch (err) {
      if (!/ENOENT|not found/.test(String(err))) problems.push(String(err instanceof Error ? err.message : err));
    }
  }
  if (opts.route !== false) {
    try {
      await removeServiceCidrRoute({ ...opts.route, runner });
    } catch (err) {
      problems.push(String(err instanceof Error ? err.message : err));
    }
  }
  return problems;
}
