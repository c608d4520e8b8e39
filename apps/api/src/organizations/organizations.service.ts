import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { DomainError, isDomainError, notFound, validateTaxIdentity, type TaxIdentity } from '#domain';
import { OrganizationEntity } from '#persistence';
import { AuditService } from '../audit/audit.service.js';
import { hasRole, type Principal } from '../auth/principal.js';
import type { Page } from '../common/pagination.js';
import type { CreateOrganizationRequest } from './dto/create-organization.request.js';
import type { ListOrganizationsQuery } from './dto/list-organizations.request.js';
import { toOrganizationResponse, type OrganizationResponse } from './dto/organization.response.js';
import { isUniqueViolation, keysetPage } from '../common/query-support.js';
import { isCapitalArea } from './regions.js';

const TAX_ID_FIELD = 'businessRegistrationNumber';

@Injectable()
export class OrganizationsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
  ) {}

  async create(
    principal: Principal,
    input: CreateOrganizationRequest,
    requestId: string | null,
  ): Promise<OrganizationResponse> {
    const taxIdentity =
      input.businessRegistrationNumber === undefined ? null : taxIdentityOf(input.businessRegistrationNumber);
    try {
      return await this.dataSource.transaction(async (manager) => {
        const organizations = manager.getRepository(OrganizationEntity);
        if (taxIdentity) {
          const existing = await organizations.findOne({ where: { taxId: taxIdentity.normalized } });
          if (existing) throw duplicateTaxId(existing.id);
        }
        const row = await organizations.save(
          organizations.create({
            name: input.name,
            type: input.type,
            region: input.region,
            capitalArea: isCapitalArea(input.region),
            taxIdKind: taxIdentity?.kind ?? null,
            taxId: taxIdentity?.normalized ?? null,
          }),
        );
        const created = toOrganizationResponse(row);
        await this.audit.record(manager, {
          principal,
          action: 'organization.created',
          subjectType: 'organization',
          subjectId: row.id,
          after: created,
          requestId,
        });
        return created;
      });
    } catch (error) {
      // Two admins registering the same number at once: the unique index decides.
      if (isUniqueViolation(error, 'uq_organizations_tax_id')) throw duplicateTaxId(null);
      throw error;
    }
  }

  /** Admins see every organization; other users see their own. */
  async list(principal: Principal, query: ListOrganizationsQuery): Promise<Page<OrganizationResponse>> {
    const builder = this.dataSource.getRepository(OrganizationEntity).createQueryBuilder('organization');
    if (!hasRole(principal, 'admin')) {
      const ownId = principal.kind === 'user' ? principal.organizationId : null;
      if (ownId === null) return { items: [], nextCursor: null };
      builder.andWhere('organization.id = :ownId', { ownId });
    }
    if (query.type) builder.andWhere('organization.type = :type', { type: query.type });
    if (query.region) builder.andWhere('organization.region = :region', { region: query.region });
    return keysetPage(builder, query, toOrganizationResponse);
  }

  async get(principal: Principal, id: string): Promise<OrganizationResponse> {
    const visible =
      hasRole(principal, 'admin') || (principal.kind === 'user' && principal.organizationId === id);
    const row = visible
      ? await this.dataSource.getRepository(OrganizationEntity).findOne({ where: { id } })
      : null;
    if (!row) throw notFound('Organization', id);
    return toOrganizationResponse(row);
  }
}

/** The domain's verdict, re-addressed to the request field so clients can highlight it. */
function taxIdentityOf(raw: string): TaxIdentity {
  try {
    return validateTaxIdentity(raw);
  } catch (error) {
    if (isDomainError(error)) {
      const reason = (error.details as { reason?: unknown } | undefined)?.reason;
      throw new DomainError(error.kind, error.code, error.message, [
        { field: TAX_ID_FIELD, message: error.message, reason },
      ]);
    }
    throw error;
  }
}

function duplicateTaxId(existingOrganizationId: string | null): DomainError {
  return new DomainError(
    'conflict',
    'ORGANIZATION_EXISTS',
    'An organization with this business registration number is already registered.',
    [
      {
        field: TAX_ID_FIELD,
        message: 'already registered',
        ...(existingOrganizationId ? { existingOrganizationId } : {}),
      },
    ],
  );
}
