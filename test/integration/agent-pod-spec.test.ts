import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifest, removeTestContainers, TestAgent } from '../support/agent.js';
import { BUSYBOX as BB, must } from '../support/common.js';

// The rest of the pod spec on real containers: config objects from the manifest directory,
// env sources, volumes (read back from inside the container), the managed DNS files.
// Needs root and a running Docker engine.

const agent = new TestAgent();
const hostDir = mkdtempSync(join(tmpdir(), 'bosun-hostpath-'));

const execIn = (pod: string, ctr: string, cmd: string[]) => agent.execIn(pod, ctr, cmd);

const configMap = (data: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\ndata:\n${data}`;
const secret = `apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-secret\ndata:\n  password: ${Buffer.from('s3cr3t').toString('base64')}\n`;

beforeAll(async () => {
  await removeTestContainers();
  await agent.start();
});

afterAll(async () => {
  await agent.destroy();
  rmSync(hostDir, { recursive: true, force: true });
});

describe('pod spec: config objects, env, volumes, DNS', () => {
  it('resolves every env source and $(VAR) expansion', async () => {
    agent.write('objects.yaml', configMap('  mode: fast\n  level: "3"\n') + '---\n' + secret);
    agent.write('env.yaml', manifest('envpod', `  terminationGracePeriodSeconds: 0
  containers:
    - name: c
      image: ${BB}
      command: ["sh", "-c", "env > /tmp/env; echo \\"$1\\" > /tmp/args; sleep 3600", "sh", "$(LATE)"]
      resources:
        limits:
          memory: 64Mi
      env:
        - name: GREETING
          value: hello-$(POD_NAME)
        - name: POD_NAME
          valueFrom: { fieldRef: { fieldPath: metadata.name } }
        - name: LATE
          value: $(POD_NAME)-late
        - name: POD_IP
          valueFrom: { fieldRef: { fieldPath: status.podIP } }
        - name: APP_LABEL
          valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } }
        - name: MEM_MI
          valueFrom: { resourceFieldRef: { resource: limits.memory, divisor: 1Mi } }
        - name: MODE
          valueFrom: { configMapKeyRef: { name: app-config, key: mode } }
        - name: PASSWORD
          valueFrom: { secretKeyRef: { name: app-secret, key: password } }
        - name: ESCAPED
          value: $$(POD_NAME)
      envFrom:
        - prefix: CFG_
          configMapRef: { name: app-config }
`, '  labels:\n    app: demo\n'));
    const p = await agent.waitPod('envpod', (p) => p.status?.phase === 'Running', 'Running');
    let env = '';
    await agent.until(async () => (env = await execIn('envpod', 'c', ['cat', '/tmp/env'])).includes('PASSWORD'), 'env written');
    const vars = Object.fromEntries(env.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    expect(vars).toMatchObject({
      POD_NAME: p.metadata.name,
      // POD_NAME is defined after GREETING, so it is not expanded there (upstream order rule).
      GREETING: 'hello-$(POD_NAME)',
      LATE: `${p.metadata.name}-late`,
      POD_IP: p.status!.podIP,
      APP_LABEL: 'demo',
      MEM_MI: '64',
      MODE: 'fast',
      PASSWORD: 's3cr3t',
      ESCAPED: '$(POD_NAME)',
      CFG_mode: 'fast',
      CFG_level: '3',
    });
    // command and args are expanded with the final environment.
    expect((await execIn('envpod', 'c', ['cat', '/tmp/args'])).trim()).toBe(`${p.metadata.name}-late`);
  });

  it('waits with CreateContainerConfigError for a missing ConfigMap and starts when it appears', async () => {
    agent.write('needs.yaml', manifest('needs', `  terminationGracePeriodSeconds: 0
  containers:
    - name: c
      image: ${BB}
      command: ["sleep", "3600"]
      env:
        - name: X
          valueFrom: { configMapKeyRef: { name: later, key: x } }
`));
    const p = await agent.waitPod('needs', (p) => p.status?.containerStatuses?.[0]?.state.waiting?.reason === 'CreateContainerConfigError', 'CreateContainerConfigError');
    expect(must(p.status?.containerStatuses?.[0], 'a container status').state.waiting?.message).toBe('configmap "later" not found');
    agent.write('later.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: later\ndata:\n  x: "1"\n');
    await agent.waitPod('needs', (p) => p.status?.phase === 'Running', 'Running once the ConfigMap exists');
  });

  it('waits as for a mount (ContainerCreating, FailedMount) for a ConfigMap a volume needs, and starts when it appears', async () => {
    agent.write('mountwait.yaml', manifest('mountwait', `  terminationGracePeriodSeconds: 0
  containers:
    - name: c
      image: ${BB}
      command: ["sleep", "3600"]
      volumeMounts:
        - { name: ca, mountPath: /ca }
  volumes:
    - name: ca
      projected:
        sources:
          - configMap: { name: root-ca-later, items: [{ key: ca.crt, path: ca.crt }] }
