import { describe, expect, it } from 'vitest';
import { IpvsExecutor, renderIpvs, servicePorts, buildProxyState, type Runner } from '../../netproxy/index.js';

// This kernel has no ip_vs: the executor is checked against a recording runner that
// answers like ip/ipset/ipvsadm do on a host that has it.
function recorder(bound: string[], linkExists: boolean) {
  const calls: { file: string; args: string[]; input?: string }[] = [];
  const run: Runner = async (file, args, opts) => {
    calls.push({ file, args: [...args], input: opts?.input });
    if (file === 'ip' && args[0] === 'link' && args[1] === 'show') return { exitCode: linkExists ? 0 : 1, stdout: '', stderr: '' };
    if (file === 'ip' && args[0] === '-j') return { exitCode: 0, stdout: JSON.stringify([{ addr_info: bound.map((local) => ({ local })) }]), stderr: '' };
    return { exitCode: 0, stdout: '', stderr: '' };
  };
  return { calls, run };
}

const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { clusterIP: '10.96.0.20', ports: [{ port: 80, targetPort: 8080 }] } };
const eps = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'web', namespace: 'default' }, subsets: [{ addresses: [{ ip: '10.244.0.5' }], ports: [{ port: 8080 }] }] };

describe('IPVS executor', () => {
  it('creates kube-ipvs0, restores sets and virtual servers, binds only the missing addresses, and applies the iptables remainder', async () => {
    const { state } = buildProxyState([svc, eps]);
    const plan = renderIpvs(servicePorts(state), { nodeIPs: ['192.0.2.1'] });
    const { calls, run } = recorder(['10.96.0.99'], false);
    await new IpvsExecutor(run).apply(plan);
    const seq = calls.map((c) => `${c.file} ${c.args.join(' ')}`);
    expect(seq).toEqual([
      'ip link show kube-ipvs0',
      'ip link add kube-ipvs0 type dummy',
      'ipset restore -exist',
      'ipvsadm --clear',
      'ipvsadm-restore ',
      'ip -j -4 addr show dev kube-ipvs0',
      'ip addr add 10.96.0.20/32 dev kube-ipvs0',
      'ip addr del 10.96.0.99/32 dev kube-ipvs0',
      'iptables-restore --noflush --counters',
    ]);
    expect(calls.find((c) => c.file === 'ipvsadm-restore')!.input).toContain('-a -t 10.96.0.20:80 -r 10.244.0.5:8080');
    expect(calls.find((c) => c.file === 'ipset')!.input).toContain('KUBE-CLUSTER-IP');
  });

  it('stops at the first failing step with the command and its error', async () => {
    const { state } = buildProxyState([svc, eps]);
    const plan = renderIpvs(servicePorts(state));
    const run: Runner = async (file) => (file === 'ipvsadm' ? { exitCode: 2, stdout: '', stderr: "Can't initialize ipvs: Protocol not available" } : { exitCode: 0, stdout: '', stderr: '' });
    await expect(new IpvsExecutor(run).apply(plan)).rejects.toThrow("ipvsadm --clear failed (exit 2): Can't initialize ipvs: Protocol not available");
  });
});
