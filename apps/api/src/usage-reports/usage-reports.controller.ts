import { Controller, Get, Param, Query } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiForbiddenResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { UsageReportQueries } from '#application';
import { CurrentPrincipal } from '../auth/decorators.js';
import type { Principal } from '../auth/principal.js';
import { idParams } from '../common/ids.js';
import {
  allocationUsageQuery,
  usageQuery,
  type AllocationUsageQuery,
  type UsageQuery,
} from './dto/usage-report.request.js';
import { allocationUsageResponse, usageReportResponse } from './dto/usage-report.response.js';

const PERIODS =
  'Periods are Asia/Seoul calendar days (`YYYY-MM-DD`) or months (`YYYY-MM`, the billing periods). ' +
  '`from` (inclusive) and `to` (exclusive) are Seoul days written YYYY-MM-DD; a month view of a range ' +
  'that starts or ends mid-month covers only its days. A record crossing midnight is split at it.';

@ApiTags('usage')
@ApiBearerAuth()
@Controller('v1')
export class UsageReportsController {
  constructor(private readonly usage: UsageReportQueries) {}

  @Get('allocations/:id/usage')
  @ApiOperation({
    summary: "An allocation's metered usage per day or month (members, admins, operators, finance)",
    description: PERIODS,
  })
  @ApiOkResponse({ standardSchema: allocationUsageResponse })
  @ApiNotFoundResponse({ description: 'Unknown, or an allocation the caller may not read.' })
  allocationUsage(
    @CurrentPrincipal() principal: Principal,
    @Param({ schema: idParams }) params: { id: string },
    @Query({ schema: allocationUsageQuery }) query: AllocationUsageQuery,
  ) {
    return this.usage.allocationUsage(principal, params.id, query);
  }

  @Get('usage')
  @ApiOperation({
    summary: 'Usage per period, grouped by allocation, project, program or GPU model',
    description:
      `${PERIODS} Members must name a project they belong to (projectId); admins, operators and finance ` +
      'users may query by program or GPU model (finance users of an agency: its programs). Paginated over ' +
      '(period, key) with limit (default 1000) and cursor; `total` covers every page.',
  })
  @ApiOkResponse({ standardSchema: usageReportResponse })
  @ApiForbiddenResponse({ description: 'PROJECT_REQUIRED: a member must give projectId.' })
  @ApiNotFoundResponse({ description: 'A projectId the caller may not see.' })
  report(@CurrentPrincipal() principal: Principal, @Query({ schema: usageQuery }) query: UsageQuery) {
    return this.usage.report(principal, query);
  }
}
