import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAgent, containersOf, docker, removeTestContainers } from '../support/agent.js';
import { leaveCluster, TestCluster, until } from '../support/cluster.js';
import { must } from '../support/common.js';

// bosun as a node of a real Kubernetes control plane (kube-apiserver with the Node authorizer
// and NodeRestriction, kube-controller-manager, kube-scheduler, etcd: scripts/cluster.sh),
// driven with the real kubectl of the same release. Run alone: npm run test:cluster.

const execFileP = promisify(execFile);
const IMAGE = 'localhost/bosun/busybox:1';
// A second tag of the same image: a rolling update needs a different image reference.
const IMAGE2 = 'localhost/bosun/busybox:cluster-test-2';

const cluster = new TestCluster();
const agent = new TestAgent();
const node = agent.nodeName;

interface Obj { metadata: { name: string; uid: string; namespace?: string; ownerReferences?: { kind: string; name: string }[]; annotations?: Record<string, string> }; spec: Record<string, unknown>; status: Record<string, unknown> }
interface PodObj extends Obj { status: { phase?: string; podIP?: string; conditions?: { type: string; status: string }[]; containerStatuses?: { ready: boolean; restartCount: number }[] } }

const ready = (p: PodObj) => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

async function pods(selector: string, ns = 'default'): Promise<PodObj[]> {
  return (await cluster.json<{ items: PodObj[] }>(['get', 'pods', '-n', ns, '-l', selector])).items;
}

const agentLog = () => agent.log().split('\n').slice(-40).join('\n');

beforeAll(async () => {
  await execFileP('docker', ['tag', IMAGE, IMAGE2]);
  await cluster.up();
  await agent.start(await cluster.nodeFlags(node));
}, 60 * 60_000);

afterAll(async () => {
  try {
    await leaveCluster(cluster, agent, 'deployment,service,pod,secret,configmap', removeTestContainers);
  } finally {
    // The control plane goes whatever happened above.
    await cluster.down();
    await docker.getImage(IMAGE2).remove({ noprune: true }).catch(() => undefined);
  }
}, 300_000);

describe('1. the Node', () => {
  it('registers with the node credential: status accepted by the real validation, Ready in kubectl get nodes -o wide', async () => {
    await until(async () => (await cluster.kubectl(['get', 'node', node])).code === 0, 'the Node', 60_000, agentLog);
    await cluster.k(['wait', '--for=condition=Ready', `node/${node}`, '--timeout=90s'], { timeoutMs: 100_000 });
    const wide = await cluster.k(['get', 'nodes', '-o', 'wide']);
    const row = wide.split('\n').find((l) => l.startsWith(node + ' '));
    expect(row, wide).toBeDefined();
    expect(row).toMatch(/\bReady\b/);
    expect(row).toMatch(/\b127\.0\.0\.1\b/); // INTERNAL-IP
    expect(row).toMatch(/docker:\/\/\S+/); // CONTAINER-RUNTIME
    const n = await cluster.json<{ status: { capacity: Record<string, string>; allocatable: Record<string, string>; daemonEndpoints: { kubeletEndpoint: { Port: number } }; nodeInfo: Record<string, string>; conditions: { type: string; status: string }[] } }>(['get', 'node', node]);
    expect(Object.keys(n.status.capacity)).toEqual(expect.arrayContaining(['cpu', 'memory', 'pods', 'ephemeral-storage']));
    expect(n.status.allocatable.pods).toBeDefined();
    expect(n.status.daemonEndpoints.kubeletEndpoint.Port).toBe(cluster.nodePort);
    // Inside the kubelet skew policy: the API server's own minor (never newer, at most 3 older).
    const { serverVersion: server } = await cluster.json<{ serverVersion: { major: string; minor: string } }>(['version']);
    expect(n.status.nodeInfo.kubeletVersion).toBe(`v${server.major}.${server.minor}.${/^v\d+\.\d+\.(\d+)/.exec(n.status.nodeInfo.kubeletVersion ?? '')?.[1]}-bosun`);
    expect(row).toContain(n.status.nodeInfo.kubeletVersion); // VERSION
    expect(n.status.conditions.map((c) => c.type)).toEqual(expect.arrayContaining(['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure']));
  });

  it('renews its Lease in kube-node-lease, owned by the Node', async () => {
    const lease = async () => cluster.json<{ metadata: { ownerReferences?: { kind: string; name: string }[] }; spec: { holderIdentity: string; renewTime: string; leaseDurationSeconds: number } }>(['get', 'lease', '-n', 'kube-node-lease', node]);
    const first = await lease();
    expect(first.spec.holderIdentity).toBe(node);
    expect(first.spec.leaseDurationSeconds).toBe(40);
    expect(first.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'Node', name: node });
    await until(async () => (await lease()).spec.renewTime !== first.spec.renewTime, 'a renewal', 30_000);
  });

  it('makes no request the Node authorizer or NodeRestriction refuses', () => {
    expect(agent.log()).not.toMatch(/forbidden|\b403\b/i);
  });
});

