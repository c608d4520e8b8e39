import { hash } from '@node-rs/argon2';
import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { gpuHoursToSeconds, programBudgetTransaction, type RubricCriterion, type Track } from '#domain';
import {
  AgencyEntity,
  createDataSource,
  OrganizationEntity,
  postLedgerTransaction,
  ProgramBudgetEntity,
  ProgramEntity,
  ProgramReviewerEntity,
  ProjectEntity,
  ProjectMemberEntity,
  UserEntity,
} from '#persistence';

const DAY_MS = 86_400_000;

export const DEFAULT_TRACKS: Track[] = [
  { code: 'gpu', kind: 'gpu', minGpus: 1, maxGpus: 4 },
  { code: 'server', kind: 'server', minGpus: 8, maxGpus: 64, gpusPerServer: 8 },
];

export const DEFAULT_RUBRIC: RubricCriterion[] = [
  { key: 'impact', label: 'Expected impact', weight: 3, maxScore: 10 },
  { key: 'feasibility', label: 'Feasibility', weight: 2, maxScore: 5 },
];

function unique(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

/**
 * Seeds directory and program rows straight into a test database (the directory and program endpoints
 * are built elsewhere). A program's budget is posted to the ledger as the programs feature does.
 */
export class RequestFixtures {
  private constructor(private readonly dataSource: DataSource) {}

  static async connect(databaseUrl: string): Promise<RequestFixtures> {
    const dataSource = createDataSource({
      url: databaseUrl,
      poolSize: 2,
      applicationName: 'request-fixtures',
    });
    await dataSource.initialize();
    return new RequestFixtures(dataSource);
  }

  get db(): DataSource {
    return this.dataSource;
  }

  async close(): Promise<void> {
    await this.dataSource.destroy();
  }

  async makeOrganization(overrides: Partial<OrganizationEntity> = {}): Promise<OrganizationEntity> {
    return this.dataSource.getRepository(OrganizationEntity).save({
      name: unique('Org'),
      type: 'university',
      region: 'Daejeon',
      capitalArea: false,
      taxIdKind: null,
      taxId: null,
      ...overrides,
    });
  }

  async makeUser(
    options: { organizationId: string | null; roles?: string[]; email?: string; name?: string },
    password = 'password-123',
  ): Promise<UserEntity & { password: string }> {
    const user = await this.dataSource.getRepository(UserEntity).save({
      email: options.email ?? `${unique('user')}@test.gpupool.kr`,
      name: options.name ?? unique('User'),
      passwordHash: await hash(password),
      organizationId: options.organizationId,
      roles: options.roles ?? [],
      agencyCode: null,
      active: true,
    });
    return Object.assign(user, { password });
  }

  async makeProject(options: {
    organizationId: string;
    piUserId: string;
    memberIds?: string[];
  }): Promise<ProjectEntity> {
    const project = await this.dataSource.getRepository(ProjectEntity).save({
      title: unique('Project'),
      organizationId: options.organizationId,
      piUserId: options.piUserId,
    });
    await this.dataSource
      .getRepository(ProjectMemberEntity)
      .insert([
        { projectId: project.id, userId: options.piUserId, role: 'pi' },
        ...(options.memberIds ?? []).map((userId) => ({ projectId: project.id, userId, role: 'member' })),
      ]);
    return project;
  }

  /** An open call (yesterday to a year from now) with H100 and H200 budgets in GPU-hours. */
  async makeProgram(
    options: {
      budgetsGpuHours?: Record<string, bigint>;
      eligibleOrganizationTypes?: string[];
      startsAt?: Date;
      endsAt?: Date;
    } = {},
  ): Promise<ProgramEntity> {
    return this.dataSource.transaction(async (manager) => {
      const agencyCode = unique('AG').toUpperCase();
      await manager.getRepository(AgencyEntity).insert({ code: agencyCode, name: 'Test agency' });
      const now = Date.now();
      const program = await manager.getRepository(ProgramEntity).save({
        code: unique('CALL').toUpperCase(),
        name: 'GPU call',
        agencyCode,
        fiscalYear: new Date().getUTCFullYear(),
        startsAt: options.startsAt ?? new Date(now - DAY_MS),
        endsAt: options.endsAt ?? new Date(now + 365 * DAY_MS),
        eligibleOrganizationTypes: options.eligibleOrganizationTypes ?? [
          'university',
          'research_institute',
          'startup',
          'sme',
        ],
        tracks: DEFAULT_TRACKS,
        sectorTargets: { national: 50, industry: 30, academia: 20 },
        rubric: DEFAULT_RUBRIC,
        subsidyRates: { university: 10_000, sme: 7_000 },
      });
      const budgets = options.budgetsGpuHours ?? { H100: 10_000n, H200: 500n };
      for (const [gpuModel, hours] of Object.entries(budgets)) {
        const seconds = gpuHoursToSeconds(hours);
        await manager
          .getRepository(ProgramBudgetEntity)
          .insert({ programId: program.id, gpuModel, budgetGpuSeconds: seconds });
        await postLedgerTransaction(manager, programBudgetTransaction(program.id, gpuModel, seconds));
      }
      return program;
    });
  }

  async assignReviewer(programId: string, userId: string): Promise<void> {
    await this.dataSource.getRepository(ProgramReviewerEntity).insert({ programId, userId });
  }

  async count(table: string, where = 'TRUE', parameters: unknown[] = []): Promise<number> {
    const rows = await this.dataSource.query<{ n: string }[]>(
      `SELECT count(*)::text AS n FROM ${table} WHERE ${where}`,
      parameters,
    );
    return Number(rows[0]?.n ?? 0);
  }
}
