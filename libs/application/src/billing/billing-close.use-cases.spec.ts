import { conflict, ruleViolated, type Principal } from '#domain';
import { FakeAuditRepository } from '../../../../test/fakes/audit-repository.fake.js';
import { FakeBillingCloseRepository, FakeBillingPeriodCloser } from '../../../../test/fakes/billing.fakes.js';
import { FakeJobProducer } from '../../../../test/fakes/job-producer.fake.js';
import { FakeTransactionRunner } from '../../../../test/fakes/transaction-runner.fake.js';
import { CloseBillingPeriodUseCase, RequestBillingCloseUseCase } from './billing-close.use-cases.js';

const FINANCE: Principal = {
  kind: 'user',
  userId: '00000000-0000-4000-8000-000000000001',
  email: 'f@example.org',
  roles: ['finance'],
  organizationId: null,
  agencyCode: null,
};
const silent = { warn: () => undefined };

function harness() {
  const transactions = new FakeTransactionRunner();
  const closes = new FakeBillingCloseRepository();
  const closer = new FakeBillingPeriodCloser();
  const producer = new FakeJobProducer();
  const audit = new FakeAuditRepository();
  return {
    closes,
    closer,
    producer,
    audit,
    request: new RequestBillingCloseUseCase(transactions, closes, closer, producer, silent),
    run: new CloseBillingPeriodUseCase(transactions, closes, closer, audit),
  };
}

describe('RequestBillingCloseUseCase', () => {
  it('records one queued close and enqueues its job; a repeat answers the same close, no new job', async () => {
    const h = harness();
    const first = await h.request.execute({ principal: FINANCE, period: '2026-03', requestId: 'r1' });
    expect(first.created).toBe(true);
    expect(first.record).toMatchObject({ period: '2026-03', status: 'queued', requestedBy: FINANCE.userId });
    expect(h.producer.jobs).toEqual([{ name: 'billing.close', data: { closeId: first.record.id } }]);
    const again = await h.request.execute({ principal: FINANCE, period: '2026-03', requestId: 'r2' });
    expect(again).toEqual({ record: first.record, created: false });
    expect(h.producer.jobs).toHaveLength(1);
  });

  it('refuses agency finance users and API tokens', async () => {
    const h = harness();
    for (const principal of [
      { ...FINANCE, agencyCode: 'NIPA' },
      { kind: 'api_token', tokenId: 't', scopes: [], createdBy: FINANCE.userId } as Principal,
    ]) {
      await expect(
        h.request.execute({ principal, period: '2026-03', requestId: null }),
      ).rejects.toMatchObject({
        code: 'POOL_FINANCE_REQUIRED',
      });
    }
    expect(h.closes.records.size).toBe(0);
  });

  it('records nothing when the period cannot be closed up front', async () => {
    const h = harness();
    h.closer.refuseWith = conflict('EARLIER_PERIOD_OPEN', 'close 2026-02 first');
    await expect(
      h.request.execute({ principal: FINANCE, period: '2026-03', requestId: null }),
    ).rejects.toMatchObject({ code: 'EARLIER_PERIOD_OPEN' });
    expect(h.closes.records.size).toBe(0);
    expect(h.producer.jobs).toEqual([]);
  });

  it('keeps the close recorded when the enqueue fails (the sweep recovers it)', async () => {
    const h = harness();
    h.producer.failing = true;
    const { record } = await h.request.execute({ principal: FINANCE, period: '2026-03', requestId: null });
    expect(h.closes.records.get(record.id)?.status).toBe('queued');
  });
});

describe('CloseBillingPeriodUseCase', () => {
  async function queued(h: ReturnType<typeof harness>) {
    return (await h.request.execute({ principal: FINANCE, period: '2026-03', requestId: 'req' })).record;
  }

  it('closes once, succeeding the record and auditing inside the closing transaction', async () => {
    const h = harness();
    const record = await queued(h);
    await expect(h.run.execute(record.id, { lastAttempt: false })).resolves.toEqual({
      outcome: 'closed',
      lineCount: 3,
    });
    expect(h.closer.closes).toBe(1);
    expect(h.closes.records.get(record.id)).toMatchObject({
      status: 'succeeded',
      attempts: 1,
      result: { lineCount: 3, correctionLines: 1, refundedGpuSeconds: '7', closedByThisRecord: true },
    });
    expect(h.audit.actions()).toEqual(['billing_period.closed']);
    expect(h.audit.events[0]).toMatchObject({ subjectId: '2026-03', requestId: 'req' });
    // A redelivered job finds the record finished and does nothing.
    await expect(h.run.execute(record.id, { lastAttempt: false })).resolves.toEqual({ outcome: 'skipped' });
    expect(h.closer.closes).toBe(1);
  });

  it('marks the record succeeded without closing again when the period is already closed', async () => {
    const h = harness();
    const record = await queued(h);
    h.closer.states.set('2026-03', 'closed');
    await expect(h.run.execute(record.id, { lastAttempt: false })).resolves.toEqual({
      outcome: 'already_closed',
    });
    expect(h.closer.closes).toBe(0);
    expect(h.closes.records.get(record.id)?.result?.closedByThisRecord).toBe(false);
    expect(h.audit.events).toEqual([]);
  });

  it('fails the close at once on a rule violation, and only on the last attempt otherwise', async () => {
    const h = harness();
    const record = await queued(h);
    h.closer.closeFails = ruleViolated('NO_RATE_CARD', 'no rate card for H100');
    await expect(h.run.execute(record.id, { lastAttempt: false })).resolves.toEqual({
      outcome: 'failed',
      code: 'NO_RATE_CARD',
    });
    expect(h.closes.records.get(record.id)).toMatchObject({ status: 'failed', errorCode: 'NO_RATE_CARD' });

    const busy = harness();
    const other = await queued(busy);
    busy.closer.closeFails = conflict('CLOSE_IN_PROGRESS', 'another close runs');
    await expect(busy.run.execute(other.id, { lastAttempt: false })).rejects.toMatchObject({
      code: 'CLOSE_IN_PROGRESS',
    });
    expect(busy.closes.records.get(other.id)?.status).toBe('running');
    await expect(busy.run.execute(other.id, { lastAttempt: true })).rejects.toThrow('another close runs');
    expect(busy.closes.records.get(other.id)).toMatchObject({
      status: 'failed',
      errorCode: 'CLOSE_IN_PROGRESS',
    });
  });
});
