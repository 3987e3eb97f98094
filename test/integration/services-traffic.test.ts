import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectNodeIP } from '../../agent/node.js';
import type { Runtime } from '../../cri/index.js';
import {
  cleanup as proxyCleanup, IPTABLES_HINT_CHAIN, POD_FORWARD_CHAIN, POD_FORWARD_JUMP, podForwardRules, removePodForwarding,
} from '../../netproxy/index.js';
import { manifest, TestAgent } from '../support/agent.js';
import { BUSYBOX as BB } from '../support/common.js';
import { CONTAINERD_ENDPOINT, containerdAvailable, createTestRuntime, removeNodePods, type RuntimeKind } from '../support/runtime-test-env.js';

// Services through the whole agent with real traffic, one suite for both runtimes and both
// proxy modes: Docker pods on bosun0 (10.244.0.0/16) and containerd pods on the CNI bridge
// bosun-cni0 (10.245.0.0/16), each in iptables mode and then in nftables mode. Service and
// EndpointSlice documents in the manifest directory, endpoints from this node's pods and
// their readiness probes, rules in the real kernel; curl from the host, wget from a pod, a
// pod through its own Service (hairpin), a NodePort, a Service without endpoints refused.
// The pods are started once per runtime: the agent is stopped (its rules stay, as
// kube-proxy's do), the mode's rules are removed, and it starts again in the other mode and
// adopts them. Each runtime has a Service CIDR of its own, routed to its bridge, so that the
// default 10.96.0.0/12 route of another agent on this host is left alone. Only addresses on
// this machine are used. Needs root, Docker, bosun's containerd (setup-host.sh
// --containerd), iptables and nft. Every container, chain, table and route it made is
// removed in afterAll, also when a test failed.

const run = promisify(execFile);
const NODE_LABEL = 'bosun.io/node-name';
type Mode = 'iptables' | 'nftables';
// BOSUN_TEST_PROXY_MODES=nftables runs the nftables half alone, e.g. beside a cluster whose
// node owns the host's KUBE-* chains (the iptables half removes every one of them).
const MODES = (process.env.BOSUN_TEST_PROXY_MODES ?? 'iptables,nftables').split(',') as Mode[];

interface Net { bridge: string; podCIDR: string; podIP: RegExp; serviceCIDR: string; clusterIP: string; npIP: string; emptyIP: string; nodePort: number }
const NETS: Record<RuntimeKind, Net> = {
  docker: { bridge: 'bosun0', podCIDR: '10.244.0.0/16', podIP: /^10\.244\./, serviceCIDR: '10.114.0.0/16', clusterIP: '10.114.0.10', npIP: '10.114.0.11', emptyIP: '10.114.0.12', nodePort: 30997 },
  containerd: { bridge: 'bosun-cni0', podCIDR: '10.245.0.0/16', podIP: /^10\.245\./, serviceCIDR: '10.112.0.0/16', clusterIP: '10.112.0.10', npIP: '10.112.0.11', emptyIP: '10.112.0.12', nodePort: 30998 },
};

const ctrdUp = await containerdAvailable();

const backend = (i: number) => manifest(`echo${i}`, `  terminationGracePeriodSeconds: 0
  containers:
    - name: web
      image: ${BB}
      command: ["sh", "-c", "hostname > /www/index.html; mkdir -p /www/ready; touch /www/ready/index.html; exec httpd -f -p 8080 -h /www"]
      ports: [{ name: http, containerPort: 8080 }]
      readinessProbe:
        httpGet: { path: /ready/, port: http }
        periodSeconds: 1
        failureThreshold: 1
`, '  labels:\n    app: echo\n');

const client = manifest('client', `  terminationGracePeriodSeconds: 0
  containers:
    - name: c
      image: ${BB}
      command: ["sleep", "3600"]
`);

