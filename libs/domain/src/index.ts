export * from './errors/domain-error.js';
export * from './errors/rule-violation.js';
export * from './units/gpu-seconds.js';
export * from './units/time-window.js';
export * from './text/storable-text.js';
export * from './organizations/organization-type.js';
export * from './organizations/tax-identity.js';
export * from './programs/program.js';
export * from './programs/subsidy-rate.js';
export * from './requests/request-line.js';
export * from './requests/request-state.js';
export * from './requests/eligibility.js';
export * from './requests/approval.js';
export * from './requests/sector.js';
export * from './requests/reserved-line.js';
export * from './reservations/planning.js';
export * from './reviews/review-score.js';
export * from './ledger/accounts.js';
export * from './ledger/ledger-transaction.js';
export * from './ledger/balances.js';
export * from './scheduling/types.js';
export * from './scheduling/ordered-bitset.js';
export * from './scheduling/placement.js';
export * from './scheduling/node-grid.js';
export * from './scheduling/fair-share.js';
export * from './scheduling/cycle.js';
export * from './scheduling/start-estimate.js';
export * from './scheduling/reserved-capacity.js';
export * from './usage/usage-record.js';
export * from './usage/day-split.js';
export * from './usage/alerts.js';
export * from './usage/recall-rules.js';
export * from './usage/recall-candidates.js';
export * from './usage/reserved-utilization.js';
export * from './usage/usage-batch.js';
export * from './usage/usage-posting.js';
export * from './usage/allocation-expiry.js';
export * from './usage/burn-rate-window.js';
export * from './billing/money.js';
export * from './billing/rate-card.js';
export * from './billing/pricing.js';
export * from './billing/billing-period.js';
export * from './billing/statement.js';
export * from './billing/close-lines.js';
export * from './billing/export-format.js';
export * from './billing/billing-scope.js';
export * from './planning/types.js';
export * from './planning/months.js';
export {
  planReservations,
  planWhatIf,
  replanWaitlist,
  calendarUtilization,
  type WhatIfResult,
} from './planning/planner.js';
export * from './planning/release.js';
export * from './planning/capacity-loss.js';
export { planFirstComeFirstServed } from './planning/baseline.js';
export { displayRatio } from './planning/utilization.js';
export { planningInputProblems, planningCalendarProblems } from './planning/validation.js';
export * from './access/principal.js';
export * from './access/project-scope.js';
export * from './access/allocation-read-scope.js';
export * from './workloads/index.js';
export * from './requests/request-viewer.js';
export * from './notifications/webhook-backoff.js';
export * from './notifications/webhook-signature.js';
export * from './notifications/webhook-payload.js';
export * from './notifications/webhook-target.js';
