import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containersOf, manifest, removeTestContainers, TestAgent } from '../support/agent.js';

// What the agent does with every pod-spec field it cannot act on, and with a manifest that a
// stricter validation refuses while its pod runs. The real CLI, the real Docker engine.
// Needs root and a running engine (scripts/setup-host.sh).

const agent = new TestAgent();
const BB = 'localhost/bosun/busybox:1';

interface Ev { type: string; reason: string; message: string; involvedObject: { name: string; uid: string } }
const events = async (): Promise<Ev[]> => ((await (await fetch(`http://127.0.0.1:${agent.port}/events`)).json()) as { items: Ev[] }).items;

beforeAll(async () => {
  await removeTestContainers();
  await agent.start();
});

afterAll(async () => {
  await agent.destroy();
});

describe('a manifest refused after an upgrade never stops what runs', () => {
  it('keeps the running pod of a file invalid at start, with one Warning event and log line naming file and field', async () => {
    agent.write('old.yaml', manifest('old', `  terminationGracePeriodSeconds: 1\n  containers:\n    - name: c\n      image: ${BB}\n      command: ["sleep", "3600"]\n`));
    const p = await agent.waitPod('old', (p) => p.status?.phase === 'Running', 'Running');
    const ids = async () => (await containersOf(agent.nodeName, p.metadata.name)).filter((c) => c.State === 'running').map((c) => c.Id).sort();
    const before = await ids();
    expect(before).toHaveLength(2);
    await agent.stop();
    // What an older bosun accepted and this one refuses: a field this version rejects.
    agent.write('old.yaml', manifest('old', `  terminationGracePeriodSeconds: 1\n  dnsConfig:\n    nameservers: ["not-an-ip"]\n  containers:\n    - name: c\n      image: ${BB}\n      command: ["sleep", "3600"]\n`));
    await agent.start();
    const file = `${agent.manifests}/old.yaml`;
    await agent.until(async () => agent.log().includes('invalid manifest: keeping its running pod'), 'the hold logged');
    // Long enough for several sync ticks and a re-list of the directory.
    await new Promise((r) => setTimeout(r, 5000));
    expect(await ids()).toEqual(before);
    const lines = agent.log().split('\n').filter((l) => l.includes('invalid manifest: keeping its running pod'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(file);
    expect(lines[0]).toContain('spec.dnsConfig.nameservers[0]');
    const held = (await events()).filter((e) => e.reason === 'InvalidManifest' && e.involvedObject.uid === p.metadata.uid);
    expect(held).toHaveLength(1);
    expect(held[0].type).toBe('Warning');
    expect(held[0].message).toContain(file);
    expect(held[0].message).toContain('spec.dnsConfig.nameservers[0]');
    // Fixed: the held instance goes, the fixed one runs.
    agent.write('old.yaml', manifest('old', `  terminationGracePeriodSeconds: 1\n  containers:\n    - name: c\n      image: ${BB}\n      command: ["sleep", "3601"]\n`));
    await agent.waitPod('old', (q) => q.metadata.uid !== p.metadata.uid && q.status?.phase === 'Running', 'fixed instance Running');
    await agent.until(async () => (await containersOf(agent.nodeName)).every((c) => c.Labels['io.kubernetes.pod.uid'] !== p.metadata.uid), 'held instance removed');
    agent.remove('old.yaml');
  });
});
