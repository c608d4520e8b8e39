/**
 * A set of small non-negative integers (0 … size−1) with O(log₃₂ size) add, delete and `min`.
 * The scheduler keys nodes and interconnect domains by their rank in id order, so `min` is "the
 * node with the smallest id" — the deterministic tie-break — without sorting anything per query.
 *
 * Layout: level 0 has one bit per member; every level above has one bit per non-zero word of the
 * level below, up to a single top word. 6,250 nodes need 196 + 7 + 1 words.
 */
export class OrderedBitSet {
  private readonly levels: Uint32Array[];
  private count = 0;

  constructor(
    readonly capacity: number,
    levels?: Uint32Array[],
    count?: number,
  ) {
    if (levels) {
      this.levels = levels;
      this.count = count ?? 0;
      return;
    }
    this.levels = [];
    let words = Math.max(1, Math.ceil(capacity / 32));
    for (;;) {
      this.levels.push(new Uint32Array(words));
      if (words === 1) break;
      words = Math.ceil(words / 32);
    }
  }

  get size(): number {
    return this.count;
  }

  has(value: number): boolean {
    const level = this.levels[0];
    return ((level[value >>> 5] >>> (value & 31)) & 1) === 1;
  }

  add(value: number): void {
    if (value < 0 || value >= this.capacity) throw new RangeError(`OrderedBitSet: ${value} out of range`);
    if (this.has(value)) return;
    this.count += 1;
    let index = value;
    for (const level of this.levels) {
      const word = index >>> 5;
      const before = level[word];
      level[word] = before | (1 << (index & 31));
      if (before !== 0) return;
      index = word;
    }
  }

  delete(value: number): void {
    if (value < 0 || value >= this.capacity || !this.has(value)) return;
    this.count -= 1;
    let index = value;
    for (const level of this.levels) {
      const word = index >>> 5;
      const after = level[word] & ~(1 << (index & 31));
      level[word] = after;
      if (after !== 0) return;
      index = word;
    }
  }

  /** The smallest member, or −1 when empty. */
  min(): number {
    if (this.count === 0) return -1;
    let index = 0;
    for (let l = this.levels.length - 1; l >= 0; l -= 1) {
      const word = this.levels[l][index];
      index = index * 32 + lowestBit(word);
    }
    return index;
  }

  /** Members in ascending order (for tests and small sets). */
  values(): number[] {
    const out: number[] = [];
    const level = this.levels[0];
    for (let w = 0; w < level.length; w += 1) {
      let word = level[w];
      while (word !== 0) {
        const bit = lowestBit(word);
        out.push(w * 32 + bit);
        word &= word - 1;
      }
    }
    return out;
  }

  clone(): OrderedBitSet {
    return new OrderedBitSet(
      this.capacity,
      this.levels.map((level) => level.slice()),
      this.count,
    );
  }
}

function lowestBit(word: number): number {
  return 31 - Math.clz32(word & -word);
}
