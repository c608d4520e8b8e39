import { allocationAccount, type Principal } from '#domain';
import type { ReservationRepository } from '#persistence';
import type { JobProducer } from '#queues';
import {
  FakeJobProducer,
  FakeLedgerRepository,
  FakeNotificationsRepository,
  FakeRecallRepository,
} from '../../../../test/fakes/planning.fakes.js';
import { FakeTransactionRunner } from '../../../../test/fakes/transaction-runner.fake.js';
import { DecideRecallUseCase } from './decide-recall.use-case.js';
import { ReleaseReservedServersUseCase } from './release-reserved-servers.use-case.js';

const admin: Principal = {
  kind: 'user',
  userId: 'admin-1',
  email: 'admin@test.gpupool.kr',
  roles: ['admin'],
  organizationId: null,
  agencyCode: null,
};
const token: Principal = { kind: 'api_token', tokenId: 't1', scopes: [], createdBy: 'admin-1' };
const NOW = new Date('2026-03-10T00:00:00.000Z');

function setup() {
  const transactions = new FakeTransactionRunner();
  const recalls = new FakeRecallRepository();
  const ledger = new FakeLedgerRepository();
  const notifications = new FakeNotificationsRepository();
  const producer = new FakeJobProducer();
  // Budget recalls never release servers: a release that is reached fails the test.
  const release = new ReleaseReservedServersUseCase(
    transactions,
    null as unknown as ReservationRepository,
    producer as unknown as JobProducer,
  );
  const useCase = new DecideRecallUseCase(
    transactions,
    recalls,
    ledger,
    notifications,
    release,
    producer as unknown as JobProducer,
  );
  recalls.allocations.set('alloc-1', {
    id: 'alloc-1',
    projectId: 'proj-1',
    programId: 'prog-1',
    gpuModel: 'H100',
  });
  recalls.proposals.set('p1', {
    id: 'p1',
    allocationId: 'alloc-1',
    programId: 'prog-1',
    ruleId: 'day-30',
    gpuSeconds: 1_000_000n,
    status: 'proposed',
    decidedAt: null,
    servers: null,
    serversHeld: null,
    recalledGpuSeconds: null,
  });
  return { transactions, recalls, ledger, notifications, producer, useCase };
}

const command = (proposalId: string, principal: Principal = admin) => ({
  principal,
  requestId: 'req-1',
  proposalId,
});

