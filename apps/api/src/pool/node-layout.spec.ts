import { DEFAULT_NODES_PER_DOMAIN, layoutNodes } from './node-layout.js';

function sizes(domains: string[]): number[] {
  const counts = new Map<string, number>();
  for (const domain of domains) counts.set(domain, (counts.get(domain) ?? 0) + 1);
  return [...counts.values()];
}

describe('layoutNodes', () => {
  it('names nodes <cluster>-<model>-<n> from 1, zero-padded, and cuts domains of 32 by default', () => {
    const layout = layoutNodes('nc1', 'H200', 70);
    expect(layout.names[0]).toBe('nc1-H200-0001');
    expect(layout.names[69]).toBe('nc1-H200-0070');
    expect(new Set(layout.names).size).toBe(70);
    expect(layout.domains[0]).toBe('nc1/H200/d1');
    expect(layout.domains[31]).toBe('nc1/H200/d1');
    expect(layout.domains[32]).toBe('nc1/H200/d2');
    expect(layout.domains[69]).toBe('nc1/H200/d3');
    expect(sizes(layout.domains)).toEqual([32, 32, 6]);
    expect(layout.domainCount).toBe(3);
  });

  it('splits into the requested number of contiguous domains whose sizes differ by at most one', () => {
    const layout = layoutNodes('c', 'B200', 100, 7);
    const domainSizes = sizes(layout.domains);
    expect(domainSizes).toHaveLength(7);
    expect(domainSizes.reduce((sum, size) => sum + size, 0)).toBe(100);
    expect(Math.max(...domainSizes) - Math.min(...domainSizes)).toBeLessThanOrEqual(1);
    // Contiguous: the domain label never goes back.
    const order = layout.domains.map((domain) => Number(domain.split('/d')[1]));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(layoutNodes('c', 'B200', 5, 5).domains).toEqual([1, 2, 3, 4, 5].map((k) => `c/B200/d${k}`));
  });

  it('widens the number for 10,000 nodes and keeps 2,000 nodes in 63 domains of at most 32', () => {
    expect(layoutNodes('c', 'H200', 10_000).names[9_999]).toBe('c-H200-10000');
    const layout = layoutNodes('c', 'H200', 2_000);
    expect(layout.domainCount).toBe(63);
    expect(Math.max(...sizes(layout.domains))).toBe(DEFAULT_NODES_PER_DOMAIN);
  });

  it('refuses a domain count above the node count', () => {
    expect(() => layoutNodes('c', 'H200', 4, 5)).toThrow(RangeError);
  });
});
