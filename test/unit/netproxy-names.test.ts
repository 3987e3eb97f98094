import { describe, expect, it } from 'vitest';
import { sepChain, svcChain } from '../../netproxy/iptables/names.js';

describe('kube-proxy chain names', () => {
  it('match the REFERENCE.md test vectors', () => {
    expect(svcChain('default/kubernetes:https', 'tcp')).toBe('KUBE-SVC-NPX46M4PTMTKRN6Y');
    expect(svcChain('kube-system/kube-dns:dns', 'udp')).toBe('KUBE-SVC-TCOU7JCQXEZGVUNU');
    expect(svcChain('kube-system/kube-dns:dns-tcp', 'tcp')).toBe('KUBE-SVC-ERIFXISQEP7F7OF4');
  });
  it('hash the endpoint into KUBE-SEP names', () => {
    const a = sepChain('ns1/svc1:p80', 'tcp', '10.180.0.1:80');
    expect(a).toMatch(/^KUBE-SEP-[A-Z2-7]{16}$/);
    expect(a).not.toBe(sepChain('ns1/svc1:p80', 'tcp', '10.180.0.2:80'));
  });
});
