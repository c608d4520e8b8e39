import { agencyVisibleTo, conflict, invalid, notFound, type BillingScope } from '#domain';
import type { BillingPeriodRepository, BillingPricingRepository } from '#persistence';

/** Lines exist only for closed periods; asking for another one is a 409 that says so. */
export async function assertPeriodClosed(periods: BillingPeriodRepository, period: string): Promise<void> {
  const row = await periods.find(period);
  if (row?.status !== 'closed') {
    throw conflict(
      'PERIOD_NOT_CLOSED',
      `Billing period ${period} is ${row?.status ?? 'open'}; statements and exports are of closed periods (POST /v1/billing/periods/${period}/close).`,
      { period, status: row?.status ?? 'open' },
    );
  }
}

/** A program the caller may bill, and its agency: 404 for an unknown one or one of another agency. */
export async function programAgencyInScope(
  pricing: BillingPricingRepository,
  scope: BillingScope,
  programId: string,
): Promise<string> {
  const program = await pricing.program(programId);
  if (!program || !agencyVisibleTo(scope, program.agencyCode)) {
    throw notFound('Program', programId);
  }
  return program.agencyCode;
}

/** The statements cursor is the last key of the page, base64url: one this API did not issue is a 400. */
export function statementKeyOf(cursor: string | undefined): string | null {
  if (cursor === undefined) return null;
  const key = Buffer.from(cursor, 'base64url').toString('utf8');
  if (key === '' || key.length > 100 || Buffer.from(key, 'utf8').toString('base64url') !== cursor) {
    throw invalid('INVALID_CURSOR', 'The cursor is not one this API issued; start again without it.');
  }
  return key;
}

export function statementCursorOf(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url');
}
