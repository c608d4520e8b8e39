import type { DataSource } from 'typeorm';
import {
  CancelWorkloadUseCase,
  DispatchWorkloadUseCase,
  EndAttemptUseCase,
  EndLostRunsUseCase,
  ProjectAccess,
  ReportAgentEventUseCase,
  StopAllocationWorkloadsUseCase,
  SubmissionCheck,
  type ClusterAdapter,
} from '../../libs/application/src/index.js';
import {
  LedgerRepository,
  ProjectMembershipRepository,
  TypeormAgentHeartbeatRepository,
  TypeormAttemptHoldRepository,
  TypeormAuditRepository,
  TypeormPartitionRepository,
  TypeormTransactionRunner,
  TypeormWorkloadPlacementRepository,
  TypeormWorkloadRepository,
} from '../../libs/persistence/src/index.js';
import type { JobProducer } from '../../libs/queues/src/index.js';

/** A producer for use cases whose jobs a test does not look at. */
const NO_JOBS = {
  enqueue: () => Promise.resolve(),
  enqueueMany: () => Promise.resolve(),
} as unknown as JobProducer;

/**
 * The workload use cases over a test's own DataSource, wired as the scheduler wires them, for
 * integration tests that drive services in process.
 */
export function workloadUseCases(
  dataSource: DataSource,
  adapters: ClusterAdapter[] = [],
  producer: JobProducer = NO_JOBS,
) {
  const transactions = new TypeormTransactionRunner(dataSource);
  const workloads = new TypeormWorkloadRepository(dataSource);
  const placements = new TypeormWorkloadPlacementRepository(dataSource);
  const partitions = new TypeormPartitionRepository(dataSource);
  const holds = new TypeormAttemptHoldRepository();
  const ledger = new LedgerRepository();
  const audit = new TypeormAuditRepository(dataSource);
  const heartbeats = new TypeormAgentHeartbeatRepository(dataSource);
  const endAttempt = new EndAttemptUseCase(workloads, placements, holds, ledger, partitions);
  const check = new SubmissionCheck(
    workloads,
    placements,
    ledger,
    new ProjectAccess(new ProjectMembershipRepository(dataSource)),
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
    endLostRuns: new EndLostRunsUseCase(transactions, workloads, partitions, endAttempt, heartbeats),
    heartbeats,
    dispatch: new DispatchWorkloadUseCase(workloads, placements, adapters),
    reportAgentEvent: new ReportAgentEventUseCase(
      transactions,
      workloads,
      holds,
      partitions,
      endAttempt,
      audit,
      producer,
    ),
    cancel: new CancelWorkloadUseCase(
      transactions,
      workloads,
      partitions,
      check,
      endAttempt,
      audit,
      producer,
    ),
  };
}
