import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containersOf, freePort, manifest, removeTestContainers, TestAgent } from '../support/agent.js';
import { BUSYBOX as BB, must } from '../support/common.js';

// The host's namespaces (hostNetwork, hostPID, hostIPC) and host ports published on the
// node, with conflicts refused at admission. Traffic goes only to this machine's own
// addresses. Needs root and a running Docker engine.

const agent = new TestAgent();

const execIn = (pod: string, ctr: string, cmd: string[]) => agent.execIn(pod, ctr, cmd);

const httpd = (port: number, text: string) => `["sh", "-c", "mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p ${port} -h /www"]`;

async function get(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  return (await res.text()).trim();
}

beforeAll(async () => {
  await removeTestContainers();
  // A cluster DNS address only written into resolv.conf files: nothing is sent to it.
  await agent.start(['--cluster-dns', '10.96.0.10']);
});

afterAll(async () => {
  await agent.destroy();
});

describe('host namespaces and host ports', () => {
  it('runs hostNetwork, hostPID and hostIPC pods in the host\'s namespaces', async () => {
    const port = await freePort();
    agent.write('host.yaml', manifest('host', `  terminationGracePeriodSeconds: 0
  hostNetwork: true
  hostPID: true
  hostIPC: true
  dnsPolicy: ClusterFirstWithHostNet
  hostAliases:
    - { ip: 127.0.0.9, hostnames: [alias.local] }
  containers:
    - name: web
      image: ${BB}
      command: ${httpd(port, 'host-net')}
      ports:
        - containerPort: ${port}
`));
    const p = await agent.waitPod('host', (p) => p.status?.phase === 'Running', 'Running');
    // The pod's IP is the node's; its interfaces, host name and port space are the host's.
    expect(p.status!.podIP).toBe(p.status!.hostIP);
    const links = await execIn('host', 'web', ['ip', '-o', 'addr']);
    expect(links).toContain(`inet ${p.status!.hostIP}/`);
    expect(links).toContain('bosun0');
    expect((await execIn('host', 'web', ['hostname'])).trim()).toBe(hostname());
    expect(await get(`http://127.0.0.1:${port}/`)).toBe('host-net');
    // hostPID: the agent itself is visible; hostIPC: the same IPC namespace as the host.
    expect((await execIn('host', 'web', ['cat', `/proc/${agent.pid}/cmdline`])).split('\0')).toContain('run');
    expect((await execIn('host', 'web', ['readlink', '/proc/self/ns/ipc'])).trim()).toBe(readlinkSync('/proc/self/ns/ipc'));
    expect((await execIn('host', 'web', ['readlink', '/proc/self/ns/pid'])).trim()).toBe(readlinkSync('/proc/self/ns/pid'));
    // Host files for a host-network pod: the node's hosts file plus the pod's aliases.
    const hosts = await execIn('host', 'web', ['cat', '/etc/hosts']);
    expect(hosts).toContain('127.0.0.9\talias.local');
    expect(hosts).toContain(readFileSync('/etc/hosts', 'utf8').split('\n').find((l) => l.trim() && !l.startsWith('#'))!);
    // ClusterFirstWithHostNet: the cluster's DNS even with the host's network.
    const resolv = await execIn('host', 'web', ['cat', '/etc/resolv.conf']);
    expect(resolv).toContain('nameserver 10.96.0.10');
    expect(resolv).toContain('search default.svc.cluster.local svc.cluster.local cluster.local');
  });

  it('publishes a host port on the node\'s address and refuses a second pod that wants it', async () => {
    const port = await freePort();
    agent.write('web.yaml', manifest('web', `  terminationGracePeriodSeconds: 0
  containers:
    - name: web
      image: ${BB}
      command: ${httpd(8080, 'from-pod')}
      ports:
        - { containerPort: 8080, hostPort: ${port} }
`));
    const first = await agent.waitPod('web', (p) => p.status?.phase === 'Running', 'Running');
    const node = first.status!.hostIP!;
    expect(node).not.toMatch(/^127\./);
    await agent.until(async () => (await get(`http://${node}:${port}/`)) === 'from-pod', 'host port answers on the node address', 15_000);
    const firstId = must(first.status?.containerStatuses?.[0], 'a container status').containerID;

    // Same protocol and port on every address (hostIP unset) conflicts; it is refused before
    // anything of it is created, and the first pod is left alone.
    agent.write('clash.yaml', manifest('clash', `  terminationGracePeriodSeconds: 0
  containers:
    - name: web
      image: ${BB}
      command: ${httpd(8080, 'clash')}
      ports:
        - { containerPort: 8080, hostPort: ${port}, hostIP: ${node} }
`) + '---\n' + manifest('udp-ok', `  terminationGracePeriodSeconds: 0
  containers:
    - name: c
      image: ${BB}
      command: ["sleep", "3600"]
      ports:
        - { containerPort: 8080, hostPort: ${port}, protocol: UDP }
`));
    const clash = await agent.waitPod('clash', (p) => p.status?.phase === 'Failed', 'rejected');
    expect(clash.status).toMatchObject({
      phase: 'Failed',
      reason: 'NodePorts',
      message: "Pod was rejected: Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports",
    });
    expect(await containersOf(agent.nodeName, clash.metadata.name)).toEqual([]);
    // Another protocol on the same port is no conflict.
    await agent.waitPod('udp-ok', (p) => p.status?.phase === 'Running', 'Running');
    // The first pod kept running, untouched, and still answers.
    await new Promise((r) => setTimeout(r, 2000));
    const still = (await agent.pod('web'))!;
    expect(still.status!.phase).toBe('Running');
    expect(must(still.status?.containerStatuses?.[0], 'a container status').containerID).toBe(firstId);
    expect(must(still.status?.containerStatuses?.[0], 'a container status').restartCount).toBe(0);
    expect(await get(`http://${node}:${port}/`)).toBe('from-pod');
    // A rejected pod stays rejected even once the port is free again.
    agent.remove('web.yaml');
    await agent.until(async () => (await containersOf(agent.nodeName, first.metadata.name)).length === 0, 'first pod gone', 30_000);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await agent.pod('clash'))!.status!.phase).toBe('Failed');
  });

  it('admits pods already running after an agent restart, before any new pod', async () => {
    const port = await freePort();
    agent.write('keep.yaml', manifest('keep', `  terminationGracePeriodSeconds: 0
  containers:
    - name: web
      image: ${BB}
      command: ${httpd(8080, 'kept')}
      ports:
        - { containerPort: 8080, hostPort: ${port} }
`));
    const kept = await agent.waitPod('keep', (p) => p.status?.phase === 'Running', 'Running');
    await agent.stop();
    // While the agent is down a conflicting pod appears; after the restart the running pod
    // keeps its port (it was admitted by the earlier agent) and the newcomer is refused.
    agent.write('late.yaml', manifest('late', `  terminationGracePeriodSeconds: 0
  containers:
    - name: web
      image: ${BB}
      command: ${httpd(8080, 'late')}
      ports:
        - { containerPort: 8080, hostPort: ${port} }
`));
    await agent.start();
    const late = await agent.waitPod('late', (p) => p.status?.phase === 'Failed', 'rejected');
    expect(late.status!.reason).toBe('NodePorts');
    const after = await agent.waitPod('keep', (p) => p.status?.phase === 'Running', 'Running');
    expect(must(after.status?.containerStatuses?.[0], 'a container status').containerID).toBe(must(kept.status?.containerStatuses?.[0], 'a container status').containerID);
    expect(await get(`http://${after.status!.hostIP}:${port}/`)).toBe('kept');
  });
});
