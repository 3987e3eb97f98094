import type { KubeObject } from '../manifests/index.js';
import type { PodInfo, ProxyState, Service } from '../netproxy/index.js';
import { createHash } from 'node:crypto';
import {
  buildProxyState, checkServiceCidr, decideIptablesBackend, enableHairpin, ensurePodForwarding, ensureServiceCidrRoute, hostRoutes, IptablesDataplane, IptablesExecutor,
  IpvsExecutor, ipvsAvailable, NftablesDataplane, newBuildStateCache, parseCidr, Proxier, renderIpvs, servicePorts,
} from '../netproxy/index.js';
import type { Logger } from './log.js';
import type { PodView } from './pods/manager.js';

// The kube-proxy role inside the agent: Services and hand-written Endpoints/EndpointSlices
// from the manifest directory, endpoints of its selector Services computed from this node's
// pods and their readiness (a local endpoints controller), and, on a cluster node, the API's
// Services with the API's EndpointSlices only; programmed by netproxy's Proxier.

export interface ServicesOptions {
  mode: 'iptables' | 'nftables' | 'ipvs' | 'none';
  /** iptables mode: auto = the backend the host's rules use (iptables-wrapper's rule). */
  iptablesBackend?: 'auto' | 'legacy' | 'nft';
  serviceCIDR: string;
  podCIDR: string;
  bridge: string;
  /** The pod bridge is a CNI plugin's (containerd): create it when missing, as the plugin would. */
  createBridge: boolean;
  nodeName: string;
  nodeIP: string;
  syncPeriodMs: number;
  minSyncPeriodMs: number;
}

export function podInfo(v: PodView): PodInfo {
  const p = v.pod;
  return {
    namespace: p.metadata.namespace,
    name: p.metadata.name,
    labels: p.metadata.labels ?? {},
    podIP: p.spec.hostNetwork ? undefined : v.status.podIP,
    ready: v.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    terminating: !!p.metadata.deletionTimestamp,
    containerPorts: p.spec.containers.flatMap((c) => c.ports ?? []),
    nodeName: p.spec.nodeName,
  };
}

/**
 * Docker-link style variables for the Services of a namespace (kubelet getServiceEnvVarMap):
 * <NAME>_SERVICE_HOST, <NAME>_SERVICE_PORT[_<PORT>], <NAME>_PORT, <NAME>_PORT_<p>_<PROTO>[...].
 */
export function serviceEnv(services: Service[], namespace: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const s of services) {
    const [first] = s.ports;
    if (s.namespace !== namespace || !s.clusterIP || s.clusterIP === 'None' || s.type === 'ExternalName' || !first) continue;
    const n = s.name.toUpperCase().replace(/-/g, '_');
    env[`${n}_SERVICE_HOST`] = s.clusterIP;
    env[`${n}_SERVICE_PORT`] = String(first.port);
    for (const p of s.ports) if (p.name) env[`${n}_SERVICE_PORT_${p.name.toUpperCase().replace(/-/g, '_')}`] = String(p.port);
    env[`${n}_PORT`] = `${first.protocol.toLowerCase()}://${s.clusterIP}:${first.port}`;
    for (const p of s.ports) {
      const pre = `${n}_PORT_${p.port}_${p.protocol}`;
      env[pre] = `${p.protocol.toLowerCase()}://${s.clusterIP}:${p.port}`;
      env[`${pre}_PROTO`] = p.protocol.toLowerCase();
      env[`${pre}_PORT`] = String(p.port);
      env[`${pre}_ADDR`] = s.clusterIP;
    }
  }
  return env;
}

/**
 * Without an API server nobody allocates cluster IPs, so a Service written without one gets
 * a stable address from the Service CIDR: a hash of namespace/name, probing past addresses
 * taken by Services that name theirs. The first address (.1, `kubernetes`) is never given out.
 */
