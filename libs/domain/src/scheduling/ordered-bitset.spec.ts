import fc from 'fast-check';
import { OrderedBitSet } from './ordered-bitset.js';

describe('OrderedBitSet', () => {
  it('behaves like a sorted set of small integers under any sequence of adds and deletes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5000 }),
        fc.array(fc.tuple(fc.boolean(), fc.nat()), { maxLength: 200 }),
        (capacity, operations) => {
          const set = new OrderedBitSet(capacity);
          const model = new Set<number>();
          for (const [add, raw] of operations) {
            const value = raw % capacity;
            if (add) {
              set.add(value);
              model.add(value);
            } else {
              set.delete(value);
              model.delete(value);
            }
            const sorted = [...model].sort((a, b) => a - b);
            expect(set.size).toBe(model.size);
            expect(set.min()).toBe(sorted.length ? sorted[0] : -1);
          }
          expect(set.values()).toEqual([...model].sort((a, b) => a - b));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('clones independently', () => {
    const a = new OrderedBitSet(100);
    a.add(70);
    const b = a.clone();
    b.add(3);
    a.delete(70);
    expect(a.min()).toBe(-1);
    expect(b.values()).toEqual([3, 70]);
  });

  it('refuses values out of range', () => {
    expect(() => new OrderedBitSet(10).add(10)).toThrow(RangeError);
  });
});
