import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { notFound, validatePricingPolicy } from '#domain';
import {
  effectivePolicy,
  ProgramPricingEntity,
  storedPolicyJson,
  subsidyRatesFrom,
  type StoredPricingPolicy,
} from '#persistence';
import { AuditService } from '../audit/audit.service.js';
import type { Principal } from '../auth/principal.js';
import { billingScopeOf } from './billing-access.js';
import type { PricingPolicyRequest } from './dto/pricing-policy.request.js';
import { pricingPolicyView, type PricingPolicyResponse } from './dto/pricing-policy.response.js';

interface ProgramRow {
  id: string;
  agency_code: string;
  subsidy_rates: unknown;
}

/**
 * Programs' pricing policies (discounts per organization type, VAT payer and base, rounding). A
 * program without one prices with libs/domain's KOREAN_VOUCHER_POLICY; subsidies are always the
 * program's own subsidy rates. A change applies to periods closed after it (closed ones never change).
 */
@Injectable()
export class ProgramPricingService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
  ) {}

  async get(principal: Principal, programId: string): Promise<PricingPolicyResponse> {
    const scope = billingScopeOf(principal);
    const manager = this.dataSource.manager;
    const program = await this.program(manager, programId);
    if (scope.kind === 'agency' && program.agency_code !== scope.agencyCode)
      throw notFound('Program', programId);
    return this.view(manager, program);
  }

  async replace(
    principal: Principal,
    programId: string,
    body: PricingPolicyRequest,
    requestId: string | null,
  ): Promise<PricingPolicyResponse> {
    const stored: StoredPricingPolicy = storedPolicyJson(body);
    return this.dataSource.transaction(async (manager) => {
      const program = await this.program(manager, programId, true);
      // The domain checks the whole policy with the program's subsidies: 400 INVALID_PRICING_POLICY.
      validatePricingPolicy({ ...stored, subsidyBasisPoints: subsidyRatesFrom(program.subsidy_rates) });
      const before = await this.view(manager, program);
      const updatedBy = principal.kind === 'user' ? principal.userId : principal.createdBy;
      await manager
        .getRepository(ProgramPricingEntity)
        .upsert({ programId, policy: stored, updatedBy, updatedAt: new Date() }, ['programId']);
      const after = await this.view(manager, program);
      await this.audit.record(manager, {
        principal,
        action: 'program.pricing_changed',
        subjectType: 'program',
        subjectId: programId,
        before: before.policy,
        after: after.policy,
        requestId,
      });
      return after;
    });
  }

  private async program(manager: EntityManager, programId: string, lock = false): Promise<ProgramRow> {
    const [row] = await manager.query<ProgramRow[]>(
      `SELECT id, agency_code, subsidy_rates FROM programs WHERE id = $1${lock ? ' FOR UPDATE' : ''}`,
      [programId],
    );
    if (!row) throw notFound('Program', programId);
    return row;
  }

  private async view(manager: EntityManager, program: ProgramRow): Promise<PricingPolicyResponse> {
    const stored = await manager
      .getRepository(ProgramPricingEntity)
      .findOne({ where: { programId: program.id } });
    return pricingPolicyView(
      program.id,
      effectivePolicy(stored?.policy ?? null, program.subsidy_rates),
      stored ? { updatedBy: stored.updatedBy, updatedAt: stored.updatedAt } : null,
    );
  }
}
