import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContainerdRuntime, type Runtime } from '../../cri/index.js';
import { cleanup as proxyCleanup, POD_FORWARD_CHAIN, POD_FORWARD_JUMP } from '../../netproxy/index.js';
import { detectNodeIP } from '../../agent/node.js';
import { manifest, TestAgent } from '../support/agent.js';
import { CONTAINERD_ENDPOINT, CONTAINERD_POD_CIDR, containerdAvailable, removeNodePods } from '../support/runtime-test-env.js';

// Services for pods on the containerd runtime (CNI bridge bosun-cni0, 10.245.0.0/16), in the
// iptables and the nftables proxy modes: a ClusterIP over two containerd pods, reached with
// curl from the host, from another containerd pod and from a pod through its own Service
// (hairpin), and a NodePort. Docker's FORWARD policy is DROP and accepts only Docker's
// bridges: the agent's BOSUN-FORWARD chain is what lets pod traffic through (the test takes
// it away once and sees it come back). The Docker half of the same scenario is
// agent-services.test.ts. Service CIDR 10.112.0.0/16 (routed to bosun-cni0), so that the
// default 10.96.0.0/12 route of another run on this host is left alone. Needs root,
// bosun's containerd (setup-host.sh --containerd), iptables and nft.

const run = promisify(execFile);
const BB = 'localhost/bosun/busybox:1';
const SERVICE_CIDR = '10.112.0.0/16';
const CLUSTER_IP = '10.112.0.10';
const NODE_PORT = 30998;
const BRIDGE = 'bosun-cni0';
const POD_CIDR = '10.245.0.0/16';
const NODE_LABEL = 'bosun.io/node-name';
const REDIRECTS = ['all', BRIDGE].map((c) => `/proc/sys/net/ipv4/conf/${c}/send_redirects`);

const up = await containerdAvailable();

const backend = (i: number) => manifest(`echo${i}`, `  terminationGracePeriodSeconds: 0
  containers:
    - name: web
      image: ${BB}
      command: ["sh", "-c", "hostname > /www/index.html; exec httpd -f -p 8080 -h /www"]
      ports: [{ name: http, containerPort: 8080 }]
      readinessProbe:
        tcpSocket: { port: http }
        periodSeconds: 1
`, '  labels:\n    app: echo\n');

const client = manifest('client', `  terminationGracePeriodSeconds: 0
  containers:
    - name: c
      image: ${BB}
      command: ["sleep", "3600"]
`);

const services = `apiVersion: v1
kind: Service
metadata:
  name: echo
spec:
  clusterIP: ${CLUSTER_IP}
  selector: { app: echo }
  ports: [{ port: 80, targetPort: http }]
---
apiVersion: v1
kind: Service
metadata:
  name: echo-np
spec:
  type: NodePort
  clusterIP: 10.112.0.11
  selector: { app: echo }
  ports: [{ port: 81, targetPort: 8080, nodePort: ${NODE_PORT} }]
`;

async function curlMany(url: string, n: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) seen.add((await run('curl', ['-sS', '--max-time', '2', url])).stdout.trim());
  return seen;
}

const cleanupProxy = () => proxyCleanup({ route: { serviceCIDR: SERVICE_CIDR, bridge: BRIDGE } });

