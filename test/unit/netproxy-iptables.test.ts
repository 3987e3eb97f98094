import { describe, expect, it } from 'vitest';
import { type IptablesOptions, type ProxyState, probability, renderIptables, sepChain, servicePorts, svcChain } from '../../netproxy/index.js';
import { slice, state, svc } from '../support/netproxy-fixtures.js';

const OPTS: IptablesOptions = { clusterCIDR: '10.0.0.0/8', randomFully: true };
const render = (st: ProxyState, opts: IptablesOptions = OPTS, nodeName = 'test-node') => renderIptables(servicePorts(st, { nodeName }), opts);
const lines = (text: string, prefix: string) => text.split('\n').filter((l) => l.startsWith(prefix));

const FILTER_HEAD = `*filter
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
:KUBE-PROXY-CANARY - [0:0]
`;
const FORWARD = `-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
`;
const NAT_HEAD = `*nat
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-PROXY-CANARY - [0:0]
`;
const POSTROUTING = `-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
`;
const NODEPORTS_JUMP = '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS\n';

describe('iptables ruleset', () => {
  it('renders ClusterIP Services, probabilities, affinity and REJECT exactly as kube-proxy', () => {
    const st = state([
      svc('ns1', 'svc1', { clusterIP: '172.30.0.41' }),
      svc('ns2', 'svc2', { clusterIP: '172.30.0.42', sessionAffinity: 'ClientIP', affinityTimeoutSeconds: 10800 }),
      svc('ns3', 'svc3', { clusterIP: '172.30.0.43', ports: [{ name: 'dns', protocol: 'UDP', port: 53, targetPort: 53 }] }),
      svc('ns4', 'headless', { clusterIP: 'None' }),
      svc('ns4', 'external', { type: 'ExternalName', clusterIP: '' }),
    ], [
      slice('ns1', 'svc1', ['10.180.0.3', '10.180.0.1', '10.180.0.2']),
      slice('ns2', 'svc2', ['10.180.0.4', '10.180.0.5']),
      slice('ns4', 'headless', ['10.180.0.6']),
    ]);
    expect(render(st).text).toBe(FILTER_HEAD
      + '-A KUBE-SERVICES -m comment --comment "ns3/svc3:dns has no endpoints" -m udp -p udp -d 172.30.0.43 --dport 53 -j REJECT\n'
      + FORWARD + 'COMMIT\n' + NAT_HEAD + `:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
:KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
:KUBE-SEP-LXVODXWDISEETFEF - [0:0]
:KUBE-SEP-ICDUIKC33SFI6ZPR - [0:0]
:KUBE-SVC-GNZBNJ2PO5MGZ6GT - [0:0]
:KUBE-SEP-G33XYM2U7DNPVRY2 - [0:0]
:KUBE-SEP-73XYSGBP6YVLYPDR - [0:0]
` + POSTROUTING + `-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
` + NODEPORTS_JUMP + `-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-SXIVWICOYRO3J4NJ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.2:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-LXVODXWDISEETFEF
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.3:80" -j KUBE-SEP-ICDUIKC33SFI6ZPR
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
-A KUBE-SEP-LXVODXWDISEETFEF -m comment --comment ns1/svc1:p80 -s 10.180.0.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-LXVODXWDISEETFEF -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.2:80
-A KUBE-SEP-ICDUIKC33SFI6ZPR -m comment --comment ns1/svc1:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-ICDUIKC33SFI6ZPR -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80
-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 -> 10.180.0.4:80" -m recent --name KUBE-SEP-G33XYM2U7DNPVRY2 --rcheck --seconds 10800 --reap -j KUBE-SEP-G33XYM2U7DNPVRY2
-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 -> 10.180.0.5:80" -m recent --name KUBE-SEP-73XYSGBP6YVLYPDR --rcheck --seconds 10800 --reap -j KUBE-SEP-73XYSGBP6YVLYPDR
-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 -> 10.180.0.4:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-G33XYM2U7DNPVRY2
-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 -> 10.180.0.5:80" -j KUBE-SEP-73XYSGBP6YVLYPDR
-A KUBE-SEP-G33XYM2U7DNPVRY2 -m comment --comment ns2/svc2:p80 -s 10.180.0.4 -j KUBE-MARK-MASQ
-A KUBE-SEP-G33XYM2U7DNPVRY2 -m comment --comment ns2/svc2:p80 -m recent --name KUBE-SEP-G33XYM2U7DNPVRY2 --set -m tcp -p tcp -j DNAT --to-destination 10.180.0.4:80
-A KUBE-SEP-73XYSGBP6YVLYPDR -m comment --comment ns2/svc2:p80 -s 10.180.0.5 -j KUBE-MARK-MASQ
-A KUBE-SEP-73XYSGBP6YVLYPDR -m comment --comment ns2/svc2:p80 -m recent --name KUBE-SEP-73XYSGBP6YVLYPDR --set -m tcp -p tcp -j DNAT --to-destination 10.180.0.5:80
COMMIT
`);
  });

  it('NodePort and external IPs go through KUBE-EXT with masquerade (Cluster policy)', () => {
    const st = state([
      svc('ns2', 'svc2', { type: 'NodePort', clusterIP: '172.30.0.42', externalIPs: ['192.168.99.22'], ports: [{ nodePort: 3001 }] }),
    ], [slice('ns2', 'svc2', ['10.180.0.2'])]);
    const text = render(st).text;
    expect(lines(text, '-A KUBE-SERVICES')).toEqual([
      '-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT',
      '-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 external IP" -m tcp -p tcp -d 192.168.99.22 --dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT',
      NODEPORTS_JUMP.trim(),
    ]);
    expect(lines(text, '-A KUBE-NODEPORTS')).toEqual(['-A KUBE-NODEPORTS -m comment --comment ns2/svc2:p80 -m tcp -p tcp --dport 3001 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT']);
    expect(lines(text, '-A KUBE-EXT-')).toEqual([
      '-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "masquerade traffic for ns2/svc2:p80 external destinations" -j KUBE-MARK-MASQ',
      '-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -j KUBE-SVC-GNZBNJ2PO5MGZ6GT',
    ]);
  });

  it('externalTrafficPolicy Local: KUBE-SVL with local endpoints only, short-circuit for pods and the node', () => {
    const st = state([
      svc('ns1', 'local', { type: 'NodePort', clusterIP: '172.30.0.44', externalTrafficPolicy: 'Local', ports: [{ nodePort: 3004 }] }),
    ], [slice('ns1', 'local', [{ ip: '10.180.0.1', node: 'test-node' }, { ip: '10.180.0.2', node: 'other' }])]);
    const text = render(st).text;
    const h = svcChain('ns1/local:p80', 'tcp').slice('KUBE-SVC-'.length);
    expect(text).toContain(`:KUBE-SVL-${h} - [0:0]`);
    expect(lines(text, '-A KUBE-EXT-')).toEqual([
      `-A KUBE-EXT-${h} -m comment --comment "pod traffic for ns1/local:p80 external destinations" -s 10.0.0.0/8 -j KUBE-SVC-${h}`,
      `-A KUBE-EXT-${h} -m comment --comment "masquerade LOCAL traffic for ns1/local:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ`,
      `-A KUBE-EXT-${h} -m comment --comment "route LOCAL traffic for ns1/local:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-${h}`,
      `-A KUBE-EXT-${h} -j KUBE-SVL-${h}`,
    ]);
    // The cluster chain has both endpoints, the local one only ours.
    expect(lines(text, `-A KUBE-SVC-${h}`).filter((l) => l.includes('KUBE-SEP-'))).toHaveLength(2);
    expect(lines(text, `-A KUBE-SVL-${h}`)).toEqual([`-A KUBE-SVL-${h} -m comment --comment "ns1/local:p80 -> 10.180.0.1:80" -j ${sepChain('ns1/local:p80', 'tcp', '10.180.0.1:80')}`]);
  });

  it('Local policy without local endpoints: DROP external traffic; internal Local without local endpoints: DROP cluster IP', () => {
    const st = state([
      svc('ns1', 'ext', { type: 'NodePort', clusterIP: '172.30.0.45', externalTrafficPolicy: 'Local', ports: [{ nodePort: 3005 }] }),
      svc('ns1', 'int', { clusterIP: '172.30.0.46', internalTrafficPolicy: 'Local' }),
    ], [slice('ns1', 'ext', [{ ip: '10.180.0.1', node: 'other' }]), slice('ns1', 'int', [{ ip: '10.180.0.2', node: 'other' }])]);
    const text = render(st).text;
    expect(lines(text, '-A KUBE-EXTERNAL-SERVICES')).toEqual([
      '-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/ext:p80 has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3005 -j DROP',
    ]);
    expect(lines(text, '-A KUBE-SERVICES -m comment --comment "ns1/int')).toEqual([
      '-A KUBE-SERVICES -m comment --comment "ns1/int:p80 has no local endpoints" -m tcp -p tcp -d 172.30.0.46 --dport 80 -j DROP',
    ]);
    expect(text).not.toMatch(/KUBE-SVL-/);
  });

  it('no endpoints: REJECT the cluster IP, external IPs, load-balancer IPs and the node port', () => {
    const st = state([svc('ns1', 'empty', {
      type: 'LoadBalancer', clusterIP: '172.30.0.47', externalIPs: ['192.168.99.47'], loadBalancerIPs: ['1.2.3.47'], ports: [{ nodePort: 3007 }],
    })], []);
    const text = render(st).text;
    const c = '"ns1/empty:p80 has no endpoints"';
    expect(lines(text, '-A KUBE-SERVICES -m comment --comment "ns1')).toEqual([`-A KUBE-SERVICES -m comment --comment ${c} -m tcp -p tcp -d 172.30.0.47 --dport 80 -j REJECT`]);
    expect(lines(text, '-A KUBE-EXTERNAL-SERVICES')).toEqual([
      `-A KUBE-EXTERNAL-SERVICES -m comment --comment ${c} -m tcp -p tcp -d 192.168.99.47 --dport 80 -j REJECT`,
      `-A KUBE-EXTERNAL-SERVICES -m comment --comment ${c} -m tcp -p tcp -d 1.2.3.47 --dport 80 -j REJECT`,
      `-A KUBE-EXTERNAL-SERVICES -m comment --comment ${c} -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3007 -j REJECT`,
    ]);
    expect(text).not.toMatch(/KUBE-(SVC|SEP|EXT)-/);
  });

  it('loadBalancerSourceRanges: a KUBE-FW chain and a DROP in KUBE-PROXY-FIREWALL', () => {
    const st = state([svc('ns5', 'svc5', {
      type: 'LoadBalancer', clusterIP: '172.30.0.45', loadBalancerIPs: ['5.6.7.8'], loadBalancerSourceRanges: ['203.0.113.0/25', '192.0.2.0/24'], ports: [{ nodePort: 3002 }],
    })], [slice('ns5', 'svc5', ['10.180.0.3'])]);
    const text = render(st, { ...OPTS, nodeIP: '192.0.2.2' }).text;
    expect(lines(text, '-A KUBE-SERVICES -m comment --comment "ns5/svc5:p80 loadbalancer IP"')).toEqual([
      '-A KUBE-SERVICES -m comment --comment "ns5/svc5:p80 loadbalancer IP" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j KUBE-FW-NUKIZ6OKUXPJNT4C',
    ]);
    expect(lines(text, '-A KUBE-FW-')).toEqual([
      '-A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 loadbalancer IP" -s 203.0.113.0/25 -j KUBE-EXT-NUKIZ6OKUXPJNT4C',
      '-A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 loadbalancer IP" -s 192.0.2.0/24 -j KUBE-EXT-NUKIZ6OKUXPJNT4C',
      '-A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 loadbalancer IP" -s 5.6.7.8 -j KUBE-EXT-NUKIZ6OKUXPJNT4C',
      '-A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "other traffic to ns5/svc5:p80 will be dropped by KUBE-PROXY-FIREWALL"',
    ]);
    expect(lines(text, '-A KUBE-PROXY-FIREWALL')).toEqual([
      '-A KUBE-PROXY-FIREWALL -m comment --comment "ns5/svc5:p80 traffic not accepted by KUBE-FW-NUKIZ6OKUXPJNT4C" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j DROP',
    ]);
  });

  it('uses serving terminating endpoints only when no endpoint is ready', () => {
    const eps = [{ ip: '10.180.0.1', ready: false, serving: true, terminating: true }, { ip: '10.180.0.2', ready: false, serving: false, terminating: true }];
    const text = render(state([svc('ns1', 'svc1', { clusterIP: '172.30.0.41' })], [slice('ns1', 'svc1', eps)])).text;
    expect(lines(text, '-A KUBE-SEP-').filter((l) => l.includes('DNAT'))).toEqual(['-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80']);
    const withReady = render(state([svc('ns1', 'svc1', { clusterIP: '172.30.0.41' })], [slice('ns1', 'svc1', [...eps, '10.180.0.3'])])).text;
    expect(lines(withReady, '-A KUBE-SEP-').filter((l) => l.includes('DNAT'))).toHaveLength(1);
    expect(withReady).toContain('--to-destination 10.180.0.3:80');
  });

  it('matches endpoints to service ports by name and protocol, with named target ports resolved in the slice', () => {
    const st = state([svc('ns1', 'multi', {
      clusterIP: '172.30.0.50',
      ports: [{ name: 'http', port: 80, targetPort: 'web' }, { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 }, { name: 'sctp', port: 9, protocol: 'SCTP', targetPort: 9 }],
    })], [slice('ns1', 'multi', ['10.180.0.1'], [{ name: 'http', port: 8080 }, { name: 'dns', port: 5353, protocol: 'UDP' }, { name: 'sctp', port: 9, protocol: 'SCTP' }])]);
    const dnat = lines(render(st).text, '-A KUBE-SEP-').filter((l) => l.includes('DNAT')).map((l) => l.replace(/^-A \S+ /, ''));
    expect(dnat).toEqual([
      '-m comment --comment ns1/multi:dns -m udp -p udp -j DNAT --to-destination 10.180.0.1:5353',
      '-m comment --comment ns1/multi:http -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:8080',
      '-m comment --comment ns1/multi:sctp -m sctp -p sctp -j DNAT --to-destination 10.180.0.1:9',
    ]);
  });

  it('drops per-endpoint comments above 1000 endpoints', () => {
    const ips = Array.from({ length: 1001 }, (_, i) => `10.180.${i >> 8}.${i & 255}`);
    const big = render(state([svc('ns1', 'big', { clusterIP: '172.30.0.60' })], [slice('ns1', 'big', ips)])).text;
    expect(lines(big, '-A KUBE-SEP-').every((l) => !l.includes('--comment'))).toBe(true);
    expect(lines(big, '-A KUBE-SVC-').filter((l) => l.includes('--comment'))).toHaveLength(1); // the masquerade rule keeps its comment
    expect(big).toContain('-m comment --comment "ns1/big:p80 cluster IP"');
    const small = render(state([svc('ns1', 'big', { clusterIP: '172.30.0.60' })], [slice('ns1', 'big', ips.slice(0, 1000))])).text;
    expect(lines(small, '-A KUBE-SEP-').every((l) => l.includes('--comment ns1/big:p80'))).toBe(true);
  });

  it('honours the options: no --random-fully, masqueradeAll, localhost NodePorts, liberal conntrack, another mark', () => {
    const st = state([svc('ns1', 'svc1', { clusterIP: '172.30.0.41' })], [slice('ns1', 'svc1', ['10.180.0.1'])]);
    const text = render(st, { masqueradeAll: true, localhostNodePorts: true, conntrackTCPLiberal: true, masqueradeMark: '0x8000' }).text;
    expect(text).toContain('-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE\n');
    expect(text).toContain('-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-MARK-MASQ\n');
    expect(text).toContain('-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n');
    expect(text).not.toContain('INVALID');
    expect(text).toContain('-A KUBE-MARK-MASQ -j MARK --or-mark 0x8000\n');
  });

  it('formats probabilities as Go %0.10f', () => {
    expect([2, 3, 4, 7, 1000, 2048, 4096].map(probability)).toEqual([
      '0.5000000000', '0.3333333333', '0.2500000000', '0.1428571429', '0.0010000000', '0.0004882812', '0.0002441406',
    ]);
  });
});

