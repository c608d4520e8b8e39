import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { DomainError, notFound } from '#domain';
import { confirmRecall, dismissRecall, RecallProposalEntity, type RecallDecision } from '#persistence';
import type { JobItem } from '#queues';
import { deliveryJobs } from '#application';
import { AuditService } from '../audit/audit.service.js';
import type { Principal } from '../auth/principal.js';
import type { Page } from '../common/pagination.js';
import { keysetPage } from '../common/query-support.js';
import { WorkloadJobs } from '../workloads/workload-jobs.js';
import type { ListRecallProposalsQuery } from './dto/recall.request.js';
import { toRecallProposalResponse, type RecallProposalResponse } from './dto/recall.response.js';

export interface DecisionContext {
  principal: Principal;
  requestId: string | null;
}

/**
 * Recall proposals (made by the scheduler's sweep from the programs' use-it-or-lose-it rules) and an
 * admin's decision on each: confirm posts allocation → program once — for a reserved allocation after
 * releasing K servers early through the admin release's code path, then re-planning the model's
 * waitlist — and dismiss takes nothing. Both are audited; a proposal already decided is 409
 * ILLEGAL_TRANSITION.
 */
@Injectable()
export class RecallsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly jobs: WorkloadJobs,
  ) {}

  async list(query: ListRecallProposalsQuery): Promise<Page<RecallProposalResponse>> {
    const builder = this.dataSource
      .getRepository(RecallProposalEntity)
      .createQueryBuilder('r')
      .innerJoinAndSelect('r.allocation', 'a');
    if (query.programId !== undefined)
      builder.andWhere('r.program_id = :programId', { programId: query.programId });
    if (query.allocationId !== undefined)
      builder.andWhere('r.allocation_id = :allocationId', { allocationId: query.allocationId });
    if (query.projectId !== undefined)
      builder.andWhere('a.project_id = :projectId', { projectId: query.projectId });
    if (query.status !== undefined) builder.andWhere('r.status = :status', { status: query.status });
    return keysetPage(builder, query, toRecallProposalResponse);
  }

  async get(id: string, manager: EntityManager = this.dataSource.manager): Promise<RecallProposalResponse> {
    const row = await manager
      .getRepository(RecallProposalEntity)
      .findOne({ where: { id }, relations: { allocation: true } });
    if (!row) throw notFound('Recall proposal', id);
    return toRecallProposalResponse(row);
  }

  async confirm(context: DecisionContext, id: string): Promise<RecallProposalResponse> {
    const adminUserId = userIdOf(context.principal);
    const outcome = await this.dataSource.transaction(async (manager) => {
      const decision = await confirmRecall(manager, id, adminUserId, new Date(), context.requestId);
      const view = await this.get(id, manager);
      const release = decision.release;
      await this.audit.record(manager, {
        principal: context.principal,
        action: 'recall.confirmed',
        subjectType: 'recall_proposal',
        subjectId: id,
        before: {
          status: 'proposed',
          proposedGpuSeconds: view.proposed.gpuSeconds,
          ...(view.servers ? { proposedServers: view.servers.proposed } : {}),
        },
        after: {
          status: view.status,
          recalledGpuSeconds: decision.recalledGpuSeconds,
          ...(release ? { releasedNodeIds: release.releasedNodeIds, releasedAt: release.at } : {}),
        },
        requestId: context.requestId,
      });
      return { view, jobs: [...deliveryJobs(decision.deliveryIds), ...releaseJobs(decision.release)] };
    });
    await this.jobs.afterCommit(outcome.jobs);
    return outcome.view;
  }

  async dismiss(context: DecisionContext, id: string): Promise<RecallProposalResponse> {
    const adminUserId = userIdOf(context.principal);
    return this.dataSource.transaction(async (manager) => {
      await dismissRecall(manager, id, adminUserId, new Date());
      const view = await this.get(id, manager);
      await this.audit.record(manager, {
        principal: context.principal,
        action: 'recall.dismissed',
        subjectType: 'recall_proposal',
        subjectId: id,
        before: { status: 'proposed' },
        after: { status: view.status },
        requestId: context.requestId,
      });
      return view;
    });
  }
}

/**
 * After servers are released: the model's waitlist is re-planned onto them and the shared queue's
 * cycle sees them free — the jobs the admin release endpoint enqueues (PlanningService.release). If
 * they are lost, the scheduler's periodic waitlist re-plan and cycle tick pick the change up.
 */
export function releaseJobs(release: RecallDecision['release']): JobItem[] {
  if (!release || release.releasedNodeIds.length === 0) return [];
  return [
    { name: 'planning.replan', data: { gpuModel: release.gpuModel } },
    { name: 'schedule.cycle', data: { gpuModel: release.gpuModel } },
  ];
}

function userIdOf(principal: Principal): string {
  if (principal.kind !== 'user') {
    throw new DomainError('forbidden', 'USER_REQUIRED', 'Recalls are decided by signed-in administrators.');
  }
  return principal.userId;
}
