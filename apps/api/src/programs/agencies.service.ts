import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, MoreThan } from 'typeorm';
import { conflict, invalid } from '#domain';
import { AgencyEntity } from '#persistence';
import { AuditService } from '../audit/audit.service.js';
import type { Principal } from '../auth/principal.js';
import type { Page } from '../common/pagination.js';
import type { CreateAgencyRequest, ListAgenciesQuery } from './dto/agency.request.js';
import { agencyView, type AgencyView } from './dto/program.response.js';

@Injectable()
export class AgenciesService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
  ) {}

  async create(
    principal: Principal,
    body: CreateAgencyRequest,
    requestId: string | null,
  ): Promise<AgencyView> {
    return this.dataSource.transaction(async (manager) => {
      // ON CONFLICT DO NOTHING: a duplicate is an answer (409), not an aborted transaction.
      const inserted = await manager
        .createQueryBuilder()
        .insert()
        .into(AgencyEntity)
        .values({ code: body.code, name: body.name })
        .orIgnore()
        .returning(['code'])
        .execute();
      if ((inserted.raw as unknown[]).length === 0) {
        throw conflict('AGENCY_EXISTS', `Agency ${body.code} already exists.`, { code: body.code });
      }
      const agency = await manager.getRepository(AgencyEntity).findOneOrFail({ where: { code: body.code } });
      const view = agencyView(agency);
      await this.audit.record(manager, {
        principal,
        action: 'agency.created',
        subjectType: 'agency',
        subjectId: agency.code,
        after: view,
        requestId,
      });
      return view;
    });
  }

  /** Agencies in code order; the cursor is the last code of the previous page. */
  async list(query: ListAgenciesQuery): Promise<Page<AgencyView>> {
    const after = query.cursor === undefined ? undefined : decodeAgencyCursor(query.cursor);
    const rows = await this.dataSource.getRepository(AgencyEntity).find({
      where: after === undefined ? {} : { code: MoreThan(after) },
      order: { code: 'ASC' },
      take: query.limit + 1,
    });
    const items = rows.slice(0, query.limit);
    const last = items[items.length - 1];
    return {
      items: items.map(agencyView),
      nextCursor:
        rows.length > query.limit && last ? Buffer.from(last.code, 'utf8').toString('base64url') : null,
    };
  }
}

function decodeAgencyCursor(cursor: string): string {
  const code = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^[A-Z][A-Z0-9_]{1,19}$/.test(code)) {
    throw invalid('INVALID_CURSOR', 'The cursor is not one this API issued; start again without it.');
  }
  return code;
}
