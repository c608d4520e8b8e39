import { Injectable, Logger } from '@nestjs/common';
import { cancelRefusal, notFound } from '#domain';
import { AuditRepository, PartitionRepository, TransactionRunner, WorkloadRepository } from '#persistence';
import { enqueueAfterCommit, JobProducer, type JobItem } from '#queues';
import { EndAttemptUseCase } from './end-attempt.use-case.js';
import { SubmissionCheck } from './submission-check.js';
import {
  actorName,
  WORKLOAD_AUDIT_SUBJECT,
  WORKLOAD_RECOVERY,
  type WorkloadActor,
} from './workload-commands.js';

/** The reason a cancel job carries to the cluster is cut to this length. */
const CANCEL_REASON_SENT = 200;

/**
 * queued → cancelled; admitted or running → cancelled with the hold settled for the time it ran
 * and the cluster told to stop (dispatch.cancel). Members of the project and admins may cancel.
 *
 * One transaction; locks in order: the partition advisory lock, the workload row (FOR UPDATE),
 * then what EndAttemptUseCase.endWorkload takes (nodes, placements, the attempt hold, the ledger,
 * partition_triggers), then the audit insert.
 */
@Injectable()
export class CancelWorkloadUseCase {
  private readonly logger = new Logger(CancelWorkloadUseCase.name);

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly workloads: WorkloadRepository,
    private readonly partitions: PartitionRepository,
    private readonly check: SubmissionCheck,
    private readonly endAttempt: EndAttemptUseCase,
    private readonly audit: AuditRepository,
    private readonly producer: JobProducer,
  ) {}

  async execute(actor: WorkloadActor, id: string): Promise<void> {
    const { principal } = actor;
    const at = new Date();
    const outcome = await this.transactions.run(async (tx) => {
      const peek = await this.workloads.findById(id, tx);
      if (!peek || !(await this.check.mayAct(principal, peek.projectId, tx))) throw notFound('Workload', id);
      await this.partitions.lock(tx, peek.gpuModel);
      const workload = await this.workloads.lockById(tx, id);
      const refusal = cancelRefusal(workload);
      if (refusal) throw refusal;
      const reason = `cancelled by ${actorName(principal)}`;
      await this.endAttempt.endWorkload(tx, workload, {
        state: 'cancelled',
        reason,
        runtimeSeconds: null,
        at,
      });
      await this.audit.record(tx, {
        principal,
        action: 'workload.cancelled',
        subjectType: WORKLOAD_AUDIT_SUBJECT,
        subjectId: id,
        before: { state: workload.state, attempt: workload.attempt },
        after: { state: 'cancelled', reason },
        requestId: actor.requestId,
      });
      return { from: workload.state, attempt: workload.attempt, gpuModel: workload.gpuModel, reason };
    });
    const jobs: JobItem[] = [];
    if (outcome.from === 'admitted' || outcome.from === 'running') {
      jobs.push({
        name: 'dispatch.cancel',
        data: {
          workloadId: id,
          attempt: outcome.attempt,
          reason: outcome.reason.slice(0, CANCEL_REASON_SENT),
        },
      });
    }
    jobs.push({ name: 'schedule.cycle', data: { gpuModel: outcome.gpuModel } });
    await enqueueAfterCommit(this.producer, jobs, { logger: this.logger, recoveredBy: WORKLOAD_RECOVERY });
  }
}
