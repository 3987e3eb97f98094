import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containersOf, docker, manifest, removeTestContainers, TestAgent } from '../support/agent.js';
import { randomId, TEST_NAME_PREFIX } from '../support/docker-test-env.js';
import { BUSYBOX as BB, must } from '../support/common.js';

// securityContext on real containers, read back from inside them: id, /proc/1/status
// (capabilities, no_new_privs, seccomp), a read-only root, sysctls; fsGroup on the volumes;
// runAsNonRoot and sysctl admission refusals with kubelet's messages.
// Needs root and a running Docker engine.

const agent = new TestAgent();

/** busybox with USER nobody, for the non-numeric image user case; removed afterwards. */
const NOBODY_IMAGE = `localhost/${TEST_NAME_PREFIX}${randomId()}/busybox-nobody:1`;

const execIn = (pod: string, ctr: string, cmd: string[]) => agent.execIn(pod, ctr, cmd);

async function status(pod: string, ctr: string): Promise<Record<string, string>> {
  const text = await execIn(pod, ctr, ['cat', '/proc/1/status']);
  return Object.fromEntries(text.trim().split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]));
}

const sleeper = (name: string, extra = '') => `    - name: ${name}
      image: ${BB}
      command: ["sleep", "3600"]
${extra}`;

beforeAll(async () => {
  await removeTestContainers();
  const made = await docker.createContainer({ Image: BB, Cmd: ['true'] });
  try {
    await made.commit({ repo: NOBODY_IMAGE.slice(0, NOBODY_IMAGE.lastIndexOf(':')), tag: '1', changes: 'USER nobody' });
  } finally {
    await made.remove({ force: true });
  }
  const config = join(agent.dir, 'config.yaml');
  writeFileSync(config, [
    `podLogsDir: ${join(agent.dir, 'pods-logs')}`,
    `containerLogsDir: ${join(agent.dir, 'containers-logs')}`,
    'allowedUnsafeSysctls: ["net.core.somaxconn"]',
    '',
  ].join('\n'));
  await agent.start(['--config', config]);
});

afterAll(async () => {
  await agent.destroy();
  await docker.getImage(NOBODY_IMAGE).remove({ force: true }).catch(() => undefined);
});

