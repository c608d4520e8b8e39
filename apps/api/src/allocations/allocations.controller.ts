import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal } from '../auth/decorators.js';
import type { Principal } from '../auth/principal.js';
import { idParams } from '../common/ids.js';
import { AllocationsService } from './allocations.service.js';
import { listAllocationsQuery, type ListAllocationsQuery } from './dto/allocation.request.js';

@ApiTags('allocations')
@ApiBearerAuth()
@Controller('v1/allocations')
export class AllocationsController {
  constructor(private readonly allocations: AllocationsService) {}

  @Get()
  list(
    @CurrentPrincipal() principal: Principal,
    @Query({ schema: listAllocationsQuery }) query: ListAllocationsQuery,
  ) {
    return this.allocations.list(principal, query);
  }

  @Get(':id')
  get(@CurrentPrincipal() principal: Principal, @Param({ schema: idParams }) params: { id: string }) {
    return this.allocations.get(principal, params.id);
  }
}
