import type { Principal } from '#domain';
import { ProjectAccess } from '../../libs/application/src/access/project-access.js';
import { EndAttemptUseCase } from '../../libs/application/src/workloads/end-attempt.use-case.js';
import { SubmissionCheck } from '../../libs/application/src/workloads/submission-check.js';
import { FakeAuditRepository } from './audit-repository.fake.js';
import { FakeTransactionRunner } from './transaction-runner.fake.js';
import {
  FakeAgentHeartbeatRepository,
  FakeAttemptHoldRepository,
  FakeLedgerRepository,
  FakeMemberships,
  FakePartitionRepository,
  FakeProducer,
  FakeWorkloadPlacementRepository,
  FakeWorkloadRepository,
  type Step,
} from './workloads.fakes.js';

/** The workload ports as fakes sharing one step log, and the shared steps built over them. */
export function workloadHarness() {
  const steps: Step[] = [];
  const workloads = new FakeWorkloadRepository(steps);
  const placements = new FakeWorkloadPlacementRepository(steps);
  const holds = new FakeAttemptHoldRepository(steps);
  const heartbeats = new FakeAgentHeartbeatRepository(workloads);
  const partitions = new FakePartitionRepository(steps);
  const ledger = new FakeLedgerRepository(steps);
  const memberships = new FakeMemberships();
  const access = new ProjectAccess(memberships);
  const audit = new FakeAuditRepository();
  const transactions = new FakeTransactionRunner();
  const producer = new FakeProducer();
  const endAttempt = new EndAttemptUseCase(workloads, placements, holds, ledger, partitions);
  const check = new SubmissionCheck(workloads, placements, ledger, access);
  return {
    steps,
    workloads,
    placements,
    holds,
    heartbeats,
    partitions,
    ledger,
    memberships,
    access,
    audit,
    transactions,
    producer,
    endAttempt,
    check,
  };
}

export function user(userId = 'u-1', roles: ('admin' | 'operator')[] = []): Principal {
  return {
    kind: 'user',
    userId,
    email: `${userId}@example.kr`,
    roles,
    organizationId: null,
    agencyCode: null,
  };
}

export function agentToken(): Principal {
  return { kind: 'api_token', tokenId: 't-1', scopes: ['agent'], createdBy: 'u-9' };
}
