import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAgent, containersOf, docker } from '../support/agent.js';
import { TestCluster, until } from '../support/cluster.js';

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
  // Pods first, while the API server is there to see them go; then everything else, even if that failed.
  await cluster.kubectl(['delete', 'deployment,service,pod,secret,configmap', '--all', '-n', 'default', '--wait=false']).catch(() => undefined);
  await agent.destroy();
  await cluster.down();
  await docker.getImage(IMAGE2).remove({ noprune: true }).catch(() => undefined);
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
    expect(n.status.nodeInfo.kubeletVersion).toMatch(/^v1\./);
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
    const [p] = await pods('app=objects');
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
    expect((ps[0].spec.containers as { image: string }[])[0].image).toBe(IMAGE2);
    expect(ready(ps[0])).toBe(true);
  });
});