export function assignClusterIPs(objects: KubeObject[], serviceCIDR: string): KubeObject[] {
  const cidr = parseCidr(serviceCIDR);
  if (!cidr) return objects;
  const size = 2 ** (32 - cidr.bits);
  const taken = new Set<number>();
  const wants = (o: KubeObject) => {
    const spec = (o.spec ?? {}) as { clusterIP?: string; type?: string };
    return o.kind === 'Service' && !spec.clusterIP && spec.type !== 'ExternalName';
  };
  for (const o of objects) {
    const ip = (o.spec as { clusterIP?: string } | undefined)?.clusterIP;
    if (o.kind === 'Service' && ip && ip !== 'None') taken.add(ipToInt(ip));
  }
  return objects.map((o) => {
    if (!wants(o) || size < 4) return o;
    const key = `${o.metadata?.namespace || 'default'}/${o.metadata?.name ?? ''}`;
    // Usable offsets: 2 .. size-2 (not the network, .1, or the broadcast address).
    const usable = size - 3;
    const start = createHash('sha256').update(key).digest().readUInt32BE(0) % usable;
    for (let i = 0; i < usable; i++) {
      const ip = cidr.base + 2 + ((start + i) % usable);
      if (taken.has(ip)) continue;
      taken.add(ip);
      return { ...o, spec: { ...(o.spec as object), clusterIP: intToIp(ip) } };
    }
    return o; // the CIDR is full: the model reports the Service as needing a clusterIP

  });
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((a, b) => ((a << 8) | Number(b)) >>> 0, 0);
}

function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

export class ServiceProxy {
  private objects: KubeObject[] = [];
  /** namespace/name of the Services the API server gave (their endpoints are the API's EndpointSlices). */
  private apiServices = new Set<string>();
  private pods: PodInfo[] = [];
  private nodePorts: Record<string, number> = {};
  private services: Service[] = [];
  private reported = '';
  private proxier?: Proxier;
  private ipvs?: IpvsExecutor;
  private ipvsTimer?: NodeJS.Timeout;
  private ipvsSoon?: NodeJS.Timeout;
  private state?: ProxyState;
  private forwardTimer?: NodeJS.Timeout;
  /** Every source update rebuilds the model: unchanged objects are not parsed again. */
  private readonly model = newBuildStateCache();

  constructor(private readonly opts: ServicesOptions, private readonly log: Logger) {}

  private async createProxier(): Promise<Proxier | undefined> {
    const { opts, log } = this;
    let dataplane;
    const forced = opts.iptablesBackend === 'auto' ? undefined : opts.iptablesBackend;
    // kubelet's hint first (as kubelet runs before kube-proxy on a node), then the wrapper's choice.
    const d = await decideIptablesBackend(forced);
    log.info({ component: 'proxy', backend: d.backend, reason: d.reason }, `iptables backend: ${d.backend}`);
    for (const w of d.warnings) log.warn({ component: 'proxy', backend: d.backend }, w);
    // The pod network's forwarding accepts (netproxy/forward.ts), in the backend that holds
    // the host's FORWARD policy, in every mode. Re-checked with the canary's period.
    const forward = async () => {
      try {
        await ensurePodForwarding(opts.podCIDR, d.backend);
      } catch (err) {
        log.error({ component: 'proxy' }, `pod network forwarding: ${(err as Error).message}`);
      }
    };
    await forward();
    this.forwardTimer = setInterval(() => void forward(), opts.syncPeriodMs);
    if (opts.mode === 'iptables') {
      dataplane = new IptablesDataplane(new IptablesExecutor(undefined, d.backend), { clusterCIDR: opts.podCIDR, nodeIP: opts.nodeIP });
    } else if (opts.mode === 'nftables') {
      dataplane = new NftablesDataplane({ clusterCIDR: opts.podCIDR });
    } else return undefined;
    return new Proxier({
      dataplane,
      nodeName: opts.nodeName,
      syncPeriodMs: opts.syncPeriodMs,
      minSyncPeriodMs: opts.minSyncPeriodMs,
      log: log.child({ component: 'proxy' }),
    });
  }

