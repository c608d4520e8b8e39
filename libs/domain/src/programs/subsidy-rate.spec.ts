import { basisPointsToDecimal, decimalToBasisPoints } from './subsidy-rate.js';

describe('subsidy rates', () => {
  it.each([
    [0, 0],
    [1, 10_000],
    [0.7, 7000],
    [0.29, 2900],
    [0.0001, 1],
    [0.3333, 3333],
    [0.57, 5700],
  ])('reads %p as %p basis points', (rate, basisPoints) => {
    expect(decimalToBasisPoints(rate)).toBe(basisPoints);
    expect(basisPointsToDecimal(basisPoints)).toBe(rate);
  });

  it.each([1.5, -0.1, 0.12345, 1.0001, 1e-7, Number.NaN, Number.POSITIVE_INFINITY])('refuses %p', (rate) => {
    expect(decimalToBasisPoints(rate)).toBeNull();
  });

  it('round-trips every basis point', () => {
    for (let basisPoints = 0; basisPoints <= 10_000; basisPoints += 1) {
      expect(decimalToBasisPoints(basisPointsToDecimal(basisPoints))).toBe(basisPoints);
    }
  });
});
