import { Controller, Get, HttpCode, HttpStatus, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, RequestId, Roles } from '../auth/decorators.js';
import type { Principal } from '../auth/principal.js';
import { reconciliationResponse } from './dto/reconciliation.response.js';
import { ReconciliationService } from './reconciliation.service.js';

@ApiTags('operations')
@ApiBearerAuth()
@Controller('v1/admin/reconciliation')
export class ReconciliationController {
  constructor(private readonly reconciliation: ReconciliationService) {}

  @Roles('admin', 'operator')
  @Get()
  @ApiOperation({
    summary:
      'The latest ledger and usage reconciliation report (admin, operator); `report` is null before the first run',
  })
  @ApiOkResponse({ standardSchema: reconciliationResponse })
  latest() {
    return this.reconciliation.latest();
  }

  @Roles('admin')
  @Post()
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary:
      'Reconcile now (admin): balances vs entries, daily rollups vs records, usage postings vs records',
    description: 'Read-only apart from the report it writes and returns; nothing is repaired.',
  })
  @ApiOkResponse({ standardSchema: reconciliationResponse })
  run(@CurrentPrincipal() principal: Principal, @RequestId() requestId: string | null) {
    return this.reconciliation.run(principal, requestId);
  }
}
