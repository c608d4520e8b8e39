import { Body, Controller, Get, Param, Patch, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, RequestId, Roles } from '../auth/decorators.js';
import type { Principal } from '../auth/principal.js';
import { idParams } from '../common/ids.js';
import {
  changeNodeStateRequest,
  listNodesQuery,
  type ChangeNodeStateRequest,
  type ListNodesQuery,
} from './dto/node.request.js';
import { nodeDetailResponse, nodePageResponse, nodeStateChangeResponse } from './dto/node.response.js';
import { NodesService } from './nodes.service.js';

@ApiTags('pool')
@ApiBearerAuth()
@Roles('operator', 'admin')
@Controller('v1/nodes')
export class NodesController {
  constructor(private readonly nodes: NodesService) {}

  @Get()
  @ApiOperation({ summary: 'Nodes in name order, filtered by cluster, pool, GPU model, state or domain' })
  @ApiOkResponse({ standardSchema: nodePageResponse })
  list(@Query({ schema: listNodesQuery }) query: ListNodesQuery) {
    return this.nodes.list(query);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One node with the admitted and running workloads placed on it' })
  @ApiOkResponse({ standardSchema: nodeDetailResponse })
  get(@Param({ schema: idParams }) params: { id: string }) {
    return this.nodes.get(params.id);
  }

  @Patch(':id')
  @ApiOperation({
    summary: 'Drain, take down or bring up a node (operator, admin)',
    description:
      '`draining` stops new placements; `down` fails the workloads on the node (reason ' +
      '`node_down: <node>: <reason>`), releases their GPUs and holds and cancels them on the cluster; ' +
      '`up` returns the node to service. The same state again is a no-op (200, `changed: false`).',
  })
  @ApiOkResponse({ standardSchema: nodeStateChangeResponse })
  changeState(
    @CurrentPrincipal() principal: Principal,
    @Param({ schema: idParams }) params: { id: string },
    @Body({ schema: changeNodeStateRequest }) body: ChangeNodeStateRequest,
    @RequestId() requestId: string | null,
  ) {
    return this.nodes.changeState(principal, params.id, body, requestId);
  }
}
