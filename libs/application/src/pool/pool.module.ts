import { Module } from '@nestjs/common';
import {
  CapacityRepository,
  ClusterRepository,
  NodeRepository,
  TypeormClusterRepository,
  TypeormNodeRepository,
} from '#persistence';
import { WorkloadsApplicationModule } from '../workloads/workloads.module.js';
import { CapacityQueries } from './capacity.queries.js';
import { ClusterQueries } from './cluster.queries.js';
import { ChangeNodeStateUseCase } from './change-node-state.use-case.js';
import { NodeQueries } from './node.queries.js';
import { RegisterClusterUseCase } from './register-cluster.use-case.js';

const useCases = [
  CapacityQueries,
  NodeQueries,
  ChangeNodeStateUseCase,
  RegisterClusterUseCase,
  ClusterQueries,
];

/**
 * The GPU pool's sites, clusters, nodes and capacity (needs PersistenceModule and the queues' JobProducer; ending
 * the workloads of a node that goes down is the workloads feature's EndAttemptUseCase, and its PartitionRepository).
 */
@Module({
  imports: [WorkloadsApplicationModule],
  providers: [
    ...useCases,
    CapacityRepository,
    { provide: NodeRepository, useClass: TypeormNodeRepository },
    { provide: ClusterRepository, useClass: TypeormClusterRepository },
  ],
  exports: useCases,
})
export class PoolApplicationModule {}
