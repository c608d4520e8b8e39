export * from './entities/index.js';
export { bigintTransformer } from './mappers/bigint.transformer.js';
export { createDataSource, dataSourceOptions, type DataSourceSettings } from './data-source.js';
export { ensureDatabase } from './cli/ensure-database.js';
export { pendingSchemaChanges } from './cli/schema-diff.js';
export { SnakeNamingStrategy } from './naming.strategy.js';
export {
  accountBalances,
  inflowOfKind,
  LedgerRepository,
  postLedgerTransaction,
  type LedgerPosting,
} from './repositories/ledger.repository.js';
export { postLedgerTransactions } from './repositories/ledger-batch.repository.js';
export {
  NotificationsRepository,
  recordNotification,
  TypeormNotificationsRepository,
  type NotificationInput,
  type RecordedNotification,
  NotificationInboxRepository,
  TypeormNotificationInboxRepository,
  WebhookSubscriptionRepository,
  TypeormWebhookSubscriptionRepository,
  type NotificationFilter,
  type NewWebhookSubscription,
  type WebhookDeliveryWithAttempts,
  WebhookDeliveryRepository,
  TypeormWebhookDeliveryRepository,
  type LockedWebhookDelivery,
  type WebhookAttemptRecord,
  type WebhookDeliverySettlement,
} from './repositories/notifications.repository.js';
export { auditJson } from './mappers/audit-json.js';
export * from './repositories/usage.repository.js';
export * from './repositories/usage-reconciliation.repository.js';
export * from './repositories/usage-maintenance.repository.js';
export * from './repositories/recall.repository.js';
export * from './repositories/burn-rate.repository.js';
export * from './repositories/audit.repository.js';
export * from './repositories/billing-pricing.repository.js';
export * from './repositories/billing-close.repository.js';
export * from './repositories/billing-statements.repository.js';
export * from './repositories/billing-export.repository.js';
export * from './repositories/reservation-calendar.repository.js';
export * from './repositories/reservation-plans.repository.js';
export * from './repositories/reservation.repository.js';
export * from './repositories/reservation-moves.repository.js';
export * from './transaction.js';
export * from './persistence.module.js';
export * from './repositories/project-scope.sql.js';
export * from './repositories/project-membership.repository.js';
export * from './pagination.js';
export * from './repositories/audit.repository.js';
export * from './repositories/project.repository.js';
export * from './repositories/user.repository.js';
export * from './repositories/organization.repository.js';
export * from './repositories/program.repository.js';
export * from './repositories/agency.repository.js';
export * from './repositories/partition.repository.js';
export * from './repositories/workload.repository.js';
export * from './repositories/workload-placement.repository.js';
export * from './repositories/attempt-hold.repository.js';
export * from './repositories/idempotency-key.repository.js';
export * from './repositories/grant.repository.js';
export * from './repositories/api-token.repository.js';
export * from './repositories/operations-metrics.repository.js';
export * from './repositories/node.repository.js';
export * from './repositories/capacity.repository.js';
export * from './repositories/cluster.repository.js';
export * from './repositories/billing-period-close.repository.js';
export * from './repositories/billing-period.repository.js';
export * from './repositories/allocation-request.repository.js';
export * from './repositories/review.repository.js';
export * from './repositories/scheduling-cycle.repository.js';
export * from './repositories/partition-snapshot.repository.js';
export * from './repositories/allocation.repository.js';
export * from './idempotency-scope.js';
export * from './repositories/agent-heartbeat.repository.js';
