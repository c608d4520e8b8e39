import { Injectable } from '@nestjs/common';
import { invalid, notFound, type Principal } from '#domain';
import {
  AgencyRepository,
  ProgramRepository,
  type AgencyEntity,
  type BudgetPosition,
  type Page,
  type PageQuery,
  type ProgramEntity,
  type Tx,
} from '#persistence';
import { ProgramReader, rulesOf } from './program-reader.js';
import {
  agencyView,
  programView,
  reviewerView,
  type AgencyView,
  type ProgramReviewerView,
  type ProgramView,
} from './program.views.js';

export interface ListProgramsInput extends PageQuery {
  agencyCode?: string | undefined;
  fiscalYear?: number | undefined;
  assignedToMe?: 'true' | 'false' | undefined;
}

/** The read side of programs: the public list of calls, one call, its reviewers; agencies. */
@Injectable()
export class ProgramQueries {
  constructor(
    private readonly programs: ProgramRepository,
    private readonly agencies: AgencyRepository,
    private readonly reader: ProgramReader,
  ) {}

  /** Newest first; `assignedToMe` narrows it to the calls the caller reviews (none for API tokens). */
  async list(principal: Principal, query: ListProgramsInput): Promise<Page<ProgramView>> {
    let reviewerUserId: string | undefined;
    if (query.assignedToMe === 'true') {
      if (principal.kind !== 'user') return { items: [], nextCursor: null };
      reviewerUserId = principal.userId;
    }
    const page = await this.programs.page(
      { agencyCode: query.agencyCode, fiscalYear: query.fiscalYear, reviewerUserId },
      query,
    );
    const positions = await this.programs.budgetPositionsOf(page.items.map((program) => program.id));
    return {
      items: page.items.map((program) => viewOf(program, positions.get(program.id) ?? [])),
      nextCursor: page.nextCursor,
    };
  }

  get(programId: string): Promise<ProgramView> {
    return loadProgramView(this.reader, undefined, programId);
  }

  async reviewers(programId: string, query: PageQuery): Promise<Page<ProgramReviewerView>> {
    if (!(await this.programs.find(programId))) throw notFound('Program', programId);
    const page = await this.programs.reviewersPage(programId, query);
    return {
      items: page.items.map((row) => reviewerView(row.user, row.assignedAt)),
      nextCursor: page.nextCursor,
    };
  }

  /** Agencies in code order; the cursor is the last code of the previous page. */
  async agenciesPage(query: PageQuery): Promise<Page<AgencyView>> {
    const after = query.cursor === undefined ? undefined : decodeAgencyCursor(query.cursor);
    const rows: AgencyEntity[] = await this.agencies.listAfter(after, query.limit + 1);
    const items = rows.slice(0, query.limit);
    const last = items[items.length - 1];
    return {
      items: items.map(agencyView),
      nextCursor:
        rows.length > query.limit && last ? Buffer.from(last.code, 'utf8').toString('base64url') : null,
    };
  }
}

/** The program with its rules and where each budget line stands, read in `tx` (or outside one). */
export async function loadProgramView(
  reader: ProgramReader,
  tx: Tx | undefined,
  programId: string,
): Promise<ProgramView> {
  const program = await reader.findProgram(tx, programId);
  const positions = await reader.budgetPositionsOf(tx, [programId]);
  return viewOf(program, positions.get(programId) ?? []);
}

function viewOf(program: ProgramEntity, positions: BudgetPosition[]): ProgramView {
  const budgets = Object.fromEntries(positions.map((position) => [position.gpuModel, position.budget]));
  return programView(program, rulesOf(program, budgets), positions);
}

function decodeAgencyCursor(cursor: string): string {
  const code = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^[A-Z][A-Z0-9_]{1,19}$/.test(code)) {
    throw invalid('INVALID_CURSOR', 'The cursor is not one this API issued; start again without it.');
  }
  return code;
}