describe('5. config objects and service-account tokens under the Node authorizer', () => {
  it('runs a pod with a Secret volume, a ConfigMap env, a projected token, the downward API and the kube-api-access volume', async () => {
    await cluster.k(['create', 'secret', 'generic', 'creds', '--from-literal=password=s3cret']);
    await cluster.k(['create', 'configmap', 'settings', '--from-literal=mode=fast']);
    await cluster.k(['create', 'configmap', 'unrelated', '--from-literal=x=y']);
    await cluster.k(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'v1', kind: 'Pod',
        metadata: { name: 'objects', labels: { app: 'objects', tier: 'test' } },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [{
            name: 'c', image: IMAGE, command: ['sleep', '3600'],
            env: [{ name: 'MODE', valueFrom: { configMapKeyRef: { name: 'settings', key: 'mode' } } }],
            volumeMounts: [{ name: 'secret', mountPath: '/secret' }, { name: 'token', mountPath: '/token' }, { name: 'info', mountPath: '/info' }],
          }],
          volumes: [
            { name: 'secret', secret: { secretName: 'creds' } },
            { name: 'token', projected: { sources: [{ serviceAccountToken: { audience: 'bosun-test', expirationSeconds: 600, path: 'token' } }] } },
            { name: 'info', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } },
          ],
        },
      }),
    });
    let last: PodObj | undefined;
    await until(async () => { [last] = await pods('app=objects'); return !!last && ready(last); }, 'pod objects Ready', 120_000, () => `${JSON.stringify(last?.status)}\n${agentLog()}`);
    const p = last!;
    expect((p.spec.volumes as { name: string }[]).some((v) => v.name.startsWith('kube-api-access-'))).toBe(true);
    const sh = (cmd: string) => agent.execInPod(p.metadata.uid, 'c', ['sh', '-c', cmd]);
    expect(await sh('cat /secret/password')).toBe('s3cret');
    expect(await sh('echo $MODE')).toBe('fast\n');
    expect(await sh('cat /info/labels')).toBe('app="objects"\ntier="test"');
    expect(await sh('cat /var/run/secrets/kubernetes.io/serviceaccount/namespace')).toBe('default');
    expect(await sh('cat /var/run/secrets/kubernetes.io/serviceaccount/ca.crt')).toMatch(/BEGIN CERTIFICATE/);
    // Both tokens are real: the API server reviews them as the pod's service account, bound to this pod.
    for (const [file, audience] of [['/token/token', 'bosun-test'], ['/var/run/secrets/kubernetes.io/serviceaccount/token', undefined]] as const) {
      const token = await sh(`cat ${file}`);
      const review = JSON.parse(await cluster.k(['create', '-o', 'json', '-f', '-'], {
        input: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, ...(audience ? { audiences: [audience] } : {}) } }),
      })) as { status: { authenticated?: boolean; user?: { username: string; extra?: Record<string, string[]> }; error?: string } };
      expect(review.status.authenticated, review.status.error).toBe(true);
      expect(review.status.user?.username).toBe('system:serviceaccount:default:default');
      expect(review.status.user?.extra?.['authentication.kubernetes.io/pod-uid']).toEqual([p.metadata.uid]);
      expect(review.status.user?.extra?.['authentication.kubernetes.io/node-name']).toEqual([node]);
    }
  });

  it('follows a change of the Secret into the volume', async () => {
    await cluster.k(['create', 'secret', 'generic', 'creds', '--from-literal=password=changed', '--dry-run=client', '-o', 'yaml'])
      .then((y) => cluster.k(['apply', '-f', '-'], { input: y }));
    const p = must((await pods('app=objects'))[0], 'a pod with app=objects');
    await until(async () => (await agent.execInPod(p.metadata.uid, 'c', ['cat', '/secret/password'])) === 'changed', 'the new secret value', 60_000);
  });

  it('watched only what its pods reference, and nothing was refused', () => {
    expect(agent.log()).not.toMatch(/forbidden|\b403\b/i);
    expect(agent.log()).not.toMatch(/unrelated/);
  });
});

