import { Injectable } from '@nestjs/common';
import { DomainError, hasRole, notFound, type Principal, type TaxIdentity } from '#domain';
import {
  AuditRepository,
  emptyPage,
  isUniqueViolation,
  OrganizationRepository,
  TransactionRunner,
  type Page,
  type PageQuery,
} from '#persistence';
import { organizationView, type OrganizationView } from './identity.views.js';

export interface CreateOrganizationCommand {
  name: string;
  type: string;
  region: string;
  capitalArea: boolean;
  /** Already validated (the transport re-addresses the domain's verdict to its field). */
  taxIdentity: TaxIdentity | null;
}

/** The request field a duplicate tax identity is reported against. */
const TAX_ID_FIELD = 'businessRegistrationNumber';

/** Registers an organization; a business registration number belongs to one organization only. */
@Injectable()
export class CreateOrganizationUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly organizations: OrganizationRepository,
    private readonly audit: AuditRepository,
  ) {}

  async execute(
    principal: Principal,
    input: CreateOrganizationCommand,
    requestId: string | null,
  ): Promise<OrganizationView> {
    const { taxIdentity } = input;
    try {
      return await this.transactions.run(async (tx) => {
        if (taxIdentity) {
          const existing = await this.organizations.findByTaxId(taxIdentity.normalized, tx);
          if (existing) throw duplicateTaxId(existing.id);
        }
        const row = await this.organizations.insert(tx, {
          name: input.name,
          type: input.type,
          region: input.region,
          capitalArea: input.capitalArea,
          taxIdKind: taxIdentity?.kind ?? null,
          taxId: taxIdentity?.normalized ?? null,
        });
        const created = organizationView(row);
        await this.audit.record(tx, {
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
}

export interface OrganizationListQuery {
  type?: string | undefined;
  region?: string | undefined;
}

@Injectable()
export class OrganizationQueries {
  constructor(private readonly organizations: OrganizationRepository) {}

  /** Admins see every organization; other users see their own. */
  async list(
    principal: Principal,
    query: OrganizationListQuery,
    page: PageQuery,
  ): Promise<Page<OrganizationView>> {
    let onlyId: string | null | undefined;
    if (!hasRole(principal, 'admin')) {
      onlyId = principal.kind === 'user' ? principal.organizationId : null;
      if (onlyId === null) return emptyPage();
    }
    const rows = await this.organizations.page(
      { ...(onlyId === undefined ? {} : { onlyId }), type: query.type, region: query.region },
      page,
    );
    return { items: rows.items.map(organizationView), nextCursor: rows.nextCursor };
  }

  async get(principal: Principal, id: string): Promise<OrganizationView> {
    const visible =
      hasRole(principal, 'admin') || (principal.kind === 'user' && principal.organizationId === id);
    const row = visible ? await this.organizations.find(id) : null;
    if (!row) throw notFound('Organization', id);
    return organizationView(row);
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