`));
    const said = 'MountVolume.SetUp failed for volume "ca" : configmap "root-ca-later" not found';
    const p = await agent.waitPod('mountwait', (p) => p.status?.containerStatuses?.[0]?.state.waiting?.reason === 'ContainerCreating', 'ContainerCreating');
    expect(p.status?.phase).toBe('Pending');
    const failedMount = async () => {
      const events = await (await fetch(`http://127.0.0.1:${agent.port}/events`)).json() as { items: { type: string; reason: string; message: string; involvedObject: { name: string } }[] };
      return events.items.some((e) => e.involvedObject.name.startsWith('mountwait-') && e.type === 'Warning' && e.reason === 'FailedMount' && e.message === said);
    };
    await agent.until(failedMount, 'the FailedMount event', 15_000);
    agent.write('root-ca-later.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: root-ca-later\ndata:\n  ca.crt: PEM\n');
    await agent.waitPod('mountwait', (p) => p.status?.phase === 'Running', 'Running once the ConfigMap exists');
    expect((await execIn('mountwait', 'c', ['cat', '/ca/ca.crt'])).trim()).toBe('PEM');
    // The projected volume is a tmpfs: the agent unmounts it when the pod goes (destroy()
    // kills the agent first, and a mount left behind makes the test directory unremovable).
    const dir = join(agent.dir, 'root', 'pods', p.metadata.uid);
    agent.remove('mountwait.yaml');
    await agent.until(async () => !existsSync(dir), 'the mountwait pod directory removed', 30_000);
  });

  it('mounts every volume kind, secrets on tmpfs only, and updates a ConfigMap volume atomically', async () => {
    agent.write('vol.yaml', manifest('vol', `  terminationGracePeriodSeconds: 0
  volumes:
    - name: scratch
      emptyDir: {}
    - name: ram
      emptyDir: { medium: Memory, sizeLimit: 8Mi }
    - name: cfg
      configMap: { name: app-config }
    - name: cfg-items
      configMap: { name: app-config, items: [{ key: mode, path: sub/mode.txt, mode: 0400 }] }
    - name: sec
      secret: { secretName: app-secret }
    - name: info
      downwardAPI: { items: [{ path: labels, fieldRef: { fieldPath: metadata.labels } }, { path: name, fieldRef: { fieldPath: metadata.name } }] }
    - name: proj
      projected: { sources: [{ configMap: { name: app-config } }, { secret: { name: app-secret } }] }
    - name: host
      hostPath: { path: ${hostDir}/made, type: DirectoryOrCreate }
  containers:
    - name: writer
      image: ${BB}
      command: ["sh", "-c", "echo shared > /scratch/file; sleep 3600"]
      volumeMounts:
        - { name: scratch, mountPath: /scratch }
        - { name: host, mountPath: /host }
    - name: reader
      image: ${BB}
      command: ["sleep", "3600"]
      volumeMounts:
        - { name: scratch, mountPath: /scratch, readOnly: true }
        - { name: scratch, mountPath: /only-sub, subPath: deeper/dir }
        - { name: ram, mountPath: /ram }
        - { name: cfg, mountPath: /etc/cfg }
        - { name: cfg-items, mountPath: /etc/cfg-items }
        - { name: sec, mountPath: /etc/sec }
        - { name: info, mountPath: /etc/info }
        - { name: proj, mountPath: /etc/proj }
`, '  labels:\n    b: two\n    a: one\n'));
    const p = await agent.waitPod('vol', (p) => p.status?.phase === 'Running' && p.status.containerStatuses!.every((c) => c.ready), 'Running');
    await agent.until(async () => (await execIn('vol', 'reader', ['cat', '/scratch/file'])).trim() === 'shared', 'emptyDir shared between containers');
    expect(await execIn('vol', 'reader', ['cat', '/etc/cfg/mode'])).toBe('fast');
    expect(await execIn('vol', 'reader', ['cat', '/etc/cfg-items/sub/mode.txt'])).toBe('fast');
    expect((await execIn('vol', 'reader', ['stat', '-L', '-c', '%a', '/etc/cfg-items/sub/mode.txt'])).trim()).toBe('400');
    expect(await execIn('vol', 'reader', ['cat', '/etc/sec/password'])).toBe('s3cr3t');
    expect((await execIn('vol', 'reader', ['stat', '-L', '-c', '%a', '/etc/sec/password'])).trim()).toBe('644');
    expect(await execIn('vol', 'reader', ['cat', '/etc/info/labels'])).toBe('a="one"\nb="two"');
    expect(await execIn('vol', 'reader', ['cat', '/etc/info/name'])).toBe(p.metadata.name);
    expect(await execIn('vol', 'reader', ['cat', '/etc/proj/password'])).toBe('s3cr3t');
    expect(existsSync(join(hostDir, 'made'))).toBe(true);
    // Read-only where asked; the published kinds always.
    await expect(execIn('vol', 'reader', ['sh', '-c', 'echo x > /scratch/no'])).rejects.toThrow();
    await expect(execIn('vol', 'reader', ['sh', '-c', 'echo x > /etc/cfg/no'])).rejects.toThrow();
    // Filesystems: memory-backed emptyDir and secret are tmpfs, inside and on the host.
    const mountsIn = await execIn('vol', 'reader', ['cat', '/proc/mounts']);
    expect(mountsIn).toMatch(/ \/ram tmpfs /);
    expect(mountsIn).toMatch(/ \/etc\/sec tmpfs /);
    const hostMounts = readFileSync('/proc/self/mountinfo', 'utf8');
    expect(hostMounts).toContain(`/pods/${p.metadata.uid}/volumes/kubernetes.io~secret/sec`);
    // Atomic layout: ..data swapped, per-key symlinks into it.
    const ls = await execIn('vol', 'reader', ['ls', '-la', '/etc/cfg']);
    expect(ls).toMatch(/\.\.data -> \.\.\d{4}_/);
    expect(ls).toMatch(/mode -> \.\.data\/mode/);

    // A reader polling during the update sees the old value or the new, never a mix.
    const poll = execIn('vol', 'reader', ['sh', '-c', 'end=$(( $(date +%s) + 6 )); while [ $(date +%s) -lt $end ]; do cat /etc/cfg/mode; echo; done | sort | uniq -c']);
    agent.write('objects.yaml', configMap('  mode: slow\n  level: "3"\n') + '---\n' + secret);
    await agent.until(async () => (await execIn('vol', 'reader', ['cat', '/etc/cfg/mode'])) === 'slow', 'ConfigMap update reaches the volume', 30_000);
    const seen = (await poll).trim().split('\n').map((l) => l.trim().split(/\s+/)[1]);
    expect(seen.every((v) => v === 'fast' || v === 'slow')).toBe(true);
  });

  it('manages /etc/hosts (pod IP, hostname, hostAliases) and resolv.conf (dnsPolicy None)', async () => {
    agent.write('dns.yaml', manifest('dnspod', `  terminationGracePeriodSeconds: 0
  hostAliases:
    - ip: 127.0.0.2
      hostnames: [foo.local, bar.local]
  dnsPolicy: None
  dnsConfig:
    nameservers: [127.0.0.53]
    searches: [example.internal]
    options: [{ name: ndots, value: "2" }]
  containers:
    - name: c
      image: ${BB}
      command: ["sleep", "3600"]
`));
    const p = await agent.waitPod('dnspod', (p) => p.status?.phase === 'Running', 'Running');
    const hosts = await execIn('dnspod', 'c', ['cat', '/etc/hosts']);
    expect(hosts).toContain('# Kubernetes-managed hosts file.');
    expect(hosts).toContain(`${p.status!.podIP}\t${p.metadata.name}`);
    expect(hosts).toContain('127.0.0.2\tfoo.local\tbar.local');
    const resolv = await execIn('dnspod', 'c', ['cat', '/etc/resolv.conf']);
    expect(resolv).toContain('nameserver 127.0.0.53');
    expect(resolv).toContain('search example.internal');
    expect(resolv).toContain('options ndots:2');
  });

  it('refuses a subPathExpr that escapes its volume, and a hostPath Directory that does not exist', async () => {
    agent.write('escape.yaml', manifest('escape', `  terminationGracePeriodSeconds: 0
  volumes:
    - name: v
      emptyDir: {}
  containers:
    - name: c
      image: ${BB}
      command: ["sleep", "3600"]
      env:
        - { name: EVIL, value: "../../../../etc" }
      volumeMounts:
        - { name: v, mountPath: /v, subPathExpr: $(EVIL) }
`) + '---\n' + manifest('nodir', `  terminationGracePeriodSeconds: 0
  volumes:
    - name: h
      hostPath: { path: ${hostDir}/missing, type: Directory }
  containers:
    - name: c
      image: ${BB}
      command: ["sleep", "3600"]
      volumeMounts:
        - { name: h, mountPath: /h }
`));
    const esc = await agent.waitPod('escape', (p) => p.status?.containerStatuses?.[0]?.state.waiting?.reason === 'CreateContainerConfigError', 'CreateContainerConfigError');
    // The expanded value is not quoted (it may come from a Secret): the field and the expression are.
    expect(must(esc.status?.containerStatuses?.[0], 'a container status').state.waiting?.message).toContain(`volumeMounts[0].subPathExpr: Invalid value: "$(EVIL)": must be a relative path that does not contain '..' once expanded`);
    const nodir = await agent.waitPod('nodir', (p) => /hostPath type check failed/.test(p.status?.containerStatuses?.[0]?.state.waiting?.message ?? ''), 'FailedMount');
    expect(must(nodir.status?.containerStatuses?.[0], 'a container status').state.waiting?.message).toBe(`MountVolume.SetUp failed for volume "h" : hostPath type check failed: ${hostDir}/missing does not exist (type Directory)`);
    expect(existsSync(join(hostDir, 'missing'))).toBe(false);
  });

  it('releases volumes (tmpfs included) and the pod directory when the pod goes', async () => {
    const p = (await agent.pod('vol'))!;
    const dir = join(agent.dir, 'root', 'pods', p.metadata.uid);
    expect(existsSync(dir)).toBe(true);
    agent.remove('vol.yaml');
    await agent.until(async () => !existsSync(dir), 'pod directory removed', 30_000);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(p.metadata.uid);
  });
});
