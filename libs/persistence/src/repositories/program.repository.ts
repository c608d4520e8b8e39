import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { programBudgetAccount, type LedgerTransactionKind } from '#domain';
import { ProgramBudgetEntity, ProgramEntity, ProgramReviewerEntity } from '../entities/program.entities.js';
import type { UserEntity } from '../entities/directory.entities.js';
import { newestFirst, pageOf, type Page, type PageQuery } from '../pagination.js';
import type { Tx } from '../transaction.js';
import { accountBalances } from './ledger.repository.js';

/** Where a program's budget for one GPU model stands, in GPU-seconds. */
export interface BudgetPosition {
  gpuModel: string;
  /** What the program was given (program_budgets; posted funding → program). */
  budget: bigint;
  /** Sum of grants out of the program account (expiries flowing back are not subtracted). */
  granted: bigint;
  /** The program account's balance. */
  left: bigint;
  /** Approved but not yet posted by the scheduler (grant intents still pending): spoken for. */
  pending: bigint;
}

type JsonbColumns = 'tracks' | 'sectorTargets' | 'rubric' | 'subsidyRates' | 'recallRules';

/** A program row to insert; the jsonb columns take the domain's validated values. */
export type NewProgram = Omit<ProgramEntity, 'id' | 'createdAt' | 'agency' | JsonbColumns> &
  Record<JsonbColumns, object>;

export interface ProgramPolicyChange {
  onExhaustion?: string;
  infrastructureRequeueLimit?: number;
  recallRules?: object;
  sectorTargets?: object;
}

export interface ProgramListFilter {
  agencyCode?: string | undefined;
  fiscalYear?: number | undefined;
  /** Only the programs this user is assigned to review. */
  reviewerUserId?: string | undefined;
}

export interface ProgramReviewerRow {
  user: UserEntity;
  assignedAt: Date;
}

const GRANT: LedgerTransactionKind = 'grant';

/** Funding calls, their budget lines and where each stands in the ledger, and their reviewers. */
@Injectable()
export class ProgramRepository {
  constructor(private readonly dataSource: DataSource) {}

  find(programId: string, tx?: Tx): Promise<ProgramEntity | null> {
    return (tx ?? this.dataSource.manager).getRepository(ProgramEntity).findOne({ where: { id: programId } });
  }

  exists(programId: string, tx?: Tx): Promise<boolean> {
    return (tx ?? this.dataSource.manager).getRepository(ProgramEntity).exists({ where: { id: programId } });
  }

  /** The program row locked until `tx` ends: serializes decisions that spend or change the program. */
  findForUpdate(tx: Tx, programId: string): Promise<ProgramEntity | null> {
    return tx
      .getRepository(ProgramEntity)
      .findOne({ where: { id: programId }, lock: { mode: 'pessimistic_write' } });
  }

  /** The new program's id, or null when its code is taken (ON CONFLICT DO NOTHING: no aborted transaction). */
  async insertIfAbsent(tx: Tx, program: NewProgram): Promise<string | null> {
    const inserted = await tx
      .createQueryBuilder()
      .insert()
      .into(ProgramEntity)
      .values(program)
      .orIgnore()
      .returning(['id'])
      .execute();
    return (inserted.raw as { id: string }[])[0]?.id ?? null;
  }

  async insertBudgets(
    tx: Tx,
    budgets: Pick<ProgramBudgetEntity, 'programId' | 'gpuModel' | 'budgetGpuSeconds'>[],
  ): Promise<void> {
    await tx.getRepository(ProgramBudgetEntity).insert(budgets);
  }

  budgetsOf(programId: string, tx?: Tx): Promise<ProgramBudgetEntity[]> {
    return (tx ?? this.dataSource.manager)
      .getRepository(ProgramBudgetEntity)
      .find({ where: { programId }, order: { gpuModel: 'ASC' } });
  }

  async update(tx: Tx, programId: string, change: ProgramPolicyChange): Promise<void> {
    await tx.getRepository(ProgramEntity).update(programId, change);
  }

  /** Newest first. */
  async page(filter: ProgramListFilter, page: PageQuery): Promise<Page<ProgramEntity>> {
    const builder = this.dataSource.getRepository(ProgramEntity).createQueryBuilder('p');
    if (filter.agencyCode !== undefined)
      builder.andWhere('p.agency_code = :agencyCode', { agencyCode: filter.agencyCode });
    if (filter.fiscalYear !== undefined)
      builder.andWhere('p.fiscal_year = :fiscalYear', { fiscalYear: filter.fiscalYear });
    if (filter.reviewerUserId !== undefined) {
      builder.innerJoin('program_reviewers', 'r', 'r.program_id = p.id AND r.user_id = :userId', {
        userId: filter.reviewerUserId,
      });
    }
    const rows = await newestFirst(builder, page).getMany();
    return pageOf(rows, page.limit, (row) => row);
  }

