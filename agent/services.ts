import type { KubeObject } from '../manifests/index.js';
import type { PodInfo, Service } from '../netproxy/index.js';
import {
  buildProxyState, checkServiceCidr, enableHairpin, ensureServiceCidrRoute, hostRoutes, ipvsAvailable, Proxier,
} from '../netproxy/index.js';
import type { Logger } from './log.js';
import type { PodView } from './pods/manager.js';

// The kube-proxy role inside the agent: Services and hand-written Endpoints/EndpointSlices
// from the manifest directory, endpoints of selector Services computed from this node's pods
// and their readiness (a local endpoints controller), programmed by netproxy's Proxier.

export interface ServicesOptions {
  mode: 'iptables' | 'ipvs' | 'none';
  serviceCIDR: string;
  podCIDR: string;
  bridge: string;
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
    if (s.namespace !== namespace || !s.clusterIP || s.clusterIP === 'None' || s.type === 'ExternalName' || s.ports.length === 0) continue;
    const n = s.name.toUpperCase().replace(/-/g, '_');
    const first = s.ports[0];
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

export class ServiceProxy {
  private objects: KubeObject[] = [];
  private pods: PodInfo[] = [];
  private nodePorts: Record<string, number> = {};
  private services: Service[] = [];
  private reported = '';
  private readonly proxier?: Proxier;

  constructor(private readonly opts: ServicesOptions, private readonly log: Logger) {
    if (opts.mode === 'iptables') {
      this.proxier = new Proxier({
        nodeName: opts.nodeName,
        iptables: { clusterCIDR: opts.podCIDR, nodeIP: opts.nodeIP },
        syncPeriodMs: opts.syncPeriodMs,
        minSyncPeriodMs: opts.minSyncPeriodMs,
        log: (level, msg, fields) => log[level]({ component: 'proxy', ...fields }, msg),
      });
    }
  }

  /** Refuses a Service CIDR that would collide with the pod network or a host route. */
  async start(): Promise<void> {
    if (this.opts.mode === 'none') return;
    if (this.opts.mode === 'ipvs') {
      const a = await ipvsAvailable();
      throw new Error(a.ok
        ? 'proxy mode ipvs: the IPVS ruleset is planned and unit-tested, but programming it from the agent is not wired yet; use --proxy-mode iptables'
        : `proxy mode ipvs is not available on this node: ${a.reason}; use --proxy-mode iptables`);
    }
    checkServiceCidr(this.opts.serviceCIDR, this.opts.podCIDR, await hostRoutes(), this.opts.bridge);
    // A cluster IP without rules must never leave the machine: route the CIDR to the bridge.
    await ensureServiceCidrRoute({ serviceCIDR: this.opts.serviceCIDR, podCIDR: this.opts.podCIDR, bridge: this.opts.bridge });
    const problems = await enableHairpin({ bridge: this.opts.bridge });
    for (const p of problems) this.log.warn({ component: 'proxy' }, p);
    this.proxier!.start();
    this.rebuild();
  }

  async stop(): Promise<void> {
    await this.proxier?.stop();
  }

  setObjects(objects: KubeObject[]): void {
    this.objects = objects.filter((o) => o.kind === 'Service' || o.kind === 'Endpoints' || o.kind === 'EndpointSlice');
    this.rebuild();
  }

  setPods(views: PodView[]): void {
    const next = views.map(podInfo);
    if (JSON.stringify(next) === JSON.stringify(this.pods)) return;
    this.pods = next;
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
    const r = buildProxyState(this.objects, { pods: this.pods, previousNodePorts: this.nodePorts, serviceCIDR: this.opts.serviceCIDR });
    this.nodePorts = r.nodePorts;
    this.services = r.state.services;
    const text = r.errors.map((e) => e.message).join('\n');
    if (text !== this.reported) {
      this.reported = text;
      for (const e of r.errors) this.log.error({ component: 'proxy' }, e.message);
    }
    this.proxier?.update(r.state);
  }
}

