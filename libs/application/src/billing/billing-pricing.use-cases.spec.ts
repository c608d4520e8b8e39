import { KOREAN_VOUCHER_POLICY, type Principal } from '#domain';
import { FakeAuditRepository } from '../../../../test/fakes/audit-repository.fake.js';
import { FakeBillingPricingRepository } from '../../../../test/fakes/billing.fakes.js';
import { FakeTransactionRunner } from '../../../../test/fakes/transaction-runner.fake.js';
import { CreateRateCardUseCase, ProgramPricingUseCases } from './billing-pricing.use-cases.js';

const ADMIN: Principal = {
  kind: 'user',
  userId: '00000000-0000-4000-8000-00000000000a',
  email: 'a@example.org',
  roles: ['admin'],
  organizationId: null,
  agencyCode: null,
};
const AGENCY_FINANCE: Principal = { ...ADMIN, roles: ['finance'], agencyCode: 'NIPA' };
const PROGRAM = '00000000-0000-4000-8000-0000000000b1';

function harness() {
  const transactions = new FakeTransactionRunner();
  const pricing = new FakeBillingPricingRepository();
  const audit = new FakeAuditRepository();
  pricing.programs.set(PROGRAM, { id: PROGRAM, agencyCode: 'KISTI', subsidyRates: { university: 7000 } });
  return {
    transactions,
    pricing,
    audit,
    create: new CreateRateCardUseCase(transactions, pricing, audit),
    programPricing: new ProgramPricingUseCases(transactions, pricing, audit),
  };
}

const card = (effectiveFrom: string) => ({
  principal: ADMIN,
  gpuModel: 'H100',
  krwPerGpuHour: 3000n,
  effectiveFrom: new Date(effectiveFrom),
  requestId: 'req-1',
});

describe('CreateRateCardUseCase', () => {
  it('waits for a close in progress before reading which period is fixed, then inserts and audits', async () => {
    const h = harness();
    const created = await h.create.execute(card('2026-05-01T00:00:00+09:00'));
    expect(h.pricing.calls).toEqual(['wait', 'read-fixed', 'insert']);
    expect(created).toMatchObject({ gpuModel: 'H100', krwPerGpuHour: 3000n, createdBy: ADMIN.userId });
    expect(h.audit.events).toEqual([
      expect.objectContaining({
        action: 'rate_card.created',
        subjectId: created.id,
        requestId: 'req-1',
        after: expect.objectContaining({ krwPerGpuHour: '3000' }),
      }),
    ]);
  });

  it('refuses a card taking effect inside a closed (or closing) period, allows one from its end on', async () => {
    const h = harness();
    h.pricing.fixedPeriod = '2026-04';
    await expect(h.create.execute(card('2026-04-30T23:59:59+09:00'))).rejects.toMatchObject({
      code: 'PERIOD_CLOSED',
      details: { period: '2026-04', earliestEffectiveFrom: '2026-04-30T15:00:00.000Z' },
    });
    expect(h.pricing.cards).toHaveLength(0);
    expect(h.transactions.runs.map((run) => run.outcome)).toEqual(['rolled back']);
    await h.create.execute(card('2026-05-01T00:00:00+09:00'));
    expect(h.pricing.cards).toHaveLength(1);
  });

  it('refuses a second card of the model at the same instant (cards never change), without an audit', async () => {
    const h = harness();
    await h.create.execute(card('2026-05-01T00:00:00+09:00'));
    await expect(h.create.execute(card('2026-05-01T00:00:00+09:00'))).rejects.toMatchObject({
      code: 'RATE_CARD_EXISTS',
    });
    expect(h.audit.actions()).toEqual(['rate_card.created']);
  });

  it('checks the card with the domain before opening a transaction', async () => {
    const h = harness();
    await expect(
      h.create.execute({ ...card('2026-05-01T00:00:00+09:00'), krwPerGpuHour: 0n }),
    ).rejects.toThrow();
    expect(h.transactions.runs).toHaveLength(0);
  });
});

describe('ProgramPricingUseCases', () => {
  it('answers the default policy with the program’s own subsidies when none is stored', async () => {
    const h = harness();
    const view = await h.programPricing.get(ADMIN, PROGRAM);
    expect(view.updated).toBeNull();
    expect(view.policy.vat).toEqual(KOREAN_VOUCHER_POLICY.vat);
    expect(view.policy.subsidyBasisPoints).toEqual({ university: 7000 });
  });

  it('hides another agency’s program from its finance users (404), and refuses non-finance users', async () => {
    const h = harness();
    await expect(h.programPricing.get(AGENCY_FINANCE, PROGRAM)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(h.programPricing.get({ ...ADMIN, roles: ['operator'] }, PROGRAM)).rejects.toMatchObject({
      code: 'ROLE_REQUIRED',
    });
    await expect(h.programPricing.get(ADMIN, '00000000-0000-4000-8000-0000000000ff')).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });

  it('replaces the policy under the program’s lock and audits before and after', async () => {
    const h = harness();
    const policy = {
      ...KOREAN_VOUCHER_POLICY,
      vat: { ...KOREAN_VOUCHER_POLICY.vat, payer: 'program' as const },
    };
    const after = await h.programPricing.replace({
      principal: ADMIN,
      programId: PROGRAM,
      policy,
      requestId: null,
    });
    expect(h.pricing.calls).toEqual(['lock']);
    expect(after.updated?.updatedBy).toBe(ADMIN.userId);
    expect(after.policy.vat.payer).toBe('program');
    const [event] = h.audit.events;
    expect(event).toMatchObject({ action: 'program.pricing_changed', subjectId: PROGRAM });
    expect((event?.before as { vat: { payer: string } }).vat.payer).toBe(KOREAN_VOUCHER_POLICY.vat.payer);
    expect((event?.after as { vat: { payer: string } }).vat.payer).toBe('program');
  });

  it('refuses an invalid policy and stores nothing', async () => {
    const h = harness();
    const policy = {
      ...KOREAN_VOUCHER_POLICY,
      discountsByOrgType: { ...KOREAN_VOUCHER_POLICY.discountsByOrgType, sme: [20000] },
    };
    await expect(
      h.programPricing.replace({ principal: ADMIN, programId: PROGRAM, policy, requestId: null }),
    ).rejects.toMatchObject({ code: 'INVALID_PRICING_POLICY' });
    expect(h.pricing.policies.size).toBe(0);
    expect(h.audit.events).toHaveLength(0);
  });
});
