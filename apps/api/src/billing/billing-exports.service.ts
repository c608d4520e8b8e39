import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { conflict, notFound, parsePeriod, ruleViolated } from '#domain';
import {
  BILLING_EXPORT_MEDIA,
  BillingExportEntity,
  exportChunks,
  type BillingExportFormat,
} from '#persistence';
import { JobProducer } from '#queues';
import { AuditService } from '../audit/audit.service.js';
import type { Principal } from '../auth/principal.js';
import { decodeCursor, encodeCursor, type Page } from '../common/pagination.js';
import { agencyInScope, billingScopeOf, type BillingScope } from './billing-access.js';
import type { CreateExportRequest, ListExportsQuery } from './dto/billing-export.request.js';
import { billingExportView, type BillingExportResponse } from './dto/billing-export.response.js';
import { assertClosed, assertProgramInScope } from './statements.service.js';

export interface ExportDownload {
  contentType: string;
  filename: string;
  sha256: string;
  bytes: bigint;
  chunks: AsyncGenerator<Buffer>;
}

/**
 * Settlement exports of closed periods: requested here (a row, then a `billing.export` job after
 * commit; the scheduler's sweep re-enqueues one whose job was lost), written by the scheduler,
 * downloaded here chunk by chunk. A finance user of an agency only ever sees their agency's exports:
 * others' are 404s, and theirs are always limited to their agency.
 */
@Injectable()
export class BillingExportsService {
  private readonly logger = new Logger(BillingExportsService.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly jobs: JobProducer,
    private readonly audit: AuditService,
  ) {}

  async create(
    principal: Principal,
    body: CreateExportRequest,
    requestId: string | null,
  ): Promise<{ id: string; status: 'queued' }> {
    const scope = billingScopeOf(principal);
    const period = parsePeriod(body.period);
    const agencyCode = agencyInScope(scope, body.agencyCode);
    if (agencyCode !== null) await this.assertAgencyExists(agencyCode);
    if (body.programId !== undefined) {
      const programAgency = await assertProgramInScope(this.dataSource, scope, body.programId);
      if (agencyCode !== null && programAgency !== agencyCode) {
        throw ruleViolated(
          'PROGRAM_NOT_IN_AGENCY',
          `Program ${body.programId} belongs to agency ${programAgency}, not ${agencyCode}; the export would be empty.`,
          { programId: body.programId, agencyCode },
        );
      }
    }
    await assertClosed(this.dataSource, period);
    const createdBy = principal.kind === 'user' ? principal.userId : principal.createdBy;
    const id = await this.dataSource.transaction(async (manager) => {
      const row = await manager.getRepository(BillingExportEntity).save({
        period,
        agencyCode,
        programId: body.programId ?? null,
        format: body.format,
        status: 'queued',
        createdBy,
      });
      await this.audit.record(manager, {
        principal,
        action: 'billing_export.requested',
        subjectType: 'billing_export',
        subjectId: row.id,
        after: { period, agencyCode, programId: body.programId ?? null, format: body.format },
        requestId,
      });
      return row.id;
    });
    try {
      await this.jobs.enqueue({ name: 'billing.export', data: { exportId: id } });
    } catch (error: unknown) {
      this.logger.warn(
        { exportId: id, err: error instanceof Error ? { message: error.message } : error },
        'enqueue after commit failed; the scheduler’s export sweep picks the export up from PostgreSQL',
      );
    }
    return { id, status: 'queued' };
  }

  async get(principal: Principal, exportId: string): Promise<BillingExportResponse> {
    return billingExportView(await this.visible(principal, exportId));
  }

  async list(principal: Principal, query: ListExportsQuery): Promise<Page<BillingExportResponse>> {
    const scope = billingScopeOf(principal);
    const builder = this.dataSource.getRepository(BillingExportEntity).createQueryBuilder('e');
    if (scope.kind === 'agency')
      builder.andWhere('e.agency_code = :scopeAgency', { scopeAgency: scope.agencyCode });
    if (query.period !== undefined) builder.andWhere('e.period = :period', { period: query.period });
    if (query.status !== undefined) builder.andWhere('e.status = :status', { status: query.status });
    const position = decodeCursor(query.cursor);
    if (position) {
      builder.andWhere('(e.requested_at, e.id) < (CAST(:cursorAt AS timestamptz), CAST(:cursorId AS uuid))', {
        cursorAt: position.createdAt.toISOString(),
        cursorId: position.id,
      });
    }
    const rows = await builder
      .orderBy('e.requested_at', 'DESC')
      .addOrderBy('e.id', 'DESC')
      .limit(query.limit + 1)
      .getMany();
    const items = rows.slice(0, query.limit);
    const last = items[items.length - 1];
    return {
      items: items.map(billingExportView),
      nextCursor:
        rows.length > query.limit && last ? encodeCursor({ createdAt: last.requestedAt, id: last.id }) : null,
    };
  }

  /** The finished file, streamed chunk by chunk; 409 EXPORT_NOT_READY until it is done. */
  async download(principal: Principal, exportId: string): Promise<ExportDownload> {
    const row = await this.visible(principal, exportId);
    if (row.status !== 'done' || row.sha256 === null || row.bytes === null) {
      throw conflict(
        'EXPORT_NOT_READY',
        `Export ${exportId} is ${row.status}${row.status === 'running' ? ` (${row.progress}%)` : ''}; download it once it is done.`,
        { status: row.status, progress: row.progress },
      );
    }
    const media = BILLING_EXPORT_MEDIA[row.format as BillingExportFormat];
    const scopeName = [row.agencyCode ?? 'all-agencies', row.programId ? `program-${row.programId}` : null]
      .filter((part) => part !== null)
      .join('-');
    return {
      contentType: media.contentType,
      filename: `gpupool-settlement-${row.period}-${scopeName}.${media.extension}`,
      sha256: row.sha256,
      bytes: row.bytes,
      chunks: exportChunks(this.dataSource, row.id),
    };
  }

  /** The export row if the caller may see it; 404 otherwise (another agency's exports do not exist for them). */
  private async visible(principal: Principal, exportId: string): Promise<BillingExportEntity> {
    const scope: BillingScope = billingScopeOf(principal);
    const row = await this.dataSource.getRepository(BillingExportEntity).findOne({ where: { id: exportId } });
    if (!row || (scope.kind === 'agency' && row.agencyCode !== scope.agencyCode)) {
      throw notFound('Billing export', exportId);
    }
    return row;
  }

  private async assertAgencyExists(agencyCode: string): Promise<void> {
    const [agency] = await this.dataSource.query<{ code: string }[]>(
      'SELECT code FROM agencies WHERE code = $1',
      [agencyCode],
    );
    if (!agency) throw notFound('Agency', agencyCode);
  }
}
