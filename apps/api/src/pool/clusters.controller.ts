import { Body, Controller, Get, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, RequestId, Roles } from '../auth/decorators.js';
import type { Principal } from '../auth/principal.js';
import { idParams } from '../common/ids.js';
import {
  createClusterRequest,
  listClustersQuery,
  type CreateClusterRequest,
  type ListClustersQuery,
} from './dto/cluster.request.js';
import { clusterPageResponse, clusterResponse } from './dto/cluster.response.js';
import { ClustersService } from './clusters.service.js';

@ApiTags('pool')
@ApiBearerAuth()
@Roles('operator', 'admin')
@Controller('v1/clusters')
export class ClustersController {
  constructor(private readonly clusters: ClustersService) {}

  @Post()
  @ApiOperation({
    summary: 'Register a cluster with its node pools and every node (operator, admin)',
    description:
      'One transaction: the site (created if new), the cluster, its pools and up to 10,000 nodes per pool, ' +
      'all `up`. The GPU models get a scheduling partition and a scheduling cycle. A taken name is 409 ' +
      'CLUSTER_NAME_TAKEN.',
  })
  @ApiCreatedResponse({ standardSchema: clusterResponse })
  create(
    @CurrentPrincipal() principal: Principal,
    @Body({ schema: createClusterRequest }) body: CreateClusterRequest,
    @RequestId() requestId: string | null,
  ) {
    return this.clusters.create(principal, body, requestId);
  }

  @Get()
  @ApiOperation({ summary: 'Clusters, newest first, with their pools and node counts by state' })
  @ApiOkResponse({ standardSchema: clusterPageResponse })
  list(@Query({ schema: listClustersQuery }) query: ListClustersQuery) {
    return this.clusters.list(query);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One cluster with its pools and node counts by state' })
  @ApiOkResponse({ standardSchema: clusterResponse })
  get(@Param({ schema: idParams }) params: { id: string }) {
    return this.clusters.get(params.id);
  }
}
