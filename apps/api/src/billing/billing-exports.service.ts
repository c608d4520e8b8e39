import { Injectable } from '@nestjs/common';
import { BillingExportQueries, RequestBillingExportUseCase, type ExportDownload } from '#application';
import type { Principal } from '../auth/principal.js';
import type { Page } from '../common/pagination.js';
import type { CreateExportRequest, ListExportsQuery } from './dto/billing-export.request.js';
import { billingExportView, type BillingExportResponse } from './dto/billing-export.response.js';

export type { ExportDownload } from '#application';

/**
 * Settlement exports of closed periods (RequestBillingExportUseCase, BillingExportQueries), as
 * responses: requested here, written by the scheduler's `billing.export` job, downloaded here.
 */
@Injectable()
export class BillingExportsService {
  constructor(
    private readonly requestExport: RequestBillingExportUseCase,
    private readonly exports: BillingExportQueries,
  ) {}

  create(
    principal: Principal,
    body: CreateExportRequest,
    requestId: string | null,
  ): Promise<{ id: string; status: 'queued' }> {
    return this.requestExport.execute({ principal, ...body, requestId });
  }

  async get(principal: Principal, exportId: string): Promise<BillingExportResponse> {
    return billingExportView(await this.exports.get(principal, exportId));
  }

  async list(principal: Principal, query: ListExportsQuery): Promise<Page<BillingExportResponse>> {
    const page = await this.exports.list(
      principal,
      { period: query.period, status: query.status },
      { limit: query.limit, cursor: query.cursor },
    );
    return { items: page.items.map(billingExportView), nextCursor: page.nextCursor };
  }

  download(principal: Principal, exportId: string): Promise<ExportDownload> {
    return this.exports.download(principal, exportId);
  }
}
