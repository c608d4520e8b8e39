import type { Principal } from '#domain';
import {
  FakeBillingPeriodRepository,
  FakeBillingPricingRepository,
  FakeBillingStatementsRepository,
} from '../../../../test/fakes/billing.fakes.js';
import { statementCursorOf } from './billing-checks.js';
import { BillingStatementsQueries } from './billing-statements.queries.js';

const ADMIN: Principal = {
  kind: 'user',
  userId: '00000000-0000-4000-8000-00000000000a',
  email: 'a@example.org',
  roles: ['admin'],
  organizationId: null,
  agencyCode: null,
};
const NIPA_FINANCE: Principal = { ...ADMIN, roles: ['finance'], agencyCode: 'NIPA' };
const KISTI_PROGRAM = '00000000-0000-4000-8000-0000000000b1';

function harness() {
  const statements = new FakeBillingStatementsRepository();
  const periods = new FakeBillingPeriodRepository();
  const pricing = new FakeBillingPricingRepository();
  periods.states.set('2026-04', 'closed');
  pricing.programs.set(KISTI_PROGRAM, { id: KISTI_PROGRAM, agencyCode: 'KISTI', subsidyRates: {} });
  return { statements, periods, queries: new BillingStatementsQueries(statements, periods, pricing) };
}

const base = { groupBy: 'project' as const, limit: 10 };

describe('BillingStatementsQueries', () => {
  it('lets finance users and admins read; everyone else is refused before anything is read', async () => {
    const h = harness();
    for (const principal of [
      { ...ADMIN, roles: ['operator'] },
      { kind: 'api_token', tokenId: 't', scopes: [], createdBy: ADMIN.userId },
    ] as Principal[]) {
      await expect(h.queries.closed({ principal, ...base, period: '2026-04' })).rejects.toMatchObject({
        code: 'ROLE_REQUIRED',
      });
    }
    expect(h.statements.queries).toHaveLength(0);
    await h.queries.closed({ principal: ADMIN, ...base, period: '2026-04' });
    expect(h.statements.queries[0]).toMatchObject({ period: '2026-04', agencyCode: null, programId: null });
  });

  it('limits an agency’s finance user to their agency, and hides other agencies’ programs', async () => {
    const h = harness();
    const own = await h.queries.closed({ principal: NIPA_FINANCE, ...base, period: '2026-04' });
    expect(own.agencyCode).toBe('NIPA');
    expect(h.statements.queries[0]?.agencyCode).toBe('NIPA');
    await expect(
      h.queries.closed({ principal: NIPA_FINANCE, ...base, period: '2026-04', agencyCode: 'KISTI' }),
    ).rejects.toMatchObject({ code: 'AGENCY_OUT_OF_SCOPE' });
    await expect(
      h.queries.preview({ principal: NIPA_FINANCE, ...base, programId: KISTI_PROGRAM }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('reads statements of closed periods only; a preview defaults to the current Seoul month', async () => {
    const h = harness();
    h.periods.states.set('2026-05', 'closing');
    await expect(h.queries.closed({ principal: ADMIN, ...base, period: '2026-05' })).rejects.toMatchObject({
      code: 'PERIOD_NOT_CLOSED',
      details: { status: 'closing' },
    });
    await expect(h.queries.closed({ principal: ADMIN, ...base, period: '2026-06' })).rejects.toMatchObject({
      code: 'PERIOD_NOT_CLOSED',
      details: { status: 'open' },
    });
    // 2026-05-31T15:30Z is already June in Seoul.
    const preview = await h.queries.preview({
      principal: ADMIN,
      ...base,
      now: new Date('2026-05-31T15:30:00Z'),
    });
    expect(preview.period).toBe('2026-06');
  });

  it('pages by the key the cursor carries, and refuses a cursor it did not issue', async () => {
    const h = harness();
    await h.queries.closed({
      principal: ADMIN,
      ...base,
      period: '2026-04',
      cursor: statementCursorOf('proj-9'),
    });
    expect(h.statements.queries[0]?.after).toBe('proj-9');
    await expect(
      h.queries.closed({ principal: ADMIN, ...base, period: '2026-04', cursor: 'not base64url!' }),
    ).rejects.toMatchObject({ code: 'INVALID_CURSOR' });
  });
});
