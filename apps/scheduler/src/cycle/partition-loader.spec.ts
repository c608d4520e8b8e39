import { shapePartition, type PartitionRows } from './partition-loader.js';

const NOW = new Date('2026-03-01T00:00:00Z');
const SETTINGS = { fairShareHalfLifeSeconds: 86_400, backfill: true, preemption: true, estimateLimit: 10 };

function rows(overrides: Partial<PartitionRows> = {}): PartitionRows {
  return {
    gpusPerNode: 8,
    nodes: [],
    queued: [],
    running: [],
    allocations: [],
    programBudgets: [],
    projectUsage: [],
    projectGrants: [],
    reservationWindows: [],
    reservedAllocationIds: [],
    ...overrides,
  };
}

describe('shapePartition', () => {
  it('gives a model without node pools servers of 0 GPUs', () => {
    expect(shapePartition(rows({ gpusPerNode: null }), 'H200', NOW, SETTINGS).snapshot.gpusPerNode).toBe(0);
  });

  it('counts free GPUs never below zero and treats any state but up or draining as down', () => {
    const { nodes } = shapePartition(
      rows({
        nodes: [
          { id: 'n1', domain: 'c1/d1', gpus_total: 8, gpus_allocated: 3, state: 'up' },
          { id: 'n2', domain: 'c1/d1', gpus_total: 8, gpus_allocated: 10, state: 'draining' },
          { id: 'n3', domain: 'c2/d1', gpus_total: 8, gpus_allocated: 0, state: 'maintenance' },
        ],
      }),
      'H200',
      NOW,
      SETTINGS,
    ).snapshot;
    expect(nodes).toEqual([
      { id: 'n1', domain: 'c1/d1', gpusTotal: 8, gpusFree: 5, state: 'up' },
      { id: 'n2', domain: 'c1/d1', gpusTotal: 8, gpusFree: 0, state: 'draining' },
      { id: 'n3', domain: 'c2/d1', gpusTotal: 8, gpusFree: 8, state: 'down' },
    ]);
  });

  it('shares entitlements in basis points, truncated so they never sum above 10,000', () => {
    const { entitlementsBasisPoints } = shapePartition(
      rows({
        programBudgets: [
          { program_id: 'p1', budget: '1' },
          { program_id: 'p2', budget: '1' },
          { program_id: 'p3', budget: '1' },
        ],
      }),
      'H200',
      NOW,
      SETTINGS,
    ).snapshot;
    expect([...entitlementsBasisPoints]).toEqual([
      ['p1', 3333],
      ['p2', 3333],
      ['p3', 3333],
    ]);
  });

  it('keeps the ledger balance exact and drops projects without usage', () => {
    const { allocations, projectUsage, projectShares } = shapePartition(
      rows({
        allocations: [
          {
            id: 'a1',
            max_concurrent_gpus: 64,
            admitting: true,
            gpus_in_use: 16,
            remaining: '9007199254740993',
          },
        ],
        projectUsage: [
          { project_id: 'used', usage: 12.5 },
          { project_id: 'idle', usage: 0 },
        ],
        projectGrants: [{ project_id: 'used', granted: '3600' }],
      }),
      'H200',
      NOW,
      SETTINGS,
    ).snapshot;
    expect(allocations.get('a1')).toEqual({
      allocationId: 'a1',
      remainingGpuSeconds: 9_007_199_254_740_993n,
      maxConcurrentGpus: 64,
      gpusInUse: 16,
      admitting: true,
    });
    expect([...projectUsage]).toEqual([['used', 12.5]]);
    expect([...projectShares]).toEqual([['used', 3600]]);
  });

  it('remembers each queued attempt, its wait and allocation, and each running placement', () => {
    const queuedAt = new Date('2026-02-28T00:00:00Z');
    const eta = new Date('2026-03-02T00:00:00Z');
    const loaded = shapePartition(
      rows({
        queued: [
          {
            id: 'w1',
            allocation_id: 'a1',
            project_id: 'pr1',
            program_id: 'p1',
            gpus: 8,
            walltime_seconds: 3600,
            priority_tier: 0,
            queued_at: queuedAt,
            attempt: 2,
            wait_reason: 'capacity',
            wait_detail: 'Waiting for GPUs.',
            queue_position: 1,
            estimated_start_at: eta,
          },
        ],
        running: [
          {
            id: 'w2',
            allocation_id: 'a1',
            project_id: 'pr1',
            program_id: 'p1',
            gpus: 12,
            attempt: 3,
            admitted_at: queuedAt,
            expected_end_at: eta,
            borrowed: false,
            node_ids: ['n1', 'n2'],
            node_gpus: [8, 4],
          },
          {
            id: 'w3',
            allocation_id: 'a1',
            project_id: 'pr1',
            program_id: 'p1',
            gpus: 8,
            attempt: 1,
            admitted_at: queuedAt,
            expected_end_at: eta,
            borrowed: true,
            node_ids: null,
            node_gpus: null,
          },
        ],
      }),
      'H200',
      NOW,
      SETTINGS,
    );
    expect(loaded.queuedMeta.get('w1')).toEqual({
      attempt: 2,
      waitReason: 'capacity',
      waitDetail: 'Waiting for GPUs.',
      queuePosition: 1,
      estimatedStartAt: eta.getTime(),
    });
    expect(loaded.allocationOf.get('w1')).toBe('a1');
    expect(loaded.runningAttempt).toEqual(
      new Map([
        ['w2', 3],
        ['w3', 1],
      ]),
    );
    expect(loaded.snapshot.running.map((workload) => workload.placement)).toEqual([
      [
        { nodeId: 'n1', gpus: 8 },
        { nodeId: 'n2', gpus: 4 },
      ],
      [],
    ]);
  });
});
