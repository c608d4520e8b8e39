import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { buildNodeGrid, zeroPad } from '../../libs/domain/src/index.js';
import { markPartitionDirty } from '../../libs/persistence/src/index.js';
import { grantUseCase } from '../support/grant.js';
import { seedApprovedRequest } from './grant-fixtures.js';

export interface PoolFixture {
  siteId: string;
  clusterId: string;
  nodePoolId: string;
  gpuModel: string;
  gpusPerNode: number;
  /** Node ids, in name order (node-000, node-001, …). */
  nodeIds: string[];
  /** Interconnect domain of each node, same order. */
  domains: string[];
}

export interface PoolOptions {
  gpuModel?: string;
  nodes?: number;
  gpusPerNode?: number;
  /** Interconnect domains; nodes are dealt into them in contiguous blocks. */
  domains?: number;
  provider?: string;
}

/**
 * A site, one cluster, one node pool of one GPU model and its nodes, and the model's scheduling
 * partition row, straight into PostgreSQL (the pool API is built elsewhere). Nodes go in with one
 * statement, so a national-size pool (6,250 nodes) is as quick to seed as a small one.
 */
export async function seedPool(dataSource: DataSource, options: PoolOptions = {}): Promise<PoolFixture> {
  const gpuModel = options.gpuModel ?? 'H200';
  const nodeCount = options.nodes ?? 64;
  const gpusPerNode = options.gpusPerNode ?? 8;
  const domainCount = Math.max(1, options.domains ?? 2);
  const suffix = randomBytes(3).toString('hex');
  return dataSource.transaction(async (manager) => {
    const [site] = await manager.query<{ id: string }[]>(
      `INSERT INTO sites (code, name, provider) VALUES ($1, $2, $3) RETURNING id`,
      [`site-${suffix}`, `Test site ${suffix}`, options.provider ?? 'test-cloud'],
    );
    if (!site) throw new Error('no site');
    const [cluster] = await manager.query<{ id: string }[]>(
      `INSERT INTO clusters (name, site_id, adapter) VALUES ($1, $2, 'simulator') RETURNING id`,
      [`cluster-${suffix}`, site.id],
    );
    if (!cluster) throw new Error('no cluster');
    const [nodePool] = await manager.query<{ id: string }[]>(
      `INSERT INTO node_pools (cluster_id, gpu_model, gpus_per_node) VALUES ($1, $2, $3) RETURNING id`,
      [cluster.id, gpuModel, gpusPerNode],
    );
    if (!nodePool) throw new Error('no node pool');
    const grid = buildNodeGrid({
      nodes: nodeCount,
      gpusPerNode,
      nodesPerDomain: Math.ceil(nodeCount / domainCount),
      nodeId: (index) => `node-${zeroPad(index, 4)}`,
      domainId: (domainIndex) => `d${domainIndex + 1}`,
    });
    const names = grid.map((node) => node.id);
    const domains = grid.map((node) => node.domain);
    const nodes = await manager.query<{ id: string }[]>(
      `INSERT INTO nodes (node_pool_id, cluster_id, gpu_model, name, interconnect_domain, gpus_total)
       SELECT $1, $2, $3, t.name, t.domain, $4 FROM unnest($5::text[], $6::text[]) WITH ORDINALITY AS t(name, domain, ord)
       ORDER BY t.ord
       RETURNING id`,
      [nodePool.id, cluster.id, gpuModel, gpusPerNode, names, domains],
    );
    await manager.query(
      `INSERT INTO scheduling_partitions (gpu_model) VALUES ($1) ON CONFLICT (gpu_model) DO NOTHING`,
      [gpuModel],
    );
    return {
      siteId: site.id,
      clusterId: cluster.id,
      nodePoolId: nodePool.id,
      gpuModel,
      gpusPerNode,
      nodeIds: nodes.map((node) => node.id),
      domains,
    };
  });
}

/**
 * What the pool looks like right now, in one statement (one consistent snapshot). Ledger balances
 * are those of the given allocations (index lookups), or of every allocation when none are given.
 */
