import { Injectable, Logger } from '@nestjs/common';
import { conflict, type Principal } from '#domain';
import {
  AuditRepository,
  ClusterRepository,
  isUniqueViolation,
  PartitionRepository,
  TransactionRunner,
  type NodeLayout,
  type SiteEntity,
  type Tx,
} from '#persistence';
import { enqueueAfterCommit, JobProducer } from '#queues';
import { clusterViewOf, type ClusterView } from './cluster.views.js';
import { cycleJobs } from './pool-jobs.js';

const UNSPECIFIED_PROVIDER = 'unspecified';

/** A site by code alone, or with the name and provider it is (or must be) recorded with. */
export type SiteInput = string | { code: string; name?: string | undefined; provider?: string | undefined };

export interface RegisterClusterCommand {
  name: string;
  adapter: string;
  site: SiteInput;
  /** Each pool with the layout of its nodes (names and interconnect domains). */
  nodePools: { gpuModel: string; gpusPerNode: number; layout: NodeLayout }[];
}

/**
 * Registers the cluster, its pools and every node in one transaction: the nodes go in with one
 * set-based INSERT per pool. The partitions of its GPU models are locked (in name order, so two
 * registrations never deadlock), created if new and marked dirty; the cycles are enqueued once the
 * transaction has committed.
 */
@Injectable()
export class RegisterClusterUseCase {
  private readonly logger = new Logger(RegisterClusterUseCase.name);

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly clusters: ClusterRepository,
    private readonly partitions: PartitionRepository,
    private readonly audit: AuditRepository,
    private readonly producer: JobProducer,
  ) {}

  async execute(
    principal: Principal,
    input: RegisterClusterCommand,
    requestId: string | null,
  ): Promise<ClusterView> {
    const models = input.nodePools.map((pool) => pool.gpuModel).sort();
    let view: ClusterView;
    try {
      view = await this.transactions.run(async (tx) => {
        if (await this.clusters.nameTaken(tx, input.name)) throw clusterNameTaken(input.name);
        for (const model of models) await this.partitions.lock(tx, model);

        const site = await this.siteFor(tx, principal, input.site, requestId);
        const clusterId = await this.clusters.insertIfNameAbsent(tx, {
          name: input.name,
          siteId: site.id,
          adapter: input.adapter,
        });
        if (!clusterId) throw clusterNameTaken(input.name);

        for (const pool of input.nodePools) {
          const nodePoolId = await this.clusters.insertNodePool(tx, {
            clusterId,
            gpuModel: pool.gpuModel,
            gpusPerNode: pool.gpusPerNode,
          });
          await this.clusters.insertNodes(
            tx,
            { nodePoolId, clusterId, gpuModel: pool.gpuModel, gpusPerNode: pool.gpusPerNode },
            pool.layout,
          );
        }
        for (const model of models) {
          await this.clusters.ensurePartition(tx, model);
          await this.partitions.markDirty(tx, model);
        }

        const created = await clusterViewOf(this.clusters, clusterId, tx);
        await this.audit.record(tx, {
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
      if (isUniqueViolation(error, 'uq_clusters_name')) throw clusterNameTaken(input.name);
      throw error;
    }
    await enqueueAfterCommit(this.producer, cycleJobs(models), {
      logger: this.logger,
      recoveredBy: "the scheduler's reconciler (dirty partitions)",
    });
    return view;
  }

  /** The named site, created (and audited) if it is new; a mismatch with the recorded one is refused. */
  private async siteFor(
    tx: Tx,
    principal: Principal,
    input: SiteInput,
    requestId: string | null,
  ): Promise<SiteEntity> {
    const wanted = typeof input === 'string' ? { code: input } : input;
    const createdId = await this.clusters.insertSiteIfAbsent(tx, {
      code: wanted.code,
      name: wanted.name ?? wanted.code,
      provider: wanted.provider ?? UNSPECIFIED_PROVIDER,
    });
    const site = await this.clusters.siteByCode(tx, wanted.code);
    if (createdId) {
      await this.audit.record(tx, {
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
