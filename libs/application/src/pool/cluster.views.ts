import { notFound } from '#domain';
import type { ClusterEntity, ClusterRepository, Tx } from '#persistence';

export interface NodesByStateView {
  up: number;
  draining: number;
  down: number;
}

export interface NodePoolView {
  id: string;
  gpuModel: string;
  gpusPerNode: number;
  nodes: number;
  gpus: number;
  /** GPUs held by admitted or running workloads. */
  gpusAllocated: number;
  interconnectDomains: number;
  nodesByState: NodesByStateView;
}

export interface ClusterView {
  id: string;
  name: string;
  adapter: string;
  site: { id: string; code: string; name: string; provider: string };
  nodePools: NodePoolView[];
  nodes: number;
  gpus: number;
  nodesByState: NodesByStateView;
  createdAt: string;
}

/** Pools and node counts of several clusters (loaded with their sites) with one GROUP BY. */
export async function clusterViewsOf(
  repository: ClusterRepository,
  clusters: ClusterEntity[],
  tx?: Tx,
): Promise<ClusterView[]> {
  if (clusters.length === 0) return [];
  const ids = clusters.map((cluster) => cluster.id);
  const pools = await repository.nodePoolsOf(ids, tx);
  const stats = new Map((await repository.nodePoolStats(ids, tx)).map((row) => [row.nodePoolId, row]));
  return clusters.map((cluster) => {
    const nodePools: NodePoolView[] = pools
      .filter((pool) => pool.clusterId === cluster.id)
      .map((pool) => {
        const row = stats.get(pool.id);
        return {
          id: pool.id,
          gpuModel: pool.gpuModel,
          gpusPerNode: pool.gpusPerNode,
          nodes: row?.nodes ?? 0,
          gpus: row?.gpus ?? 0,
          gpusAllocated: row?.gpusAllocated ?? 0,
          interconnectDomains: row?.domains ?? 0,
          nodesByState: { up: row?.up ?? 0, draining: row?.draining ?? 0, down: row?.down ?? 0 },
        };
      });
    const sum = (pick: (pool: NodePoolView) => number) =>
      nodePools.reduce((total, pool) => total + pick(pool), 0);
    const nodesByState: NodesByStateView = {
      up: sum((pool) => pool.nodesByState.up),
      draining: sum((pool) => pool.nodesByState.draining),
      down: sum((pool) => pool.nodesByState.down),
    };
    const site = cluster.site;
    if (!site) throw new Error(`cluster ${cluster.id} was loaded without its site`);
    return {
      id: cluster.id,
      name: cluster.name,
      adapter: cluster.adapter,
      site: { id: site.id, code: site.code, name: site.name, provider: site.provider },
      nodePools,
      nodes: sum((pool) => pool.nodes),
      gpus: sum((pool) => pool.gpus),
      nodesByState,
      createdAt: cluster.createdAt.toISOString(),
    };
  });
}

export async function clusterViewOf(
  repository: ClusterRepository,
  id: string,
  tx?: Tx,
): Promise<ClusterView> {
  const cluster = await repository.findWithSite(id, tx);
  if (!cluster) throw notFound('Cluster', id);
  const [view] = await clusterViewsOf(repository, [cluster], tx);
  if (!view) throw notFound('Cluster', id);
  return view;
}
