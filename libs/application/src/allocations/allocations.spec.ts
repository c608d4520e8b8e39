import { DomainError, type Principal, type Role } from '#domain';
import {
  FakeAllocationRepository,
  FakeStopAllocationWorkloads,
} from '../../../../test/fakes/allocations.fakes.js';
import { FakeAuditRepository } from '../../../../test/fakes/audit-repository.fake.js';
import { FakeJobProducer } from '../../../../test/fakes/job-producer.fake.js';
import { FakeNotifications } from '../../../../test/fakes/notifications.fake.js';
import { projectAccessWithMembers } from '../../../../test/fakes/requests.fakes.js';
import { FakeTransactionRunner } from '../../../../test/fakes/transaction-runner.fake.js';
import { FakePartitionRepository, makeAllocation } from '../../../../test/fakes/workloads.fakes.js';
import { FakeProjectMembershipRepository } from '../../../../test/fakes/directory.fakes.js';
import { AllocationReadAccess } from './allocation-read-access.js';
import { ChangeAllocationStatusUseCase } from './change-allocation-status.use-case.js';

function person(userId: string, roles: Role[] = [], agencyCode: string | null = null): Principal {
  return { kind: 'user', userId, email: `${userId}@example.kr`, roles, organizationId: null, agencyCode };
}

const admin = { principal: person('u-admin', ['admin']), requestId: 'req-1' };

function statusHarness() {
  const allocations = new FakeAllocationRepository().add(
    makeAllocation({ id: 'a-1', programId: 'g-1', status: 'active', statusReason: null }),
  );
  const steps: string[] = [];
  const partitions = new FakePartitionRepository(steps);
  const audit = new FakeAuditRepository();
  const notifications = new FakeNotifications();
  const stop = new FakeStopAllocationWorkloads();
  const producer = new FakeJobProducer();
  const useCase = new ChangeAllocationStatusUseCase(
    new FakeTransactionRunner(),
    allocations,
    partitions,
    audit,
    notifications,
    stop,
    producer,
  );
  return { allocations, partitions, steps, audit, notifications, stop, producer, useCase };
}