  /** Budget positions of several programs at once (for list pages), budget lines in GPU model order. */
  async budgetPositionsOf(programIds: string[], tx?: Tx): Promise<Map<string, BudgetPosition[]>> {
    const manager = tx ?? this.dataSource.manager;
    const result = new Map<string, BudgetPosition[]>(programIds.map((id) => [id, []]));
    if (programIds.length === 0) return result;
    const budgets = await manager
      .getRepository(ProgramBudgetEntity)
      .createQueryBuilder('b')
      .where('b.program_id IN (:...programIds)', { programIds })
      .orderBy('b.gpu_model', 'ASC')
      .getMany();
    const accounts = budgets.map((row) => programBudgetAccount(row.programId, row.gpuModel));
    // One after the other: the manager may be a transaction's, whose connection runs one query at a time.
    const balances = await accountBalances(manager, accounts);
    const granted = await this.grantedOutOf(manager, accounts);
    const pending = await this.pendingGrants(manager, programIds);
    for (const row of budgets) {
      const account = programBudgetAccount(row.programId, row.gpuModel);
      result.get(row.programId)?.push({
        gpuModel: row.gpuModel,
        budget: row.budgetGpuSeconds,
        granted: granted.get(account) ?? 0n,
        left: balances.get(account) ?? 0n,
        pending: pending.get(`${row.programId}|${row.gpuModel}`) ?? 0n,
      });
    }
    return result;
  }

  isAssignedReviewer(programId: string, userId: string, tx?: Tx): Promise<boolean> {
    return (tx ?? this.dataSource.manager)
      .getRepository(ProgramReviewerEntity)
      .exists({ where: { programId, userId } });
  }

  async reviewerProgramIds(userId: string, tx?: Tx): Promise<string[]> {
    const rows = await (tx ?? this.dataSource.manager)
      .getRepository(ProgramReviewerEntity)
      .find({ where: { userId } });
    return rows.map((row) => row.programId);
  }

  /** When the assignment was made, or null when the user already reviews the program. */
  async assignReviewer(tx: Tx, programId: string, userId: string): Promise<Date | null> {
    const inserted = await tx
      .createQueryBuilder()
      .insert()
      .into(ProgramReviewerEntity)
      .values({ programId, userId })
      .orIgnore()
      .returning(['created_at'])
      .execute();
    return (inserted.raw as { created_at: Date }[])[0]?.created_at ?? null;
  }

  /** Whether there was an assignment to remove. */
  async removeReviewer(tx: Tx, programId: string, userId: string): Promise<boolean> {
    const deleted = await tx.getRepository(ProgramReviewerEntity).delete({ programId, userId });
    return Boolean(deleted.affected);
  }

  /** The program's reviewers, newest assignment first. */
  async reviewersPage(programId: string, page: PageQuery): Promise<Page<ProgramReviewerRow>> {
    const builder = this.dataSource
      .getRepository(ProgramReviewerEntity)
      .createQueryBuilder('r')
      .innerJoinAndSelect('r.user', 'u')
      .where('r.program_id = :programId', { programId });
    const rows = await newestFirst(builder, page, 'user_id').getMany();
    const positioned = rows.map((row) => ({ row, id: row.userId, createdAt: row.createdAt }));
    return pageOf(positioned, page.limit, ({ row }) => {
      if (!row.user) throw new Error(`program reviewer ${row.userId} was loaded without its user`);
      return { user: row.user, assignedAt: row.createdAt };
    });
  }

  /** Per account: GPU-seconds that left it in `grant` transactions. */
  private async grantedOutOf(manager: Tx, accounts: string[]): Promise<Map<string, bigint>> {
    const result = new Map<string, bigint>();
    if (accounts.length === 0) return result;
    const rows = await manager.query<{ account: string; granted: string }[]>(
      `SELECT e.account, (-SUM(e.amount))::text AS granted
         FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
        WHERE e.account = ANY($1) AND t.kind = $2 AND e.amount < 0
        GROUP BY e.account`,
      [accounts, GRANT],
    );
    for (const row of rows) result.set(row.account, BigInt(row.granted));
    return result;
  }

  /** Per "programId|gpuModel": granted GPU-seconds of approved requests whose grant intent is still pending. */
  private async pendingGrants(manager: Tx, programIds: string[]): Promise<Map<string, bigint>> {
    const rows = await manager.query<{ program_id: string; gpu_model: string; pending: string }[]>(
      `SELECT r.program_id, l.gpu_model, SUM(l.granted_gpu_seconds)::text AS pending
         FROM grant_intents g
         JOIN allocation_requests r ON r.id = g.request_id
         JOIN allocation_request_lines l ON l.request_id = r.id
        WHERE r.program_id = ANY($1) AND g.status = 'pending' AND l.granted_gpu_seconds > 0
        GROUP BY r.program_id, l.gpu_model`,
      [programIds],
    );
    return new Map(rows.map((row) => [`${row.program_id}|${row.gpu_model}`, BigInt(row.pending)]));
  }
}