const services = (n: Net) => `apiVersion: v1
kind: Service
metadata:
  name: echo
spec:
  clusterIP: ${n.clusterIP}
  selector: { app: echo }
  ports: [{ name: web, port: 80, targetPort: http }]
---
apiVersion: v1
kind: Service
metadata:
  name: echo-np
spec:
  type: NodePort
  clusterIP: ${n.npIP}
  selector: { app: echo }
  ports: [{ port: 81, targetPort: 8080, nodePort: ${n.nodePort} }]
---
apiVersion: v1
kind: Service
metadata:
  name: nobody
spec:
  clusterIP: ${n.emptyIP}
  selector: { app: nobody }
  ports: [{ port: 80 }]
`;

async function curlMany(url: string, n: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const k = (await run('curl', ['-sS', '--max-time', '2', url]).catch(() => ({ stdout: '' }))).stdout.trim();
    if (k) seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  return seen;
}

/**
 * What one proxy mode leaves on the host once the agent stopped: iptables mode its KUBE-*
 * chains (one set per host, so all of them); nftables mode its table. Both: this pod CIDR's
 * forwarding accepts (another agent's CIDR in BOSUN-FORWARD stays) and this Service CIDR's route.
 */
async function removeModeRules(mode: Mode, n: Net): Promise<string[]> {
  const problems = await proxyCleanup({
    route: { serviceCIDR: n.serviceCIDR, bridge: n.bridge },
    iptablesVariants: mode === 'iptables' ? ['legacy', 'nft'] : [],
    nftTable: mode === 'nftables' ? 'kube-proxy' : false,
  });
  // The agent writes BOSUN-FORWARD with the system iptables (the backend of Docker's rules).
  for (const rule of podForwardRules(n.podCIDR)) {
    const args = rule.replace(/^-A /, '-D ').match(/"[^"]*"|\S+/g)!.map((a) => a.replace(/^"|"$/g, ''));
    for (let i = 0; i < 10 && (await run('iptables', ['-w', '5', '-t', 'filter', ...args]).then(() => true, () => false)); i++);
  }
  const left = await run('iptables', ['-w', '5', '-t', 'filter', '-S', POD_FORWARD_CHAIN]).then((r) => r.stdout, () => '');
  if (!left.split('\n').some((l) => l.startsWith('-A '))) problems.push(...(await removePodForwarding('system')));
  return problems;
}

