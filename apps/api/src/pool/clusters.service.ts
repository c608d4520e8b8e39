import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { conflict, notFound } from '#domain';
import { ClusterEntity, lockPartition, markPartitionDirty, NodePoolEntity, SiteEntity } from '#persistence';
import { AuditService } from '../audit/audit.service.js';
import type { Principal } from '../auth/principal.js';
import type { Page } from '../common/pagination.js';
import { isUniqueViolation, keysetPage } from '../common/query-support.js';
import type { CreateClusterRequest, ListClustersQuery, SiteInput } from './dto/cluster.request.js';
import type { ClusterResponse, NodePoolResponse, NodesByState } from './dto/cluster.response.js';
import { layoutNodes } from './node-layout.js';
import { cycleJobs, PoolJobs } from './pool-jobs.js';

const UNSPECIFIED_PROVIDER = 'unspecified';

interface PoolStatsRow {
  node_pool_id: string;
  nodes: number;
  up: number;
  draining: number;
  down: number;
  gpus: number;
  gpus_allocated: number;
  domains: number;
}

/** Sites, clusters and their node pools: registration (with every node) and the operator's views. */
@Injectable()
export class ClustersService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly jobs: PoolJobs,
  ) {}

  /**
   * Registers the cluster, its pools and every node in one transaction: the nodes go in with one
   * set-based INSERT per pool, so 10,000 nodes cost one statement, not 10,000. The partitions of
   * its GPU models are locked (in name order, so two registrations never deadlock), created if new
   * and marked dirty; the cycles are enqueued once the transaction has committed.
   */
  async create(
    principal: Principal,
    body: CreateClusterRequest,
    requestId: string | null,
  ): Promise<ClusterResponse> {
    const models = body.nodePools.map((pool) => pool.gpuModel).sort();
    let view: ClusterResponse;
    try {
      view = await this.dataSource.transaction(async (manager) => {
        const clusters = manager.getRepository(ClusterEntity);
        if (await clusters.exists({ where: { name: body.name } })) throw clusterNameTaken(body.name);
        for (const model of models) await lockPartition(manager, model);

        const site = await this.siteFor(manager, principal, body.site, requestId);
        const inserted = await manager
          .createQueryBuilder()
          .insert()
          .into(ClusterEntity)
          .values({ name: body.name, siteId: site.id, adapter: body.adapter })
          .orIgnore()
          .returning(['id'])
          .execute();
        const clusterId = (inserted.raw as { id: string }[])[0]?.id;
        if (!clusterId) throw clusterNameTaken(body.name);

        for (const pool of body.nodePools) {
          const nodePool = await manager
            .getRepository(NodePoolEntity)
            .save({ clusterId, gpuModel: pool.gpuModel, gpusPerNode: pool.gpusPerNode });
          const layout = layoutNodes(body.name, pool.gpuModel, pool.nodes, pool.interconnectDomains);
          await manager.query(
            `INSERT INTO nodes (node_pool_id, cluster_id, gpu_model, name, interconnect_domain, gpus_total)
             SELECT $1, $2, $3, layout.name, layout.domain, $4
             FROM unnest($5::text[], $6::text[]) AS layout(name, domain)`,
            [nodePool.id, clusterId, pool.gpuModel, pool.gpusPerNode, layout.names, layout.domains],
          );
        }
        for (const model of models) {
          await manager.query(
            'INSERT INTO scheduling_partitions (gpu_model) VALUES ($1) ON CONFLICT (gpu_model) DO NOTHING',
            [model],
          );
          await markPartitionDirty(manager, model);
        }

        const created = await this.view(manager, clusterId);
        await this.audit.record(manager, {
          principal,
          action: 'cluster.created',
          subjectType: 'cluster',
          subjectId: clusterId,
          after: created,
          requestId,
        });
        return created;
      });
    } catch (error) {
      // Two operators registering the same name at once: the unique index decides.
      if (isUniqueViolation(error, 'uq_clusters_name')) throw clusterNameTaken(body.name);
      throw error;
    }
    await this.jobs.afterCommit(cycleJobs(models));
    return view;
  }

  async list(query: ListClustersQuery): Promise<Page<ClusterResponse>> {
    const builder = this.dataSource
      .getRepository(ClusterEntity)
      .createQueryBuilder('cluster')
      .innerJoinAndSelect('cluster.site', 'site');
    if (query.name !== undefined) builder.andWhere('cluster.name = :name', { name: query.name });
    if (query.siteCode !== undefined) builder.andWhere('site.code = :siteCode', { siteCode: query.siteCode });
    const page = await keysetPage(builder, query, (cluster) => cluster);
    const views = await this.views(this.dataSource.manager, page.items);
    return { items: views, nextCursor: page.nextCursor };
  }

  async get(id: string): Promise<ClusterResponse> {
    return this.view(this.dataSource.manager, id);
  }

  private async view(manager: EntityManager, id: string): Promise<ClusterResponse> {
    const cluster = await manager
      .getRepository(ClusterEntity)
      .findOne({ where: { id }, relations: { site: true } });
    if (!cluster) throw notFound('Cluster', id);
    const [view] = await this.views(manager, [cluster]);
    if (!view) throw notFound('Cluster', id);
    return view;
  }

  /** Pools and node counts of several clusters with one GROUP BY over their nodes. */
  private async views(manager: EntityManager, clusters: ClusterEntity[]): Promise<ClusterResponse[]> {
    if (clusters.length === 0) return [];
    const ids = clusters.map((cluster) => cluster.id);
    const pools = await manager
      .getRepository(NodePoolEntity)
      .createQueryBuilder('pool')
      .where('pool.cluster_id = ANY(:ids)', { ids })
      .orderBy('pool.gpu_model', 'ASC')
      .getMany();
    const rows = await manager.query<PoolStatsRow[]>(
      `SELECT node_pool_id,
              count(*)::int AS nodes,
              (count(*) FILTER (WHERE state = 'up'))::int AS up,
              (count(*) FILTER (WHERE state = 'draining'))::int AS draining,
              (count(*) FILTER (WHERE state = 'down'))::int AS down,
              sum(gpus_total)::int AS gpus,
              sum(gpus_allocated)::int AS gpus_allocated,
              count(DISTINCT interconnect_domain)::int AS domains
       FROM nodes WHERE cluster_id = ANY($1::uuid[]) GROUP BY node_pool_id`,
      [ids],
    );
    const stats = new Map(rows.map((row) => [row.node_pool_id, row]));
    return clusters.map((cluster) => {
      const nodePools: NodePoolResponse[] = pools
        .filter((pool) => pool.clusterId === cluster.id)
        .map((pool) => {
          const row = stats.get(pool.id);
          return {
            id: pool.id,
            gpuModel: pool.gpuModel,
            gpusPerNode: pool.gpusPerNode,
            nodes: row?.nodes ?? 0,
            gpus: row?.gpus ?? 0,
            gpusAllocated: row?.gpus_allocated ?? 0,
            interconnectDomains: row?.domains ?? 0,
            nodesByState: { up: row?.up ?? 0, draining: row?.draining ?? 0, down: row?.down ?? 0 },
          };
        });
      const sum = (pick: (pool: NodePoolResponse) => number) =>
        nodePools.reduce((total, pool) => total + pick(pool), 0);
      const nodesByState: NodesByState = {
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

  /** The named site, created (and audited) if it is new. */
  private async siteFor(
    manager: EntityManager,
    principal: Principal,
    input: SiteInput,
    requestId: string | null,
  ): Promise<SiteEntity> {
    const wanted = typeof input === 'string' ? { code: input } : input;
    const sites = manager.getRepository(SiteEntity);
    const inserted = await manager
      .createQueryBuilder()
      .insert()
      .into(SiteEntity)
      .values({
        code: wanted.code,
        name: wanted.name ?? wanted.code,
        provider: wanted.provider ?? UNSPECIFIED_PROVIDER,
      })
      .orIgnore()
      .returning(['id'])
      .execute();
    const createdId = (inserted.raw as { id: string }[])[0]?.id;
    const site = await sites.findOneOrFail({ where: { code: wanted.code } });
    if (createdId) {
      await this.audit.record(manager, {
        principal,
        action: 'site.created',
        subjectType: 'site',
        subjectId: site.id,
        after: { code: site.code, name: site.name, provider: site.provider },
        requestId,
      });
      return site;
    }
    const mismatched = (['name', 'provider'] as const).filter(
      (field) => wanted[field] !== undefined && wanted[field] !== site[field],
    );
    if (mismatched.length > 0) {
      throw conflict(
        'SITE_MISMATCH',
        `Site ${site.code} exists with a different ${mismatched.join(' and ')}; send its code alone, or the recorded values.`,
        mismatched.map((field) => ({ field: `site.${field}`, message: `recorded as "${site[field]}"` })),
      );
    }
    return site;
  }
}

function clusterNameTaken(name: string) {
  return conflict('CLUSTER_NAME_TAKEN', `A cluster named ${name} is already registered.`, {
    name,
  });
}
