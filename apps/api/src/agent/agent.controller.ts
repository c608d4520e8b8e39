import { Body, Controller, HttpCode, HttpStatus, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ReportAgentEventUseCase } from '#application';
import { DomainError } from '#domain';
import { CurrentPrincipal, RequestId, Scopes } from '../auth/decorators.js';
import type { Principal } from '../auth/principal.js';
import { idParams } from '../common/ids.js';
import {
  workloadEventBody,
  workloadEventResponse,
  type WorkloadEventBody,
  type WorkloadEventResponse,
} from './dto/workload-event.request.js';
import { RateLimitGroup } from '../rate-limit/rate-limit.decorators.js';

/** The cluster agents' side of the API: API tokens with scope `agent` only. */
@ApiTags('agent')
@ApiBearerAuth()
@Scopes('agent')
// Machine traffic: its volume follows the clusters, so it is exempt from the per-principal write limit.
@RateLimitGroup('ingest')
@Controller('v1/agent')
export class AgentController {
  constructor(private readonly reportEvent: ReportAgentEventUseCase) {}

  @Post('workloads/:id/events')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Report that an attempt started or ended (cluster agents, API token with scope `agent`)',
    description:
      'Idempotent and fenced by attempt: an event for an older attempt, or for a state the workload has ' +
      'already left, answers 200 with `applied: false` and changes nothing, so agents may resend freely.',
  })
  @ApiOkResponse({ standardSchema: workloadEventResponse })
  async report(
    @CurrentPrincipal() principal: Principal,
    @RequestId() requestId: string | null,
    @Param({ schema: idParams }) params: { id: string },
    @Body({ schema: workloadEventBody }) body: WorkloadEventBody,
  ): Promise<WorkloadEventResponse> {
    // Without @Roles the guard lets any user through: agent events come from machines only.
    if (principal.kind !== 'api_token') {
      throw new DomainError(
        'forbidden',
        'AGENT_TOKEN_REQUIRED',
        'Workload events are reported by cluster agents with an API token of scope "agent".',
      );
    }
    return this.reportEvent.execute(principal, requestId, params.id, body);
  }
}