describe.each(['docker', 'containerd'] as const)('Services through the agent on %s', (kind) => {
  const n = NETS[kind];
  const agent = new TestAgent();
  let rt: Runtime | undefined;
  let mode: Mode | undefined;
  const redirects = ['all', n.bridge].map((c) => `/proc/sys/net/ipv4/conf/${c}/send_redirects`);
  let savedRedirects: string[] = [];
  let hintBefore = false;

  const startAgent = (m: Mode) => agent.start([
    ...(kind === 'containerd' ? ['--container-runtime-endpoint', CONTAINERD_ENDPOINT] : []),
    '--proxy-mode', m, '--pod-cidr', n.podCIDR, '--pod-bridge', n.bridge, '--service-cluster-ip-range', n.serviceCIDR,
  ]);

  /** Runs a shell command in a pod's container through the runtime; its stdout. */
  async function sh(pod: string, ctr: string, cmd: string): Promise<string> {
    const c = (await rt!.listContainers()).find((x) => x.labels[NODE_LABEL] === agent.nodeName && x.labels['io.kubernetes.pod.name'] === `${pod}-${agent.nodeName}`
      && x.labels['io.kubernetes.container.name'] === ctr && x.state === 'running');
    if (!c) throw new Error(`no running container ${ctr} in ${pod}`);
    return (await rt!.execSync(c.id, ['sh', '-c', cmd], 60_000)).stdout.toString();
  }
  /** The distinct answers of `count` requests to `ip` from inside a pod. */
  const fromPod = async (pod: string, ctr: string, count: number, ip = n.clusterIP) =>
    new Set((await sh(pod, ctr, `for i in $(seq ${count}); do timeout 2 wget -qO- http://${ip}/; done`)).split('\n').filter(Boolean));
  const names = [1, 2].map((i) => `echo${i}-${agent.nodeName}`);
  const ready = (i: number, want: boolean) => agent.waitPod(`echo${i}`, (p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === (want ? 'True' : 'False')) ?? false, want ? 'Ready' : 'not Ready', 90_000);

  beforeAll(async () => {
    if (kind === 'containerd' && !ctrdUp) return;
    rt = await createTestRuntime(kind);
    hintBefore = execFileSync('iptables-save', ['-t', 'mangle']).toString().includes(`:${IPTABLES_HINT_CHAIN} `);
    savedRedirects = redirects.map((f) => { try { return readFileSync(f, 'utf8'); } catch { return ''; } });
    for (const m of MODES) expect(await removeModeRules(m, n)).toEqual([]);
    mode = MODES[0]!;
    await startAgent(mode);
    agent.write('services.yaml', services(n));
    agent.write('pods.yaml', [backend(1), backend(2), client].join('---\n'));
    for (const i of [1, 2]) expect((await ready(i, true)).status!.podIP).toMatch(n.podIP);
    await agent.waitPod('client', (p) => p.status?.phase === 'Running', 'Running', 90_000);
  }, 300_000);

  afterAll(async () => {
    const problems: string[] = [];
    try {
      await agent.destroy();
      if (rt && kind === 'containerd') await removeNodePods(rt, agent.nodeName);
    } finally {
      for (const m of MODES) problems.push(...(await removeModeRules(m, n)));
      // The agent's backend hint (the iptables mode's clean-up removes it with the chains).
      if (!hintBefore) await run('iptables', ['-w', '5', '-t', 'mangle', '-X', IPTABLES_HINT_CHAIN]).catch(() => undefined);
      redirects.forEach((f, i) => { if (savedRedirects[i]) writeFileSync(f, savedRedirects[i]!.trim()); });
      await rt?.close();
    }
    expect(problems).toEqual([]);
  }, 120_000);

  describe.skipIf(kind === 'containerd' && !ctrdUp).each(MODES)('proxy mode %s', (m) => {
    it.runIf(m !== MODES[0])('takes over from the other mode: its rules stay after a stop until `bosun proxy cleanup`, the pods are adopted', async () => {
      await agent.stop();
      if (mode === 'iptables') {
        expect(execFileSync('iptables-save', ['-t', 'nat']).toString()).toContain(`-d ${n.clusterIP}/32`);
        // The operator's way out of a mode: `bosun proxy cleanup` removes every rule, chain and route.
        execFileSync(process.execPath, ['dist/agent/cli.js', 'proxy', 'cleanup', '--service-cluster-ip-range', n.serviceCIDR, '--pod-cidr', n.podCIDR, '--pod-bridge', n.bridge]);
        expect(execFileSync('iptables-save').toString().split('\n').filter((l) => l.includes('KUBE-') || l.includes(POD_FORWARD_CHAIN))).toEqual([]);
        expect(execFileSync('ip', ['route', 'show', n.serviceCIDR]).toString().trim()).toBe('');
      } else expect(await removeModeRules(mode!, n)).toEqual([]);
      mode = m;
      await startAgent(m);
      for (const i of [1, 2]) await ready(i, true);
    }, 180_000);

    it('spreads the ClusterIP over both pods, from the host and from another pod', async () => {
      let seen = new Map<string, number>();
      await agent.until(async () => (seen = await curlMany(`http://${n.clusterIP}/`, 20)).size === 2, 'both backends from the host', 30_000, () => [...seen.keys()].join(','));
      expect([...(await curlMany(`http://${n.clusterIP}/`, 30)).keys()].sort()).toEqual(names);
      let fromClient = new Set<string>();
      await agent.until(async () => (fromClient = await fromPod('client', 'c', 20)).size === 2, 'both backends from the client pod', 30_000, () => [...fromClient].join(','));
      expect([...fromClient].sort()).toEqual(names);
    });

    it('lets a pod reach itself through its own Service (hairpin), answers the NodePort, refuses a Service without endpoints', async () => {
      // From echo1, every answer is echo1's or echo2's: half of them come back to itself.
      expect([...(await fromPod('echo1', 'web', 20))].sort()).toEqual(names);
      expect((await curlMany(`http://${detectNodeIP()}:${n.nodePort}/`, 20)).size).toBe(2);
      const r = await run('curl', ['-sS', '--max-time', '5', `http://${n.emptyIP}/`]).then(() => 'connected', (e: { stderr?: string }) => e.stderr ?? '');
      expect(r).toMatch(/Connection refused|Couldn't connect/);
    });

    it('takes a pod out of rotation when its readiness probe fails, and back when it passes', async () => {
      await sh('echo2', 'web', 'rm -r /www/ready');
      await ready(2, false);
      await agent.until(async () => !(await curlMany(`http://${n.clusterIP}/`, 20)).has(names[1]!), 'echo2 out of rotation', 15_000);
      await sh('echo2', 'web', 'mkdir -p /www/ready && touch /www/ready/index.html');
      await agent.until(async () => (await curlMany(`http://${n.clusterIP}/`, 20)).has(names[1]!), 'echo2 back in rotation', 15_000);
    });

    it('puts its rules where operators look for them, and the pod CIDR accepts in BOSUN-FORWARD', () => {
      if (m === 'iptables') {
        const nat = execFileSync('iptables-save', ['-t', 'nat']).toString();
        expect(nat).toMatch(new RegExp(`-A KUBE-SERVICES -d ${n.clusterIP.replace(/\./g, '\\.')}/32 -p tcp .*--dport 80 -j KUBE-SVC-[A-Z2-7]{16}`));
        expect(nat).toMatch(new RegExp(`-A KUBE-SEP-[A-Z2-7]{16} -p tcp .*-j DNAT --to-destination ${n.podIP.source.slice(1)}\\d+\\.\\d+:8080`));
      } else {
        expect(execFileSync('nft', ['list', 'table', 'ip', 'kube-proxy']).toString()).toContain(n.clusterIP);
      }
      const filter = execFileSync('iptables-save', ['-t', 'filter']).toString();
      for (const rule of podForwardRules(n.podCIDR)) expect(filter).toContain(rule);
      expect(filter).toContain(`-A FORWARD -m comment --comment "bosun pod network forwarding" -j ${POD_FORWARD_CHAIN}`);
    });

    it.runIf(m === MODES[0])("gives a pod created after a Service that Service's environment variables", async () => {
      agent.write('late.yaml', manifest('late', `  terminationGracePeriodSeconds: 0\n  containers:\n    - name: c\n      image: ${BB}\n      command: ["sleep", "3600"]\n`));
      await agent.waitPod('late', (p) => p.status?.phase === 'Running', 'Running', 90_000);
      const env = await sh('late', 'c', 'env');
      expect(env).toContain(`ECHO_SERVICE_HOST=${n.clusterIP}`);
      expect(env).toContain('ECHO_SERVICE_PORT=80');
      expect(env).toContain(`ECHO_PORT_80_TCP=tcp://${n.clusterIP}:80`);
      agent.remove('late.yaml');
    });

    // Docker accepts its own bridge in FORWARD; containerd's bridge is let through by BOSUN-FORWARD alone.
    it.runIf(m === 'iptables' && kind === 'containerd')('without the forwarding jump, pod traffic through the ClusterIP is dropped; the agent puts it back', async () => {
      execFileSync('iptables', ['-w', '5', '-D', 'FORWARD', ...POD_FORWARD_JUMP]);
      expect((await fromPod('client', 'c', 2)).size).toBe(0);
      // The agent re-checks with the canary's period (30 s).
      await agent.until(async () => (await fromPod('client', 'c', 4)).size === 2, 'pod traffic back after the periodic check', 60_000);
    });
  });
});
