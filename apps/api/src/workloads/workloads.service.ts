import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource, type EntityManager } from 'typeorm';
import {
  allocationAccount,
  conflict,
  DomainError,
  notFound,
  ruleViolated,
  type RuleViolation,
} from '#domain';
import {
  accountBalances,
  AllocationEntity,
  endWorkload,
  lockPartition,
  markPartitionDirty,
  WorkloadEntity,
} from '#persistence';
import type { JobItem } from '#queues';
import { AuditService } from '../audit/audit.service.js';
import { hasRole, type Principal } from '../auth/principal.js';
import type { Page } from '../common/pagination.js';
import { keysetPage } from '../common/query-support.js';
import { ProjectAccess } from '#application';
import type { ListWorkloadsQuery } from './dto/list-workloads.request.js';
import type { SubmitBatchBody, SubmitWorkloadBody } from './dto/submit-workload.request.js';
import type { BatchResponse, PlacementPartResponse, WorkloadResponse } from './dto/workload.response.js';
import type { DomainCapacity } from './placement-limits.js';
import { submissionViolations } from './submission-rules.js';
import { WorkloadJobs } from './workload-jobs.js';
import { isTerminal } from './workload-states.js';
import { workloadView } from './workload-view.js';

export interface Context {
  principal: Principal;
  requestId: string | null;
}

export const AUDIT_SUBJECT = 'workload';
/** Rows per INSERT statement of a batch. */
const BATCH_CHUNK = 1000;
/** How long a model's placement limits are reused between submissions. */
const POOL_LIMITS_TTL_MS = 5000;
/** A batch answer lists its ids up to this many elements. */
const BATCH_IDS_LISTED = 1000;

type WorkloadRow = Omit<WorkloadEntity, 'allocation' | 'submitter' | 'createdAt' | 'updatedAt'>;

/**
 * Workloads as people see them: submission (single and batch), reads and cancellation. Admission,
 * placement and holds belong to the scheduler; this service only queues, and ends what it cancels
 * through the shared lifecycle writes under the partition lock.
 */
