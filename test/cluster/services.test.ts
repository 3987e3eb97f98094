import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectNodeIP } from '../../agent/node.js';
import { cleanup as proxyCleanup } from '../../netproxy/index.js';
import { TestAgent, removeTestContainers } from '../support/agent.js';
import { joinCluster, leaveCluster, TestCluster, until } from '../support/cluster.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

// Issue 16 item 4: Services of a real control plane through bosun's proxy. The cluster IP
// comes from the real allocator, the EndpointSlices from the real controller, and the proxy
// reads them with kube-proxy's identity (--proxy-kubeconfig, CN system:kube-proxy, which the
// bootstrap policy binds to system:node-proxier): the Node authorizer does not let the node's
// own credential read EndpointSlices. Service CIDR 10.113.0.0/16, so that the route and the
// addresses of another run's 10.96.0.0/12 are left alone; KUBE-* chains are one per host, as
// for test/integration/services-traffic.test.ts. Traffic: the host, the node's own address and
// pods only.

const run = promisify(execFile);
const IMAGE = 'localhost/bosun/busybox:1';
const SERVICE_CIDR = '10.113.0.0/16';
const NODE_PORT = 30997;
const cluster = new TestCluster({ serviceCIDR: SERVICE_CIDR });
const agent = new TestAgent();
const cleanupProxy = () => proxyCleanup({ route: { serviceCIDR: SERVICE_CIDR, bridge: 'bosun0' } });

interface PodObj { metadata: { name: string }; status: { podIP?: string; conditions?: { type: string; status: string }[] } }
const ready = (p: PodObj) => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
const agentLog = () => agent.log().split('\n').slice(-30).join('\n');

const deployment = {
  apiVersion: 'apps/v1', kind: 'Deployment',
  metadata: { name: 'web' },
  spec: {
    replicas: 3,
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: [{
          name: 'web', image: IMAGE,
          command: ['sh', '-c', 'mkdir -p /www; hostname > /www/index.html; exec httpd -f -p 8080 -h /www'],
          ports: [{ name: 'http', containerPort: 8080 }],
          readinessProbe: { tcpSocket: { port: 'http' }, periodSeconds: 1 },
        }],
      },
    },
  },
};

const services = [
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 'http' }] } },
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web-np' }, spec: { type: 'NodePort', selector: { app: 'web' }, ports: [{ port: 81, targetPort: 8080, nodePort: NODE_PORT }] } },
];

async function pods(): Promise<PodObj[]> {
  return (await cluster.json<{ items: PodObj[] }>(['get', 'pods', '-l', 'app=web'])).items;
}

async function answers(url: string, n: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) seen.add((await run('curl', ['-sS', '--max-time', '2', url])).stdout.trim());
  return seen;
}

async function clusterIP(name: string): Promise<string> {
  return (await cluster.json<{ spec: { clusterIP: string } }>(['get', 'service', name])).spec.clusterIP;
}

beforeAll(async () => {
  expect(await cleanupProxy()).toEqual([]);
  await cluster.up();
  await joinCluster(cluster, agent, ['--proxy-mode', 'iptables', '--proxy-kubeconfig', cluster.proxyKubeconfig, '--service-cluster-ip-range', SERVICE_CIDR]);
}, 60 * 60_000);

afterAll(async () => {
  try {
    await leaveCluster(cluster, agent, 'deployment,service,endpointslice,pod', removeTestContainers);
  } finally {
    await cluster.down();
    expect(await cleanupProxy()).toEqual([]);
  }
}, 300_000);

describe('4. Services from the real API server', () => {
  it('spreads a ClusterIP from the real allocator over the Deployment\'s pods, from the host and from a pod', async () => {
    await cluster.k(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [deployment, ...services] }) });
    let last: PodObj[] = [];
    await until(async () => (last = await pods()).filter(ready).length === 3, '3 Ready pods', 150_000, () => `${JSON.stringify(last.map((p) => p.status))}\n${agentLog()}`);
    const ip = await clusterIP('web');
    expect(ip.startsWith('10.113.')).toBe(true);
    const names = last.map((p) => p.metadata.name).sort();
    let seen = new Set<string>();
    await until(async () => (seen = await answers(`http://${ip}/`, 20)).size === 3, 'three pods behind the ClusterIP', 60_000, () => `${[...seen].join(',')}\n${agentLog()}`);
    expect([...(await answers(`http://${ip}/`, 30))].sort()).toEqual(names);
    const fromPod = await cluster.k(['exec', names[0]!, '--', 'sh', '-c', `for i in $(seq 20); do timeout 2 wget -qO- http://${ip}/; done | sort -u`]);
    expect(fromPod.trim().split('\n')).toEqual(names);
  });

  it('answers the NodePort on the node\'s address', async () => {
    expect((await answers(`http://${detectNodeIP()}:${NODE_PORT}/`, 20)).size).toBeGreaterThanOrEqual(2);
  });

  it('follows the EndpointSlices when the Deployment scales down and up', async () => {
    const ip = await clusterIP('web');
    await cluster.k(['scale', 'deployment/web', '--replicas=1']);
    let t0 = Date.now();
    await until(async () => (await answers(`http://${ip}/`, 10)).size === 1, 'one pod behind the ClusterIP', 60_000, agentLog);
    console.log(`scaled 3 -> 1: the ClusterIP answered from one pod ${Date.now() - t0} ms after kubectl scale`);
    await cluster.k(['scale', 'deployment/web', '--replicas=2']);
    t0 = Date.now();
    await until(async () => (await answers(`http://${ip}/`, 20)).size === 2, 'two pods behind the ClusterIP', 120_000, agentLog);
    console.log(`scaled 1 -> 2: the ClusterIP answered from two pods ${Date.now() - t0} ms after kubectl scale`);
  });

  it('programs a selector-less Service from an EndpointSlice written with kubectl (read with kube-proxy\'s identity)', async () => {
    const [p] = (await pods()).filter(ready);
    await cluster.k(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'v1', kind: 'List', items: [
          { apiVersion: 'v1', kind: 'Service', metadata: { name: 'manual' }, spec: { ports: [{ name: 'http', port: 8081, targetPort: 8080 }] } },
          {
            apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
            metadata: { name: 'manual-1', labels: { 'kubernetes.io/service-name': 'manual' } },
            addressType: 'IPv4', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
            endpoints: [{ addresses: [p!.status.podIP!], conditions: { ready: true } }],
          },
        ],
      }),
    });
    const ip = await clusterIP('manual');
    await until(async () => (await answers(`http://${ip}:8081/`, 1)).has(p!.metadata.name), 'the manual EndpointSlice programmed', 60_000, agentLog);
    // The node's own credential was never used for EndpointSlices: no read of them was
    // forbidden. (The Node authorizer refuses a pod's token and ConfigMap for a moment after
    // its binding, before its graph has the pod: that transient 403 is kubelet's too.)
    expect(agent.log().split('\n').filter((l) => /endpointslices/i.test(l) && /forbidden|\b403\b/i.test(l))).toEqual([]);
  });
});
