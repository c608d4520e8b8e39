import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { EndAttemptUseCase } from '#application';
import { ACTIVE_WORKLOAD_STATES, DomainError, notFound } from '#domain';
import {
  lockPartition,
  markPartitionDirty,
  NodeEntity,
  WorkloadEntity,
  WorkloadPlacementEntity,
} from '#persistence';
import type { JobItem } from '#queues';
import { AuditService } from '../audit/audit.service.js';
import type { Principal } from '../auth/principal.js';
import type { Page } from '../common/pagination.js';
import type { ChangeNodeStateRequest, ListNodesQuery } from './dto/node.request.js';
import {
  toNodeResponse,
  type NodeDetailResponse,
  type NodeResponse,
  type NodeStateChangeResponse,
} from './dto/node.response.js';
import { cycleJobs, PoolJobs } from './pool-jobs.js';

/** The cancel job's reason is capped at 200 characters (libs/queues). */
const MAX_CANCEL_REASON = 200;

/** Nodes: the operator's list, one node with what runs on it, and state changes (drain, down, up). */
@Injectable()
export class NodesService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly jobs: PoolJobs,
    private readonly endAttempt: EndAttemptUseCase,
  ) {}

  /**
   * Nodes in name order (`<cluster>-<model>-<n>` sorts as operators read racks), keyset over
   * (name, id) so pages stay stable while nodes are added.
   */
  async list(query: ListNodesQuery): Promise<Page<NodeResponse>> {
    const builder = this.dataSource.getRepository(NodeEntity).createQueryBuilder('node');
    if (query.clusterId !== undefined)
      builder.andWhere('node.cluster_id = :clusterId', { clusterId: query.clusterId });
    if (query.nodePoolId !== undefined)
      builder.andWhere('node.node_pool_id = :nodePoolId', { nodePoolId: query.nodePoolId });
    if (query.gpuModel !== undefined)
      builder.andWhere('node.gpu_model = :gpuModel', { gpuModel: query.gpuModel });
    if (query.state !== undefined) builder.andWhere('node.state = :state', { state: query.state });
    if (query.interconnectDomain !== undefined)
      builder.andWhere('node.interconnect_domain = :domain', { domain: query.interconnectDomain });
    const after = decodeNodeCursor(query.cursor);
    if (after) {
      builder.andWhere('(node.name, node.id) > (:afterName, CAST(:afterId AS uuid))', {
        afterName: after.name,
        afterId: after.id,
      });
    }
    const rows = await builder
      .orderBy('node.name', 'ASC')
      .addOrderBy('node.id', 'ASC')
      .limit(query.limit + 1)
      .getMany();
    const items = rows.slice(0, query.limit);
    const last = items[items.length - 1];
    return {
      items: items.map(toNodeResponse),
      nextCursor: rows.length > query.limit && last ? encodeNodeCursor(last) : null,
    };
  }

  async get(id: string): Promise<NodeDetailResponse> {
    const manager = this.dataSource.manager;
    const node = await manager.getRepository(NodeEntity).findOne({ where: { id } });
    if (!node) throw notFound('Node', id);
    const workloads = await manager.query<{ id: string; name: string; state: string; gpus: number }[]>(
      `SELECT w.id, w.name, w.state, p.gpus FROM workload_placements p JOIN workloads w ON w.id = p.workload_id
       WHERE p.node_id = $1 ORDER BY w.admitted_at, w.id`,
      [id],
    );
    return { ...toNodeResponse(node), workloads };
  }

  /**
   * Changes a node's state under its partition's lock, so no scheduling cycle places on it
   * meanwhile. `down` fails every admitted or running workload placed on it (releasing all their
   * GPUs, on every node they span, and settling their holds). Any change marks the partition
   * dirty; the cycle and the cancels are enqueued after commit.
   */
  async changeState(
    principal: Principal,
    id: string,
    body: ChangeNodeStateRequest,
    requestId: string | null,
  ): Promise<NodeStateChangeResponse> {
    const outcome = await this.dataSource.transaction(async (manager) => {
      const nodes = manager.getRepository(NodeEntity);
      const located = await nodes.findOne({ where: { id }, select: { id: true, gpuModel: true } });
      if (!located) throw notFound('Node', id);
      await lockPartition(manager, located.gpuModel);
      const node = await nodes.findOneOrFail({ where: { id }, lock: { mode: 'pessimistic_write' } });
      if (node.state === body.state) {
        return { node, changed: false, failed: [] as WorkloadEntity[], reason: null };
      }

      const before = toNodeResponse(node);
      await nodes.update(node.id, { state: body.state, stateReason: body.reason ?? null });
      const failed: WorkloadEntity[] = [];
      let reason: string | null = null;
      if (body.state === 'down') {
        reason = `node_down: ${node.name}: ${body.reason ?? 'marked down by an operator'}`;
        failed.push(...(await this.failWorkloadsOn(manager, principal, node, reason, requestId)));
      }
      await markPartitionDirty(manager, node.gpuModel);
      const updated = await nodes.findOneOrFail({ where: { id } });
      await this.audit.record(manager, {
        principal,
        action: 'node.state_changed',
        subjectType: 'node',
        subjectId: node.id,
        before,
        after: { ...toNodeResponse(updated), failedWorkloadIds: failed.map((workload) => workload.id) },
        requestId,
      });
      return { node: updated, changed: true, failed, reason };
    });

    if (outcome.changed) {
      const cancels: JobItem[] = outcome.failed.map((workload) => ({
        name: 'dispatch.cancel',
        data: {
          workloadId: workload.id,
          attempt: workload.attempt,
          reason: (outcome.reason ?? 'node_down').slice(0, MAX_CANCEL_REASON),
        },
      }));
      await this.jobs.afterCommit([...cancels, ...cycleJobs([outcome.node.gpuModel])]);
    }
    return {
      ...toNodeResponse(outcome.node),
      changed: outcome.changed,
      failedWorkloadIds: outcome.failed.map((workload) => workload.id),
    };
  }

  /** Every admitted or running workload with GPUs on the node ends `failed`, each audited. */
  private async failWorkloadsOn(
    manager: EntityManager,
    principal: Principal,
    node: NodeEntity,
    reason: string,
    requestId: string | null,
  ): Promise<WorkloadEntity[]> {
    const workloads = await manager
      .getRepository(WorkloadEntity)
      .createQueryBuilder('workload')
      .innerJoin(WorkloadPlacementEntity, 'placement', 'placement.workload_id = workload.id')
      .where('placement.node_id = :nodeId', { nodeId: node.id })
      .andWhere('workload.state IN (:...states)', { states: [...ACTIVE_WORKLOAD_STATES] })
      .orderBy('workload.id', 'ASC')
      .setLock('pessimistic_write', undefined, ['workload'])
      .getMany();
    const at = new Date();
    const failed: WorkloadEntity[] = [];
    for (const workload of workloads) {
      const ended = await this.endAttempt.endWorkload(manager, workload, {
        state: 'failed',
        reason,
        runtimeSeconds: null,
        at,
        refundReason: reason,
      });
      if (!ended) continue;
      failed.push(workload);
      await this.audit.record(manager, {
        principal,
        action: 'workload.failed',
        subjectType: 'workload',
        subjectId: workload.id,
        before: { state: workload.state, attempt: workload.attempt },
        after: { state: 'failed', attempt: workload.attempt, reason, nodeId: node.id },
        requestId,
      });
    }
    return failed;
  }
}

function encodeNodeCursor(node: NodeEntity): string {
  return Buffer.from(JSON.stringify([node.name, node.id]), 'utf8').toString('base64url');
}

function decodeNodeCursor(cursor: string | undefined): { name: string; id: string } | undefined {
  if (cursor === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = null;
  }
  if (
    Array.isArray(parsed) &&
    parsed.length === 2 &&
    typeof parsed[0] === 'string' &&
    typeof parsed[1] === 'string' &&
    /^[0-9a-f-]{36}$/i.test(parsed[1])
  ) {
    return { name: parsed[0], id: parsed[1] };
  }
  throw new DomainError(
    'invalid',
    'INVALID_CURSOR',
    'The cursor is not one this API issued; start again without it.',
  );
}
