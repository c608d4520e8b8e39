import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import {
  AllocationEntity,
  AllocationRequestEntity,
  AllocationRequestLineEntity,
  AuditEventEntity,
  GrantIntentEntity,
} from '../entities/index.js';
import { auditJson } from '../mappers/audit-json.js';
import type { Tx } from '../transaction.js';

export interface GrantIntent {
  id: string;
  status: string;
  attempts: number;
}

/** The allocation row a granted request line becomes. */
export interface NewAllocation {
  requestId: string;
  requestLineId: string;
  projectId: string;
  programId: string;
  gpuModel: string;
  kind: string;
  maxConcurrentGpus: number;
  startsAt: Date;
  endsAt: Date;
  servers: number | null;
  sameInterconnectDomain: boolean;
}

export interface GrantAudit {
  requestId: string;
  action: string;
  after: object;
  jobId?: string;
}

/**
 * The grant outbox (grant_intents) and what a grant writes: the request's allocations, their
 * planning outbox rows and the audit trail. The ledger postings go through LedgerRepository.
 */
export abstract class GrantRepository {
  /** The request's grant intent, locked FOR UPDATE, or null when the request has none. */
  abstract lockIntent(tx: Tx, requestId: string): Promise<GrantIntent | null>;
  abstract completeIntent(tx: Tx, intent: GrantIntent, status: 'done' | 'failed'): Promise<void>;
  abstract loadRequest(tx: Tx, requestId: string): Promise<AllocationRequestEntity>;
  abstract loadLines(tx: Tx, requestId: string): Promise<AllocationRequestLineEntity[]>;
  /** Serializes grants per program budget: locks the program's budget rows of these models. */
  abstract lockProgramBudgets(tx: Tx, programId: string, gpuModels: string[]): Promise<void>;
  /** Inserts the line's allocation, or returns the one already there (unique per request line). */
  abstract allocationFor(tx: Tx, allocation: NewAllocation): Promise<string>;
  /** The planning outbox row of a reserved allocation (once). */
  abstract addPendingPlan(tx: Tx, allocationId: string): Promise<void>;
  abstract audit(tx: Tx, event: GrantAudit): Promise<void>;
  /** Request ids whose grant intent is still pending after `graceMs` (oldest first, at most 1,000). */
  abstract pendingRequestIds(graceMs: number): Promise<string[]>;
  abstract markEnqueued(requestIds: string[]): Promise<void>;
}

@Injectable()
export class TypeormGrantRepository extends GrantRepository {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  override async lockIntent(tx: Tx, requestId: string): Promise<GrantIntent | null> {
    const intent = await tx
      .getRepository(GrantIntentEntity)
      .findOne({ where: { requestId }, lock: { mode: 'pessimistic_write' } });
    return intent ? { id: intent.id, status: intent.status, attempts: intent.attempts } : null;
  }

  override async completeIntent(tx: Tx, intent: GrantIntent, status: 'done' | 'failed'): Promise<void> {
    await tx.getRepository(GrantIntentEntity).update(intent.id, {
      status,
      attempts: intent.attempts + 1,
      ...(status === 'done' ? { completedAt: new Date() } : {}),
    });
  }

  override loadRequest(tx: Tx, requestId: string): Promise<AllocationRequestEntity> {
    return tx.getRepository(AllocationRequestEntity).findOneOrFail({ where: { id: requestId } });
  }

  override loadLines(tx: Tx, requestId: string): Promise<AllocationRequestLineEntity[]> {
    return tx
      .getRepository(AllocationRequestLineEntity)
      .find({ where: { requestId }, order: { lineNo: 'ASC' } });
  }

  override async lockProgramBudgets(tx: Tx, programId: string, gpuModels: string[]): Promise<void> {
    await tx.query(
      'SELECT 1 FROM program_budgets WHERE program_id = $1 AND gpu_model = ANY($2) ORDER BY gpu_model FOR UPDATE',
      [programId, gpuModels],
    );
  }

  override async allocationFor(tx: Tx, allocation: NewAllocation): Promise<string> {
    const inserted = await tx
      .createQueryBuilder()
      .insert()
      .into(AllocationEntity)
      .values({ ...allocation, status: 'active' })
      .orIgnore()
      .returning(['id'])
      .execute();
    const row = (inserted.raw as { id: string }[])[0];
    if (row) return row.id;
    const existing = await tx
      .getRepository(AllocationEntity)
      .findOneOrFail({ where: { requestLineId: allocation.requestLineId } });
    return existing.id;
  }

  override async addPendingPlan(tx: Tx, allocationId: string): Promise<void> {
    await tx.query(
      `INSERT INTO reservation_plans (allocation_id, status) VALUES ($1, 'pending') ON CONFLICT (allocation_id) DO NOTHING`,
      [allocationId],
    );
  }

  override async audit(tx: Tx, event: GrantAudit): Promise<void> {
    await tx.getRepository(AuditEventEntity).insert({
      actorId: null,
      actorKind: 'system',
      action: event.action,
      subjectType: 'allocation_request',
      subjectId: event.requestId,
      before: null,
      after: auditJson(event.after),
      requestId: event.jobId ? `job:${event.jobId}` : null,
    });
  }

  override async pendingRequestIds(graceMs: number): Promise<string[]> {
    const rows = await this.dataSource.query<{ request_id: string }[]>(
      `SELECT request_id FROM grant_intents WHERE status = 'pending' AND created_at < now() - ($1::int * interval '1 millisecond')
       ORDER BY created_at LIMIT 1000`,
      [graceMs],
    );
    return rows.map((row) => row.request_id);
  }

  override async markEnqueued(requestIds: string[]): Promise<void> {
    await this.dataSource.query(
      `UPDATE grant_intents SET enqueued_at = now() WHERE request_id = ANY($1) AND status = 'pending'`,
      [requestIds],
    );
  }
}