describe('partial sync', () => {
  const base = () => state([
    svc('ns1', 'svc1', { clusterIP: '172.30.0.41' }),
    svc('ns2', 'svc2', { clusterIP: '172.30.0.42' }),
  ], [slice('ns1', 'svc1', ['10.180.0.1']), slice('ns2', 'svc2', ['10.180.0.2'])]);

  it('rewrites only changed service chains, KUBE-SERVICES whole, and deletes stale chains', () => {
    const first = render(base());
    expect(first.full).toBe(true);
    const next = base();
    next.endpointSlices[0] = slice('ns1', 'svc1', ['10.180.0.3']);
    const ports = servicePorts(next, { nodeName: 'test-node' });
    const rs = renderIptables(ports, OPTS, { previous: first });
    expect(rs.full).toBe(false);
    expect(rs.writtenBlocks).toBe(1);
    const nat = rs.text.slice(rs.text.indexOf('*nat'));
    expect(nat).toBe(NAT_HEAD + `:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
:KUBE-SEP-ICDUIKC33SFI6ZPR - [0:0]
:KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
` + POSTROUTING + `-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
` + NODEPORTS_JUMP + `-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.3:80" -j KUBE-SEP-ICDUIKC33SFI6ZPR
-A KUBE-SEP-ICDUIKC33SFI6ZPR -m comment --comment ns1/svc1:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-ICDUIKC33SFI6ZPR -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80
-X KUBE-SEP-SXIVWICOYRO3J4NJ
COMMIT
`);
    expect(rs.staleChains).toEqual(['KUBE-SEP-SXIVWICOYRO3J4NJ']);
    // Counts describe the whole ruleset, not just what was written.
    expect(rs.natRules).toBe(first.natRules);
  });

  it('writes nothing per service when nothing changed; deletes every chain of a removed Service', () => {
    const first = render(base());
    const same = renderIptables(servicePorts(base(), { nodeName: 'test-node' }), OPTS, { previous: first });
    expect(same.writtenBlocks).toBe(0);
    expect(same.text).not.toMatch(/^(:|-A )KUBE-S(VC|EP)-/m);
    const gone = state([base().services[1]!], [base().endpointSlices[1]!]);
    const rs = renderIptables(servicePorts(gone, { nodeName: 'test-node' }), OPTS, { previous: first });
    expect(rs.staleChains).toEqual(['KUBE-SEP-SXIVWICOYRO3J4NJ', 'KUBE-SVC-XPGD46QRK7WJZT7O']);
    expect(lines(rs.text, '-X ')).toEqual(['-X KUBE-SEP-SXIVWICOYRO3J4NJ', '-X KUBE-SVC-XPGD46QRK7WJZT7O']);
    expect(rs.text.indexOf(':KUBE-SVC-XPGD46QRK7WJZT7O')).toBeLessThan(rs.text.indexOf('-X KUBE-SVC-XPGD46QRK7WJZT7O'));
  });

  it('full sync deletes stale service chains found in the table, and leaves other chains alone', () => {
    const rs = renderIptables(servicePorts(base()), OPTS, { existingNatChains: ['KUBE-SVC-OLDOLDOLDOLDOLDO', 'KUBE-SEP-XPGD46QRK7WJZT7O', 'DOCKER', 'KUBE-SERVICES', 'KUBE-MARK-MASQ'] });
    expect(rs.staleChains).toEqual(['KUBE-SEP-XPGD46QRK7WJZT7O', 'KUBE-SVC-OLDOLDOLDOLDOLDO']);
  });
});
