import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { conflict, notFound, ruleViolated } from '#domain';
import { ProgramReviewerEntity, UserEntity } from '#persistence';
import { AuditService } from '../audit/audit.service.js';
import type { Principal } from '../auth/principal.js';
import { pageOf, type Page } from '../common/pagination.js';
import type { ListReviewersQuery } from './dto/program-reviewer.request.js';
import type { ProgramReviewerView } from './dto/program.response.js';
import { newestFirst } from '../common/query-support.js';
import { ProgramReader } from './program-reader.service.js';

/** Who may review a program's requests. */
@Injectable()
export class ProgramReviewersService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly reader: ProgramReader,
  ) {}

  async assign(
    principal: Principal,
    programId: string,
    userId: string,
    requestId: string | null,
  ): Promise<ProgramReviewerView> {
    return this.dataSource.transaction(async (manager) => {
      const program = await this.reader.findProgram(manager, programId);
      const user = await manager.getRepository(UserEntity).findOne({ where: { id: userId } });
      if (!user) throw notFound('User', userId);
      if (!user.active || !user.roles.includes('reviewer')) {
        throw ruleViolated(
          'NOT_A_REVIEWER',
          `${user.email} ${user.active ? 'does not hold the reviewer role' : 'is deactivated'}; only active users with the reviewer role can review program ${program.code}.`,
          { userId, roles: user.roles, active: user.active },
        );
      }
      const inserted = await manager
        .createQueryBuilder()
        .insert()
        .into(ProgramReviewerEntity)
        .values({ programId, userId })
        .orIgnore()
        .returning(['created_at'])
        .execute();
      const row = (inserted.raw as { created_at: Date }[])[0];
      if (!row) {
        throw conflict(
          'REVIEWER_ALREADY_ASSIGNED',
          `${user.email} already reviews program ${program.code}.`,
          { programId, userId },
        );
      }
      const view = reviewerView(user, row.created_at);
      await this.audit.record(manager, {
        principal,
        action: 'program.reviewer_assigned',
        subjectType: 'program',
        subjectId: programId,
        after: { userId, email: user.email },
        requestId,
      });
      return view;
    });
  }

  async list(programId: string, query: ListReviewersQuery): Promise<Page<ProgramReviewerView>> {
    await this.reader.findProgram(this.dataSource.manager, programId);
    const builder = this.dataSource
      .getRepository(ProgramReviewerEntity)
      .createQueryBuilder('r')
      .innerJoinAndSelect('r.user', 'u')
      .where('r.program_id = :programId', { programId });
    const rows = await newestFirst(builder, query, 'user_id').getMany();
    const positioned = rows.map((row) => ({ row, id: row.userId, createdAt: row.createdAt }));
    return pageOf(positioned, query.limit, ({ row }) => {
      if (!row.user) throw new Error(`program reviewer ${row.userId} was loaded without its user`);
      return reviewerView(row.user, row.createdAt);
    });
  }

  async remove(
    principal: Principal,
    programId: string,
    userId: string,
    requestId: string | null,
  ): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      await this.reader.findProgram(manager, programId);
      const deleted = await manager.getRepository(ProgramReviewerEntity).delete({ programId, userId });
      if (!deleted.affected) throw notFound('Reviewer assignment', `${userId} of program ${programId}`);
      await this.audit.record(manager, {
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

function reviewerView(user: UserEntity, assignedAt: Date): ProgramReviewerView {
  return {
    userId: user.id,
    email: user.email,
    name: user.name,
    active: user.active,
    holdsReviewerRole: user.roles.includes('reviewer'),
    assignedAt,
  };
}
