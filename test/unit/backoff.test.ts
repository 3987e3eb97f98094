import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../base/index.js';
import { Backoff } from '../../agent/vocab/index.js';

describe('crash back-off (kubelet flowcontrol.Backoff)', () => {
  it('starts at 10 s, doubles, and caps at 300 s', () => {
    const clock = new FakeClock();
    const b = new Backoff(clock);
    const seen: number[] = [];
    for (let i = 0; i < 7; i++) {
      seen.push(b.next('k'));
      clock.advance(1000);
    }
    expect(seen).toEqual([10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000]);
  });

  it('measures the delay from the time the container finished', () => {
    const clock = new FakeClock();
    const b = new Backoff(clock);
    const finished = clock.now();
    b.next('k');
    clock.advance(9_999);
    expect(b.isInBackOffSince('k', finished)).toBe(true);
    clock.advance(1);
    expect(b.isInBackOffSince('k', finished)).toBe(false);
  });

  it('starts over after 2 x max (10 min) without a restart', () => {
    const clock = new FakeClock();
    const b = new Backoff(clock);
    b.next('k');
    b.next('k');
    expect(b.get('k')).toBe(20_000);
    clock.advance(600_001);
    expect(b.get('k')).toBe(0);
    expect(b.next('k')).toBe(10_000);
  });

  it('keeps keys apart and forgets a pod by prefix', () => {
    const clock = new FakeClock();
    const b = new Backoff(clock);
    b.next('web_default_u1_a');
    b.next('web_default_u2_a');
    b.forgetPrefix('web_default_u1_');
    expect(b.get('web_default_u1_a')).toBe(0);
    expect(b.get('web_default_u2_a')).toBe(10_000);
  });

  it('tells when a pull is still backing off since its last failure', () => {
    const clock = new FakeClock();
    const b = new Backoff(clock);
    expect(b.isInBackOffSinceUpdate('img')).toBe(false);
    b.next('img');
    expect(b.isInBackOffSinceUpdate('img')).toBe(true);
    clock.advance(10_000);
    expect(b.isInBackOffSinceUpdate('img')).toBe(false);
  });
});