describe('2. a Deployment through the real scheduler', () => {
  it('runs 3 replicas Ready with pod IPs, scales to 5 and back to 1, and rolls out a second image', async () => {
    await cluster.k(['create', 'deployment', 'web', `--image=${IMAGE}`, '--replicas=3', '--', 'httpd', '-f', '-p', '8080']);
    await cluster.k(['rollout', 'status', 'deployment/web', '--timeout=180s'], { timeoutMs: 200_000 });
    let ps = await pods('app=web');
    expect(ps).toHaveLength(3);
    for (const p of ps) {
      expect(p.spec.nodeName).toBe(node);
      expect(ready(p)).toBe(true);
      expect(p.status.podIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    }
    expect(new Set(ps.map((p) => p.status.podIP)).size).toBe(3);

    await cluster.k(['scale', 'deployment/web', '--replicas=5']);
    await cluster.k(['rollout', 'status', 'deployment/web', '--timeout=180s'], { timeoutMs: 200_000 });
    expect((await pods('app=web')).filter(ready)).toHaveLength(5);

    await cluster.k(['scale', 'deployment/web', '--replicas=1']);
    await until(async () => (await pods('app=web')).length === 1, 'scaled down to 1', 120_000, async () => (await cluster.k(['get', 'pods', '-o', 'wide'])));
    await until(async () => (await containersOf(node)).filter((c) => c.Labels['io.kubernetes.pod.namespace'] === 'default' && c.Labels['io.kubernetes.container.name'] === 'busybox' && c.State === 'running').length === 1, 'containers of the removed replicas stopped', 60_000);

    await cluster.k(['set', 'image', 'deployment/web', `busybox=${IMAGE2}`]);
    await cluster.k(['rollout', 'status', 'deployment/web', '--timeout=180s'], { timeoutMs: 200_000 });
    ps = await pods('app=web');
    await until(async () => { ps = await pods('app=web'); return ps.length === 1; }, 'the old replica gone', 60_000);
    const web = must(ps[0], 'the web pod');
    expect((web.spec.containers as { image: string }[])[0]?.image).toBe(IMAGE2);
    expect(ready(web)).toBe(true);
  });
});

describe('3. logs, exec, attach, port-forward and the node proxy through the API server', () => {
  const talk = 'talk';
  beforeAll(async () => {
    await cluster.k(['run', talk, `--image=${IMAGE}`, '--restart=Never', '--', 'sh', '-c', 'i=0; while true; do echo line $i; i=$((i+1)); sleep 1; done']);
    await cluster.k(['run', 'srv', `--image=${IMAGE}`, '--restart=Never', '--port=8080', '--', 'sh', '-c', 'mkdir -p /www && echo hello-cluster > /www/index.html && exec httpd -f -p 8080 -h /www']);
    await cluster.k(['wait', '--for=condition=Ready', `pod/${talk}`, 'pod/srv', '--timeout=120s'], { timeoutMs: 130_000 });
  }, 150_000);

  it('kubectl logs and logs -f', async () => {
    await until(async () => (await cluster.k(['logs', talk])).includes('line 2'), 'three log lines', 30_000);
    const r = await cluster.kubectl(['logs', '-f', talk], { timeoutMs: 4000 });
    expect(r.stdout).toMatch(/line 0\n[\s\S]*line \d+\n/);
  });

  it('kubectl exec: output, stderr, exit code, stdin, and a TTY', async () => {
    const e = await cluster.kubectl(['exec', talk, '--', 'sh', '-c', 'echo out; echo err >&2; exit 7']);
    expect([e.code, e.stdout, e.stderr]).toEqual([7, 'out\n', expect.stringContaining('err\n')]);
    expect(await cluster.k(['exec', '-i', talk, '--', 'sh', '-c', 'cat; echo done'], { input: 'from-stdin\n' })).toBe('from-stdin\ndone\n');
    // A real terminal for kubectl (script(1)): the process gets a TTY.
    const { stdout } = await execFileP('script', ['-qec', `${cluster.k8sBin}/kubectl --kubeconfig ${cluster.kubeconfig} exec -it ${talk} -- tty`, '/dev/null'], { timeout: 30_000 });
    expect(stdout).toMatch(/\/dev\/pts\/\d+/);
  });

  it('kubectl attach follows the running process', async () => {
    const r = await cluster.kubectl(['attach', talk], { timeoutMs: 4000 });
    expect(r.stdout + r.stderr).toMatch(/line \d+/);
  });

  it('kubectl port-forward reaches the pod', async () => {
    const { spawn } = await import('node:child_process');
    const local = 30000 + Math.floor(Math.random() * 5000);
    const pf = spawn(`${cluster.k8sBin}/kubectl`, ['--kubeconfig', cluster.kubeconfig, 'port-forward', 'pod/srv', `${local}:8080`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    pf.stdout.on('data', (d: Buffer) => (log += d.toString()));
    pf.stderr.on('data', (d: Buffer) => (log += d.toString()));
    try {
      await until(async () => log.includes('Forwarding from'), 'port-forward ready', 20_000, () => log);
      for (let i = 0; i < 3; i++) expect(await (await fetch(`http://127.0.0.1:${local}/index.html`)).text()).toBe('hello-cluster\n');
    } finally {
      pf.kill('SIGTERM');
    }
  });

  it('the node proxy refuses a loopback node address (kube-apiserver, not bosun): stats/summary and metrics stay on the node port', async () => {
    // kube-apiserver proxies nodes/<n>/proxy only to non-loopback addresses ("address not
    // allowed"); this file's node is on 127.0.0.1. node-proxy.test.ts puts a node on a bridge
    // address of this machine and goes through the proxy.
    const r = await cluster.kubectl(['get', '--raw', `/api/v1/nodes/${node}/proxy/stats/summary`]);
    expect(r.stderr).toContain('address not allowed');
  });

  it('a caller without nodes/proxy gets 403 from the node; with it, an answer', async () => {
    await cluster.k(['create', 'serviceaccount', 'viewer']);
    const token = (await cluster.k(['create', 'token', 'viewer'])).trim();
    const call = (path: string, bearer = token) => new Promise<{ code: number; body: string }>((res, rej) => {
      // The node's serving certificate is signed by the cluster CA.
      const req = httpsRequest({ host: '127.0.0.1', port: cluster.nodePort, path, ca: readFileSync(join(cluster.pki, 'ca.crt')), headers: bearer ? { authorization: `Bearer ${bearer}` } : {} }, (r) => {
        let body = '';
        r.on('data', (d: Buffer) => (body += d.toString()));
        r.on('end', () => res({ code: r.statusCode ?? 0, body }));
      });
      req.on('error', rej);
      req.end();
    });
    const denied = await call('/pods');
    expect(denied.code, denied.body).toBe(403);
    expect(denied.body).toContain('Forbidden (user=system:serviceaccount:default:viewer, verb=get, resource=nodes, subresource=pods)');
    await cluster.k(['create', 'clusterrole', 'node-proxy', '--verb=get', '--resource=nodes/proxy']);
    await cluster.k(['create', 'clusterrolebinding', 'viewer-node-proxy', '--clusterrole=node-proxy', '--serviceaccount=default:viewer']);
    // Denials are cached for 30 s, as kubelet caches them.
    await until(async () => (await call('/pods')).code === 200, 'the grant to take effect', 60_000);
    expect((await call('/stats/summary')).code).toBe(403); // nodes/stats was not granted
    expect((await call('/pods', '')).code).toBe(401);
  });
});

describe('6. mirror pods of static pods', () => {
  const mirrorName = `static-web-${node}`;
  const staticPod = (marker: string) => `apiVersion: v1\nkind: Pod\nmetadata:\n  name: static-web\n  namespace: default\n  labels: {marker: "${marker}"}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: ${IMAGE}\n    command: [sleep, "3600"]\n`;
  const mirror = async () => {
    const r = await cluster.kubectl(['get', 'pod', mirrorName, '-o', 'json']);
    return r.code === 0 ? (JSON.parse(r.stdout) as PodObj) : undefined;
  };

  it('gets a mirror pod NodeRestriction admits (owned by the Node), running and Ready', async () => {
    agent.write('static-web.yaml', staticPod('one'));
    let m: PodObj | undefined;
    await until(async () => { m = await mirror(); return !!m && ready(m); }, 'the mirror pod Ready', 90_000, () => `${JSON.stringify(m?.status)}\n${agentLog()}`);
    expect(m!.metadata.annotations?.['kubernetes.io/config.mirror']).toBeTruthy();
    expect(m!.metadata.ownerReferences).toEqual([expect.objectContaining({ apiVersion: 'v1', kind: 'Node', name: node, controller: true })]);
  });

  it('comes back when deleted, and is replaced when the manifest changes', async () => {
    const before = (await mirror())!;
    await cluster.k(['delete', 'pod', mirrorName, '--wait=false']);
    await until(async () => { const m = await mirror(); return !!m && m.metadata.uid !== before.metadata.uid && !(m.metadata as { deletionTimestamp?: string }).deletionTimestamp; }, 'the mirror recreated', 60_000, agentLog);
    agent.write('static-web.yaml', staticPod('two'));
    const marker = async () => ((await mirror()) as unknown as { metadata: { labels?: Record<string, string> } } | undefined)?.metadata.labels?.marker;
    await until(async () => (await marker()) === 'two', 'the mirror replaced', 60_000, agentLog);
    agent.remove('static-web.yaml');
    await until(async () => !(await mirror()), 'the mirror removed with its static pod', 60_000);
  });
});

describe('7. deletion with grace, drain and uncordon', () => {
  it('kubectl delete --grace-period=5 stops a pod that ignores SIGTERM after 5 s, not 30', async () => {
    await cluster.k(['run', 'stubborn', `--image=${IMAGE}`, '--restart=Never', '--', 'sh', '-c', 'trap "" TERM; while true; do sleep 1; done']);
    await cluster.k(['wait', '--for=condition=Ready', 'pod/stubborn', '--timeout=90s'], { timeoutMs: 100_000 });
    const t0 = Date.now();
    await cluster.k(['delete', 'pod', 'stubborn', '--grace-period=5', '--wait=true', '--timeout=60s'], { timeoutMs: 70_000 });
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(4_500);
    expect(took).toBeLessThan(25_000);
  });

  it('kubectl drain evicts the Deployment\'s pods and cordons; uncordon lets them back', async () => {
    const r = await cluster.kubectl(['drain', node, '--ignore-daemonsets', '--delete-emptydir-data', '--force', '--timeout=120s', '--pod-selector=app=web'], { timeoutMs: 130_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/evicted/);
    const n = await cluster.json<{ spec: { unschedulable?: boolean } }>(['get', 'node', node]);
    expect(n.spec.unschedulable).toBe(true);
    // The replacement cannot be scheduled while the node is cordoned.
    await until(async () => (await pods('app=web')).every((p) => !p.spec.nodeName), 'the web pod pending', 60_000);
    await cluster.k(['uncordon', node]);
    await cluster.k(['rollout', 'status', 'deployment/web', '--timeout=120s'], { timeoutMs: 130_000 });
    expect((await pods('app=web')).filter(ready)).toHaveLength(1);
  });
});

describe('8. in-place resize through the resize subresource (issue 14)', () => {
  interface Cond { type: string; status: string; reason?: string; message?: string }
  interface RsPod { metadata: { uid: string }; status: { conditions?: Cond[]; containerStatuses?: { containerID?: string; restartCount: number; resources?: { limits?: Record<string, string> }; state: { running?: unknown } }[] } }
  const rs = () => cluster.json<RsPod>(['get', 'pod', 'rs']);
  const memLimit = async (id: string) => (await execFileP('docker', ['exec', id, 'cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes'])).stdout.trim();
  const resize = (mem: string, req = '32Mi') => cluster.k(['patch', 'pod', 'rs', '--subresource', 'resize', '--type', 'merge', '-p',
    JSON.stringify({ spec: { containers: [{ name: 'app', resources: { requests: { cpu: '100m', memory: req }, limits: { cpu: '500m', memory: mem } } }] } })]);
  const bound = (name: string, req: string, limit: string) => JSON.stringify({
    apiVersion: 'v1', kind: 'Pod', metadata: { name },
    spec: { nodeName: node, terminationGracePeriodSeconds: 0, containers: [{ name: 'app', image: IMAGE, imagePullPolicy: 'Never', command: ['sleep', '3600'], resources: { requests: { cpu: '100m', memory: req }, limits: { cpu: '500m', memory: limit } } }] },
  });

  it('resizes the running container in place; a resize that does not fit beside the other pods waits (Deferred) until it does', async () => {
    await cluster.k(['apply', '-f', '-'], { input: bound('rs', '32Mi', '64Mi') });
    await until(async () => (await rs()).status.containerStatuses?.[0]?.state.running !== undefined, 'rs running', 120_000, agentLog);
    const before = await rs();
    const id = before.status.containerStatuses![0]!.containerID!.replace(/^docker:\/\//, '');
    expect(await memLimit(id)).toBe(String(64 * 2 ** 20));

    await resize('128Mi');
    await until(async () => (await rs()).status.containerStatuses?.[0]?.resources?.limits?.memory === String(128 * 2 ** 20), 'status shows 128Mi', 60_000, agentLog);
    expect(await memLimit(id)).toBe(String(128 * 2 ** 20));
    const after = await rs();
    expect(after.metadata.uid).toBe(before.metadata.uid);
    expect(after.status.containerStatuses![0]!.containerID).toBe(before.status.containerStatuses![0]!.containerID);
    expect(after.status.containerStatuses![0]!.restartCount).toBe(0);

    // (The API server itself refuses a resize beyond the node's allocatable: Infeasible is
    // for static pods here, test/integration/agent-resize.test.ts.) A pod that takes most of
    // the node's memory makes a resize that fits the node wait beside it.
    const alloc = Number((await cluster.json<{ status: { allocatable: { memory: string } } }>(['get', 'node', node])).status.allocatable.memory.replace(/Ki$/, '')) * 1024;
    const hog = `${Math.floor(alloc / 2 ** 20) - 1024}Mi`;
    await cluster.k(['apply', '-f', '-'], { input: bound('hog', hog, hog) });
    await until(async () => (await cluster.json<RsPod>(['get', 'pod', 'hog'])).status.containerStatuses?.[0]?.state.running !== undefined, 'hog running', 120_000, agentLog);
    await resize('2Gi', '2Gi');
    await until(async () => !!(await rs()).status.conditions?.some((c) => c.type === 'PodResizePending'), 'PodResizePending', 60_000, agentLog);
    const cond = (await rs()).status.conditions!.find((c) => c.type === 'PodResizePending')!;
    console.log(`API pod: ${cond.type} ${cond.reason}: ${cond.message}`);
    expect(cond).toMatchObject({ status: 'True', reason: 'Deferred' });
    expect(cond.message).toMatch(/^Node didn't have enough resource: memory, requested: \d+, used: \d+, capacity: \d+$/);
    expect(await memLimit(id)).toBe(String(128 * 2 ** 20));

    // The other pod goes: the deferred resize is allocated at a later sync and applied.
    await cluster.k(['delete', 'pod', 'hog', '--wait=true', '--timeout=60s'], { timeoutMs: 70_000 });
    await until(async () => {
      const p = await rs();
      return p.status.containerStatuses?.[0]?.resources?.limits?.memory === String(2 * 2 ** 30) && !p.status.conditions?.some((c) => c.type.startsWith('PodResize'));
    }, 'the deferred resize applied, no resize condition', 60_000, agentLog);
    expect(await memLimit(id)).toBe(String(2 * 2 ** 30));
    expect((await rs()).status.containerStatuses![0]!.restartCount).toBe(0);
    await cluster.k(['delete', 'pod', 'rs', '--wait=false']);
  }, 300_000);
});