describe('ChangeAllocationStatusUseCase', () => {
  it('suspends an active allocation under its partition lock, audits and tells the project', async () => {
    const h = statusHarness();
    await h.useCase.suspend(admin, 'a-1', 'billing dispute');
    expect(h.steps).toEqual(['lock partition H200']);
    expect(h.allocations.rows.get('a-1')).toMatchObject({
      status: 'suspended',
      statusReason: 'suspended: billing dispute',
      statusChangedAt: h.allocations.now,
    });
    expect(h.audit.actions()).toEqual(['allocation.suspended']);
    expect(h.notifications.keys()).toEqual([`allocation_suspended:a-1:${h.allocations.now.toISOString()}`]);
    expect(h.notifications.recorded[0]?.body).toContain('Running workloads may finish.');
    expect(h.stop.calls).toEqual([]);
    expect(h.producer.jobs.map((job) => job.name)).toEqual(['webhook.deliver']);
  });

  it("stops the running work after commit when the program's policy is stop", async () => {
    const h = statusHarness();
    h.allocations.onExhaustion.set('g-1', 'stop');
    h.stop.stopped = [{ workloadId: 'w-1', attempt: 1, gpuModel: 'H200', reason: 'x' }];
    await h.useCase.suspend(admin, 'a-1', 'abuse');
    expect(h.stop.calls).toEqual([{ allocationId: 'a-1', reason: 'allocation suspended: abuse' }]);
    expect(h.producer.jobs.map((job) => job.name)).toEqual([
      'webhook.deliver',
      'dispatch.cancel',
      'schedule.cycle',
    ]);
  });

  it('refuses to suspend an allocation that is not active (409 ILLEGAL_TRANSITION), writing nothing', async () => {
    const h = statusHarness();
    h.allocations.add(makeAllocation({ id: 'a-1', status: 'exhausted', statusReason: 'used up' }));
    const error = await h.useCase.suspend(admin, 'a-1', 'x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({ kind: 'conflict', code: 'ILLEGAL_TRANSITION' });
    expect((error as DomainError).message).toContain('(used up)');
    expect(h.audit.events).toEqual([]);
    expect(h.producer.jobs).toEqual([]);
  });

  it('is a 404 for an unknown allocation', async () => {
    const h = statusHarness();
    await expect(h.useCase.resume(admin, 'a-404', undefined)).rejects.toMatchObject({ kind: 'not_found' });
  });

  it('resumes a suspended allocation, marks its partition dirty and schedules a cycle', async () => {
    const h = statusHarness();
    h.allocations.add(makeAllocation({ id: 'a-1', status: 'suspended' }));
    await h.useCase.resume(admin, 'a-1', 'paid');
    expect(h.allocations.rows.get('a-1')).toMatchObject({ status: 'active', statusReason: 'resumed: paid' });
    expect(h.partitions.dirty).toEqual(['H200']);
    expect(h.audit.actions()).toEqual(['allocation.resumed']);
    expect(h.producer.jobs).toEqual([
      {
        name: 'webhook.deliver',
        data: { deliveryId: `d:allocation_resumed:a-1:${h.allocations.now.toISOString()}` },
      },
      { name: 'schedule.cycle', data: { gpuModel: 'H200' } },
    ]);
  });

  it('refuses to resume an allocation whose window has ended', async () => {
    const h = statusHarness();
    h.allocations.add(
      makeAllocation({ id: 'a-1', status: 'suspended', endsAt: new Date('2026-05-31T00:00:00Z') }),
    );
    await expect(h.useCase.resume(admin, 'a-1', undefined)).rejects.toMatchObject({
      code: 'ILLEGAL_TRANSITION',
      details: { action: 'resume' },
    });
    expect(h.partitions.dirty).toEqual([]);
  });

  it('still succeeds when Redis is down after commit (the reconcilers recover the jobs)', async () => {
    const h = statusHarness();
    h.producer.failing = true;
    await h.useCase.suspend(admin, 'a-1', 'x');
    expect(h.allocations.rows.get('a-1')?.status).toBe('suspended');
  });
});

describe('AllocationReadAccess', () => {
  function readHarness() {
    const { access, store } = projectAccessWithMembers();
    const allocations = new FakeAllocationRepository().add(
      makeAllocation({ id: 'a-1', projectId: 'p-1', programId: 'g-1' }),
    );
    allocations.agencyPrograms.set('g-1', 'NRF');
    const reads = new AllocationReadAccess(access, new FakeProjectMembershipRepository(store), allocations);
    return { reads };
  }

  it('lets admins, operators and finance users without an agency read everything', () => {
    const { reads } = readHarness();
    expect(reads.scopeOf(person('u-admin', ['admin']))).toEqual({ kind: 'all' });
    expect(reads.scopeOf(person('u-ops', ['operator']))).toEqual({ kind: 'all' });
    expect(reads.scopeOf(person('u-fin', ['finance']))).toEqual({ kind: 'all' });
  });

  it('scopes everyone else to their projects (the project scope), widened by an agency for its finance users', () => {
    const { reads } = readHarness();
    expect(reads.scopeOf(person('u-x'))).toEqual({
      kind: 'scoped',
      projects: { kind: 'member', userId: 'u-x', piOnly: false },
      agencyCode: null,
    });
    expect(reads.scopeOf(person('u-fin', ['finance'], 'NRF'))).toMatchObject({
      kind: 'scoped',
      agencyCode: 'NRF',
    });
    expect(reads.scopeOf({ kind: 'api_token', tokenId: 't', scopes: ['agent'], createdBy: 'u' })).toEqual({
      kind: 'scoped',
      projects: { kind: 'none' },
      agencyCode: null,
    });
  });

  it("lets members read their project's allocation and agency finance their programs'; others get 404", async () => {
    const { reads } = readHarness();
    await expect(reads.readable(person('u-member'), 'a-1')).resolves.toMatchObject({ id: 'a-1' });
    await expect(reads.readable(person('u-fin', ['finance'], 'NRF'), 'a-1')).resolves.toMatchObject({
      id: 'a-1',
    });
    await expect(reads.readable(person('u-fin', ['finance'], 'KISTI'), 'a-1')).rejects.toMatchObject({
      kind: 'not_found',
    });
    await expect(reads.readable(person('u-stranger'), 'a-1')).rejects.toMatchObject({ kind: 'not_found' });
  });
});
