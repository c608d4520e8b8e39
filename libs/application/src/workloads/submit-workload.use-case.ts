import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import {
  AuditRepository,
  PartitionRepository,
  TransactionRunner,
  WorkloadRepository,
  type AllocationEntity,
  type NewWorkload,
  type WorkloadEntity,
} from '#persistence';
import { enqueueAfterCommit, JobProducer } from '#queues';
import { SubmissionCheck } from './submission-check.js';
import {
  submitterOf,
  WORKLOAD_AUDIT_SUBJECT,
  WORKLOAD_RECOVERY,
  type WorkloadActor,
  type WorkloadSpec,
} from './workload-commands.js';

/**
 * Queues one workload against an allocation. Admission, placement and holds belong to the
 * scheduler: this writes the queued row, marks the partition dirty and triggers its cycle.
 */
@Injectable()
export class SubmitWorkloadUseCase {
  private readonly logger = new Logger(SubmitWorkloadUseCase.name);

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly check: SubmissionCheck,
    private readonly workloads: WorkloadRepository,
    private readonly partitions: PartitionRepository,
    private readonly audit: AuditRepository,
    private readonly producer: JobProducer,
  ) {}

  /** The row as inserted (timestamps included): no second read on the hot path. */
  async execute(actor: WorkloadActor, spec: WorkloadSpec): Promise<WorkloadEntity> {
    const submittedBy = submitterOf(actor.principal);
    const now = new Date();
    const inserted = await this.transactions.run(async (tx) => {
      const allocation = await this.check.admissibleAllocation(tx, actor.principal, spec, now);
      const queued = queuedWorkload(allocation, spec, {
        id: randomUUID(),
        name: spec.name,
        batchId: null,
        submittedBy,
        now,
      });
      const workload = { ...queued, createdAt: now, updatedAt: now };
      await this.workloads.insert(tx, workload);
      await this.partitions.markDirty(tx, spec.gpuModel);
      await this.audit.record(tx, {
        principal: actor.principal,
        action: 'workload.submitted',
        subjectType: WORKLOAD_AUDIT_SUBJECT,
        subjectId: workload.id,
        before: null,
        after: submittedSnapshot(queued),
        requestId: actor.requestId,
      });
      return workload;
    });
    await enqueueAfterCommit(
      this.producer,
      { name: 'schedule.cycle', data: { gpuModel: spec.gpuModel } },
      { logger: this.logger, recoveredBy: WORKLOAD_RECOVERY },
    );
    return inserted;
  }
}

/** A queued row for `spec` on `allocation`: the allocation's priority tier unless the spec names one. */
export function queuedWorkload(
  allocation: AllocationEntity,
  spec: WorkloadSpec,
  fields: { id: string; name: string; batchId: string | null; submittedBy: string; now: Date },
): NewWorkload {
  return {
    id: fields.id,
    allocationId: allocation.id,
    projectId: allocation.projectId,
    programId: allocation.programId,
    gpuModel: spec.gpuModel,
    gpus: spec.gpus,
    walltimeSeconds: spec.walltimeSeconds,
    name: fields.name,
    priorityTier: spec.priorityTier ?? allocation.priorityTier,
    state: 'queued',
    batchId: fields.batchId,
    submittedBy: fields.submittedBy,
    simulatedRuntimeSeconds: spec.simulatedRuntimeSeconds ?? null,
    queuedAt: fields.now,
    admittedAt: null,
    dispatchedAt: null,
    startedAt: null,
    endedAt: null,
    endReason: null,
    borrowed: false,
    attempt: 0,
    infrastructureRequeues: 0,
    heldGpuSeconds: 0n,
    consumedGpuSeconds: 0n,
    waitReason: null,
    waitDetail: null,
    queuePosition: null,
    estimatedStartAt: null,
  };
}

function submittedSnapshot(row: NewWorkload) {
  return {
    state: row.state,
    allocationId: row.allocationId,
    gpuModel: row.gpuModel,
    gpus: row.gpus,
    walltimeSeconds: row.walltimeSeconds,
    name: row.name,
    priorityTier: row.priorityTier,
  };
}
