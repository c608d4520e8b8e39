import { buildNodeGrid, zeroPad } from './node-grid.js';

describe('buildNodeGrid', () => {
  const grid = (nodes: number, nodesPerDomain: number) =>
    buildNodeGrid({
      nodes,
      gpusPerNode: 8,
      nodesPerDomain,
      nodeId: (index) => `n${zeroPad(index, 2)}`,
      domainId: (domainIndex) => `d${domainIndex}`,
    });

  it('deals the nodes into contiguous domains, the last one smaller', () => {
    expect(grid(5, 2).map((node) => [node.id, node.domain])).toEqual([
      ['n00', 'd0'],
      ['n01', 'd0'],
      ['n02', 'd1'],
      ['n03', 'd1'],
      ['n04', 'd2'],
    ]);
  });

  it('gives idle, up nodes of gpusPerNode GPUs by default', () => {
    expect(grid(1, 1)).toEqual([{ id: 'n00', domain: 'd0', gpusTotal: 8, gpusFree: 8, state: 'up' }]);
  });

  it('asks for each node state once, in index order', () => {
    const asked: number[] = [];
    const nodes = buildNodeGrid({
      nodes: 3,
      gpusPerNode: 4,
      nodesPerDomain: 32,
      nodeId: String,
      domainId: String,
      state: (index) => {
        asked.push(index);
        return index === 1 ? 'draining' : 'up';
      },
    });
    expect(asked).toEqual([0, 1, 2]);
    expect(nodes.map((node) => node.state)).toEqual(['up', 'draining', 'up']);
  });
});
