import { describe, expect, it } from 'vitest';
import {
  type Runner, chooseIptablesBackend, decideIptablesBackend, newServicePortsCache, renderNftables, servicePorts, tableObjects, validNftTable,
} from '../../netproxy/index.js';
import { slice, state, svc } from '../support/netproxy-fixtures.js';

const OPTS = { table: 'kube-proxy', clusterCIDR: '10.244.0.0/16' };
const lines = (text: string) => text.trim().split('\n');

describe('renderNftables (full)', () => {
  const st = state([
    svc('ns', 'web', { clusterIP: '172.30.0.10', type: 'NodePort', ports: [{ nodePort: 30080 }] }),
    svc('ns', 'empty', { clusterIP: '172.30.0.11', type: 'NodePort', ports: [{ nodePort: 30081 }] }),
    svc('ns', 'sticky', { clusterIP: '172.30.0.12', sessionAffinity: 'ClientIP', affinityTimeoutSeconds: 600 }),
    svc('ns', 'local', { clusterIP: '172.30.0.13', type: 'LoadBalancer', loadBalancerIPs: ['192.0.2.7'], externalTrafficPolicy: 'Local', ports: [{ nodePort: 30082 }] }),
    svc('ns', 'ilocal', { clusterIP: '172.30.0.14', internalTrafficPolicy: 'Local' }),
  ], [
    slice('ns', 'web', ['10.180.0.1', '10.180.0.2', { ip: '10.180.0.3', ready: false }]),
    slice('ns', 'sticky', ['10.180.0.4']),
    slice('ns', 'local', [{ ip: '10.180.0.5', node: 'other' }]),
    slice('ns', 'ilocal', [{ ip: '10.180.0.6', node: 'other' }]),
  ]);
  const rs = renderNftables(servicePorts(st, { nodeName: 'me' }), OPTS);
  const text = rs.text;

  it('dispatches ready endpoints through maps, with one chain per endpoint count and index', () => {
    expect(text).toMatch(/add element ip kube-proxy service-ips \{[^}]*172\.30\.0\.10 \. tcp \. 80 : goto svc-cluster/);
    expect(text).toContain('172.30.0.10 . tcp . 80 : goto ip-cluster-n2');
    expect(text).toMatch(/ip-cluster-eps-0 \{[^}]*172\.30\.0\.10 \. tcp \. 80 : 10\.180\.0\.1 \. 80/);
    expect(text).toMatch(/ip-cluster-eps-1 \{ 172\.30\.0\.10 \. tcp \. 80 : 10\.180\.0\.2 \. 80/);
    expect(text).not.toContain('10.180.0.3'); // not ready
    expect(text).toContain('add rule ip kube-proxy ip-cluster-n2 numgen random mod 2 vmap { 0 : goto ip-cluster-pick-0, 1 : goto ip-cluster-pick-1 }');
    expect(text).toContain('add rule ip kube-proxy ip-cluster-pick-1 dnat ip to ip daddr . meta l4proto . th dport map @ip-cluster-eps-1');
    expect(text).toMatch(/service-nodeports \{[^}]*tcp \. 30080 : goto np-cluster/);
    // Chains do not grow with Services: fixed ones plus per count/index.
    expect(lines(text).filter((l) => l.startsWith('add chain')).length).toBeLessThan(40);
  });

  it('rejects Services without endpoints, drops Local ones without local endpoints, masquerades off-cluster and hairpin traffic', () => {
    expect(text).toMatch(/no-endpoint-services \{[^}]*172\.30\.0\.11 \. tcp \. 80 : goto reject-chain/);
    expect(text).toMatch(/no-endpoint-nodeports \{[^}]*tcp \. 30081 : goto reject-chain/);
    expect(text).toMatch(/no-endpoint-services \{[^}]*172\.30\.0\.14 \. tcp \. 80 : drop/);
    expect(text).toMatch(/no-endpoint-external \{[^}]*192\.0\.2\.7 \. tcp \. 80 : drop/);
    expect(text).toMatch(/no-endpoint-nodeports \{[^}]*tcp \. 30082 : drop/);
    // Pods and the node still reach the Local LoadBalancer through the cluster endpoints.
    expect(text).toMatch(/service-ips \{[^}]*192\.0\.2\.7 \. tcp \. 80 : goto ext-local/);
    expect(text).toContain('add rule ip kube-proxy ext-local ip saddr 10.244.0.0/16 ip daddr . meta l4proto . th dport vmap @ip-cluster-count');
    expect(text).toContain('add rule ip kube-proxy svc-cluster ip saddr != 10.244.0.0/16 meta mark set meta mark | 0x4000');
    expect(text).toMatch(/hairpin \{[^}]*10\.180\.0\.1 \. 10\.180\.0\.1/);
    expect(text).toContain('masquerade fully-random');
    expect(text).toContain('add rule ip kube-proxy cluster-ips-check ip daddr @cluster-ips reject');
  });

  it('ClientIP affinity: dynamic sets per endpoint index, refreshed with the Service timeout', () => {
    expect(text).toContain('add set ip kube-proxy ip-cluster-aff-0 { typeof ip saddr . ip daddr . meta l4proto . th dport; flags dynamic,timeout; timeout 1d; }');
    expect(text).toMatch(/affinity-ip-t600 \{ 172\.30\.0\.12 \. tcp \. 80 \}/);
    expect(text).toContain('ip daddr . meta l4proto . th dport @affinity-ip-t600 update @ip-cluster-aff-0 { ip saddr . ip daddr . meta l4proto . th dport timeout 600s }');
    expect(text).toContain('add rule ip kube-proxy ip-cluster-n1 ip saddr . ip daddr . meta l4proto . th dport @ip-cluster-aff-0 goto ip-cluster-pick-0');
    // Affinity sets keep their entries across full syncs.
    expect(text).not.toContain('flush set ip kube-proxy ip-cluster-aff-0');
  });

  it('deletes stale objects of ours on a full sync, chains before sets', () => {
    const again = renderNftables(servicePorts(st, { nodeName: 'me' }), OPTS, { existing: ['chain ip-cluster-n7', 'map ip-cluster-eps-9', 'chain services'] });
    const tail = lines(again.text).slice(-3);
    expect(tail).toEqual(['flush chain ip kube-proxy ip-cluster-n7', 'delete chain ip kube-proxy ip-cluster-n7', 'delete map ip kube-proxy ip-cluster-eps-9']);
    expect(tableObjects('table ip kube-proxy {\n\tmap service-ips {\n\t}\n\tchain services {\n\t}\n}')).toEqual(['map service-ips', 'chain services']);
    // `nft list chains ip` prints every table of the family: only ours counts.
    const chains = 'table ip nat {\n\tchain DOCKER {\n\t}\n}\ntable ip kube-proxy {\n\tchain canary {\n\t}\n\tchain nat-prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t}\n}\ntable ip other {\n\tset s {\n\t\ttype ipv4_addr\n\t}\n}\n';
    expect(tableObjects(chains, 'kube-proxy')).toEqual(['chain canary', 'chain nat-prerouting']);
    expect(tableObjects(chains, 'absent')).toEqual([]);
  });
});

describe('renderNftables (partial)', () => {
  const services = Array.from({ length: 50 }, (_, i) => svc('ns', `s${i}`, { clusterIP: `172.30.1.${i}` }));
  const slices = services.map((s, i) => slice('ns', s.name, [`10.180.1.${i}`, `10.180.2.${i}`]));

  it('a changed endpoint is an element delete and add, nothing else', () => {
    const cache = newServicePortsCache();
    const first = renderNftables(servicePorts(state(services, slices), {}, cache), OPTS);
    const changed = [...slices];
    changed[3] = slice('ns', 's3', ['10.180.1.3', '10.180.9.9']);
    const part = renderNftables(servicePorts(state(services, changed), {}, cache), OPTS, { previous: first });
    expect(part.portsChanged).toBe(1);
    expect(part.chainsWritten).toBe(0);
    expect(lines(part.text)).toEqual([
      'delete element ip kube-proxy hairpin { 10.180.2.3 . 10.180.2.3 }',
      'delete element ip kube-proxy ip-cluster-eps-1 { 172.30.1.3 . tcp . 80 }',
      'add element ip kube-proxy hairpin { 10.180.9.9 . 10.180.9.9 }',
      'add element ip kube-proxy ip-cluster-eps-1 { 172.30.1.3 . tcp . 80 : 10.180.9.9 . 80 }',
    ]);
  });

  it('a new endpoint count adds its dispatch chain; a removed Service and a rejected one follow through; the result equals a full render', () => {
    const cache = newServicePortsCache();
    const first = renderNftables(servicePorts(state(services, slices), {}, cache), OPTS);
    const changed = slices.filter((s) => s.serviceName !== 's7');
    changed[0] = slice('ns', 's0', ['10.180.1.0', '10.180.2.0', '10.180.3.0']);
    const next = state(services.filter((s) => s.name !== 's9'), changed);
    const part = renderNftables(servicePorts(next, {}, cache), OPTS, { previous: first });
    expect(part.text).toContain('add chain ip kube-proxy ip-cluster-n3');
    expect(part.text).toContain('add map ip kube-proxy ip-cluster-eps-2');
    expect(part.text).toContain('add element ip kube-proxy no-endpoint-services { 172.30.1.7 . tcp . 80 : goto reject-chain }');
    expect(part.text).toContain('delete element ip kube-proxy service-ips { 172.30.1.7 . tcp . 80, 172.30.1.9 . tcp . 80 }');
    expect(part.text).toContain('delete element ip kube-proxy cluster-ips { 172.30.1.9 }');
    const full = renderNftables(servicePorts(next), OPTS);
    const flat = (r: typeof full) => [...r.state.elements].map(([set, m]) => [set, [...m].map(([k, v]) => `${k}=${v}`).sort()] as const).filter(([, v]) => v.length > 0).sort();
    expect(flat(part)).toEqual(flat(full));
  });
});

describe('renderNftables (shared elements)', () => {
  // Two ports of one Service share its cluster IP and endpoints (cluster-ips, hairpin):
  // each element is written once and leaves only with the last port that wants it.
  const two = svc('ns', 'two', { clusterIP: '172.30.2.1', ports: [{ name: 'a', port: 80 }, { name: 'b', port: 81 }] });
  const eps = slice('ns', 'two', ['10.180.5.1'], [{ name: 'a', port: 80 }, { name: 'b', port: 81 }]);

  it('writes a shared element once and keeps it while one port still wants it', () => {
    const cache = newServicePortsCache();
    const first = renderNftables(servicePorts(state([two], [eps]), {}, cache), OPTS);
    expect(first.text.match(/10\.180\.5\.1 \. 10\.180\.5\.1/g)).toHaveLength(1);
    expect(first.text).toContain('add element ip kube-proxy cluster-ips { 172.30.2.1 }');
    const oneLeft = { ...two, ports: [two.ports[0]!] };
    const part = renderNftables(servicePorts(state([oneLeft], [eps]), {}, cache), OPTS, { previous: first });
    expect(part.text).toContain('delete element ip kube-proxy service-ips { 172.30.2.1 . tcp . 81 }');
    expect(part.text).not.toContain('cluster-ips');
    expect(part.text).not.toContain('hairpin');
    const none = renderNftables(servicePorts(state([], []), {}, cache), OPTS, { previous: part });
    expect(lines(none.text)).toContain('delete element ip kube-proxy cluster-ips { 172.30.2.1 }');
    expect(lines(none.text)).toContain('delete element ip kube-proxy hairpin { 10.180.5.1 . 10.180.5.1 }');
    expect(none.elements).toBe(0);
    expect(none.state.shared.size).toBe(0);
  });
});

describe('servicePorts cache', () => {
  it('returns the same objects for unchanged Services and recomputes changed, added and removed ones', () => {
    const services = [svc('ns', 'a', { clusterIP: '172.30.0.1' }), svc('ns', 'b', { clusterIP: '172.30.0.2' })];
    const slices = [slice('ns', 'a', ['10.180.0.1']), slice('ns', 'b', ['10.180.0.2'])];
    const cache = newServicePortsCache();
    const p1 = servicePorts(state(services, slices), {}, cache);
    const p2 = servicePorts(state(services, [slices[0]!, slice('ns', 'b', ['10.180.0.3'])]), {}, cache);
    expect(p2[0]).toBe(p1[0]);
    expect(p2[1]).not.toBe(p1[1]);
    expect(p2[1]!.endpoints.map((e) => e.ip)).toEqual(['10.180.0.3']);
    // Slice of b removed: b recomputed without endpoints.
    const p3 = servicePorts(state(services, [slices[0]!]), {}, cache);
    expect(p3[1]!.hasEndpoints).toBe(false);
    expect(p3[0]).toBe(p1[0]);
    const c = svc('ns', 'c', { clusterIP: '172.30.0.3' });
    const p4 = servicePorts(state([services[0]!, c], [slices[0]!]), {}, cache);
    expect(p4.map((p) => p.name)).toEqual(['ns/a:p80', 'ns/c:p80']);
    expect(p4).toEqual(servicePorts(state([services[0]!, c], [slices[0]!])));
  });
});

describe('iptables backend choice (iptables-wrapper)', () => {
  const rules = (n: number, chain = 'DOCKER') => Array.from({ length: n }, (_, i) => `-A ${chain} -j RETURN ${i}`).join('\n');
  it('follows kubelet hint chains, nf_tables first', () => {
    const d = chooseIptablesBackend({ nftMangle: '*mangle\n:KUBE-IPTABLES-HINT - [0:0]\n', nftAll: '', legacyAll: rules(50) });
    expect(d).toMatchObject({ backend: 'nft', forced: false });
    expect(d.reason).toMatch(/hint chain/);
    expect(chooseIptablesBackend({ nftMangle: '', nftAll: '', legacyAll: ':KUBE-KUBELET-CANARY - [0:0]\n' }).backend).toBe('legacy');
  });
  it("leaves kubelet's hint with the host's iptables first, so that another writer's rules in legacy do not decide", async () => {
    const calls: string[] = [];
    let hint = false;
    const run: Runner = async (file, args) => {
      calls.push([file, ...args].join(' '));
      const ok = (stdout = '') => ({ exitCode: 0, stdout, stderr: '' });
      if (file === 'iptables' && args.includes('-N')) {
        if (hint) return { exitCode: 1, stdout: '', stderr: 'iptables: Chain already exists.\n' };
        hint = true;
        return ok();
      }
      if (file === 'iptables-nft-save') return ok(args.includes('mangle') && hint ? '*mangle\n:KUBE-IPTABLES-HINT - [0:0]\n' : rules(20));
      return ok(rules(1000, 'KUBE-SEP-XXXXXXXXXXXXXXXX'));
    };
    const d = await decideIptablesBackend(undefined, run);
    expect(calls[0]).toBe('iptables -w 5 -t mangle -N KUBE-IPTABLES-HINT');
    expect(d.backend).toBe('nft');
    expect(d.reason).toMatch(/hint chain found in the nf_tables mangle table/);
    // Already there: no error. Forced: no hint written.
    expect((await decideIptablesBackend(undefined, run)).backend).toBe('nft');
    calls.length = 0;
    expect((await decideIptablesBackend('legacy', run)).backend).toBe('legacy');
    expect(calls.some((c) => c.includes('-N'))).toBe(false);
  });
  it('else the backend that holds the host rules; nothing: nf_tables', () => {
    const docker = chooseIptablesBackend({ nftMangle: '', nftAll: rules(20), legacyAll: '' });
    expect(docker.backend).toBe('nft');
    expect(docker.reason).toMatch(/20 rules there/);
    expect(docker.warnings).toEqual([]);
    expect(chooseIptablesBackend({ nftMangle: '', nftAll: rules(2), legacyAll: rules(5) }).backend).toBe('legacy');
    expect(chooseIptablesBackend({ nftMangle: '', nftAll: '', legacyAll: '' }).reason).toMatch(/no iptables rules/);
  });
  it('warns when forced legacy sits beside other programs\' nf_tables rules (our own KUBE rules do not count)', () => {
    const d = chooseIptablesBackend({ nftMangle: '', nftAll: `${rules(12)}\n${rules(3, 'KUBE-SERVICES')}`, legacyAll: '' }, 'legacy');
    expect(d).toMatchObject({ backend: 'legacy', forced: true, reason: 'forced by --iptables-backend=legacy' });
    expect(d.warnings[0]).toMatch(/^12 rules of other programs are in nf_tables .* two rule sets on the same hooks/);
  });
});

describe('validNftTable', () => {
  it('takes nft-safe names only', () => {
    expect(validNftTable('kube-proxy')).toBe(true);
    for (const bad of ['', '1x', 'a b', 'x;flush ruleset', 'a'.repeat(65)]) expect(validNftTable(bad)).toBe(false);
  });
});