export async function poolFacts(dataSource: DataSource, gpuModel: string, allocationIds?: string[]) {
  const accounts = allocationIds?.flatMap((id) => [`allocation:${id}`, `hold:${id}`]) ?? null;
  const [row] = await dataSource.query<
    {
      overbooked: number;
      mismatched: number;
      allocated: number;
      stray_placements: number;
      negative_holds: number;
      negative_allocations: number;
    }[]
  >(
    `SELECT
       (SELECT count(*) FROM nodes WHERE gpu_model = $1 AND gpus_allocated > gpus_total)::int AS overbooked,
       (SELECT count(*) FROM nodes n
          LEFT JOIN (SELECT node_id, sum(gpus) AS gpus FROM workload_placements GROUP BY node_id) p ON p.node_id = n.id
          WHERE n.gpu_model = $1 AND coalesce(p.gpus, 0) <> n.gpus_allocated)::int AS mismatched,
       (SELECT coalesce(sum(gpus_allocated), 0) FROM nodes WHERE gpu_model = $1)::int AS allocated,
       (SELECT count(*) FROM workload_placements p JOIN workloads w ON w.id = p.workload_id
          WHERE w.state NOT IN ('admitted', 'running'))::int AS stray_placements,
       (SELECT count(*) FROM (SELECT account FROM ledger_entries
          WHERE account LIKE 'hold:%' AND ($2::text[] IS NULL OR account = ANY($2))
          GROUP BY account HAVING sum(amount) < 0) x)::int AS negative_holds,
       (SELECT count(*) FROM (SELECT account FROM ledger_entries
          WHERE account LIKE 'allocation:%' AND ($2::text[] IS NULL OR account = ANY($2))
          GROUP BY account HAVING sum(amount) < 0) x)::int AS negative_allocations`,
    [gpuModel, accounts],
  );
  if (!row) throw new Error('no pool facts');
  return row;
}

export interface QuotaFixture {
  allocationId: string;
  projectId: string;
  programId: string;
}

/**
 * Approved, granted allocations on one model (one program and project each, through the grant
 * service), their windows opened around now and their concurrency caps set.
 */
export async function seedQuotas(
  dataSource: DataSource,
  gpuModel: string,
  quotas: { grantedGpuHours: bigint; maxConcurrentGpus: number; programBudgetGpuHours?: bigint }[],
): Promise<QuotaFixture[]> {
  const grants = grantUseCase(dataSource);
  const result: QuotaFixture[] = [];
  for (const quota of quotas) {
    const fixture = await seedApprovedRequest(dataSource, {
      models: [gpuModel],
      grantedGpuHours: [quota.grantedGpuHours],
      ...(quota.programBudgetGpuHours === undefined ? {} : { budgetGpuHours: quota.programBudgetGpuHours }),
    });
    const outcome = await grants.execute(fixture.requestId);
    if (outcome.outcome !== 'granted') throw new Error(`grant failed: ${outcome.outcome}`);
    const allocationId = outcome.allocationIds[0];
    if (!allocationId) throw new Error('no allocation');
    // The grant fixture's window is fixed in 2026: open it around now.
    await dataSource.query(
      `UPDATE allocations SET starts_at = now() - interval '1 day', ends_at = now() + interval '30 days',
              max_concurrent_gpus = $2 WHERE id = $1`,
      [allocationId, quota.maxConcurrentGpus],
    );
    result.push({ allocationId, projectId: fixture.projectId, programId: fixture.programId });
  }
  return result;
}

export interface WorkloadSpec {
  quota: QuotaFixture;
  gpus: number;
  walltimeSeconds: number;
  simulatedRuntimeSeconds: number;
  priorityTier?: number;
  name: string;
}

/**
 * Queued workloads as the API writes them: rows in one statement and the partition's dirty mark
 * in the same transaction. Returns their ids in submission order.
 */
export async function submitWorkloads(
  dataSource: DataSource,
  gpuModel: string,
  specs: WorkloadSpec[],
): Promise<string[]> {
  return dataSource.transaction(async (manager) => {
    const rows = await manager.query<{ id: string }[]>(
      `INSERT INTO workloads (allocation_id, project_id, program_id, gpu_model, gpus, walltime_seconds, name,
                              priority_tier, state, simulated_runtime_seconds, queued_at)
       SELECT t.allocation_id, t.project_id, t.program_id, $1, t.gpus, t.walltime, t.name, t.tier, 'queued',
              t.runtime, clock_timestamp()
       FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::int[], $6::int[], $7::text[], $8::int[], $9::int[])
            WITH ORDINALITY AS t(allocation_id, project_id, program_id, gpus, walltime, name, tier, runtime, ord)
       ORDER BY t.ord
       RETURNING id`,
      [
        gpuModel,
        specs.map((spec) => spec.quota.allocationId),
        specs.map((spec) => spec.quota.projectId),
        specs.map((spec) => spec.quota.programId),
        specs.map((spec) => spec.gpus),
        specs.map((spec) => spec.walltimeSeconds),
        specs.map((spec) => spec.name),
        specs.map((spec) => spec.priorityTier ?? 0),
        specs.map((spec) => spec.simulatedRuntimeSeconds),
      ],
    );
    await markPartitionDirty(manager, gpuModel);
    return rows.map((row) => row.id);
  });
}
