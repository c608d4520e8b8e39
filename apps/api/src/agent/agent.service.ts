import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { notFound } from '#domain';
import { endWorkload, lockPartition, WorkloadEntity, WorkloadHoldEntity } from '#persistence';
import { AuditService } from '../audit/audit.service.js';
import type { Principal } from '../auth/principal.js';
import { WorkloadJobs } from '../workloads/workload-jobs.js';
import { AUDIT_SUBJECT } from '../workloads/workloads.service.js';
import type { WorkloadEventBody, WorkloadEventResponse } from './dto/workload-event.request.js';
import { decideEvent } from './event-fencing.js';

/**
 * What cluster agents report about the attempts they run. Each event is applied at most once, in
 * one transaction under the partition lock: started (admitted → running) and ended (the GPUs freed;
 * the hold beyond gpus × runtime back to the allocation, the rest kept for the attempt's usage
 * records, which are what consumes quota: see closeAttemptHold).
 */
@Injectable()
export class AgentService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly jobs: WorkloadJobs,
  ) {}

  async report(
    principal: Principal,
    requestId: string | null,
    workloadId: string,
    event: WorkloadEventBody,
  ): Promise<WorkloadEventResponse> {
    const at = new Date(event.at);
    const result = await this.dataSource.transaction(async (manager) => {
      const repository = manager.getRepository(WorkloadEntity);
      const peek = await repository.findOne({ where: { id: workloadId } });
      if (!peek) throw notFound('Workload', workloadId);
      await lockPartition(manager, peek.gpuModel);
      const workload = await repository.findOneOrFail({
        where: { id: workloadId },
        lock: { mode: 'pessimistic_write' },
      });
      const decision = decideEvent(workload, event);
      if (!decision.apply) {
        return {
          response: {
            applied: false,
            reason: decision.reason,
            workloadId,
            state: workload.state,
            attempt: workload.attempt,
            stop: decision.reason === 'stale_attempt' || decision.reason === 'already_ended',
          },
          gpuModel: null,
        };
      }
      let state: string;
      if (event.type === 'started') {
        state = 'running';
        await repository.update(workloadId, { state, startedAt: at });
        await manager
          .getRepository(WorkloadHoldEntity)
          .update({ workloadId, attempt: workload.attempt }, { startedAt: at });
      } else {
        state = event.outcome;
        await endWorkload(manager, workload, {
          state: event.outcome,
          reason: event.message ?? `${event.outcome} (reported by the cluster)`,
          runtimeSeconds: event.runtimeSeconds ?? null,
          at,
        });
      }
      await this.audit.record(manager, {
        principal,
        action: `workload.${event.type}`,
        subjectType: AUDIT_SUBJECT,
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
      return {
        response: { applied: true, workloadId, state, attempt: workload.attempt, stop: false },
        gpuModel: event.type === 'ended' ? workload.gpuModel : null,
      };
    });
    // An end frees GPUs and quota: the partition may admit more.
    if (result.gpuModel !== null) await this.jobs.scheduleCycle(result.gpuModel);
    return result.response;
  }
}
