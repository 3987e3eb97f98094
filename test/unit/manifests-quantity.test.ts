import { describe, expect, it } from 'vitest';
import { compareQuantities, milliValue, parseQuantity } from '../../manifests/index.js';

describe('parseQuantity', () => {
  it.each([
    ['100m', 0.1],
    ['1', 1],
    [1, 1],
    ['0.5', 0.5],
    [0.5, 0.5],
    ['.5', 0.5],
    ['128Mi', 128 * 2 ** 20],
    ['1Ki', 1024],
    ['2Gi', 2 * 2 ** 30],
    ['1Ti', 2 ** 40],
    ['1G', 1e9],
    ['1k', 1000],
    ['1M', 1e6],
    ['1T', 1e12],
    ['1P', 1e15],
    ['1E', 1e18],
    ['1Ei', 2 ** 60],
    ['1e3', 1000],
    ['1E3', 1000],
    ['5e-3', 0.005],
    ['250n', 250e-9],
    ['10u', 10e-6],
    ['+1.5Gi', 1.5 * 2 ** 30],
    ['-1', -1],
  ])('%s = %d', (q, v) => {
    expect(parseQuantity(q)).toBeCloseTo(v, 12);
  });

  it.each(['12x', '', 'Mi', '1 Mi', '1mi', '1.2.3', '1e', '1KiB', '0x10'])('rejects %j', (q) => {
    expect(() => parseQuantity(q)).toThrow(/quantities must match the regular expression/);
  });

  it('gives exact milli values, rounded up', () => {
    expect(milliValue('100m')).toBe(100);
    expect(milliValue('0.1')).toBe(100);
    expect(milliValue('1')).toBe(1000);
    expect(milliValue(2)).toBe(2000);
    expect(milliValue('1n')).toBe(1);
    expect(milliValue('1.0001')).toBe(1001);
    expect(milliValue('128Mi')).toBe(128 * 2 ** 20 * 1000);
  });

  it('compares exactly across units', () => {
    expect(compareQuantities('1000m', 1)).toBe(0);
    expect(compareQuantities('1Gi', '1G')).toBe(1);
    expect(compareQuantities('0.3', '300m')).toBe(0);
    expect(compareQuantities('1e3', '1k')).toBe(0);
  });
});
