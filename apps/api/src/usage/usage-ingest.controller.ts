import { Body, Controller, Get, HttpCode, HttpStatus, Param, Post } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, Roles, Scopes } from '../auth/decorators.js';
import type { Principal } from '../auth/principal.js';
import { idParams } from '../common/ids.js';
import {
  usageBatchResponse,
  usageRecordsBody,
  usageRecordsResponse,
  type UsageRecordsBody,
} from './dto/usage-records.request.js';
import { UsageIngestService } from './usage-ingest.service.js';

/** Metered usage from cluster agents (API tokens with scope `usage:write`), and its batches. */
@ApiTags('usage')
@ApiBearerAuth()
@Controller('v1/usage')
export class UsageIngestController {
  constructor(private readonly usage: UsageIngestService) {}

  @Post('records')
  @Scopes('usage:write')
  @Roles('admin', 'operator')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary: 'Send metered usage records (cluster agents: API token with scope `usage:write`)',
    description:
      'Up to 10,000 records per call. Each record is checked on its own: the answer lists what was ' +
      'accepted, what was already stored (a re-send counts once, by source + externalId) and what was ' +
      'rejected, by index, with a reason. Accepted records reach the ledger and the usage rollups ' +
      'shortly after (posted in bulk by a queued job; `batchId` tells when).',
  })
  @ApiAcceptedResponse({ standardSchema: usageRecordsResponse })
  ingest(
    @CurrentPrincipal() principal: Principal,
    @Body({ schema: usageRecordsBody }) body: UsageRecordsBody,
  ) {
    return this.usage.ingest(principal, body);
  }

  @Get('batches/:id')
  @Scopes('usage:write')
  @Roles('admin', 'operator')
  @ApiOperation({ summary: 'Whether a batch of usage records has been posted to the ledger' })
  @ApiOkResponse({ standardSchema: usageBatchResponse })
  batch(@Param({ schema: idParams }) params: { id: string }) {
    return this.usage.batch(params.id);
  }
}
