import { Body, Controller, Get, HttpCode, HttpStatus, Param, Post } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { IngestUsageBatchUseCase, UsageBatchQueries } from '#application';
import { CurrentPrincipal, MachinesOnly, Roles, Scopes } from '../auth/decorators.js';
import type { Principal } from '../auth/principal.js';
import { InjectConfig, type GpupoolConfig } from '../common/config.provider.js';
import { idParams } from '../common/ids.js';
import {
  usageBatchResponse,
  usageRecordsBody,
  usageRecordsResponse,
  type UsageBatchResponse,
  type UsageRecordsBody,
  type UsageRecordsResponse,
} from './dto/usage-records.request.js';
import { RateLimitGroup } from '../rate-limit/rate-limit.decorators.js';

/** Metered usage from cluster agents (API tokens with scope `usage:write`), and its batches. */
@ApiTags('usage')
@ApiBearerAuth()
// Machine traffic: its volume follows the clusters, so it is exempt from the per-principal write limit.
@RateLimitGroup('ingest')
@Controller('v1/usage')
export class UsageIngestController {
  constructor(
    private readonly ingestUsage: IngestUsageBatchUseCase,
    private readonly batches: UsageBatchQueries,
    @InjectConfig() private readonly config: GpupoolConfig,
  ) {}

  @Post('records')
  @Scopes('usage:write')
  @MachinesOnly()
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary:
      'Send metered usage records (meters and cluster agents only: an API token with scope `usage:write`; user sessions get 403 API_TOKEN_REQUIRED)',
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
  ): Promise<UsageRecordsResponse> {
    return this.ingestUsage.execute({
      principal,
      futureToleranceMs: this.config.USAGE_FUTURE_TOLERANCE_MS,
      records: body.records.map((record) => ({
        source: record.source,
        externalId: record.externalId,
        allocationId: record.allocationId,
        workloadId: record.workloadId ?? null,
        attempt: record.attempt ?? null,
        gpuModel: record.gpuModel,
        gpus: record.gpus,
        startedAt: new Date(record.startedAt),
        endedAt: new Date(record.endedAt),
      })),
    });
  }

  @Get('batches/:id')
  @Scopes('usage:write')
  @Roles('admin', 'operator')
  @ApiOperation({ summary: 'Whether a batch of usage records has been posted to the ledger' })
  @ApiOkResponse({ standardSchema: usageBatchResponse })
  async batch(@Param({ schema: idParams }) params: { id: string }): Promise<UsageBatchResponse> {
    const batch = await this.batches.batch(params.id);
    return {
      id: batch.id,
      recordCount: batch.recordCount,
      acceptedCount: batch.acceptedCount,
      receivedAt: batch.receivedAt.toISOString(),
      postedAt: batch.postedAt ? batch.postedAt.toISOString() : null,
    };
  }
}
