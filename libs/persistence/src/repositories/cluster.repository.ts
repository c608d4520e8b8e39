import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ClusterEntity, NodePoolEntity, SiteEntity } from '../entities/pool.entities.js';
import { keysetPage, type Page, type PageQuery } from '../pagination.js';
import type { Tx } from '../transaction.js';

export interface NewSite {
  code: string;
  name: string;
  provider: string;
}

/** The names and interconnect domains of a pool's nodes, index by index. */
export interface NodeLayout {
  names: string[];
  domains: string[];
}

/** Node counts and GPUs of one node pool, summed by PostgreSQL. */
export interface NodePoolStats {
  nodePoolId: string;
  nodes: number;
  up: number;
  draining: number;
  down: number;
  gpus: number;
  gpusAllocated: number;
  domains: number;
}

export interface ClusterListFilter {
  name?: string | undefined;
  siteCode?: string | undefined;
}

/** Sites, clusters, their node pools and the nodes registered with them. */
export abstract class ClusterRepository {
  abstract nameTaken(tx: Tx, name: string): Promise<boolean>;
  /** The new cluster's id, or null when the name is taken. */
  abstract insertIfNameAbsent(
    tx: Tx,
    cluster: { name: string; siteId: string; adapter: string },
  ): Promise<string | null>;
  abstract insertNodePool(
    tx: Tx,
    pool: { clusterId: string; gpuModel: string; gpusPerNode: number },
  ): Promise<string>;
  /** Every node of the pool with one set-based INSERT: 10,000 nodes cost one statement. */
  abstract insertNodes(
    tx: Tx,
    pool: { nodePoolId: string; clusterId: string; gpuModel: string; gpusPerNode: number },
    layout: NodeLayout,
  ): Promise<void>;
  /** The model's scheduling partition, created if new. */
  abstract ensurePartition(tx: Tx, gpuModel: string): Promise<void>;
  /** The new site's id, or null when the code is taken. */
  abstract insertSiteIfAbsent(tx: Tx, site: NewSite): Promise<string | null>;
  abstract siteByCode(tx: Tx, code: string): Promise<SiteEntity>;
  abstract findWithSite(clusterId: string, tx?: Tx): Promise<ClusterEntity | null>;
  abstract page(filter: ClusterListFilter, page: PageQuery): Promise<Page<ClusterEntity>>;
  /** The node pools of these clusters, by GPU model. */
  abstract nodePoolsOf(clusterIds: string[], tx?: Tx): Promise<NodePoolEntity[]>;
  abstract nodePoolStats(clusterIds: string[], tx?: Tx): Promise<NodePoolStats[]>;
}

@Injectable()
export class TypeormClusterRepository extends ClusterRepository {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  override nameTaken(tx: Tx, name: string): Promise<boolean> {
    return tx.getRepository(ClusterEntity).exists({ where: { name } });
  }

  override async insertIfNameAbsent(
    tx: Tx,
    cluster: { name: string; siteId: string; adapter: string },
  ): Promise<string | null> {
    const inserted = await tx
      .createQueryBuilder()
      .insert()
      .into(ClusterEntity)
      .values(cluster)
      .orIgnore()
      .returning(['id'])
      .execute();
    return (inserted.raw as { id: string }[])[0]?.id ?? null;
  }

  override async insertNodePool(
    tx: Tx,
    pool: { clusterId: string; gpuModel: string; gpusPerNode: number },
  ): Promise<string> {
    const row = await tx.getRepository(NodePoolEntity).save(pool);
    return row.id;
  }

  override async insertNodes(
    tx: Tx,
    pool: { nodePoolId: string; clusterId: string; gpuModel: string; gpusPerNode: number },
    layout: NodeLayout,
  ): Promise<void> {
    await tx.query(
      `INSERT INTO nodes (node_pool_id, cluster_id, gpu_model, name, interconnect_domain, gpus_total)
       SELECT $1, $2, $3, layout.name, layout.domain, $4
       FROM unnest($5::text[], $6::text[]) AS layout(name, domain)`,
      [pool.nodePoolId, pool.clusterId, pool.gpuModel, pool.gpusPerNode, layout.names, layout.domains],
    );
  }

  override async ensurePartition(tx: Tx, gpuModel: string): Promise<void> {
    await tx.query(
      'INSERT INTO scheduling_partitions (gpu_model) VALUES ($1) ON CONFLICT (gpu_model) DO NOTHING',
      [gpuModel],
    );
  }

  override async insertSiteIfAbsent(tx: Tx, site: NewSite): Promise<string | null> {
    const inserted = await tx
      .createQueryBuilder()
      .insert()
      .into(SiteEntity)
      .values(site)
      .orIgnore()
      .returning(['id'])
      .execute();
    return (inserted.raw as { id: string }[])[0]?.id ?? null;
  }

  override siteByCode(tx: Tx, code: string): Promise<SiteEntity> {
    return tx.getRepository(SiteEntity).findOneOrFail({ where: { code } });
  }

  override findWithSite(clusterId: string, tx?: Tx): Promise<ClusterEntity | null> {
    return (tx ?? this.dataSource.manager)
      .getRepository(ClusterEntity)
      .findOne({ where: { id: clusterId }, relations: { site: true } });
  }

  override page(filter: ClusterListFilter, page: PageQuery): Promise<Page<ClusterEntity>> {
    const builder = this.dataSource
      .getRepository(ClusterEntity)
      .createQueryBuilder('cluster')
      .innerJoinAndSelect('cluster.site', 'site');
    if (filter.name !== undefined) builder.andWhere('cluster.name = :name', { name: filter.name });
    if (filter.siteCode !== undefined)
      builder.andWhere('site.code = :siteCode', { siteCode: filter.siteCode });
    return keysetPage(builder, page, (cluster) => cluster);
  }

  override nodePoolsOf(clusterIds: string[], tx?: Tx): Promise<NodePoolEntity[]> {
    return (tx ?? this.dataSource.manager)
      .getRepository(NodePoolEntity)
      .createQueryBuilder('pool')
      .where('pool.cluster_id = ANY(:ids)', { ids: clusterIds })
      .orderBy('pool.gpu_model', 'ASC')
      .getMany();
  }

  override async nodePoolStats(clusterIds: string[], tx?: Tx): Promise<NodePoolStats[]> {
    const rows = await (tx ?? this.dataSource.manager).query<
      {
        node_pool_id: string;
        nodes: number;
        up: number;
        draining: number;
        down: number;
        gpus: number;
        gpus_allocated: number;
        domains: number;
      }[]
    >(
      `SELECT node_pool_id,
              count(*)::int AS nodes,
              (count(*) FILTER (WHERE state = 'up'))::int AS up,
              (count(*) FILTER (WHERE state = 'draining'))::int AS draining,
              (count(*) FILTER (WHERE state = 'down'))::int AS down,
              sum(gpus_total)::int AS gpus,
              sum(gpus_allocated)::int AS gpus_allocated,
              count(DISTINCT interconnect_domain)::int AS domains
       FROM nodes WHERE cluster_id = ANY($1::uuid[]) GROUP BY node_pool_id`,
      [clusterIds],
    );
    return rows.map((row) => ({
      nodePoolId: row.node_pool_id,
      nodes: row.nodes,
      up: row.up,
      draining: row.draining,
      down: row.down,
      gpus: row.gpus,
      gpusAllocated: row.gpus_allocated,
      domains: row.domains,
    }));
  }
}
