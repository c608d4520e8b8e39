import { Injectable } from '@nestjs/common';
import { CreateOrganizationUseCase, OrganizationQueries, type OrganizationView } from '#application';
import { DomainError, isDomainError, validateTaxIdentity, type TaxIdentity } from '#domain';
import type { Principal } from '../auth/principal.js';
import type { Page } from '../common/pagination.js';
import type { CreateOrganizationRequest } from './dto/create-organization.request.js';
import type { ListOrganizationsQuery } from './dto/list-organizations.request.js';
import type { OrganizationResponse } from './dto/organization.response.js';
import { isCapitalArea, type KoreanRegion } from './regions.js';

const TAX_ID_FIELD = 'businessRegistrationNumber';

/** The organizations endpoints over the identity use cases (libs/application/src/identity). */
@Injectable()
export class OrganizationsService {
  constructor(
    private readonly createOrganization: CreateOrganizationUseCase,
    private readonly queries: OrganizationQueries,
  ) {}

  async create(
    principal: Principal,
    input: CreateOrganizationRequest,
    requestId: string | null,
  ): Promise<OrganizationResponse> {
    const taxIdentity =
      input.businessRegistrationNumber === undefined ? null : taxIdentityOf(input.businessRegistrationNumber);
    const created = await this.createOrganization.execute(
      principal,
      {
        name: input.name,
        type: input.type,
        region: input.region,
        capitalArea: isCapitalArea(input.region),
        taxIdentity,
      },
      requestId,
    );
    return toResponse(created);
  }

  /** Admins see every organization; other users see their own. */
  async list(principal: Principal, query: ListOrganizationsQuery): Promise<Page<OrganizationResponse>> {
    const page = await this.queries.list(principal, { type: query.type, region: query.region }, query);
    return { items: page.items.map(toResponse), nextCursor: page.nextCursor };
  }

  async get(principal: Principal, id: string): Promise<OrganizationResponse> {
    return toResponse(await this.queries.get(principal, id));
  }
}

/** Regions are stored as the request's slugs (the request schema admits only those). */
function toResponse(view: OrganizationView): OrganizationResponse {
  return { ...view, region: view.region as KoreanRegion };
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
