import { Injectable } from '@nestjs/common';
import { ClusterQueries, RegisterClusterUseCase } from '#application';
import type { Principal } from '../auth/principal.js';
import type { Page } from '../common/pagination.js';
import type { CreateClusterRequest, ListClustersQuery } from './dto/cluster.request.js';
import type { ClusterResponse } from './dto/cluster.response.js';
import { layoutNodes } from './node-layout.js';

/**
 * Sites, clusters and their node pools: registration (with every node) and the operator's views,
 * over the pool use cases (libs/application/src/pool).
 */
@Injectable()
export class ClustersService {
  constructor(
    private readonly registerCluster: RegisterClusterUseCase,
    private readonly queries: ClusterQueries,
  ) {}

  /** Registers the cluster, its pools and every node (named and spread over domains here). */
  create(
    principal: Principal,
    body: CreateClusterRequest,
    requestId: string | null,
  ): Promise<ClusterResponse> {
    return this.registerCluster.execute(
      principal,
      {
        name: body.name,
        adapter: body.adapter,
        site: body.site,
        nodePools: body.nodePools.map((pool) => ({
          gpuModel: pool.gpuModel,
          gpusPerNode: pool.gpusPerNode,
          layout: layoutNodes(body.name, pool.gpuModel, pool.nodes, pool.interconnectDomains),
        })),
      },
      requestId,
    );
  }

  list(query: ListClustersQuery): Promise<Page<ClusterResponse>> {
    return this.queries.list({ name: query.name, siteCode: query.siteCode }, query);
  }

  get(id: string): Promise<ClusterResponse> {
    return this.queries.get(id);
  }
}
