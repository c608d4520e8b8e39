import { Body, Controller, Get, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, RequestId, Roles } from '../auth/decorators.js';
import type { Principal } from '../auth/principal.js';
import { idParams } from '../common/ids.js';
import {
  createOrganizationRequest,
  type CreateOrganizationRequest,
} from './dto/create-organization.request.js';
import { listOrganizationsQuery, type ListOrganizationsQuery } from './dto/list-organizations.request.js';
import { organizationPageResponse, organizationResponse } from './dto/organization.response.js';
import { OrganizationsService } from './organizations.service.js';

@ApiTags('organizations')
@ApiBearerAuth()
@Controller('v1/organizations')
export class OrganizationsController {
  constructor(private readonly organizations: OrganizationsService) {}

  @Post()
  @Roles('admin')
  @ApiCreatedResponse({ standardSchema: organizationResponse })
  create(
    @CurrentPrincipal() principal: Principal,
    @Body({ schema: createOrganizationRequest }) body: CreateOrganizationRequest,
    @RequestId() requestId: string | null,
  ) {
    return this.organizations.create(principal, body, requestId);
  }

  @Get()
  @ApiOkResponse({ standardSchema: organizationPageResponse })
  list(
    @CurrentPrincipal() principal: Principal,
    @Query({ schema: listOrganizationsQuery }) query: ListOrganizationsQuery,
  ) {
    return this.organizations.list(principal, query);
  }

  @Get(':id')
  @ApiOkResponse({ standardSchema: organizationResponse })
  get(@CurrentPrincipal() principal: Principal, @Param({ schema: idParams }) params: { id: string }) {
    return this.organizations.get(principal, params.id);
  }
}
