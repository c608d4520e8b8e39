import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { AuditRepository, PartitionRepository, TransactionRunner, WorkloadRepository } from '#persistence';
import { enqueueAfterCommit, JobProducer } from '#queues';
import { SubmissionCheck } from './submission-check.js';
import { queuedWorkload } from './submit-workload.use-case.js';
import {
  submitterOf,
  WORKLOAD_RECOVERY,
  type WorkloadActor,
  type WorkloadSpec,
} from './workload-commands.js';

export interface SubmittedBatch {
  batchId: string;
  ids: string[];
}

/**
 * A sweep (like a Slurm job array): `count` workloads named `<name>[i]`, written by multi-row
 * INSERTs in one transaction, with one audit event and one cycle trigger for the lot. The quota
 * rule is checked for one element here; admission checks each element as it comes.
 */
@Injectable()
export class SubmitBatchUseCase {
  private readonly logger = new Logger(SubmitBatchUseCase.name);

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly check: SubmissionCheck,
    private readonly workloads: WorkloadRepository,
    private readonly partitions: PartitionRepository,
    private readonly audit: AuditRepository,
    private readonly producer: JobProducer,
  ) {}

  async execute(actor: WorkloadActor, spec: WorkloadSpec & { count: number }): Promise<SubmittedBatch> {
    const submittedBy = submitterOf(actor.principal);
    const now = new Date();
    const batchId = randomUUID();
    const ids = await this.transactions.run(async (tx) => {
      const allocation = await this.check.admissibleAllocation(tx, actor.principal, spec, now);
      const template = queuedWorkload(allocation, spec, { id: '', name: '', batchId, submittedBy, now });
      const ids = Array.from({ length: spec.count }, () => randomUUID());
      const names = ids.map((_, index) => `${spec.name}[${index}]`);
      await this.workloads.insertBatch(tx, template, ids, names);
      await this.partitions.markDirty(tx, spec.gpuModel);
      await this.audit.record(tx, {
        principal: actor.principal,
        action: 'workload.batch_submitted',
        subjectType: 'workload_batch',
        subjectId: batchId,
        before: null,
        after: {
          count: spec.count,
          allocationId: spec.allocationId,
          gpuModel: spec.gpuModel,
          gpus: spec.gpus,
          walltimeSeconds: spec.walltimeSeconds,
          name: spec.name,
        },
        requestId: actor.requestId,
      });
      return ids;
    });
    await enqueueAfterCommit(
      this.producer,
      { name: 'schedule.cycle', data: { gpuModel: spec.gpuModel } },
      { logger: this.logger, recoveredBy: WORKLOAD_RECOVERY },
    );
    return { batchId, ids };
  }
}
