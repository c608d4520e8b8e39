import { Controller, Get, HttpCode, HttpStatus, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, RequestId, Roles } from '../auth/decorators.js';
import type { Principal } from '../auth/principal.js';
import { ReconcileUsageUseCase } from '#application';
import {
  reconciliationResponse,
  toReconciliationResponse,
  type ReconciliationResponse,
} from './dto/reconciliation.response.js';

@ApiTags('operations')
@ApiBearerAuth()
@Controller('v1/admin/reconciliation')
export class ReconciliationController {
  constructor(private readonly reconciliation: ReconcileUsageUseCase) {}

  @Roles('admin', 'operator')
  @Get()
  @ApiOperation({
    summary:
      'The latest ledger and usage reconciliation report (admin, operator); `report` is null before the first run',
  })
  @ApiOkResponse({ standardSchema: reconciliationResponse })
  async latest(): Promise<ReconciliationResponse> {
    return toReconciliationResponse(await this.reconciliation.latest());
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
  async run(
    @CurrentPrincipal() principal: Principal,
    @RequestId() requestId: string | null,
  ): Promise<ReconciliationResponse> {
    return toReconciliationResponse(await this.reconciliation.runFor(principal, requestId));
  }
}