@Injectable()
export class WorkloadsService {
  private readonly poolLimitsCache = new Map<
    string,
    { at: number; value: { gpusPerNode: number | null; domains: DomainCapacity[] } }
  >();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly projects: ProjectAccess,
    private readonly audit: AuditService,
    private readonly jobs: WorkloadJobs,
  ) {}

  async submit(context: Context, body: SubmitWorkloadBody): Promise<WorkloadResponse> {
    const userId = userIdOf(context.principal);
    const now = new Date();
    const row = await this.dataSource.transaction(async (manager) => {
      const allocation = await this.admissibleAllocation(manager, context.principal, body, now);
      const workload = newRow(allocation, body, {
        id: randomUUID(),
        name: body.name,
        batchId: null,
        submittedBy: userId,
        now,
      });
      // TypeORM rewrites the object it inserts (transformed bigint columns): answer from a copy.
      const inserted = { ...workload, createdAt: now, updatedAt: now };
      await manager.getRepository(WorkloadEntity).insert({ ...inserted });
      await markPartitionDirty(manager, body.gpuModel);
      await this.audit.record(manager, {
        principal: context.principal,
        action: 'workload.submitted',
        subjectType: AUDIT_SUBJECT,
        subjectId: workload.id,
        before: null,
        after: submittedSnapshot(workload),
        requestId: context.requestId,
      });
      // The row as inserted (timestamps included): no second read on the hot path.
      return inserted;
    });
    await this.jobs.scheduleCycle(body.gpuModel);
    return workloadView(row, []);
  }

  /**
   * A sweep (like a Slurm job array): `count` workloads named `<name>[i]`, written by multi-row
   * INSERTs of 1,000 in one transaction, with one audit event and one cycle trigger for the lot.
   * The quota rule is checked for one element here; admission checks each element as it comes.
   */
  async submitBatch(context: Context, body: SubmitBatchBody): Promise<BatchResponse> {
    const userId = userIdOf(context.principal);
    const now = new Date();
    const batchId = randomUUID();
    const ids = await this.dataSource.transaction(async (manager) => {
      const allocation = await this.admissibleAllocation(manager, context.principal, body, now);
      const template = newRow(allocation, body, { id: '', name: '', batchId, submittedBy: userId, now });
      const ids = Array.from({ length: body.count }, () => randomUUID());
      const names = ids.map((_, index) => `${body.name}[${index}]`);
      for (let start = 0; start < ids.length; start += BATCH_CHUNK) {
        await insertBatchChunk(
          manager,
          template,
          ids.slice(start, start + BATCH_CHUNK),
          names.slice(start, start + BATCH_CHUNK),
        );
      }
      await markPartitionDirty(manager, body.gpuModel);
      await this.audit.record(manager, {
        principal: context.principal,
        action: 'workload.batch_submitted',
        subjectType: 'workload_batch',
        subjectId: batchId,
        before: null,
        after: {
          count: body.count,
          allocationId: body.allocationId,
          gpuModel: body.gpuModel,
          gpus: body.gpus,
          walltimeSeconds: body.walltimeSeconds,
          name: body.name,
        },
        requestId: context.requestId,
      });
      return ids;
    });
    await this.jobs.scheduleCycle(body.gpuModel);
    return {
      batchId,
      count: ids.length,
      state: 'queued',
      ...(ids.length <= BATCH_IDS_LISTED ? { ids } : {}),
    };
  }

  async get(principal: Principal, id: string): Promise<WorkloadResponse> {
    const manager = this.dataSource.manager;
    const workload = await manager.getRepository(WorkloadEntity).findOne({ where: { id } });
    if (!workload || !(await this.mayRead(principal, workload.projectId, manager)))
      throw notFound('Workload', id);
    const placements = await placementsOf(manager, [id]);
    return workloadView(workload, placements.get(id) ?? []);
  }

  /** Newest first; only workloads of projects the caller may see (admins and operators: all). */
  async list(principal: Principal, query: ListWorkloadsQuery): Promise<Page<WorkloadResponse>> {
    const manager = this.dataSource.manager;
    const builder = manager.getRepository(WorkloadEntity).createQueryBuilder('w');
    if (!seesEveryProject(principal)) {
      builder.andWhere(
        'w.project_id IN (SELECT m.project_id FROM project_members m WHERE m.user_id = :viewerId)',
        { viewerId: principal.kind === 'user' ? principal.userId : null },
      );
    }
    if (query.allocationId !== undefined) {
      const allocation = await manager
        .getRepository(AllocationEntity)
        .findOne({ where: { id: query.allocationId } });
      if (!allocation || !(await this.mayRead(principal, allocation.projectId, manager)))
        throw notFound('Allocation', query.allocationId);
      builder.andWhere('w.allocation_id = :allocationId', { allocationId: query.allocationId });
    }
    if (query.projectId !== undefined) {
      if (!(await this.mayRead(principal, query.projectId, manager)))
        throw notFound('Project', query.projectId);
      builder.andWhere('w.project_id = :projectId', { projectId: query.projectId });
    }
    if (query.batchId !== undefined) builder.andWhere('w.batch_id = :batchId', { batchId: query.batchId });
    if (query.state !== undefined) builder.andWhere('w.state = :state', { state: query.state });
    const page = await keysetPage(builder, query, (row) => row);
    const placements = await placementsOf(
      manager,
      page.items.filter((row) => row.state === 'admitted' || row.state === 'running').map((row) => row.id),
    );
    return {
      items: page.items.map((row) => workloadView(row, placements.get(row.id) ?? [])),
      nextCursor: page.nextCursor,
    };
  }

  /**
   * queued → cancelled; admitted or running → cancelled with the hold settled for the time it ran
   * and the cluster told to stop. Under the partition lock, like every change of placements.
   */
  async cancel(context: Context, id: string): Promise<WorkloadResponse> {
    const { principal } = context;
    const at = new Date();
    const outcome = await this.dataSource.transaction(async (manager) => {
      const repository = manager.getRepository(WorkloadEntity);
      const peek = await repository.findOne({ where: { id } });
      if (!peek || !(await this.mayAct(principal, peek.projectId, manager))) throw notFound('Workload', id);
      await lockPartition(manager, peek.gpuModel);
      const workload = await repository.findOneOrFail({ where: { id }, lock: { mode: 'pessimistic_write' } });
      if (isTerminal(workload.state)) {
        throw conflict(
          'ILLEGAL_TRANSITION',
          `Workload ${id} is already ${workload.state}; only queued, admitted or running workloads can be cancelled.`,
          { state: workload.state, action: 'cancel' },
        );
      }
      const reason = `cancelled by ${actorName(principal)}`;
      await endWorkload(manager, workload, { state: 'cancelled', reason, runtimeSeconds: null, at });
      await this.audit.record(manager, {
        principal,
        action: 'workload.cancelled',
        subjectType: AUDIT_SUBJECT,
        subjectId: id,
        before: { state: workload.state, attempt: workload.attempt },
        after: { state: 'cancelled', reason },
        requestId: context.requestId,
      });
      return { from: workload.state, attempt: workload.attempt, gpuModel: workload.gpuModel, reason };
    });
    const jobs: JobItem[] = [];
    if (outcome.from === 'admitted' || outcome.from === 'running') {
      jobs.push({
        name: 'dispatch.cancel',
        data: { workloadId: id, attempt: outcome.attempt, reason: outcome.reason.slice(0, 200) },
      });
    }
    jobs.push({ name: 'schedule.cycle', data: { gpuModel: outcome.gpuModel } });
    await this.jobs.afterCommit(jobs);
    return this.get(principal, id);
  }

  /**
   * Loads the allocation (404 unless the caller may act for its project) and refuses, all at once,
   * every rule the submission breaks.
   */
  private async admissibleAllocation(
    manager: EntityManager,
    principal: Principal,
    body: SubmitWorkloadBody,
    now: Date,
  ): Promise<AllocationEntity> {
    const allocation = await manager
      .getRepository(AllocationEntity)
      .findOne({ where: { id: body.allocationId } });
    if (!allocation || !(await this.mayAct(principal, allocation.projectId, manager)))
      throw notFound('Allocation', body.allocationId);
    const account = allocationAccount(allocation.id);
    const balances = await accountBalances(manager, [account]);
    const violations = submissionViolations({
      now,
      request: body,
      allocation,
      remainingGpuSeconds: balances.get(account) ?? 0n,
      pool: await this.poolLimits(manager, body.gpuModel),
    });
    if (violations.length > 0) throw refusal(violations);
    return allocation;
  }

  /**
   * The model's placement limits, cached a few seconds per model: the layout changes only when
   * operators register clusters or take nodes down, and every submission needs it.
   */
  private async poolLimits(
    manager: EntityManager,
    gpuModel: string,
  ): Promise<{ gpusPerNode: number | null; domains: DomainCapacity[] }> {
    const cached = this.poolLimitsCache.get(gpuModel);
    if (cached && Date.now() - cached.at < POOL_LIMITS_TTL_MS) return cached.value;
    const value = await poolCapacity(manager, gpuModel);
    this.poolLimitsCache.set(gpuModel, { at: Date.now(), value });
    return value;
  }

  private async mayRead(principal: Principal, projectId: string, manager: EntityManager): Promise<boolean> {
    if (seesEveryProject(principal)) return true;
    return (await this.projects.membership(principal, projectId, manager)) !== null;
  }

  /** Members (PI or member) of the project, and admins. */
  private async mayAct(principal: Principal, projectId: string, manager: EntityManager): Promise<boolean> {
    if (hasRole(principal, 'admin')) return true;
    return (await this.projects.membership(principal, projectId, manager)) !== null;
  }
}

