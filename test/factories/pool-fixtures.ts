import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';

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
    const perDomain = Math.ceil(nodeCount / domainCount);
    const names = Array.from({ length: nodeCount }, (_, index) => `node-${String(index).padStart(4, '0')}`);
    const domains = names.map((_, index) => `d${Math.floor(index / perDomain) + 1}`);
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

/** What the pool looks like right now, in one statement (one consistent snapshot). */
export async function poolFacts(dataSource: DataSource, gpuModel: string) {
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
       (SELECT count(*) FROM (SELECT account FROM ledger_entries WHERE account LIKE 'hold:%'
          GROUP BY account HAVING sum(amount) < 0) x)::int AS negative_holds,
       (SELECT count(*) FROM (SELECT account FROM ledger_entries WHERE account LIKE 'allocation:%'
          GROUP BY account HAVING sum(amount) < 0) x)::int AS negative_allocations`,
    [gpuModel],
  );
  if (!row) throw new Error('no pool facts');
  return row;
}
