import { Injectable, Logger } from '@nestjs/common';
import { conflict, notFound, type Principal } from '#domain';
import {
  AllocationRepository,
  AuditRepository,
  NotificationsRepository,
  PartitionRepository,
  TransactionRunner,
  type AllocationEntity,
  type Tx,
} from '#persistence';
import { enqueueAfterCommit, JobProducer, type JobItem } from '#queues';
import { StopAllocationWorkloadsUseCase } from '../workloads/stop-allocation-workloads.use-case.js';
import { deliveryJobs, stopJobs } from './allocation-jobs.js';

export interface AllocationStatusCommand {
  principal: Principal;
  requestId: string | null;
}

type StatusAction = 'suspend' | 'resume';

/**
 * An admin's suspension of an allocation and its resumption: active ↔ suspended, nothing else
 * (exhausted and expired allocations have their own ways out). Each change takes the allocation's
 * scheduling partition lock first, as admission does, so no workload is admitted against an
 * allocation after its suspension commits; it is audited and told to the project in the same
 * transaction. When the program stops running workloads of allocations that cannot run
 * (`on_exhaustion` = stop), a suspension ends them after commit and tells their clusters.
 * Lost jobs are recovered by the scheduler's reconcilers (webhooks, dirty partitions).
 */
@Injectable()
export class ChangeAllocationStatusUseCase {
  private readonly logger = new Logger(ChangeAllocationStatusUseCase.name);

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly allocations: AllocationRepository,
    private readonly partitions: PartitionRepository,
    private readonly audit: AuditRepository,
    private readonly notifications: NotificationsRepository,
    private readonly stopWorkloads: StopAllocationWorkloadsUseCase,
    private readonly producer: JobProducer,
  ) {}

  async suspend(command: AllocationStatusCommand, allocationId: string, reason: string): Promise<void> {
    const change = await this.transactions.run(async (tx) => {
      const { allocation, onExhaustion } = await this.lock(tx, allocationId, 'suspend');
      const at = await this.allocations.transactionNow(tx);
      const before = snapshot(allocation);
      const after = { status: 'suspended', statusReason: `suspended: ${reason}`, statusChangedAt: at };
      await this.allocations.updateStatus(tx, allocationId, after);
      await this.audit.record(tx, {
        principal: command.principal,
        action: 'allocation.suspended',
        subjectType: 'allocation',
        subjectId: allocationId,
        before,
        after: { ...after, reason },
        requestId: command.requestId,
      });
      const stop = onExhaustion === 'stop';
      const recorded = await this.notifications.record(tx, {
        projectId: allocation.projectId,
        allocationId,
        kind: 'allocation_suspended',
        dedupeKey: `allocation_suspended:${allocationId}:${at.toISOString()}`,
        title: `Allocation suspended: ${allocation.gpuModel}`,
        body:
          `An administrator suspended allocation ${allocationId} (${allocation.gpuModel}): ${reason}. ` +
          'No new workloads are admitted until it is resumed; queued ones wait. ' +
          (stop
            ? 'Its program stops running workloads of allocations that cannot run, so they are being stopped. '
            : 'Running workloads may finish. ') +
          "Ask the program's administrators what is needed to resume it.",
        data: { reason, onExhaustion },
      });
      return { stop, deliveryIds: recorded?.deliveryIds ?? [] };
    });
    const jobs = deliveryJobs(change.deliveryIds);
    if (change.stop) {
      const stopped = await this.stopWorkloads.execute(allocationId, `allocation suspended: ${reason}`);
      jobs.push(...stopJobs(stopped));
    }
    await this.enqueue(jobs);
  }

  async resume(
    command: AllocationStatusCommand,
    allocationId: string,
    note: string | undefined,
  ): Promise<void> {
    const change = await this.transactions.run(async (tx) => {
      const { allocation } = await this.lock(tx, allocationId, 'resume');
      const at = await this.allocations.transactionNow(tx);
      if (at.getTime() >= allocation.endsAt.getTime()) {
        throw conflict(
          'ILLEGAL_TRANSITION',
          `Allocation ${allocationId} cannot be resumed: its window ended ${allocation.endsAt.toISOString()}, ` +
            'so it is about to expire. Grant a new allocation (or an extension) instead.',
          { status: allocation.status, action: 'resume', endsAt: allocation.endsAt.toISOString() },
        );
      }
      const before = snapshot(allocation);
      const after = {
        status: 'active',
        statusReason: note === undefined ? 'resumed' : `resumed: ${note}`,
        statusChangedAt: at,
      };
      await this.allocations.updateStatus(tx, allocationId, after);
      // Its queued workloads may run again: the partition needs a cycle.
      await this.partitions.markDirty(tx, allocation.gpuModel);
      await this.audit.record(tx, {
        principal: command.principal,
        action: 'allocation.resumed',
        subjectType: 'allocation',
        subjectId: allocationId,
        before,
        after: { ...after, ...(note === undefined ? {} : { note }) },
        requestId: command.requestId,
      });
      const recorded = await this.notifications.record(tx, {
        projectId: allocation.projectId,
        allocationId,
        kind: 'allocation_resumed',
        dedupeKey: `allocation_resumed:${allocationId}:${at.toISOString()}`,
        title: `Allocation resumed: ${allocation.gpuModel}`,
        body:
          `An administrator resumed allocation ${allocationId} (${allocation.gpuModel})` +
          (note === undefined ? '' : `: ${note}`) +
          '. Queued workloads can be admitted again, and new ones may be submitted.',
        data: note === undefined ? {} : { note },
      });
      return { gpuModel: allocation.gpuModel, deliveryIds: recorded?.deliveryIds ?? [] };
    });
    await this.enqueue([
      ...deliveryJobs(change.deliveryIds),
      { name: 'schedule.cycle', data: { gpuModel: change.gpuModel } },
    ]);
  }

  /** Partition lock, then the allocation row; 404 for an unknown id, 409 for a change its status forbids. */
  private async lock(
    tx: Tx,
    allocationId: string,
    action: StatusAction,
  ): Promise<{ allocation: AllocationEntity; onExhaustion: string }> {
    const peek = await this.allocations.findById(allocationId, tx);
    if (!peek) throw notFound('Allocation', allocationId);
    await this.partitions.lock(tx, peek.gpuModel);
    const allocation = await this.allocations.lockById(tx, allocationId);
    const from = action === 'suspend' ? 'active' : 'suspended';
    if (allocation.status !== from) {
      throw conflict(
        'ILLEGAL_TRANSITION',
        `Allocation ${allocationId} is ${allocation.status}; only ${from} allocations can be ${
          action === 'suspend' ? 'suspended' : 'resumed'
        }.` + (allocation.statusReason ? ` (${allocation.statusReason})` : ''),
        { status: allocation.status, action },
      );
    }
    return { allocation, onExhaustion: await this.allocations.onExhaustionOf(tx, allocation.programId) };
  }

  private async enqueue(jobs: JobItem[]): Promise<void> {
    await enqueueAfterCommit(this.producer, jobs, {
      logger: this.logger,
      recoveredBy: 'the scheduler reconciler',
    });
  }
}

function snapshot(allocation: AllocationEntity) {
  return {
    status: allocation.status,
    statusReason: allocation.statusReason,
    statusChangedAt: allocation.statusChangedAt,
  };
}
