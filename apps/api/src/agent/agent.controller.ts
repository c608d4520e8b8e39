import { Body, Controller, HttpCode, HttpStatus, Inject, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { RecordAgentHeartbeatUseCase, ReportAgentEventUseCase } from '#application';
import { DomainError } from '#domain';
import { CurrentPrincipal, RequestId, Scopes } from '../auth/decorators.js';
import type { Principal } from '../auth/principal.js';
import { GPUPOOL_CONFIG, type GpupoolConfig } from '../common/config.provider.js';
import { idParams } from '../common/ids.js';
import {
  heartbeatBody,
  heartbeatResponse,
  type HeartbeatBody,
  type HeartbeatResponse,
} from './dto/heartbeat.request.js';
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
  constructor(
    private readonly reportEvent: ReportAgentEventUseCase,
    private readonly heartbeats: RecordAgentHeartbeatUseCase,
    @Inject(GPUPOOL_CONFIG) private readonly config: GpupoolConfig,
  ) {}

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
    requireAgentToken(principal, 'Workload events');
    return this.reportEvent.execute(principal, requestId, params.id, body);
  }

  @Post('heartbeats')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Report the runs a cluster agent has (cluster agents, API token with scope `agent`)',
    description:
      'Send every AGENT_HEARTBEAT_TIMEOUT_MS / 4 or so, listing every attempt the agent runs on the ' +
      'clusters it serves (`adapter`, or `clusterIds`). Listed attempts gpupool still wants are confirmed; ' +
      'the others come back in `stop`. Once a cluster has sent a heartbeat it is watched: a dispatched ' +
      'attempt on it that no heartbeat confirms within `timeoutSeconds` is ended as failed (lost), its ' +
      'usage refunded and its hold released. The first heartbeat after the agent starts carries ' +
      '`resync: true`: started attempts on its clusters that it does not list are ended as lost at once ' +
      '(send it before taking new runs).',
  })
  @ApiOkResponse({ standardSchema: heartbeatResponse })
  async heartbeat(
    @CurrentPrincipal() principal: Principal,
    @Body({ schema: heartbeatBody }) body: HeartbeatBody,
  ): Promise<HeartbeatResponse> {
    requireAgentToken(principal, 'Heartbeats');
    return this.heartbeats.execute(
      {
        clusters: body.clusterIds ? { clusterIds: body.clusterIds } : { adapter: body.adapter ?? '' },
        runs: body.runs,
        resync: body.resync,
        agentStartedAt: body.agentStartedAt === undefined ? undefined : new Date(body.agentStartedAt),
        agent: body.agent,
      },
      this.config.AGENT_HEARTBEAT_TIMEOUT_MS,
    );
  }
}

/** Without @Roles the guard lets any user through: the agent routes serve machines only. */
function requireAgentToken(principal: Principal, what: string): void {
  if (principal.kind !== 'api_token') {
    throw new DomainError(
      'forbidden',
      'AGENT_TOKEN_REQUIRED',
      `${what} are reported by cluster agents with an API token of scope "agent".`,
    );
  }
}
