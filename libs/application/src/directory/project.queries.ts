import { Injectable } from '@nestjs/common';
import type { Principal } from '#domain';
import { ProjectRepository, TransactionRunner, type Page, type PageQuery } from '#persistence';
import { ProjectAccess } from '../access/project-access.js';
import { loadProjectView } from './project-rules.js';
import { projectSummaryOf, type ProjectSummaryView, type ProjectView } from './project.views.js';

/** The read side of projects: the principal's list, and one project with its members. */
@Injectable()
export class ProjectQueries {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly access: ProjectAccess,
    private readonly projects: ProjectRepository,
  ) {}

  /** Admins see every project, others the ones they belong to. */
  async list(
    principal: Principal,
    query: PageQuery & { organizationId?: string | undefined },
  ): Promise<Page<ProjectSummaryView>> {
    const page = await this.projects.page(
      { scope: this.access.scopeOf(principal), organizationId: query.organizationId },
      query,
    );
    return { items: page.items.map(projectSummaryOf), nextCursor: page.nextCursor };
  }

  async get(principal: Principal, projectId: string): Promise<ProjectView> {
    return this.transactions.run(
      async (tx) => {
        await this.access.assertVisible(principal, projectId, tx);
        const project = await this.projects.find(projectId, tx);
        if (!project) throw new Error(`project ${projectId} vanished after its visibility check`);
        return loadProjectView(this.projects, project, tx);
      },
      { isolation: 'REPEATABLE READ' },
    );
  }
}
