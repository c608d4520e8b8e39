import { Injectable } from '@nestjs/common';
import { conflict, type Principal } from '#domain';
import { AgencyRepository, AuditRepository, TransactionRunner } from '#persistence';
import { agencyView, type AgencyView } from './program.views.js';

/** Registers a funding agency (its code names it in programs and users). */
@Injectable()
export class CreateAgencyUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly agencies: AgencyRepository,
    private readonly audit: AuditRepository,
  ) {}

  async execute(
    principal: Principal,
    input: { code: string; name: string },
    requestId: string | null,
  ): Promise<AgencyView> {
    return this.transactions.run(async (tx) => {
      if (!(await this.agencies.insertIfAbsent(tx, { code: input.code, name: input.name }))) {
        throw conflict('AGENCY_EXISTS', `Agency ${input.code} already exists.`, { code: input.code });
      }
      const agency = await this.agencies.findByCode(input.code, tx);
      if (!agency) throw new Error(`agency ${input.code} vanished inside its own transaction`);
      const view = agencyView(agency);
      await this.audit.record(tx, {
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
}
