import { Injectable, Logger } from '@nestjs/common';
import { agentMustStop, decideEvent, notFound, type EventIgnoredReason, type Principal } from '#domain';
import {
  AttemptHoldRepository,
  AuditRepository,
  PartitionRepository,
  TransactionRunner,
  WorkloadRepository,
  type Tx,
  type WorkloadEntity,
} from '#persistence';
import { enqueueAfterCommit, JobProducer } from '#queues';
import { EndAttemptUseCase } from './end-attempt.use-case.js';
import { WORKLOAD_AUDIT_SUBJECT, WORKLOAD_RECOVERY } from './workload-commands.js';

/** What a cluster agent reports about the attempt it runs. */
export type AgentEvent =
  | { type: 'started'; attempt: number; at: string; message?: string | undefined }
  | {
      type: 'ended';
      attempt: number;
      at: string;
      message?: string | undefined;
      outcome: 'succeeded' | 'failed';
      runtimeSeconds?: number | undefined;
    };

export interface AgentEventOutcome {
  applied: boolean;
  reason?: EventIgnoredReason;
  workloadId: string;
  state: string;
  attempt: number;
  /** The agent must stop its run: gpupool no longer wants this attempt. */
  stop: boolean;
}

/**
 * What cluster agents report about the attempts they run. Each event is applied at most once, in
 * one transaction under the partition lock: started (admitted → running) and ended (the GPUs freed;
 * the hold beyond gpus × runtime back to the allocation, the rest kept for the attempt's usage
 * records, which are what consumes quota: see closeAttemptHold in libs/domain). A late, repeated
 * or other attempt's event answers `applied: false` and changes nothing.
 *
 * Locks in order: the partition advisory lock, the workload row (FOR UPDATE), then for `started`
 * the workload row and the attempt's workload_holds row (UPDATEs), for `ended` what
 * EndAttemptUseCase.endWorkload takes; then the audit insert.
 */
@Injectable()
export class ReportAgentEventUseCase {
  private readonly logger = new Logger(ReportAgentEventUseCase.name);

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly workloads: WorkloadRepository,
    private readonly holds: AttemptHoldRepository,
    private readonly partitions: PartitionRepository,
    private readonly endAttempt: EndAttemptUseCase,
    private readonly audit: AuditRepository,
    private readonly producer: JobProducer,
  ) {}

  async execute(
    principal: Principal,
    requestId: string | null,
    workloadId: string,
    event: AgentEvent,
  ): Promise<AgentEventOutcome> {
    const result = await this.transactions.run(async (tx) => {
      const peek = await this.workloads.findById(workloadId, tx);
      if (!peek) throw notFound('Workload', workloadId);
      await this.partitions.lock(tx, peek.gpuModel);
      const workload = await this.workloads.lockById(tx, workloadId);
      const decision = decideEvent(workload, event);
      if (!decision.apply) {
        const outcome: AgentEventOutcome = {
          applied: false,
          reason: decision.reason,
          workloadId,
          state: workload.state,
          attempt: workload.attempt,
          stop: agentMustStop(decision.reason),
        };
        return { outcome, endedModel: null };
      }
      const state = await this.apply(tx, workload, event);
      await this.audit.record(tx, {
        principal,
        action: `workload.${event.type}`,
        subjectType: WORKLOAD_AUDIT_SUBJECT,
        subjectId: workloadId,
        before: { state: workload.state, attempt: workload.attempt },
        after: {
          state,
          at: event.at,
          ...(event.type === 'ended' ? { runtimeSeconds: event.runtimeSeconds ?? null } : {}),
          ...(event.message ? { message: event.message } : {}),
        },
        requestId,
      });
      const outcome: AgentEventOutcome = {
        applied: true,
        workloadId,
        state,
        attempt: workload.attempt,
        stop: false,
      };
      return { outcome, endedModel: event.type === 'ended' ? workload.gpuModel : null };
    });
    // An end frees GPUs and quota: the partition may admit more.
    if (result.endedModel !== null) {
      await enqueueAfterCommit(
        this.producer,
        { name: 'schedule.cycle', data: { gpuModel: result.endedModel } },
        { logger: this.logger, recoveredBy: WORKLOAD_RECOVERY },
      );
    }
    return result.outcome;
  }

  /** Writes the event's transition; returns the workload's new state. */
  private async apply(tx: Tx, workload: WorkloadEntity, event: AgentEvent): Promise<string> {
    const at = new Date(event.at);
    if (event.type === 'started') {
      await this.workloads.markStarted(tx, workload.id, at);
      await this.holds.markStarted(tx, { workloadId: workload.id, attempt: workload.attempt }, at);
      return 'running';
    }
    await this.endAttempt.endWorkload(tx, workload, {
      state: event.outcome,
      reason: event.message ?? `${event.outcome} (reported by the cluster)`,
      runtimeSeconds: event.runtimeSeconds ?? null,
      at,
    });
    return event.outcome;
  }
}
