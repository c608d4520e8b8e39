import { Module } from '@nestjs/common';
import {
  AgentHeartbeatRepository,
  AttemptHoldRepository,
  PartitionRepository,
  TypeormAgentHeartbeatRepository,
  TypeormAttemptHoldRepository,
  TypeormPartitionRepository,
  TypeormWorkloadPlacementRepository,
  TypeormWorkloadRepository,
  WorkloadPlacementRepository,
  WorkloadRepository,
} from '#persistence';
import { RecordAgentHeartbeatUseCase } from './agent-heartbeat.use-case.js';
import { CancelWorkloadUseCase } from './cancel-workload.use-case.js';
import { EndAttemptUseCase } from './end-attempt.use-case.js';
import { EndLostRunsUseCase } from './end-lost-runs.use-case.js';
import { ReportAgentEventUseCase } from './report-agent-event.use-case.js';
import { StopAllocationWorkloadsUseCase } from './stop-allocation-workloads.use-case.js';
import { SubmissionCheck } from './submission-check.js';
import { SubmitBatchUseCase } from './submit-batch.use-case.js';
import { SubmitWorkloadUseCase } from './submit-workload.use-case.js';
import { WorkloadQueries } from './workload-queries.js';

export const WORKLOAD_REPOSITORIES = [
  { provide: WorkloadRepository, useClass: TypeormWorkloadRepository },
  { provide: WorkloadPlacementRepository, useClass: TypeormWorkloadPlacementRepository },
  { provide: AttemptHoldRepository, useClass: TypeormAttemptHoldRepository },
  { provide: PartitionRepository, useClass: TypeormPartitionRepository },
  { provide: AgentHeartbeatRepository, useClass: TypeormAgentHeartbeatRepository },
];

const USE_CASES = [
  SubmitWorkloadUseCase,
  SubmitBatchUseCase,
  CancelWorkloadUseCase,
  WorkloadQueries,
  ReportAgentEventUseCase,
  EndAttemptUseCase,
  StopAllocationWorkloadsUseCase,
  EndLostRunsUseCase,
  RecordAgentHeartbeatUseCase,
];

/**
 * Workloads: submission (single and sweeps), reads, cancellation, the cluster agents' reports and
 * the end of attempts every other path shares. Needs PersistenceModule, AccessModule and a
 * JobProducer in the container. The scheduler's dispatch (DispatchWorkloadUseCase) also needs its
 * cluster adapters under CLUSTER_ADAPTERS, so it is provided by the scheduler, not here.
 */
@Module({
  providers: [...WORKLOAD_REPOSITORIES, SubmissionCheck, ...USE_CASES],
  exports: [...WORKLOAD_REPOSITORIES, ...USE_CASES],
})
export class WorkloadsApplicationModule {}
