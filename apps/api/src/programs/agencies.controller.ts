import { Body, Controller, Get, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { CreateAgencyUseCase, ProgramQueries } from '#application';
import { CurrentPrincipal, RequestId, Roles, Scopes } from '../auth/decorators.js';
import type { Principal } from '../auth/principal.js';
import {
  createAgencyRequest,
  listAgenciesQuery,
  type CreateAgencyRequest,
  type ListAgenciesQuery,
} from './dto/agency.request.js';

@ApiTags('programs')
@ApiBearerAuth()
@Controller('v1/agencies')
export class AgenciesController {
  constructor(
    private readonly createAgency: CreateAgencyUseCase,
    private readonly programs: ProgramQueries,
  ) {}

  @Roles('admin')
  @Post()
  create(
    @CurrentPrincipal() principal: Principal,
    @Body({ schema: createAgencyRequest }) body: CreateAgencyRequest,
    @RequestId() requestId: string | null,
  ) {
    return this.createAgency.execute(principal, body, requestId);
  }

  @Scopes('read')
  @Get()
  list(@Query({ schema: listAgenciesQuery }) query: ListAgenciesQuery) {
    return this.programs.agenciesPage(query);
  }
}
