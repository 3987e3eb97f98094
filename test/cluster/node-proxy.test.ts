import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAgent, removeTestContainers } from '../support/agent.js';
import { joinCluster, leaveCluster, TestCluster, until } from '../support/cluster.js';

// Issue 16 item 3, the node proxy: `kubectl get --raw /api/v1/nodes/<node>/proxy/...` through
// the real kube-apiserver. It proxies only to a node address that is not loopback, so this
// node reports as its InternalIP the address of bosun's pod bridge (bosun0, made by
// setup-host.sh), an address of this machine, and serves its kubelet port there only: the
// API server dials a local address, with its kubelet client certificate, and checks the
// node's serving certificate against the cluster CA; bosun authenticates that certificate and
// asks the API server (SubjectAccessReview) whether kube-apiserver-kubelet-client may get
// nodes/stats and nodes/metrics. Proxy off (KUBE-* chains are per host).

const execFileP = promisify(execFile);
const IMAGE = 'localhost/bosun/busybox:1';
const BRIDGE = 'bosun0';
const cluster = new TestCluster();
const agent = new TestAgent();
const node = agent.nodeName;
let nodeIP = '';

const agentLog = () => agent.log().split('\n').slice(-40).join('\n');
const raw = (path: string, extra: string[] = []) => cluster.kubectl(['get', '--raw', `/api/v1/nodes/${node}/proxy${path}`, ...extra]);

beforeAll(async () => {
  const { stdout } = await execFileP('ip', ['-j', '-4', 'addr', 'show', 'dev', BRIDGE]);
  nodeIP = (JSON.parse(stdout) as { addr_info: { local: string }[] }[])[0]?.addr_info[0]?.local ?? '';
  if (!nodeIP) throw new Error(`${BRIDGE} has no IPv4 address: run scripts/setup-host.sh`);
  await cluster.up();
  await joinCluster(cluster, agent, [], nodeIP);
  await cluster.k(['run', 'busy', `--image=${IMAGE}`, '--restart=Never', '--', 'sh', '-c', 'echo hello-proxy; exec sleep 3600']);
  await cluster.k(['wait', '--for=condition=Ready', 'pod/busy', '--timeout=120s'], { timeoutMs: 130_000 });
}, 60 * 60_000);

afterAll(async () => {
  try {
    await leaveCluster(cluster, agent, 'pod', removeTestContainers);
  } finally {
    await cluster.down();
  }
}, 300_000);

describe('3. the node proxy through the API server', () => {
  it('the node is on a bridge address of this machine, not loopback', async () => {
    const n = await cluster.json<{ status: { addresses: { type: string; address: string }[] } }>(['get', 'node', node]);
    expect(n.status.addresses).toContainEqual({ type: 'InternalIP', address: nodeIP });
    expect((await cluster.k(['get', 'nodes', '-o', 'wide'])).split('\n').find((l) => l.startsWith(`${node} `))).toContain(` ${nodeIP} `);
  });

  it('stats/summary: the node and its pod', async () => {
    const r = await raw('/stats/summary');
    expect(r.code, `${r.stderr}\n${agentLog()}`).toBe(0);
    const s = JSON.parse(r.stdout) as { node: { nodeName: string; memory?: { workingSetBytes?: number } }; pods: { podRef: { name: string; namespace: string } }[] };
    expect(s.node.nodeName).toBe(node);
    expect(s.node.memory?.workingSetBytes).toBeGreaterThan(0);
    expect(s.pods.map((p) => p.podRef)).toContainEqual(expect.objectContaining({ name: 'busy', namespace: 'default' }));
  });

  it('metrics and metrics/resource', async () => {
    const m = await raw('/metrics');
    expect(m.code, `${m.stderr}\n${agentLog()}`).toBe(0);
    expect(m.stdout).toMatch(/^# TYPE kubelet_\w+ /m);
    // metrics/resource lists the pod's containers once the first stats are in.
    await until(async () => /^container_memory_working_set_bytes\{(?=[^}]*container="busy")(?=[^}]*namespace="default")(?=[^}]*pod="busy")[^}]*\} /m.test((await raw('/metrics/resource')).stdout), 'the pod in metrics/resource', 60_000, async () => (await raw('/metrics/resource')).stdout.slice(0, 2000));
  });

  it('logs go the same way (the API server dials the bridge address)', async () => {
    expect(await cluster.k(['logs', 'busy'])).toBe('hello-proxy\n');
  });

  it('a user without nodes/proxy is refused by the API server (403)', async () => {
    const r = await raw('/stats/summary', ['--as', 'system:serviceaccount:default:nobody']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Forbidden|forbidden/);
    expect(r.stderr).toContain('nodes/proxy');
  });
});
