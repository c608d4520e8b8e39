import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { ProgramRules } from '#domain';
import { ProgramEntity, ProgramReviewerEntity, UserEntity } from '#persistence';
import { ProgramReader } from '#application';

/**
 * What the request lifecycle needs of a program, on top of the programs feature's ProgramReader:
 * the budget left net of approved grants the scheduler has not posted yet, the program lock that
 * serializes decisions, and the programs a reviewer is assigned to.
 */
@Injectable()
export class ProgramRulesReader {
  constructor(private readonly programs: ProgramReader) {}

  loadRules(manager: EntityManager, programId: string): Promise<ProgramRules> {
    return this.programs.loadRules(manager, programId);
  }

  /**
   * GPU-seconds the program can still grant per model: the program account's ledger balance minus the
   * grants of decisions whose grant intent is still pending. Those are spoken for but not yet in the
   * ledger; without subtracting them two approvals between a decision and its grant job could spend
   * the same budget twice. Deciders lock the program row first (lockProgram).
   */
  async budgetLeft(manager: EntityManager, programId: string): Promise<Record<string, bigint>> {
    const ledgerLeft = await this.programs.budgetLeft(manager, programId);
    const rows = await manager.query<{ gpu_model: string; pending: string }[]>(
      `SELECT l.gpu_model, SUM(l.granted_gpu_seconds)::text AS pending
         FROM allocation_request_lines l
         JOIN allocation_requests r ON r.id = l.request_id
         JOIN grant_intents g ON g.request_id = r.id AND g.status = 'pending'
        WHERE r.program_id = $1 AND l.granted_gpu_seconds IS NOT NULL
        GROUP BY l.gpu_model`,
      [programId],
    );
    const pending = new Map(rows.map((row) => [row.gpu_model, BigInt(row.pending)]));
    return Object.fromEntries(
      Object.entries(ledgerLeft).map(([gpuModel, left]) => [gpuModel, left - (pending.get(gpuModel) ?? 0n)]),
    );
  }

  /** Serializes the decisions that spend one program's budget. */
  async lockProgram(manager: EntityManager, programId: string): Promise<void> {
    await manager
      .getRepository(ProgramEntity)
      .findOne({ where: { id: programId }, lock: { mode: 'pessimistic_write' } });
  }

  programExists(manager: EntityManager, programId: string): Promise<boolean> {
    return manager.getRepository(ProgramEntity).exists({ where: { id: programId } });
  }

  /** Assigned to review the program and still an active reviewer (ProgramReader's rule). */
  isReviewer(manager: EntityManager, programId: string, userId: string): Promise<boolean> {
    return this.programs.isReviewer(manager, programId, userId);
  }

  /** The programs a user reviews, by the same rule as isReviewer. */
  async reviewerProgramIds(manager: EntityManager, userId: string): Promise<string[]> {
    const user = await manager.getRepository(UserEntity).findOne({ where: { id: userId } });
    if (!user?.active || !user.roles.includes('reviewer')) return [];
    const rows = await manager.getRepository(ProgramReviewerEntity).find({ where: { userId } });
    return rows.map((row) => row.programId);
  }
}