describe('DecideRecallUseCase', () => {
  it('confirms a budget recall: posts the proposal once, marks it confirmed, tells the project, audits', async () => {
    const { recalls, ledger, notifications, producer, useCase } = setup();
    ledger.accounts.set(allocationAccount('alloc-1'), 5_000_000n);
    const { proposal, decision } = await useCase.confirm(command('p1'), NOW);

    expect(decision).toEqual({ recalledGpuSeconds: 1_000_000n, deliveryIds: ['delivery-1'] });
    expect(proposal.status).toBe('confirmed');
    expect(ledger.posted).toHaveLength(1);
    expect(ledger.posted[0].idempotencyKey).toBe('recall:p1');
    expect(ledger.accounts.get(allocationAccount('alloc-1'))).toBe(4_000_000n);
    expect(notifications.recorded).toEqual([
      expect.objectContaining({
        kind: 'recall_confirmed',
        dedupeKey: 'recall_confirmed:p1',
        projectId: 'proj-1',
      }),
    ]);
    expect(recalls.audits).toEqual([
      expect.objectContaining({
        action: 'recall.confirmed',
        actorId: 'admin-1',
        actorKind: 'user',
        before: { status: 'proposed', proposedGpuSeconds: '1000000' },
        after: { status: 'confirmed', recalledGpuSeconds: 1_000_000n },
        requestId: 'req-1',
      }),
    ]);
    // Only the webhook: a budget recall releases no servers, so nothing is re-planned.
    expect(producer.jobs).toEqual([{ name: 'webhook.deliver', data: { deliveryId: 'delivery-1' } }]);
  });

  it('caps the recall at the balance, and confirms 0 without posting when nothing is left', async () => {
    const capped = setup();
    capped.ledger.accounts.set(allocationAccount('alloc-1'), 300_000n);
    expect((await capped.useCase.confirm(command('p1'), NOW)).decision.recalledGpuSeconds).toBe(300_000n);
    expect(capped.notifications.recorded[0].body).toContain('were unused');

    const empty = setup();
    expect((await empty.useCase.confirm(command('p1'), NOW)).decision.recalledGpuSeconds).toBe(0n);
    expect(empty.ledger.posted).toEqual([]);
    expect(empty.notifications.recorded[0].body).toContain('nothing was recalled');
  });

  it('refuses a second decision with ILLEGAL_TRANSITION and changes nothing more', async () => {
    const { ledger, recalls, useCase, transactions } = setup();
    ledger.accounts.set(allocationAccount('alloc-1'), 5_000_000n);
    await useCase.confirm(command('p1'), NOW);
    await expect(useCase.confirm(command('p1'), NOW)).rejects.toMatchObject({
      code: 'ILLEGAL_TRANSITION',
      details: { status: 'confirmed', action: 'confirm' },
    });
    await expect(useCase.dismiss(command('p1'), NOW)).rejects.toMatchObject({
      code: 'ILLEGAL_TRANSITION',
      details: { status: 'confirmed', action: 'dismiss' },
    });
    expect(ledger.posted).toHaveLength(1);
    expect(recalls.audits).toHaveLength(1);
    expect(transactions.runs.map((run) => run.outcome)).toEqual(['committed', 'rolled back', 'rolled back']);
  });

  it('dismisses without taking anything, audited; then confirm is refused', async () => {
    const { ledger, notifications, recalls, useCase } = setup();
    ledger.accounts.set(allocationAccount('alloc-1'), 5_000_000n);
    const dismissed = await useCase.dismiss(command('p1'), NOW);
    expect(dismissed.status).toBe('dismissed');
    expect(recalls.audits).toEqual([
      expect.objectContaining({
        action: 'recall.dismissed',
        before: { status: 'proposed' },
        after: { status: 'dismissed' },
      }),
    ]);
    await expect(useCase.confirm(command('p1'), NOW)).rejects.toMatchObject({ code: 'ILLEGAL_TRANSITION' });
    expect(ledger.posted).toEqual([]);
    expect(notifications.recorded).toEqual([]);
  });

  it('refuses an unknown proposal (404) and a principal that is not a signed-in user (403)', async () => {
    const { useCase, transactions } = setup();
    await expect(useCase.confirm(command('missing'), NOW)).rejects.toMatchObject({ kind: 'not_found' });
    await expect(useCase.dismiss(command('missing'), NOW)).rejects.toMatchObject({ kind: 'not_found' });
    await expect(useCase.confirm(command('p1', token), NOW)).rejects.toMatchObject({
      kind: 'forbidden',
      code: 'USER_REQUIRED',
    });
    // The token is refused before any transaction opens.
    expect(transactions.runs).toHaveLength(2);
  });

  it('confirms a server recall: releases the least busy servers, returns their server time, re-plans', async () => {
    const { recalls, ledger, producer, transactions, notifications } = setup();
    const released: { nodeIds: readonly string[] | null; at: Date }[] = [];
    const release = new (class extends ReleaseReservedServersUseCase {
      override releaseWithin(
        _tx: unknown,
        allocationId: string,
        nodeIds: readonly string[] | null,
        at: Date,
      ) {
        released.push({ nodeIds, at });
        return Promise.resolve({
          allocationId,
          gpuModel: 'H100',
          releasedNodeIds: [...(nodeIds ?? [])],
          fullyReleased: false,
        });
      }
    })(transactions, null as unknown as ReservationRepository, producer as unknown as JobProducer);
    const useCase = new DecideRecallUseCase(
      transactions,
      recalls,
      ledger,
      notifications,
      release,
      producer as unknown as JobProducer,
    );
    recalls.proposals.set('p2', {
      ...recalls.proposals.get('p1')!,
      id: 'p2',
      gpuSeconds: 0n,
      servers: 1,
      serversHeld: 2,
    });
    const endsAt = new Date(NOW.getTime() + 10 * 86_400_000);
    recalls.held.set('alloc-1', [
      { nodeId: 'n1', gpus: 8, startsAt: new Date(0), endsAt, busyGpus: 8 },
      { nodeId: 'n2', gpus: 8, startsAt: new Date(0), endsAt, busyGpus: 0 },
    ]);
    ledger.accounts.set(allocationAccount('alloc-1'), 10n ** 12n);

    const { decision } = await useCase.confirm(command('p2'), NOW);

    expect(released).toEqual([{ nodeIds: ['n2'], at: NOW }]);
    expect(decision.recalledGpuSeconds).toBe(8n * 10n * 86_400n);
    expect(decision.release).toEqual({ gpuModel: 'H100', at: NOW, releasedNodeIds: ['n2'] });
    expect(producer.jobs).toEqual([
      { name: 'webhook.deliver', data: { deliveryId: 'delivery-1' } },
      { name: 'planning.replan', data: { gpuModel: 'H100' } },
      { name: 'schedule.cycle', data: { gpuModel: 'H100' } },
    ]);
  });
});
