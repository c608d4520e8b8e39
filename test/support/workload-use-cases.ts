import type { DataSource } from 'typeorm';
import {
  DispatchWorkloadUseCase,
  EndAttemptUseCase,
  EndLostRunsUseCase,
  StopAllocationWorkloadsUseCase,
  type ClusterAdapter,
} from '../../libs/application/src/index.js';
import {
  LedgerRepository,
  TypeormAttemptHoldRepository,
  TypeormPartitionRepository,
  TypeormTransactionRunner,
  TypeormWorkloadPlacementRepository,
  TypeormWorkloadRepository,
} from '../../libs/persistence/src/index.js';

/**
 * The workload use cases over a test's own DataSource, wired as the scheduler wires them, for
 * integration tests that drive services in process.
 */
export function workloadUseCases(dataSource: DataSource, adapters: ClusterAdapter[] = []) {
  const transactions = new TypeormTransactionRunner(dataSource);
  const workloads = new TypeormWorkloadRepository(dataSource);
  const placements = new TypeormWorkloadPlacementRepository(dataSource);
  const partitions = new TypeormPartitionRepository(dataSource);
  const endAttempt = new EndAttemptUseCase(
    workloads,
    placements,
    new TypeormAttemptHoldRepository(),
    new LedgerRepository(),
    partitions,
  );
  return {
    workloads,
    partitions,
    endAttempt,
    stopAllocationWorkloads: new StopAllocationWorkloadsUseCase(
      transactions,
      workloads,
      partitions,
      endAttempt,
    ),
    endLostRuns: new EndLostRunsUseCase(transactions, workloads, partitions, endAttempt),
    dispatch: new DispatchWorkloadUseCase(workloads, placements, adapters),
  };
}