function refusal(violations: RuleViolation[]): DomainError {
  const [first] = violations;
  const summary = violations.map((violation) => violation.message).join(' ');
  return ruleViolated(
    first?.rule ?? 'WORKLOAD_REFUSED',
    violations.length === 1
      ? summary
      : `The workload breaks ${violations.length} rules and was not queued: ${summary}`,
    violations,
  );
}

function newRow(
  allocation: AllocationEntity,
  body: SubmitWorkloadBody,
  fields: { id: string; name: string; batchId: string | null; submittedBy: string; now: Date },
): WorkloadRow {
  return {
    id: fields.id,
    allocationId: allocation.id,
    projectId: allocation.projectId,
    programId: allocation.programId,
    gpuModel: body.gpuModel,
    gpus: body.gpus,
    walltimeSeconds: body.walltimeSeconds,
    name: fields.name,
    priorityTier: body.priorityTier ?? allocation.priorityTier,
    state: 'queued',
    batchId: fields.batchId,
    submittedBy: fields.submittedBy,
    simulatedRuntimeSeconds: body.simulatedRuntimeSeconds ?? null,
    queuedAt: fields.now,
    admittedAt: null,
    dispatchedAt: null,
    startedAt: null,
    endedAt: null,
    endReason: null,
    borrowed: false,
    attempt: 0,
    heldGpuSeconds: 0n,
    consumedGpuSeconds: 0n,
    waitReason: null,
    waitDetail: null,
    queuePosition: null,
    estimatedStartAt: null,
  };
}

