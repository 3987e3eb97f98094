import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectNodeIP } from '../../agent/node.js';
import { containersOf, manifest, removeTestContainers, TestAgent } from '../support/agent.js';
import { BUSYBOX as BB } from '../support/common.js';

// Services through the whole agent: Service documents in the manifest directory, endpoints
// from this node's pods and their readiness probes, rules programmed in the real kernel,
// real traffic with curl from the host and wget from a pod. Needs root, Docker, iptables.
// Only addresses on this machine are used: the ClusterIP (routed to the pod bridge), pod
// IPs and the node's own address.

const run = promisify(execFile);
const agent = new TestAgent();

const CLUSTER_IP = '10.96.200.10';
const NODE_PORT = 30999;

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

const services = `apiVersion: v1
kind: Service
metadata:
  name: echo
spec:
  clusterIP: ${CLUSTER_IP}
  selector: { app: echo }
  ports: [{ name: web, port: 80, targetPort: http }]
---
apiVersion: v1
kind: Service
metadata:
  name: echo-np
spec:
  type: NodePort
  selector: { app: echo }
  ports: [{ port: 81, targetPort: 8080, nodePort: ${NODE_PORT} }]
---
apiVersion: v1
kind: Service
metadata:
  name: nobody
spec:
  clusterIP: 10.96.200.11
  selector: { app: nobody }
  ports: [{ port: 80 }]
`;

async function curlMany(url: string, n: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const { stdout } = await run('curl', ['-sS', '--max-time', '2', url]);
    const k = stdout.trim();
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  return seen;
}

async function cleanupProxy(): Promise<void> {
  execFileSync(process.execPath, ['dist/agent/cli.js', 'proxy', 'cleanup'], { stdio: 'ignore' });
}

beforeAll(async () => {
  await removeTestContainers();
  await cleanupProxy().catch(() => undefined);
  await agent.start(['--proxy-mode', 'iptables']);
});

afterAll(async () => {
  await agent.destroy();
  await cleanupProxy();
});

describe('Services through the agent (kube-proxy role)', () => {
  it('spreads a ClusterIP over three ready pods, from the host and from a pod', async () => {
    agent.write('services.yaml', services);
    agent.write('backends.yaml', [1, 2, 3].map(backend).join('---\n'));
    for (const i of [1, 2, 3]) await agent.waitPod(`echo${i}`, (p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false, 'Ready');
    let seen = new Map<string, number>();
    await agent.until(async () => (seen = await curlMany(`http://${CLUSTER_IP}/`, 30)).size === 3, 'three backends behind the ClusterIP', 30_000);
    seen = await curlMany(`http://${CLUSTER_IP}/`, 100);
    expect([...seen.keys()].sort()).toEqual([1, 2, 3].map((i) => `echo${i}-${agent.nodeName}`));

    agent.write('client.yaml', manifest('client', `  terminationGracePeriodSeconds: 0
  containers:
    - name: c
      image: ${BB}
      command: ["sleep", "3600"]
`));
    await agent.waitPod('client', (p) => p.status?.phase === 'Running', 'Running');
    const c = (await containersOf(agent.nodeName, `client-${agent.nodeName}`)).find((x) => x.Labels['io.kubernetes.container.name'] === 'c')!;
    const fromPod = await run('docker', ['exec', c.Id, 'sh', '-c', `for i in $(seq 30); do timeout 2 wget -qO- http://${CLUSTER_IP}/; done | sort -u`]);
    expect(fromPod.stdout.trim().split('\n').length).toBe(3);
    // Created after the Service: it gets the Service's environment variables.
    const env = (await run('docker', ['exec', c.Id, 'env'])).stdout;
    expect(env).toContain(`ECHO_SERVICE_HOST=${CLUSTER_IP}`);
    expect(env).toContain('ECHO_SERVICE_PORT=80');
    expect(env).toContain(`ECHO_PORT_80_TCP=tcp://${CLUSTER_IP}:80`);
  });

  it('takes a pod out of rotation when its readiness probe fails, and back when it passes', async () => {
    const target = `echo2-${agent.nodeName}`;
    const c = (await containersOf(agent.nodeName, target)).find((x) => x.Labels['io.kubernetes.container.name'] === 'web')!;
    await run('docker', ['exec', c.Id, 'rm', '-r', '/www/ready']);
    await agent.waitPod('echo2', (p) => p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'False') ?? false, 'not Ready');
    await agent.until(async () => !(await curlMany(`http://${CLUSTER_IP}/`, 30)).has(target), 'echo2 out of rotation', 15_000);
    await run('docker', ['exec', c.Id, 'sh', '-c', 'mkdir -p /www/ready && touch /www/ready/index.html']);
    await agent.until(async () => (await curlMany(`http://${CLUSTER_IP}/`, 30)).has(target), 'echo2 back in rotation', 15_000);
  });

  it('answers a NodePort on the node address, and refuses a Service without endpoints at once', async () => {
    const seen = await curlMany(`http://${detectNodeIP()}:${NODE_PORT}/`, 20);
    expect(seen.size).toBeGreaterThanOrEqual(2);
    const t0 = Date.now();
    const r = await run('curl', ['-sS', '--max-time', '5', 'http://10.96.200.11/']).then(() => 'connected', (e: { stderr?: string }) => e.stderr ?? '');
    expect(r).toMatch(/Connection refused|Couldn't connect/);
    expect(Date.now() - t0).toBeLessThan(4000);
  });

  it('puts rules where operators look for them', () => {
    const save = execFileSync('iptables-save', ['-t', 'nat']).toString();
    expect(save).toMatch(new RegExp(`-A KUBE-SERVICES -d ${CLUSTER_IP.replace(/\./g, '\\.')}/32 -p tcp .*--dport 80 -j KUBE-SVC-[A-Z2-7]{16}`));
    expect(save).toMatch(/-A KUBE-SEP-[A-Z2-7]{16} -p tcp .*-j DNAT --to-destination 10\.244\.\d+\.\d+:8080/);
  });

  it('keeps the rules when the agent stops, and bosun proxy cleanup removes every one', async () => {
    await agent.stop();
    expect(execFileSync('iptables-save', ['-t', 'nat']).toString()).toContain('KUBE-SERVICES');
    await cleanupProxy();
    const left = execFileSync('iptables-save').toString().split('\n').filter((l) => l.includes('KUBE-'));
    expect(left).toEqual([]);
    expect(execFileSync('ip', ['route', 'show', '10.96.0.0/12']).toString().trim()).toBe('');
  });
});