describe.skipIf(!up).each(['iptables', 'nftables'] as const)('Services for containerd pods, proxy mode %s', (mode) => {
  const agent = new TestAgent();
  let rt: Runtime;
  let redirects: string[] = [];

  /** Runs a shell command in the pod's container through the CRI; its stdout. */
  async function sh(pod: string, ctr: string, cmd: string): Promise<string> {
    const c = (await rt.listContainers()).find((x) => x.labels[NODE_LABEL] === agent.nodeName && x.labels['io.kubernetes.pod.name'] === `${pod}-${agent.nodeName}`
      && x.labels['io.kubernetes.container.name'] === ctr && x.state === 'running');
    if (!c) throw new Error(`no running container ${ctr} in ${pod}`);
    const r = await rt.execSync(c.id, ['sh', '-c', cmd], 60_000);
    return r.stdout.toString();
  }
  /** The distinct answers of n requests to the ClusterIP from inside a pod. */
  const fromPod = async (pod: string, ctr: string, n: number) =>
    new Set((await sh(pod, ctr, `for i in $(seq ${n}); do timeout 2 wget -qO- http://${CLUSTER_IP}/; done`)).split('\n').filter(Boolean));

  beforeAll(async () => {
    rt = await createContainerdRuntime();
    expect(await cleanupProxy()).toEqual([]);
    redirects = REDIRECTS.map((f) => { try { return readFileSync(f, 'utf8'); } catch { return ''; } });
    await agent.start(['--container-runtime-endpoint', CONTAINERD_ENDPOINT, '--proxy-mode', mode,
      '--pod-cidr', POD_CIDR, '--pod-bridge', BRIDGE, '--service-cluster-ip-range', SERVICE_CIDR]);
  });

  afterAll(async () => {
    try {
      await agent.destroy();
      await removeNodePods(rt, agent.nodeName);
    } finally {
      const problems = await cleanupProxy();
      REDIRECTS.forEach((f, i) => { if (redirects[i]) writeFileSync(f, redirects[i]!.trim()); });
      await rt.close();
      expect(problems).toEqual([]);
    }
  });

  it('spreads a ClusterIP over two containerd pods, from the host and from another pod', async () => {
    agent.write('services.yaml', services);
    agent.write('pods.yaml', [backend(1), backend(2), client].join('---\n'));
    for (const i of [1, 2]) {
      const p = await agent.waitPod(`echo${i}`, (x) => x.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false, 'Ready', 90_000);
      expect(p.status!.podIP).toMatch(CONTAINERD_POD_CIDR);
    }
    await agent.waitPod('client', (p) => p.status?.phase === 'Running', 'Running', 90_000);
    const names = [1, 2].map((i) => `echo${i}-${agent.nodeName}`);
    await agent.until(async () => (await curlMany(`http://${CLUSTER_IP}/`, 20)).size === 2, 'both backends from the host', 30_000);
    expect([...(await curlMany(`http://${CLUSTER_IP}/`, 30))].sort()).toEqual(names);
    let seen = new Set<string>();
    await agent.until(async () => (seen = await fromPod('client', 'c', 20)).size === 2, 'both backends from the client pod', 30_000, () => [...seen].join(','));
    expect([...seen].sort()).toEqual(names);
  });

  it('lets a pod reach itself through its own Service (hairpin) and answers the NodePort', async () => {
    // From echo1, every answer is echo1's or echo2's: half of them come back to itself.
    const own = await fromPod('echo1', 'web', 20);
    expect([...own].sort()).toEqual([1, 2].map((i) => `echo${i}-${agent.nodeName}`));
    expect((await curlMany(`http://${detectNodeIP()}:${NODE_PORT}/`, 20)).size).toBe(2);
  });

  it('puts the pod CIDR accepts in BOSUN-FORWARD, jumped to from FORWARD', () => {
    const filter = execFileSync('iptables-save', ['-t', 'filter']).toString();
    expect(filter).toContain(`-A ${POD_FORWARD_CHAIN} -s ${POD_CIDR} -m comment --comment "bosun pod network forwarding" -j ACCEPT`);
    expect(filter).toContain(`-A ${POD_FORWARD_CHAIN} -d ${POD_CIDR} -m comment --comment "bosun pod network forwarding" -j ACCEPT`);
    expect(filter).toContain(`-A FORWARD -m comment --comment "bosun pod network forwarding" -j ${POD_FORWARD_CHAIN}`);
    if (mode === 'nftables') expect(execFileSync('nft', ['list', 'tables']).toString()).toContain('ip kube-proxy');
  });

  it.runIf(mode === 'iptables')('without the forwarding jump, pod traffic through the ClusterIP is dropped; the agent puts it back', async () => {
    execFileSync('iptables', ['-w', '5', '-D', 'FORWARD', ...POD_FORWARD_JUMP]);
    // Docker's FORWARD policy drops what no rule accepts: the wget times out.
    expect((await fromPod('client', 'c', 2)).size).toBe(0);
    // The agent re-checks with the canary's period (30 s).
    await agent.until(async () => (await fromPod('client', 'c', 4)).size === 2, 'pod traffic back after the periodic check', 60_000);
  });
});
