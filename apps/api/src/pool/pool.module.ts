import { Module } from '@nestjs/common';
import { PoolApplicationModule } from '#application';
import { CapacityController } from './capacity.controller.js';
import { CapacityService } from './capacity.service.js';
import { ClustersController } from './clusters.controller.js';
import { ClustersService } from './clusters.service.js';
import { NodesController } from './nodes.controller.js';
import { NodesService } from './nodes.service.js';

/** The GPU pool: sites, clusters, node pools and nodes (operators), and its capacity (everyone). */
@Module({
  imports: [PoolApplicationModule],
  controllers: [ClustersController, NodesController, CapacityController],
  providers: [ClustersService, NodesService, CapacityService],
})
export class PoolModule {}
