import { Module } from '@nestjs/common';
import { CapacityRepository, NodeRepository, TypeormNodeRepository } from '#persistence';
import { WorkloadsApplicationModule } from '../workloads/workloads.module.js';
import { CapacityQueries } from './capacity.queries.js';
import { ChangeNodeStateUseCase } from './change-node-state.use-case.js';
import { NodeQueries } from './node.queries.js';

const useCases = [CapacityQueries, NodeQueries, ChangeNodeStateUseCase];

/**
 * The GPU pool's nodes and capacity (needs PersistenceModule and the queues' JobProducer; ending
 * the workloads of a node that goes down is the workloads feature's EndAttemptUseCase, and its PartitionRepository).
 */
@Module({
  imports: [WorkloadsApplicationModule],
  providers: [...useCases, CapacityRepository, { provide: NodeRepository, useClass: TypeormNodeRepository }],
  exports: useCases,
})
export class PoolApplicationModule {}
