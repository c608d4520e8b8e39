import { Injectable, Logger } from '@nestjs/common';
import { notFound, type Principal } from '#domain';
import {
  AuditRepository,
  NodeRepository,
  PartitionRepository,
  TransactionRunner,
  type NodeEntity,
  type Tx,
  type WorkloadEntity,
} from '#persistence';
import { enqueueAfterCommit, JobProducer, type JobItem } from '#queues';
import { EndAttemptUseCase } from '../workloads/end-attempt.use-case.js';
import { nodeView, type NodeStateName, type NodeView } from './node.views.js';
import { cycleJobs } from './pool-jobs.js';

/** The cancel job's reason is capped at 200 characters (libs/queues). */
const MAX_CANCEL_REASON = 200;

export interface NodeStateChange {
  state: NodeStateName;
  reason?: string | undefined;
}

export interface NodeStateChangeView extends NodeView {
  changed: boolean;
  /** Workloads on the node that ended failed (their program's requeue limit reached). */
  failedWorkloadIds: string[];
  /** Workloads on the node that went back to the queue, keeping their age (a new attempt). */
  requeuedWorkloadIds: string[];
}

/** The workloads a node going down ended: all of them (to stop on the cluster), by outcome. */
interface EndedOnNode {
  stopped: WorkloadEntity[];
  failed: string[];
  requeued: string[];
}

const nothingEnded = (): EndedOnNode => ({ stopped: [], failed: [], requeued: [] });

/**
 * Changes a node's state under its partition's lock, so no scheduling cycle places on it
 * meanwhile. `down` ends the attempt of every admitted or running workload placed on it (releasing
 * all their GPUs, on every node they span, refunding them and releasing their holds) and requeues
 * each with its age while its program's limit allows, else fails it. Any change marks the partition
 * dirty; the cycle and the cancels are enqueued after commit. Asking for the current state again
 * changes nothing.
 */
@Injectable()
export class ChangeNodeStateUseCase {
  private readonly logger = new Logger(ChangeNodeStateUseCase.name);

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly nodes: NodeRepository,
    private readonly partitions: PartitionRepository,
    private readonly endAttempt: EndAttemptUseCase,
    private readonly audit: AuditRepository,
    private readonly producer: JobProducer,
  ) {}

  async execute(
    principal: Principal,
    id: string,
    change: NodeStateChange,
    requestId: string | null,
  ): Promise<NodeStateChangeView> {
    const outcome = await this.transactions.run(async (tx) => {
      const gpuModel = await this.nodes.gpuModelOf(tx, id);
      if (gpuModel === null) throw notFound('Node', id);
      await this.partitions.lock(tx, gpuModel);
      const node = await this.nodes.findForUpdate(tx, id);
      if (node.state === change.state) {
        return { node, changed: false, ended: nothingEnded(), reason: null };
      }

      const before = nodeView(node);
      await this.nodes.setState(tx, node.id, change.state, change.reason ?? null);
      let ended = nothingEnded();
      let reason: string | null = null;
      if (change.state === 'down') {
        reason = `node_down: ${node.name}: ${change.reason ?? 'marked down by an operator'}`;
        ended = await this.failWorkloadsOn(tx, principal, node, reason, requestId);
      }
      await this.partitions.markDirty(tx, node.gpuModel);
      const updated = await this.nodes.find(id, tx);
      if (!updated) throw new Error(`node ${id} vanished inside its own transaction`);
      await this.audit.record(tx, {
        principal,
        action: 'node.state_changed',
        subjectType: 'node',
        subjectId: node.id,
        before,
        after: { ...nodeView(updated), failedWorkloadIds: ended.failed, requeuedWorkloadIds: ended.requeued },
        requestId,
      });
      return { node: updated, changed: true, ended, reason };
    });

    if (outcome.changed) {
      const cancels: JobItem[] = outcome.ended.stopped.map((workload) => ({
        name: 'dispatch.cancel',
        data: {
          workloadId: workload.id,
          attempt: workload.attempt,
          reason: (outcome.reason ?? 'node_down').slice(0, MAX_CANCEL_REASON),
        },
      }));
      await enqueueAfterCommit(this.producer, [...cancels, ...cycleJobs([outcome.node.gpuModel])], {
        logger: this.logger,
        recoveredBy: "the scheduler's reconciler (dirty partitions, ended workloads)",
      });
    }
    return {
      ...nodeView(outcome.node),
      changed: outcome.changed,
      failedWorkloadIds: outcome.ended.failed,
      requeuedWorkloadIds: outcome.ended.requeued,
    };
  }

  /**
   * The attempt of every admitted or running workload with GPUs on the node ends (refunded); each
   * workload is requeued or failed (failForInfrastructure) and audited. `stopped` are all of them
   * (the cluster must stop their attempts), split by id into `failed` and `requeued`.
   */
  private async failWorkloadsOn(
    tx: Tx,
    principal: Principal,
    node: NodeEntity,
    reason: string,
    requestId: string | null,
  ): Promise<EndedOnNode> {
    const workloads = await this.nodes.activeWorkloadsOnForUpdate(tx, node.id);
    await this.endAttempt.lockQuotas(tx, workloads);
    const at = new Date();
    const ended = nothingEnded();
    for (const workload of workloads) {
      const outcome = await this.endAttempt.failForInfrastructure(tx, workload, {
        reason,
        runtimeSeconds: null,
        at,
      });
      if (outcome === null) continue;
      ended.stopped.push(workload);
      ended[outcome].push(workload.id);
      await this.audit.record(tx, {
        principal,
        action: outcome === 'requeued' ? 'workload.requeued' : 'workload.failed',
        subjectType: 'workload',
        subjectId: workload.id,
        before: { state: workload.state, attempt: workload.attempt },
        after: {
          state: outcome === 'requeued' ? 'queued' : 'failed',
          attempt: outcome === 'requeued' ? workload.attempt + 1 : workload.attempt,
          reason,
          nodeId: node.id,
        },
        requestId,
      });
    }
    return ended;
  }
}
