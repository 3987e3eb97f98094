import type { KubeObject, Pod, PodStatus } from '../../manifests/index.js';
import type { CoreEvent } from '../events.js';
import type { Logger } from '../log.js';
import type { NodeInfoInput } from '../server/nodeinfo.js';
import { userAgent } from '../vocab/index.js';
import { ApiClient } from './client.js';
import { EventPoster } from './events.js';
import { loadKubeconfig } from './kubeconfig.js';
import { NodeHeartbeat, type PressureStatus, type Taint } from './node.js';
import { ApiPods } from './pods.js';
import { Reflector, type KObj } from './reflector.js';
import { ReferencedObjects } from './refs.js';
import { ServiceAccountTokens } from './tokens.js';

// The API server as the agent's third pod source (kubelet with --kubeconfig): the Node and
// its Lease, the pods bound to this node, their status, mirror pods for static pods, events,
// and the ConfigMaps, Secrets, Services and EndpointSlices the node's pods and its proxy use.
// An API server that is away never stops a pod: every part keeps its last known state and
// reconnects with back-off and jitter.

export { ApiClient, ApiRequestError } from './client.js';
export { loadKubeconfig, KubeconfigLoadError, type RestConfig } from './kubeconfig.js';
export type { Taint } from './node.js';
export { Reflector, type KObj } from './reflector.js';
export { checkpointPath } from './pods.js';
export { podReferences, referencedObjects, type ObjectRef } from './refs.js';
export { needsRefresh, tokenRequest, tokenSources } from './tokens.js';

export interface ApiServerSourceOptions {
  kubeconfig: string;
  nodeName: string;
  rootDir: string;
  log: Logger;
  labels: Record<string, string>;
  taints: Taint[];
  nodeInfo: NodeInfoInput;
  resources?: () => PressureStatus;
  /** The API's pods and objects: the "api" entry of the source merger. */
  onUpdate: (s: { pods: Pod[]; objects: KubeObject[] }) => void;
  /** Tokens of the pods' projected serviceAccountToken sources, by tokenKey. */
  onTokens: (tokens: ReadonlyMap<string, Buffer>) => void;
  /** Watch EndpointSlices (the Service proxy needs them; the Node authorizer does not allow a node to read them). */
  endpointSlices: boolean;
  /** The proxy's own identity for EndpointSlices (kube-proxy's kubeconfig); unset: the node's. */
  proxyKubeconfig?: string;
  stopped: (uid: string) => boolean;
}

// Cluster-wide watches. ConfigMaps and Secrets are not among them: those are watched one by
// one for the pods that use them (refs.ts), all a node may read.
const SERVICES = { path: '/api/v1/services', kind: 'Service', apiVersion: 'v1' };
const ENDPOINT_SLICES = { path: '/apis/discovery.k8s.io/v1/endpointslices', kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1' };

export class ApiServerSource {
  readonly client: ApiClient;
  /** kube-proxy's identity, when it has its own kubeconfig. */
  private readonly proxyClient?: ApiClient;
  readonly node: NodeHeartbeat;
  readonly pods: ApiPods;
  readonly events: EventPoster;
  readonly refs: ReferencedObjects;
  readonly tokens: ServiceAccountTokens;
  private readonly objectReflectors: Reflector[];
  private objectSets = new Map<string, KObj[]>();
  private podSet: Pod[] = [];

  constructor(private readonly o: ApiServerSourceOptions) {
    this.client = new ApiClient(loadKubeconfig(o.kubeconfig), userAgent('kubelet', o.nodeName));
    this.node = new NodeHeartbeat({ client: this.client, log: o.log, info: o.nodeInfo, labels: o.labels, taints: o.taints, ...(o.resources ? { resources: o.resources } : {}) });
    this.pods = new ApiPods({
      client: this.client, log: o.log, nodeName: o.nodeName, rootDir: o.rootDir, stopped: o.stopped,
      nodeOwner: () => this.node.ownerReference(),
      onPods: (pods) => {
        this.podSet = pods;
        this.refs.setPods(pods);
        this.tokens.setPods(pods);
        this.emit();
      },
    });
    this.refs = new ReferencedObjects({
      client: this.client, log: o.log,
      onChange: (objects) => {
        this.objectSets.set('referenced', objects);
        this.emit();
      },
    });
    this.tokens = new ServiceAccountTokens({ client: this.client, log: o.log, onChange: (t) => o.onTokens(t) });
    this.events = new EventPoster(this.client, o.log);
    if (o.endpointSlices && o.proxyKubeconfig) this.proxyClient = new ApiClient(loadKubeconfig(o.proxyKubeconfig), userAgent('kube-proxy', o.nodeName));
    // Services with the node's identity (kubelet reads them for the pods' environment too).
    this.objectReflectors = [SERVICES, ...(o.endpointSlices ? [ENDPOINT_SLICES] : [])].map((x) => new Reflector({
      client: x === ENDPOINT_SLICES ? this.proxyClient ?? this.client : this.client, path: x.path, kind: x.kind, apiVersion: x.apiVersion, log: o.log,
      onChange: (items) => {
        this.objectSets.set(x.kind, [...items.values()]);
        this.emit();
      },
    }));
  }

  private emit(): void {
    if (!this.pods.ready) return;
    this.o.onUpdate({ pods: this.podSet, objects: [...this.objectSets.values()].flat() as KubeObject[] });
  }

  async start(): Promise<void> {
    this.refs.start();
    this.tokens.start();
    this.node.start();
    await this.pods.start();
    this.events.start();
    for (const r of this.objectReflectors) r.start();
  }

  async stop(): Promise<void> {
    this.node.stop();
    this.events.stop();
    this.tokens.stop();
    await Promise.all([this.pods.stop(), this.refs.stop(), ...this.objectReflectors.map((r) => r.stop())]);
    this.client.close();
    this.proxyClient?.close();
  }

  status(pod: Pod, status: PodStatus): void {
    this.pods.status(pod, status);
  }

  event(e: CoreEvent): void {
    this.events.add(e);
  }

  /** The merged desired set: its static pods get mirror pods. */
  setDesired(pods: Pod[]): void {
    this.pods.setStaticPods(pods);
  }
}