describe('securityContext', () => {
  it('runs as the pod user and group with supplemental groups and fsGroup; the container level wins', async () => {
    agent.write('ids.yaml', manifest('ids', `  terminationGracePeriodSeconds: 0
  securityContext:
    runAsUser: 65534
    runAsGroup: 65534
    supplementalGroups: [1234]
    fsGroup: 2000
  volumes:
    - name: data
      emptyDir: {}
    - name: cfg
      configMap: { name: ids-config }
  containers:
${sleeper('pod-level', `      volumeMounts:
        - { name: data, mountPath: /data }
        - { name: cfg, mountPath: /cfg }
`)}${sleeper('own', `      securityContext:
        runAsUser: 1000
        runAsGroup: 3000
`)}`) + '---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ids-config\ndata:\n  k: v\n');
    await agent.waitPod('ids', (p) => p.status?.phase === 'Running' && p.status.containerStatuses!.every((c) => c.ready), 'Running');
    const ids = async (ctr: string) => {
      const id = async (f: string) => (await execIn('ids', ctr, ['id', f])).trim();
      const [uid, gid, groups] = [id('-u'), id('-g'), id('-G')];
      return { uid: await uid, gid: await gid, groups: (await groups).split(' ').map(Number).sort((a, b) => a - b) };
    };
    expect(await ids('pod-level')).toEqual({ uid: '65534', gid: '65534', groups: [1234, 2000, 65534] });
    expect(await ids('own')).toEqual({ uid: '1000', gid: '3000', groups: [1234, 2000, 3000] });
    // fsGroup: the volume belongs to the group, setgid so new files do too, group-writable.
    expect((await execIn('ids', 'pod-level', ['stat', '-c', '%g %A', '/data'])).trim()).toBe('2000 drwxrwsrwx');
    await execIn('ids', 'pod-level', ['sh', '-c', 'echo hi > /data/f']);
    expect((await execIn('ids', 'pod-level', ['stat', '-c', '%u %g', '/data/f'])).trim()).toBe('65534 2000');
    // Published files: group-readable by fsGroup (kubelet's read-only mask).
    expect((await execIn('ids', 'pod-level', ['stat', '-L', '-c', '%g %a', '/cfg/k'])).trim()).toBe('2000 644');
  });

  it('applies capabilities, no_new_privs, a read-only root, and seccomp as asked', async () => {
    agent.write('caps.yaml', manifest('caps', `  terminationGracePeriodSeconds: 0
  containers:
${sleeper('narrow', `      securityContext:
        capabilities: { drop: [ALL], add: [NET_BIND_SERVICE, CAP_CHOWN] }
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        seccompProfile: { type: RuntimeDefault }
`)}${sleeper('default')}`));
    await agent.waitPod('caps', (p) => p.status?.phase === 'Running' && p.status.containerStatuses!.every((c) => c.ready), 'Running');
    const narrow = await status('caps', 'narrow');
    // CAP_CHOWN (bit 0) and CAP_NET_BIND_SERVICE (bit 10), nothing else.
    expect(narrow.CapEff).toBe('0000000000000401');
    expect(narrow.NoNewPrivs).toBe('1');
    expect(narrow.Seccomp).toBe('2');
    await expect(execIn('caps', 'narrow', ['touch', '/rootfs-write'])).rejects.toThrow(/Read-only file system/);
    // Unset: Docker's default capability set, privilege escalation allowed, and no seccomp
    // (kubelet's default is Unconfined unless seccompDefault is on).
    const dflt = await status('caps', 'default');
    expect(dflt.CapEff).toBe('00000000a80425fb');
    expect(dflt.NoNewPrivs).toBe('0');
    expect(dflt.Seccomp).toBe('0');
    await execIn('caps', 'default', ['touch', '/rootfs-write']);
    // The seccomp difference in a syscall: unshare(CLONE_NEWUSER) only without the filter.
    await execIn('caps', 'default', ['unshare', '-U', 'true']);
    await expect(execIn('caps', 'narrow', ['unshare', '-U', 'true'])).rejects.toThrow(/Operation not permitted/);
  });

  it('runs privileged containers with every capability the host has', async (ctx) => {
    // Some hosts (this one, inside a container with a reduced bounding set) cannot run any
    // privileged container: `docker run --privileged` fails there too.
    const probe = await docker.createContainer({ Image: BB, Cmd: ['true'], HostConfig: { Privileged: true } });
    const can = await probe.start().then(() => true, () => false);
    await probe.remove({ force: true });
    if (!can) ctx.skip();
    agent.write('priv.yaml', manifest('priv', `  terminationGracePeriodSeconds: 0
  containers:
${sleeper('c', `      securityContext:
        privileged: true
`)}`));
    await agent.waitPod('priv', (p) => p.status?.phase === 'Running', 'Running');
    const bounding = (await import('node:fs')).readFileSync('/proc/self/status', 'utf8').match(/CapBnd:\s*(\w+)/)![1];
    expect((await status('priv', 'c')).CapEff).toBe(bounding);
  });

  it('sets safe and allowed sysctls in the pod, and rejects others at admission', async () => {
    agent.write('sysctl.yaml', manifest('sysctl', `  terminationGracePeriodSeconds: 0
  securityContext:
    sysctls:
      - { name: kernel.shm_rmid_forced, value: "1" }
      - { name: net.ipv4.ip_local_port_range, value: "20000 30000" }
      - { name: net/core/somaxconn, value: "1234" }
  containers:
${sleeper('c')}`) + '---\n' + manifest('unsafe', `  terminationGracePeriodSeconds: 0
  securityContext:
    sysctls:
      - { name: kernel.msgmax, value: "9000" }
  containers:
${sleeper('c')}`));
    // A net.* sysctl with hostNetwork is refused by validation, as the API server does
    // (ValidatePodSpec): its file is not applied and the error names the field.
    agent.write('hostnet-sysctl.yaml', manifest('hostnet-sysctl', `  terminationGracePeriodSeconds: 0
  hostNetwork: true
  securityContext:
    sysctls:
      - { name: net.ipv4.tcp_syncookies, value: "1" }
  containers:
${sleeper('c')}`));
    await agent.waitPod('sysctl', (p) => p.status?.phase === 'Running', 'Running');
    expect((await execIn('sysctl', 'c', ['cat', '/proc/sys/kernel/shm_rmid_forced'])).trim()).toBe('1');
    expect((await execIn('sysctl', 'c', ['cat', '/proc/sys/net/ipv4/ip_local_port_range'])).trim().split(/\s+/)).toEqual(['20000', '30000']);
    expect((await execIn('sysctl', 'c', ['cat', '/proc/sys/net/core/somaxconn'])).trim()).toBe('1234');
    const unsafe = await agent.waitPod('unsafe', (p) => p.status?.phase === 'Failed', 'rejected');
    expect(unsafe.status).toMatchObject({ phase: 'Failed', reason: 'SysctlForbidden', message: 'Pod was rejected: forbidden sysctl: "kernel.msgmax" not allowlisted' });
    await agent.until(async () => agent.log().includes("spec.securityContext.sysctls[0].name: Invalid value: \\\"net.ipv4.tcp_syncookies\\\": may not be specified when 'hostNetwork' is true"), 'the hostNetwork sysctl refused by validation', 30_000);
    expect(await agent.pod('hostnet-sysctl')).toBeUndefined();
    // Nothing of a rejected pod is created.
    expect(await containersOf(agent.nodeName, unsafe.metadata.name)).toEqual([]);
    const events = (await (await fetch(`http://127.0.0.1:${agent.port}/events`)).json()) as { items: { reason: string; message: string; involvedObject: { name: string } }[] };
    expect(events.items.find((e) => e.involvedObject.name === unsafe.metadata.name && e.reason === 'SysctlForbidden')?.message).toBe('forbidden sysctl: "kernel.msgmax" not allowlisted');
  });

  it('enforces runAsNonRoot with kubelet\'s messages', async () => {
    agent.write('nonroot.yaml', [
      manifest('root-image', `  terminationGracePeriodSeconds: 0
  securityContext: { runAsNonRoot: true }
  containers:
${sleeper('c')}`),
      manifest('root-user', `  terminationGracePeriodSeconds: 0
  containers:
${sleeper('c', `      securityContext: { runAsNonRoot: true, runAsUser: 0 }
`)}`),
      manifest('named-user', `  terminationGracePeriodSeconds: 0
  securityContext: { runAsNonRoot: true }
  containers:
    - name: c
      image: ${NOBODY_IMAGE}
      command: ["sleep", "3600"]
`),
      manifest('nonroot-ok', `  terminationGracePeriodSeconds: 0
  securityContext: { runAsNonRoot: true, runAsUser: 65534 }
  containers:
${sleeper('c')}`),
    ].join('---\n'));
    const waitingOf = async (name: string) => {
      const p = await agent.waitPod(name, (p) => p.status?.containerStatuses?.[0]?.state.waiting?.reason === 'CreateContainerConfigError', 'CreateContainerConfigError');
      return { full: `${p.metadata.name}_default(${p.metadata.uid})`, message: must(p.status?.containerStatuses?.[0], 'a container status').state.waiting!.message };
    };
    const img = await waitingOf('root-image');
    expect(img.message).toBe(`container has runAsNonRoot and image will run as root (pod: "${img.full}", container: c)`);
    const usr = await waitingOf('root-user');
    expect(usr.message).toBe(`container's runAsUser breaks non-root policy (pod: "${usr.full}", container: c)`);
    const named = await waitingOf('named-user');
    expect(named.message).toBe(`container has runAsNonRoot and image has non-numeric user (nobody), cannot verify user is non-root (pod: "${named.full}", container: c)`);
    await agent.waitPod('nonroot-ok', (p) => p.status?.phase === 'Running', 'Running');
    expect((await execIn('nonroot-ok', 'c', ['id', '-u'])).trim()).toBe('65534');
    // Never created: the refusal comes before the engine is asked.
    expect(await containersOf(agent.nodeName, (await agent.pod('root-image'))!.metadata.name).then((l) => l.filter((c) => c.Labels['io.kubernetes.container.name'] === 'c'))).toEqual([]);
  });
});
