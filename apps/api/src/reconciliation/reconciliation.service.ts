import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { latestReconciliationReport, reconcileUsageAndBalances } from '#persistence';
import { AuditService } from '../audit/audit.service.js';
import type { Principal } from '../auth/principal.js';
import { toReconciliationResponse, type ReconciliationResponse } from './dto/reconciliation.response.js';

/**
 * The ledger and rollup reconciler's reports: the latest one, or a run now. A run only reads (in one
 * snapshot) and writes its report; what drifted is for people to investigate, nothing is repaired.
 */
@Injectable()
export class ReconciliationService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
  ) {}

  async latest(): Promise<ReconciliationResponse> {
    return toReconciliationResponse(await latestReconciliationReport(this.dataSource));
  }

  async run(principal: Principal, requestId: string | null): Promise<ReconciliationResponse> {
    const report = await reconcileUsageAndBalances(this.dataSource);
    await this.audit.record(this.dataSource.manager, {
      principal,
      action: 'reconciliation.run',
      subjectType: 'reconciliation_report',
      subjectId: report.id,
      after: {
        accountDrifts: report.accountDrifts,
        rollupDrifts: report.rollupDrifts,
        usageDrifts: report.usageDrifts,
      },
      requestId,
    });
    return toReconciliationResponse(report);
  }
}
