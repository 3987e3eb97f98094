import { describe, expect, it } from 'vitest';
import { ApiRequestError, type ApiClient } from '../../agent/apiserver/client.js';
import { NodeHeartbeat, leaseRetryDelayMs } from '../../agent/apiserver/node.js';
import { silentLogger } from '../../agent/log.js';
import { waitFor } from '../support/common.js';

// The node lease renewal against a scripted API client: one renewal in flight at a time
// (overlapping ones raced each other for the same resourceVersion and one got 409), a failed
// renewal retried within seconds rather than at the next period, and each request bounded
// by the renew period. The wire side is covered by test/integration/apiserver-protocol.test.ts.

interface Call { method: string; path: string; timeoutMs?: number }

function heartbeat(request: (c: Call) => Promise<unknown>, leasePeriodMs: number): { hb: NodeHeartbeat; calls: Call[] } {
  const calls: Call[] = [];
  const client = {
    request: (method: string, path: string, _body?: unknown, _ct?: string, timeoutMs?: number) => {
      const c = { method, path, ...(timeoutMs !== undefined ? { timeoutMs } : {}) };
      calls.push(c);
      return request(c);
    },
  } as unknown as ApiClient;
  const hb = new NodeHeartbeat({ client, log: silentLogger, info: { nodeName: 'n1' } as never, labels: {}, taints: [], leasePeriodMs });
  // As after registration (tick() would first create the Node).
  (hb as unknown as { registered: boolean }).registered = true;
  return { hb, calls };
}

const lease = (rv: string) => ({ metadata: { resourceVersion: rv }, spec: { holderIdentity: 'n1' } });

describe('node lease renewal', () => {
  it('keeps one renewal in flight: calls during a slow answer join it', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { hb, calls } = heartbeat(async (c) => {
      if (c.method === 'GET') throw new ApiRequestError(404, 'NotFound', 'not found');
      await gate;
      return lease('1');
    }, 10_000);
    const a = hb.renewLease();
    const b = hb.renewLease();
    const c = hb.renewLease();
    await waitFor('the create', () => calls.some((x) => x.method === 'POST') || undefined);
    expect(calls.filter((x) => x.method !== 'GET')).toHaveLength(1);
    release();
    await Promise.all([a, b, c]);
    expect(hb.stats.leaseRenewals).toBe(1);
    // The next renewal updates with the resourceVersion it got.
    await hb.renewLease();
    expect(calls.at(-1)?.method).toBe('PUT');
    expect(hb.stats.leaseRenewals).toBe(2);
    hb.stop();
  });

  it('retries a failed renewal with a short back-off, well within the lease, and bounds each request by the period', async () => {
    let failures = 3;
    const { hb, calls } = heartbeat(async (c) => {
      if (failures > 0) {
        failures--;
        throw new Error(`${c.method} ${c.path}: no answer within 10000 ms`);
      }
      if (c.method === 'GET') throw new ApiRequestError(404, 'NotFound', 'not found');
      return lease('2');
    }, 10_000);
    // No periodic timer runs (start() was not called): only the retries can renew it.
    await hb.renewLease();
    expect(hb.stats.leaseRenewals).toBe(0);
    await waitFor('the lease renewed by a retry', () => hb.stats.leaseRenewals === 1 || undefined, 15_000);
    expect(calls.every((c) => c.timeoutMs === 10_000)).toBe(true);
    hb.stop();
  });

  it('backs off 200 ms doubling up to 7 s', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 20].map(leaseRetryDelayMs)).toEqual([200, 400, 800, 1600, 3200, 6400, 7000, 7000]);
  });
});
