import { describe, expect, it } from 'vitest';
import { SCHEDULERS, type Scheduler, addressChanges, renderIpvs, servicePorts } from '../../netproxy/index.js';
import { slice, state, svc } from '../support/netproxy-fixtures.js';

const st = state([
  svc('ns1', 'web', { clusterIP: '10.96.0.10', sessionAffinity: 'ClientIP', affinityTimeoutSeconds: 600 }),
  svc('ns1', 'dns', { type: 'NodePort', clusterIP: '10.96.0.11', externalTrafficPolicy: 'Local', externalIPs: ['192.0.2.50'], ports: [{ protocol: 'UDP', port: 53, nodePort: 30053 }] }),
  svc('ns1', 'lb', { type: 'LoadBalancer', clusterIP: '10.96.0.12', loadBalancerIPs: ['198.51.100.1'], ports: [{ protocol: 'SCTP', port: 9, nodePort: 30009 }] }),
  svc('ns1', 'headless', { clusterIP: 'None' }),
], [
  slice('ns1', 'web', ['10.244.0.3', { ip: '10.244.0.4', ready: false, serving: true, terminating: true }]),
  slice('ns1', 'dns', [{ ip: '10.244.0.5', node: 'n1' }, { ip: '10.244.0.6', node: 'n2' }], [{ protocol: 'UDP', port: 5353 }]),
  slice('ns1', 'lb', ['10.244.0.7'], [{ protocol: 'SCTP', port: 9 }]),
  slice('ns1', 'headless', ['10.244.0.8']),
]);
const plan = (scheduler?: Scheduler) =>
  renderIpvs(servicePorts(st, { nodeName: 'n1' }), { nodeIPs: ['192.0.2.2'], clusterCIDR: '10.244.0.0/16', randomFully: true, ...(scheduler ? { scheduler } : {}) });

describe('IPVS planner', () => {
  it('renders one virtual server per IP:port, rr by default, affinity as persistence, Local policy on external addresses', () => {
    expect(plan().ipvsadm).toBe(`-A -u 10.96.0.11:53 -s rr
-a -u 10.96.0.11:53 -r 10.244.0.5:5353 -m -w 1
-a -u 10.96.0.11:53 -r 10.244.0.6:5353 -m -w 1
-A -u 192.0.2.50:53 -s rr
-a -u 192.0.2.50:53 -r 10.244.0.5:5353 -m -w 1
-A -u 192.0.2.2:30053 -s rr
-a -u 192.0.2.2:30053 -r 10.244.0.5:5353 -m -w 1
-A --sctp-service 10.96.0.12:9 -s rr
-a --sctp-service 10.96.0.12:9 -r 10.244.0.7:9 -m -w 1
-A --sctp-service 198.51.100.1:9 -s rr
-a --sctp-service 198.51.100.1:9 -r 10.244.0.7:9 -m -w 1
-A --sctp-service 192.0.2.2:30009 -s rr
-a --sctp-service 192.0.2.2:30009 -r 10.244.0.7:9 -m -w 1
-A -t 10.96.0.10:80 -s rr -p 600
-a -t 10.96.0.10:80 -r 10.244.0.3:80 -m -w 1
`);
  });

  it('takes every scheduler and refuses unknown ones', () => {
    for (const s of SCHEDULERS) expect(plan(s).virtualServers.every((v) => v.scheduler === s)).toBe(true);
    expect(SCHEDULERS).toEqual(['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'sh', 'dh', 'sed', 'nq']);
    expect(() => plan('fifo' as Scheduler)).toThrow('unknown IPVS scheduler "fifo" (one of rr, wrr, lc, wlc, lblc, lblcr, sh, dh, sed, nq)');
  });

  it('binds cluster, external and load-balancer IPs on kube-ipvs0 (never node IPs), and diffs bindings', () => {
    expect(plan().addresses).toEqual(['10.96.0.10', '10.96.0.11', '10.96.0.12', '192.0.2.50', '198.51.100.1']);
    expect(addressChanges(['10.96.0.10', '10.96.0.99'], plan().addresses)).toEqual({ add: ['10.96.0.11', '10.96.0.12', '192.0.2.50', '198.51.100.1'], remove: ['10.96.0.99'] });
  });

  it('fills the ipsets kube-proxy uses', () => {
    const sets = Object.fromEntries(plan().ipsets.filter((s) => s.entries.length > 0).map((s) => [s.name, s.entries]));
    expect(sets).toEqual({
      'KUBE-CLUSTER-IP': ['10.96.0.10,tcp:80', '10.96.0.11,udp:53', '10.96.0.12,sctp:9'],
      'KUBE-LOOP-BACK': ['10.244.0.3,tcp:80,10.244.0.3', '10.244.0.5,udp:5353,10.244.0.5', '10.244.0.6,udp:5353,10.244.0.6', '10.244.0.7,sctp:9,10.244.0.7'],
      'KUBE-EXTERNAL-IP-LOCAL': ['192.0.2.50,udp:53'],
      'KUBE-LOAD-BALANCER': ['198.51.100.1,sctp:9'],
      'KUBE-NODE-PORT-LOCAL-UDP': ['30053'],
      'KUBE-NODE-PORT-SCTP-HASH': ['192.0.2.2,sctp:30009'],
    });
    const text = plan().ipset;
    expect(text).toContain('create KUBE-NODE-PORT-TCP bitmap:port range 0-65535 comment\nflush KUBE-NODE-PORT-TCP\n');
    expect(text).toContain('create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536 comment\nflush KUBE-LOOP-BACK\n'
      + 'add KUBE-LOOP-BACK 10.244.0.3,tcp:80,10.244.0.3 comment "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose"\n');
  });

  it('keeps only a small iptables remainder', () => {
    expect(plan().iptables).toBe(`*filter
:KUBE-FORWARD - [0:0]
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
*nat
:KUBE-SERVICES - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-NODE-PORT - [0:0]
:KUBE-LOAD-BALANCER - [0:0]
:KUBE-MARK-MASQ - [0:0]
-A KUBE-POSTROUTING -m comment --comment "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-SERVICES -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SERVICES -m comment --comment "Kubernetes service external ip + port with externalTrafficPolicy=local" -m set --match-set KUBE-EXTERNAL-IP-LOCAL dst,dst -j ACCEPT
-A KUBE-SERVICES -m comment --comment "Kubernetes service lb portal" -m set --match-set KUBE-LOAD-BALANCER dst,dst -j KUBE-LOAD-BALANCER
-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT
-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT
-A KUBE-SERVICES -m set --match-set KUBE-LOAD-BALANCER dst,dst -j ACCEPT
-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ
-A KUBE-NODE-PORT -p udp -m comment --comment "Kubernetes nodeport UDP port with externalTrafficPolicy=local" -m set --match-set KUBE-NODE-PORT-LOCAL-UDP dst -j RETURN
-A KUBE-NODE-PORT -p sctp -m comment --comment "Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'" -m set --match-set KUBE-NODE-PORT-SCTP-HASH dst,dst -j KUBE-MARK-MASQ
COMMIT
`);
  });

  it('uses terminating endpoints as real servers when nothing is ready', () => {
    const only = state([svc('ns1', 'web', { clusterIP: '10.96.0.10' })], [slice('ns1', 'web', [{ ip: '10.244.0.4', ready: false, serving: true, terminating: true }])]);
    expect(renderIpvs(servicePorts(only)).virtualServers[0]!.realServers).toEqual([{ address: '10.244.0.4', port: 80, weight: 1 }]);
  });
});
