import { Injectable } from '@nestjs/common';
import { conflict, notFound, ruleViolated, type Principal } from '#domain';
import { AuditRepository, ProgramRepository, TransactionRunner, UserRepository } from '#persistence';
import { ProgramReader } from './program-reader.js';
import { reviewerView, type ProgramReviewerView } from './program.views.js';

/** Assigns an active user with the reviewer role to review a program's requests. */
@Injectable()
export class AssignProgramReviewerUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly programs: ProgramRepository,
    private readonly reader: ProgramReader,
    private readonly users: UserRepository,
    private readonly audit: AuditRepository,
  ) {}

  async execute(
    principal: Principal,
    programId: string,
    userId: string,
    requestId: string | null,
  ): Promise<ProgramReviewerView> {
    return this.transactions.run(async (tx) => {
      const program = await this.reader.findProgram(tx, programId);
      const user = await this.users.find(userId, tx);
      if (!user) throw notFound('User', userId);
      if (!user.active || !user.roles.includes('reviewer')) {
        throw ruleViolated(
          'NOT_A_REVIEWER',
          `${user.email} ${user.active ? 'does not hold the reviewer role' : 'is deactivated'}; only active users with the reviewer role can review program ${program.code}.`,
          { userId, roles: user.roles, active: user.active },
        );
      }
      const assignedAt = await this.programs.assignReviewer(tx, programId, userId);
      if (!assignedAt) {
        throw conflict(
          'REVIEWER_ALREADY_ASSIGNED',
          `${user.email} already reviews program ${program.code}.`,
          {
            programId,
            userId,
          },
        );
      }
      await this.audit.record(tx, {
        principal,
        action: 'program.reviewer_assigned',
        subjectType: 'program',
        subjectId: programId,
        after: { userId, email: user.email },
        requestId,
      });
      return reviewerView(user, assignedAt);
    });
  }
}

@Injectable()
export class RemoveProgramReviewerUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly programs: ProgramRepository,
    private readonly reader: ProgramReader,
    private readonly audit: AuditRepository,
  ) {}

  async execute(
    principal: Principal,
    programId: string,
    userId: string,
    requestId: string | null,
  ): Promise<void> {
    await this.transactions.run(async (tx) => {
      await this.reader.findProgram(tx, programId);
      if (!(await this.programs.removeReviewer(tx, programId, userId)))
        throw notFound('Reviewer assignment', `${userId} of program ${programId}`);
      await this.audit.record(tx, {
        principal,
        action: 'program.reviewer_removed',
        subjectType: 'program',
        subjectId: programId,
        before: { userId },
        requestId,
      });
    });
  }
}
