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
  failedWorkloadIds: string[];
}

/**
 * Changes a node's state under its partition's lock, so no scheduling cycle places on it
 * meanwhile. `down` fails every admitted or running workload placed on it (releasing all their
 * GPUs, on every node they span, and settling their holds). Any change marks the partition
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
        return { node, changed: false, failed: [] as WorkloadEntity[], reason: null };
      }

      const before = nodeView(node);
      await this.nodes.setState(tx, node.id, change.state, change.reason ?? null);
      const failed: WorkloadEntity[] = [];
      let reason: string | null = null;
      if (change.state === 'down') {
        reason = `node_down: ${node.name}: ${change.reason ?? 'marked down by an operator'}`;
        failed.push(...(await this.failWorkloadsOn(tx, principal, node, reason, requestId)));
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
        after: { ...nodeView(updated), failedWorkloadIds: failed.map((workload) => workload.id) },
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
      await enqueueAfterCommit(this.producer, [...cancels, ...cycleJobs([outcome.node.gpuModel])], {
        logger: this.logger,
        recoveredBy: "the scheduler's reconciler (dirty partitions, ended workloads)",
      });
    }
    return {
      ...nodeView(outcome.node),
      changed: outcome.changed,
      failedWorkloadIds: outcome.failed.map((workload) => workload.id),
    };
  }

  /** Every admitted or running workload with GPUs on the node ends `failed`, each audited. */
  private async failWorkloadsOn(
    tx: Tx,
    principal: Principal,
    node: NodeEntity,
    reason: string,
    requestId: string | null,
  ): Promise<WorkloadEntity[]> {
    const workloads = await this.nodes.activeWorkloadsOnForUpdate(tx, node.id);
    await this.endAttempt.lockQuotas(tx, workloads);
    const at = new Date();
    const failed: WorkloadEntity[] = [];
    for (const workload of workloads) {
      const ended = await this.endAttempt.endWorkload(tx, workload, {
        state: 'failed',
        reason,
        runtimeSeconds: null,
        at,
        refundReason: reason,
      });
      if (!ended) continue;
      failed.push(workload);
      await this.audit.record(tx, {
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