  /** Refuses a Service CIDR that would collide with the pod network or a host route. */
  async start(): Promise<void> {
    if (this.opts.mode === 'none') return;
    if (this.opts.mode === 'ipvs') {
      const a = await ipvsAvailable();
      if (!a.ok) throw new Error(`proxy mode ipvs is not available on this node: ${a.reason}; use --proxy-mode iptables`);
      this.ipvs = new IpvsExecutor();
      this.ipvsTimer = setInterval(() => this.applyIpvs(), this.opts.syncPeriodMs);
    }
    checkServiceCidr(this.opts.serviceCIDR, this.opts.podCIDR, await hostRoutes(), this.opts.bridge);
    // A cluster IP without rules must never leave the machine: route the CIDR to the bridge.
    await ensureServiceCidrRoute({ serviceCIDR: this.opts.serviceCIDR, podCIDR: this.opts.podCIDR, bridge: this.opts.bridge, createBridge: this.opts.createBridge });
    const changed = await enableHairpin({ bridge: this.opts.bridge });
    if (changed.length) this.log.debug({ component: 'proxy', ports: changed }, 'hairpin mode set on pod bridge ports');
    this.proxier = await this.createProxier();
    this.proxier?.start();
    this.rebuild();
  }

  async stop(): Promise<void> {
    clearInterval(this.ipvsTimer);
    clearInterval(this.forwardTimer);
    clearTimeout(this.ipvsSoon);
    await this.proxier?.stop();
  }

  /** IPVS mode: a full apply of the plan, at most once a second (kube-proxy's minSyncPeriod). */
  private applyIpvs(): void {
    if (!this.ipvs || !this.state) return;
    const plan = renderIpvs(servicePorts(this.state, { nodeName: this.opts.nodeName }), { nodeIPs: [this.opts.nodeIP], clusterCIDR: this.opts.podCIDR });
    this.ipvs.apply(plan).catch((err: Error) => this.log.error({ component: 'proxy', mode: 'ipvs' }, err.message));
  }

  /** apiObjects: what of `objects` came from the API server (cluster mode); the rest is the manifest directory's. */
  setObjects(objects: KubeObject[], apiObjects: KubeObject[] = []): void {
    this.objects = assignClusterIPs(objects.filter((o) => o.kind === 'Service' || o.kind === 'Endpoints' || o.kind === 'EndpointSlice'), this.opts.serviceCIDR);
    this.apiServices = new Set(apiObjects.filter((o) => o.kind === 'Service').map((o) => `${o.metadata?.namespace ?? 'default'}/${o.metadata?.name}`));
    this.rebuild();
  }

  setPods(views: PodView[]): void {
    const next = views.map(podInfo);
    if (JSON.stringify(next) === JSON.stringify(this.pods)) return;
    this.pods = next;
    // New pods' bridge ports need hairpin too, or a pod cannot reach itself through a Service.
    if (this.proxier || this.ipvs) {
      enableHairpin({ bridge: this.opts.bridge }).catch((err: Error) => this.log.warn({ component: 'proxy' }, `hairpin: ${err.message}`));
    }
    this.rebuild();
  }

  serviceEnv(namespace: string): Record<string, string> {
    return serviceEnv(this.services, namespace);
  }

  metrics(): ReturnType<Proxier['metrics']> | undefined {
    return this.proxier?.metrics();
  }

  takeLatencySamples(): number[] {
    return this.proxier?.takeLatencySamples() ?? [];
  }

  private rebuild(): void {
    const api = this.apiServices;
    const r = buildProxyState(this.objects, {
      pods: this.pods, previousNodePorts: this.nodePorts, serviceCIDR: this.opts.serviceCIDR,
      // The local endpoints controller serves the manifest directory's Services only.
      endpointsFromPods: (svc) => !api.has(`${svc.namespace}/${svc.name}`),
    }, this.model);
    this.nodePorts = r.nodePorts;
    this.services = r.state.services;
    const text = r.errors.map((e) => e.message).join('\n');
    if (text !== this.reported) {
      this.reported = text;
      for (const e of r.errors) this.log.error({ component: 'proxy' }, e.message);
    }
    this.state = r.state;
    this.proxier?.update(r.state);
    if (this.ipvs && !this.ipvsSoon) {
      this.ipvsSoon = setTimeout(() => {
        this.ipvsSoon = undefined;
        this.applyIpvs();
      }, this.opts.minSyncPeriodMs);
    }
  }
}

