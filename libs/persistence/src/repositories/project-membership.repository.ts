import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ProjectEntity, ProjectMemberEntity } from '../entities/directory.entities.js';
import type { Tx } from '../transaction.js';

export type ProjectRole = 'pi' | 'member';

/** Projects and who belongs to them, as the access module asks. */
@Injectable()
export class ProjectMembershipRepository {
  constructor(private readonly dataSource: DataSource) {}

  async projectExists(projectId: string, tx?: Tx): Promise<boolean> {
    return (tx ?? this.dataSource.manager).getRepository(ProjectEntity).exists({ where: { id: projectId } });
  }

  async roleOf(projectId: string, userId: string, tx?: Tx): Promise<ProjectRole | null> {
    const row = await (tx ?? this.dataSource.manager)
      .getRepository(ProjectMemberEntity)
      .findOne({ where: { projectId, userId } });
    return row ? (row.role as ProjectRole) : null;
  }

  async projectIdsOf(userId: string, tx?: Tx): Promise<string[]> {
    const rows = await (tx ?? this.dataSource.manager)
      .getRepository(ProjectMemberEntity)
      .find({ where: { userId } });
    return rows.map((row) => row.projectId);
  }

  /** Every project membership of the user. */
  membershipsOf(userId: string, tx?: Tx): Promise<ProjectMemberEntity[]> {
    return (tx ?? this.dataSource.manager).getRepository(ProjectMemberEntity).find({ where: { userId } });
  }
}