/**
 * One multi-row INSERT of batch elements: they differ only in id and name, so those travel as two
 * arrays and everything else as one value each (TypeORM's builder spends ~0.4 ms a row on this).
 */
async function insertBatchChunk(
  manager: EntityManager,
  row: WorkloadRow,
  ids: string[],
  names: string[],
): Promise<void> {
  await manager.query(
    `INSERT INTO workloads (id, name, allocation_id, project_id, program_id, gpu_model, gpus, walltime_seconds,
                            priority_tier, state, batch_id, submitted_by, simulated_runtime_seconds, queued_at)
     SELECT u.id, u.name, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14
       FROM unnest($1::uuid[], $2::text[]) AS u(id, name)`,
    [
      ids,
      names,
      row.allocationId,
      row.projectId,
      row.programId,
      row.gpuModel,
      row.gpus,
      row.walltimeSeconds,
      row.priorityTier,
      row.state,
      row.batchId,
      row.submittedBy,
      row.simulatedRuntimeSeconds,
      row.queuedAt,
    ],
  );
}

function submittedSnapshot(row: WorkloadRow) {
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

/** Per interconnect domain of a model, over its nodes in service (not down), summed in SQL. */
async function poolCapacity(
  manager: EntityManager,
  gpuModel: string,
): Promise<{ gpusPerNode: number | null; domains: DomainCapacity[] }> {
  const [pool] = await manager.query<{ gpus_per_node: number | null }[]>(
    'SELECT max(gpus_per_node) AS gpus_per_node FROM node_pools WHERE gpu_model = $1',
    [gpuModel],
  );
  const gpusPerNode = pool?.gpus_per_node ?? null;
  if (gpusPerNode === null) return { gpusPerNode, domains: [] };
  const rows = await manager.query<{ domain: string; whole_nodes: number; largest: number }[]>(
    `SELECT interconnect_domain AS domain,
            (count(*) FILTER (WHERE gpus_total >= $2))::int AS whole_nodes,
            max(gpus_total)::int AS largest
       FROM nodes WHERE gpu_model = $1 AND state <> 'down'
      GROUP BY interconnect_domain`,
    [gpuModel, gpusPerNode],
  );
  return {
    gpusPerNode,
    domains: rows.map((row) => ({
      domain: row.domain,
      wholeNodes: row.whole_nodes,
      largestNodeGpus: row.largest,
    })),
  };
}

/** Placements of the given workloads, with node and cluster names, in one query. */
async function placementsOf(
  manager: EntityManager,
  workloadIds: string[],
): Promise<Map<string, PlacementPartResponse[]>> {
  const result = new Map<string, PlacementPartResponse[]>();
  if (workloadIds.length === 0) return result;
  const rows = await manager.query<
    {
      workload_id: string;
      node_id: string;
      node_name: string;
      cluster: string;
      domain: string;
      gpus: number;
    }[]
  >(
    `SELECT p.workload_id, p.node_id, n.name AS node_name, c.name AS cluster,
            n.interconnect_domain AS domain, p.gpus
       FROM workload_placements p
       JOIN nodes n ON n.id = p.node_id
       JOIN clusters c ON c.id = n.cluster_id
      WHERE p.workload_id = ANY($1)
      ORDER BY c.name, n.name`,
    [workloadIds],
  );
  for (const row of rows) {
    const parts = result.get(row.workload_id) ?? [];
    parts.push({
      nodeId: row.node_id,
      nodeName: row.node_name,
      cluster: row.cluster,
      interconnectDomain: row.domain,
      gpus: row.gpus,
    });
    result.set(row.workload_id, parts);
  }
  return result;
}

/** Admins, and operators who watch the queues, read every workload; cancelling needs a member or admin. */
function seesEveryProject(principal: Principal): boolean {
  return hasRole(principal, 'admin') || hasRole(principal, 'operator');
}

function userIdOf(principal: Principal): string {
  if (principal.kind !== 'user') {
    throw new DomainError('forbidden', 'USER_REQUIRED', 'Workloads are submitted by signed-in users.');
  }
  return principal.userId;
}

function actorName(principal: Principal): string {
  return principal.kind === 'user' ? principal.email : `API token ${principal.tokenId}`;
}
