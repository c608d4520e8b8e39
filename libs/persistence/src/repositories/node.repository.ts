import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ACTIVE_WORKLOAD_STATES } from '#domain';
import { NodeEntity } from '../entities/pool.entities.js';
import { WorkloadEntity, WorkloadPlacementEntity } from '../entities/workload.entities.js';
import type { Tx } from '../transaction.js';

export interface NodeListFilter {
  clusterId?: string | undefined;
  nodePoolId?: string | undefined;
  gpuModel?: string | undefined;
  state?: string | undefined;
  interconnectDomain?: string | undefined;
  /** Only nodes after this (name, id), in name order. */
  after?: { name: string; id: string } | undefined;
}

/** A workload placed on a node, with the GPUs it holds there. */
export interface PlacedWorkload {
  id: string;
  name: string;
  state: string;
  gpus: number;
}

/** The pool's nodes: the operator's list and one node's state. */
export abstract class NodeRepository {
  /** Up to `limit` nodes in (name, id) order. */
  abstract list(filter: NodeListFilter, limit: number): Promise<NodeEntity[]>;
  abstract find(nodeId: string, tx?: Tx): Promise<NodeEntity | null>;
  /** The node's GPU model (its partition), read without a lock. */
  abstract gpuModelOf(tx: Tx, nodeId: string): Promise<string | null>;
  /** The node, row-locked until the transaction ends. */
  abstract findForUpdate(tx: Tx, nodeId: string): Promise<NodeEntity>;
  abstract setState(tx: Tx, nodeId: string, state: string, reason: string | null): Promise<void>;
  /** Workloads placed on the node, in admission order. */
  abstract workloadsOn(nodeId: string): Promise<PlacedWorkload[]>;
  /** Admitted or running workloads placed on the node, row-locked, in id order. */
  abstract activeWorkloadsOnForUpdate(tx: Tx, nodeId: string): Promise<WorkloadEntity[]>;
}

@Injectable()
export class TypeormNodeRepository extends NodeRepository {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  override list(filter: NodeListFilter, limit: number): Promise<NodeEntity[]> {
    const builder = this.dataSource.getRepository(NodeEntity).createQueryBuilder('node');
    if (filter.clusterId !== undefined)
      builder.andWhere('node.cluster_id = :clusterId', { clusterId: filter.clusterId });
    if (filter.nodePoolId !== undefined)
      builder.andWhere('node.node_pool_id = :nodePoolId', { nodePoolId: filter.nodePoolId });
    if (filter.gpuModel !== undefined)
      builder.andWhere('node.gpu_model = :gpuModel', { gpuModel: filter.gpuModel });
    if (filter.state !== undefined) builder.andWhere('node.state = :state', { state: filter.state });
    if (filter.interconnectDomain !== undefined)
      builder.andWhere('node.interconnect_domain = :domain', { domain: filter.interconnectDomain });
    if (filter.after) {
      builder.andWhere('(node.name, node.id) > (:afterName, CAST(:afterId AS uuid))', {
        afterName: filter.after.name,
        afterId: filter.after.id,
      });
    }
    return builder.orderBy('node.name', 'ASC').addOrderBy('node.id', 'ASC').limit(limit).getMany();
  }

  override find(nodeId: string, tx?: Tx): Promise<NodeEntity | null> {
    return (tx ?? this.dataSource.manager).getRepository(NodeEntity).findOne({ where: { id: nodeId } });
  }

  override async gpuModelOf(tx: Tx, nodeId: string): Promise<string | null> {
    const row = await tx
      .getRepository(NodeEntity)
      .findOne({ where: { id: nodeId }, select: { id: true, gpuModel: true } });
    return row?.gpuModel ?? null;
  }

  override findForUpdate(tx: Tx, nodeId: string): Promise<NodeEntity> {
    return tx
      .getRepository(NodeEntity)
      .findOneOrFail({ where: { id: nodeId }, lock: { mode: 'pessimistic_write' } });
  }

  override async setState(tx: Tx, nodeId: string, state: string, reason: string | null): Promise<void> {
    await tx.getRepository(NodeEntity).update(nodeId, { state, stateReason: reason });
  }

  override workloadsOn(nodeId: string): Promise<PlacedWorkload[]> {
    return this.dataSource.manager.query<PlacedWorkload[]>(
      `SELECT w.id, w.name, w.state, p.gpus FROM workload_placements p JOIN workloads w ON w.id = p.workload_id
       WHERE p.node_id = $1 ORDER BY w.admitted_at, w.id`,
      [nodeId],
    );
  }

  override activeWorkloadsOnForUpdate(tx: Tx, nodeId: string): Promise<WorkloadEntity[]> {
    return tx
      .getRepository(WorkloadEntity)
      .createQueryBuilder('workload')
      .innerJoin(WorkloadPlacementEntity, 'placement', 'placement.workload_id = workload.id')
      .where('placement.node_id = :nodeId', { nodeId })
      .andWhere('workload.state IN (:...states)', { states: [...ACTIVE_WORKLOAD_STATES] })
      .orderBy('workload.id', 'ASC')
      .setLock('pessimistic_write', undefined, ['workload'])
      .getMany();
  }
}
