import { Injectable } from '@nestjs/common';
import { ChangeNodeStateUseCase, NodeQueries } from '#application';
import type { Principal } from '../auth/principal.js';
import type { Page } from '../common/pagination.js';
import type { ChangeNodeStateRequest, ListNodesQuery } from './dto/node.request.js';
import type { NodeDetailResponse, NodeResponse, NodeStateChangeResponse } from './dto/node.response.js';

/**
 * Nodes: the operator's list, one node with what runs on it, and state changes (drain, down, up),
 * over the pool use cases (libs/application/src/pool).
 */
@Injectable()
export class NodesService {
  constructor(
    private readonly queries: NodeQueries,
    private readonly changeNodeState: ChangeNodeStateUseCase,
  ) {}

  /** Nodes in name order, keyset over (name, id) so pages stay stable while nodes are added. */
  list(query: ListNodesQuery): Promise<Page<NodeResponse>> {
    return this.queries.list(
      {
        clusterId: query.clusterId,
        nodePoolId: query.nodePoolId,
        gpuModel: query.gpuModel,
        state: query.state,
        interconnectDomain: query.interconnectDomain,
      },
      query,
    );
  }

  get(id: string): Promise<NodeDetailResponse> {
    return this.queries.get(id);
  }

  /** See ChangeNodeStateUseCase: `down` fails what runs on the node; the current state is a no-op. */
  changeState(
    principal: Principal,
    id: string,
    body: ChangeNodeStateRequest,
    requestId: string | null,
  ): Promise<NodeStateChangeResponse> {
    return this.changeNodeState.execute(principal, id, body, requestId);
  }
}
