import { describe, expect, it } from 'vitest';
import {
  type ConntrackDeletion, type IptablesBackend, type ProxyState, Proxier, conntrackArgs, staleConntrackEntries, servicePorts,
} from '../../netproxy/index.js';
import { silentSink, type Timers } from '../../base/index.js';
import { slice, state, svc } from '../support/netproxy-fixtures.js';

class FakeClock implements Timers {
  t = 0;
  private seq = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.timers.delete(h as number);
  }
  pending(): number {
    return this.timers.size;
  }
  /** Moves time forward, firing due timers in order and letting their async work settle. */
  async advance(ms: number): Promise<void> {
    const target = this.t + ms;
    for (;;) {
      await settle();
      const next = [...this.timers].filter(([, t]) => t.at <= target).sort((a, b) => a[1].at - b[1].at)[0];
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = target;
    await settle();
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
}

class FakeBackend implements IptablesBackend {
  restores: { text: string; at: number }[] = [];
  jumps = 0;
  healthChecks = 0;
  isHealthy = true;
  failRestore: (text: string) => boolean = () => false;
  conntrack: ConntrackDeletion[] = [];
  chains: string[] = [];
  constructor(private clock: FakeClock) {}
  async ensureJumps() {
    this.jumps++;
  }
  async restore(text: string) {
    if (this.failRestore(text)) throw new Error('iptables-restore: line 3 failed');
    this.restores.push({ text, at: this.clock.now() });
  }
  async natChains() {
    return this.chains;
  }
  async healthy() {
    this.healthChecks++;
    return this.isHealthy;
  }
  async deleteConntrack(d: ConntrackDeletion) {
    this.conntrack.push(d);
  }
  async randomFully() {
    return true;
  }
}

const isFull = (text: string) => text.includes(':KUBE-SVC-') && !text.includes('-X ');
const web = (ips: string[], protocol: 'TCP' | 'UDP' = 'TCP'): ProxyState => state(
  [svc('ns1', 'web', { clusterIP: '10.96.0.10', ports: [{ protocol }] }), svc('ns1', 'db', { clusterIP: '10.96.0.11' })],
  [slice('ns1', 'web', ips, [{ protocol }]), slice('ns1', 'db', ['10.244.0.99'])],
);

function setup() {
  const clock = new FakeClock();
  const backend = new FakeBackend(clock);
  const logs: string[] = [];
  const proxier = new Proxier({ backend, clock, syncPeriodMs: 30_000, minSyncPeriodMs: 1_000, iptables: { clusterCIDR: '10.244.0.0/16' }, log: { ...silentSink, warn: (_f, m) => logs.push(`warn: ${m}`), error: (_f, m) => logs.push(`error: ${m}`) } });
  return { clock, backend, proxier, logs };
}

describe('Proxier loop', () => {
  it('syncs nothing before the first state, then a full sync at once with the jump rules', async () => {
    const { clock, backend, proxier } = setup();
    proxier.start();
    await clock.advance(5_000);
    expect(backend.restores).toHaveLength(0);
    proxier.update(web(['10.244.0.3']));
    await clock.advance(0);
    expect(backend.restores).toHaveLength(1);
    expect(backend.jumps).toBe(1);
    expect(backend.restores[0]!.text).toContain('-j DNAT --to-destination 10.244.0.3:80');
    expect(backend.restores[0]!.text).toContain('MASQUERADE --random-fully');
    expect(proxier.metrics()).toMatchObject({ syncs: 1, fullSyncs: 1, partialSyncs: 0 });
  });

  it('coalesces a burst of updates into one partial sync per minSyncPeriod, with the latest state', async () => {
    const { clock, backend, proxier } = setup();
    proxier.start();
    proxier.update(web(['10.244.0.3']));
    await clock.advance(100);
    for (let i = 4; i < 14; i++) {
      proxier.update(web(['10.244.0.3', `10.244.0.${i}`]));
      await clock.advance(50);
    }
    expect(backend.restores).toHaveLength(1);
    await clock.advance(1_000);
    expect(backend.restores.map((r) => r.at)).toEqual([0, 1_000]);
    const partial = backend.restores[1]!.text;
    expect(partial).toContain('--to-destination 10.244.0.13:80');
    expect(partial).not.toContain('--to-destination 10.244.0.12:80');
    expect(partial).not.toContain('DNAT --to-destination 10.244.0.99:80'); // the unchanged Service is not rewritten
    expect(proxier.metrics()).toMatchObject({ syncs: 2, fullSyncs: 1, partialSyncs: 1 });
    expect(proxier.takeLatencySamples()).toEqual([0, ...Array.from({ length: 10 }, (_, i) => 1000 - 100 - i * 50)]);
    expect(proxier.takeLatencySamples()).toEqual([]);
  });

  it('every syncPeriod checks the canary and syncs partially; a vanished canary forces a full sync and re-ensures the jumps', async () => {
    const { clock, backend, proxier, logs } = setup();
    proxier.start();
    proxier.update(web(['10.244.0.3']));
    await clock.advance(29_999);
    expect(backend.restores).toHaveLength(1);
    await clock.advance(1);
    expect(backend.healthChecks).toBe(1);
    expect(backend.restores).toHaveLength(2);
    expect(isFull(backend.restores[1]!.text)).toBe(false);
    expect(backend.jumps).toBe(1);
    backend.isHealthy = false;
    await clock.advance(30_000);
    expect(backend.jumps).toBe(2);
    expect(backend.restores).toHaveLength(3);
    expect(isFull(backend.restores[2]!.text)).toBe(true);
    expect(proxier.metrics()).toMatchObject({ outsideFlushes: 1, fullSyncs: 2, partialSyncs: 1, lastSyncFull: true });
    expect(logs).toContain('warn: proxy rules were removed or flushed outside bosun: restoring them');
  });

  it('in steady state rewrites everything at most once per fullSyncPeriod (an hour)', async () => {
    const { clock, backend, proxier } = setup();
    proxier.start();
    proxier.update(web(['10.244.0.3']));
    await clock.advance(0);
    // A change every 10 s for 59 minutes: all partial.
    for (let t = 10_000; t < 3_540_000; t += 10_000) {
      proxier.update(web(['10.244.0.3', `10.244.1.${(t / 10_000) % 250}`]));
      await clock.advance(10_000);
    }
    expect(proxier.metrics().fullSyncs).toBe(1);
    expect(backend.healthChecks).toBeGreaterThanOrEqual(117);
    await clock.advance(120_000);
    expect(proxier.metrics().fullSyncs).toBe(2);
  });

  it('falls back to a full sync when a partial restore fails', async () => {
    const { clock, backend, proxier } = setup();
    proxier.start();
    proxier.update(web(['10.244.0.3']));
    await clock.advance(0);
    backend.failRestore = (t) => !isFull(t);
    proxier.update(web(['10.244.0.4']));
    await clock.advance(1_000);
    expect(backend.restores).toHaveLength(2);
    expect(isFull(backend.restores[1]!.text)).toBe(true);
    expect(proxier.metrics()).toMatchObject({ partialRestoreFailures: 1, fullSyncs: 2, failedSyncs: 0 });
  });

  it('after a failed sync retries in syncPeriod, not in minSyncPeriod, unless something changes', async () => {
    const { clock, backend, proxier } = setup();
    backend.failRestore = () => true;
    proxier.start();
    proxier.update(web(['10.244.0.3']));
    await clock.advance(0);
    expect(proxier.metrics().failedSyncs).toBe(1);
    backend.failRestore = () => false;
    await clock.advance(29_000);
    expect(backend.restores).toHaveLength(0);
    await clock.advance(1_000);
    expect(backend.restores).toHaveLength(1);
    expect(isFull(backend.restores[0]!.text)).toBe(true);
    // The change is only counted as programmed now.
    expect(proxier.takeLatencySamples()).toEqual([30_000]);
  });

  it('deletes UDP conntrack entries of removed endpoints', async () => {
    const { clock, backend, proxier } = setup();
    proxier.start();
    proxier.update(web(['10.244.0.3', '10.244.0.4'], 'UDP'));
    await clock.advance(0);
    expect(backend.conntrack).toEqual([]);
    proxier.update(web(['10.244.0.3'], 'UDP'));
    await clock.advance(1_000);
    expect(backend.conntrack.map(conntrackArgs)).toEqual([['-D', '-p', 'udp', '--orig-dst', '10.96.0.10', '--dst-nat', '10.244.0.4']]);
  });

  it('ignores an update made of the objects it has: no sync, and the next change is not held back by one', async () => {
    const { clock, backend, proxier } = setup();
    proxier.start();
    const s = web(['10.244.0.3']);
    proxier.update(s);
    await clock.advance(2_000);
    // The agent rebuilds its model on every event of any source: new arrays, the same objects.
    proxier.update({ services: [...s.services], endpointSlices: [...s.endpointSlices] });
    await clock.advance(300);
    expect(backend.restores).toHaveLength(1);
    proxier.update(web(['10.244.0.4']));
    await clock.advance(0);
    expect(backend.restores.map((r) => r.at)).toEqual([0, 2_300]);
    expect(proxier.takeLatencySamples()).toEqual([0, 0]);
  });

  it('stop() cancels the timers; syncNow() runs at once', async () => {
    const { clock, backend, proxier } = setup();
    proxier.start();
    proxier.update(web(['10.244.0.3']));
    await clock.advance(0);
    await proxier.stop();
    proxier.update(web(['10.244.0.4']));
    await clock.advance(60_000);
    expect(backend.restores).toHaveLength(1);
    expect(clock.pending()).toBe(0);
    await proxier.syncNow({ full: true });
    expect(backend.restores).toHaveLength(2);
    expect(proxier.lastRuleset()?.full).toBe(true);
  });
});

describe('staleConntrackEntries', () => {
  const udp = (over: Parameters<typeof svc>[2], ips: string[]) =>
    servicePorts(state([svc('ns1', 'dns', { clusterIP: '10.96.0.10', ports: [{ protocol: 'UDP', nodePort: 30053 }], ...over })], [slice('ns1', 'dns', ips, [{ protocol: 'UDP' }])]));

  it('covers cluster, external and load-balancer IPs and the node port of a removed endpoint', () => {
    const over = { type: 'LoadBalancer' as const, externalIPs: ['192.0.2.9'], loadBalancerIPs: ['198.51.100.1'] };
    const d = staleConntrackEntries(udp(over, ['10.244.0.3', '10.244.0.4']), udp(over, ['10.244.0.3']));
    expect(d.map((x) => conntrackArgs(x).join(' '))).toEqual([
      '-D -p udp --orig-dst 10.96.0.10 --dst-nat 10.244.0.4',
      '-D -p udp --orig-dst 192.0.2.9 --dst-nat 10.244.0.4',
      '-D -p udp --orig-dst 198.51.100.1 --dst-nat 10.244.0.4',
      '-D -p udp --dport 30053 --dst-nat 10.244.0.4',
    ]);
  });

  it('clears flows of a Service that gets its first endpoint; ignores TCP', () => {
    expect(staleConntrackEntries(udp({}, []), udp({}, ['10.244.0.3'])).map(conntrackArgs)).toEqual([
      ['-D', '-p', 'udp', '--orig-dst', '10.96.0.10'],
      ['-D', '-p', 'udp', '--dport', '30053'],
    ]);
    const tcp = (ips: string[]) => servicePorts(web(ips));
    expect(staleConntrackEntries(tcp(['10.244.0.3']), tcp([]))).toEqual([]);
  });
});
