import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { StopAllocationWorkloadsUseCase } from '#application';
import { conflict, notFound } from '#domain';
import {
  AllocationEntity,
  lockPartition,
  markPartitionDirty,
  ProgramEntity,
  recordNotification,
} from '#persistence';
import { AuditService } from '../audit/audit.service.js';
import type { Principal } from '../auth/principal.js';
import { WorkloadJobs } from '../workloads/workload-jobs.js';
import { AllocationsService } from './allocations.service.js';
import { deliveryJobs } from './notification-jobs.js';
import type { AllocationView } from './dto/allocation.response.js';

export interface StatusContext {
  principal: Principal;
  requestId: string | null;
}

interface StatusChange {
  allocation: AllocationEntity;
  onExhaustion: string;
  deliveryIds: string[];
}

/**
 * An admin's suspension of an allocation and its resumption: active ↔ suspended, nothing else
 * (exhausted and expired allocations have their own ways out). Each change takes the allocation's
 * scheduling partition lock first, as admission does, so no workload is admitted against an
 * allocation after its suspension commits; it is audited and told to the project in the same
 * transaction. When the program stops running workloads of allocations that cannot run
 * (`on_exhaustion` = stop), a suspension ends them after commit and tells their clusters.
 */
@Injectable()
export class AllocationStatusService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly allocations: AllocationsService,
    private readonly audit: AuditService,
    private readonly jobs: WorkloadJobs,
    private readonly stopWorkloads: StopAllocationWorkloadsUseCase,
  ) {}

  async suspend(context: StatusContext, allocationId: string, reason: string): Promise<AllocationView> {
    const change = await this.dataSource.transaction(async (manager) => {
      const { allocation, onExhaustion } = await this.lock(manager, allocationId, 'suspend');
      const at = await clock(manager);
      const before = snapshot(allocation);
      allocation.status = 'suspended';
      allocation.statusReason = `suspended: ${reason}`;
      allocation.statusChangedAt = at;
      await this.save(manager, allocation);
      await this.audit.record(manager, {
        principal: context.principal,
        action: 'allocation.suspended',
        subjectType: 'allocation',
        subjectId: allocationId,
        before,
        after: { ...snapshot(allocation), reason },
        requestId: context.requestId,
      });
      const stop = onExhaustion === 'stop';
      const recorded = await recordNotification(manager, {
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
      return { allocation, onExhaustion, deliveryIds: recorded?.deliveryIds ?? [] } satisfies StatusChange;
    });
    const jobs = deliveryJobs(change.deliveryIds);
    if (change.onExhaustion === 'stop') {
      const stopped = await this.stopWorkloads.execute(allocationId, `allocation suspended: ${reason}`);
      for (const attempt of stopped) {
        jobs.push({
          name: 'dispatch.cancel',
          data: {
            workloadId: attempt.workloadId,
            attempt: attempt.attempt,
            reason: attempt.reason.slice(0, 200),
          },
        });
      }
      for (const gpuModel of new Set(stopped.map((attempt) => attempt.gpuModel))) {
        jobs.push({ name: 'schedule.cycle', data: { gpuModel } });
      }
    }
    await this.jobs.afterCommit(jobs);
    return this.allocations.get(context.principal, allocationId);
  }

  async resume(
    context: StatusContext,
    allocationId: string,
    note: string | undefined,
  ): Promise<AllocationView> {
    const change = await this.dataSource.transaction(async (manager) => {
      const { allocation, onExhaustion } = await this.lock(manager, allocationId, 'resume');
      const at = await clock(manager);
      if (at.getTime() >= allocation.endsAt.getTime()) {
        throw conflict(
          'ILLEGAL_TRANSITION',
          `Allocation ${allocationId} cannot be resumed: its window ended ${allocation.endsAt.toISOString()}, ` +
            'so it is about to expire. Grant a new allocation (or an extension) instead.',
          { status: allocation.status, action: 'resume', endsAt: allocation.endsAt.toISOString() },
        );
      }
      const before = snapshot(allocation);
      allocation.status = 'active';
      allocation.statusReason = note === undefined ? 'resumed' : `resumed: ${note}`;
      allocation.statusChangedAt = at;
      await this.save(manager, allocation);
      // Its queued workloads may run again: the partition needs a cycle.
      await markPartitionDirty(manager, allocation.gpuModel);
      await this.audit.record(manager, {
        principal: context.principal,
        action: 'allocation.resumed',
        subjectType: 'allocation',
        subjectId: allocationId,
        before,
        after: { ...snapshot(allocation), ...(note === undefined ? {} : { note }) },
        requestId: context.requestId,
      });
      const recorded = await recordNotification(manager, {
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
      return { allocation, onExhaustion, deliveryIds: recorded?.deliveryIds ?? [] } satisfies StatusChange;
    });
    await this.jobs.afterCommit([
      ...deliveryJobs(change.deliveryIds),
      { name: 'schedule.cycle', data: { gpuModel: change.allocation.gpuModel } },
    ]);
    return this.allocations.get(context.principal, allocationId);
  }

  /** Partition lock, then the allocation row; 404 for an unknown id, 409 for a change its status forbids. */
  private async lock(
    manager: EntityManager,
    allocationId: string,
    action: 'suspend' | 'resume',
  ): Promise<{ allocation: AllocationEntity; onExhaustion: string }> {
    const repository = manager.getRepository(AllocationEntity);
    const peek = await repository.findOne({ where: { id: allocationId } });
    if (!peek) throw notFound('Allocation', allocationId);
    await lockPartition(manager, peek.gpuModel);
    const allocation = await repository.findOneOrFail({
      where: { id: allocationId },
      lock: { mode: 'pessimistic_write' },
    });
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
    const program = await manager
      .getRepository(ProgramEntity)
      .findOneOrFail({ where: { id: allocation.programId } });
    return { allocation, onExhaustion: program.onExhaustion };
  }

  private async save(manager: EntityManager, allocation: AllocationEntity): Promise<void> {
    await manager.getRepository(AllocationEntity).update(allocation.id, {
      status: allocation.status,
      statusReason: allocation.statusReason,
      statusChangedAt: allocation.statusChangedAt,
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

/** The transaction's clock at millisecond precision (the column's), so the dedupe key names the stored instant. */
async function clock(manager: EntityManager): Promise<Date> {
  const rows = await manager.query<{ now: Date }[]>("SELECT date_trunc('milliseconds', now()) AS now");
  return new Date(rows[0]?.now ?? Date.now());
}
