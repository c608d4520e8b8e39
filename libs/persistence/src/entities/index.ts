import { AllocationEntity } from './allocation.entities.js';
import { AuditEventEntity, IdempotencyKeyEntity } from './audit.entities.js';
import {
  BilledUsageEntity,
  BillingExportChunkEntity,
  BillingExportEntity,
  BillingLineEntity,
  BillingPeriodEntity,
  BillingPeriodPolicyEntity,
  BillingRefundEntity,
  ProgramPricingEntity,
  RateCardEntity,
} from './billing.entities.js';
import {
  ApiTokenEntity,
  OrganizationEntity,
  ProjectEntity,
  ProjectMemberEntity,
  UserEntity,
} from './directory.entities.js';
import { LedgerEntryEntity, LedgerTransactionEntity } from './ledger.entities.js';
import {
  NotificationEntity,
  WebhookDeliveryAttemptEntity,
  WebhookDeliveryEntity,
  WebhookSubscriptionEntity,
} from './notification.entities.js';
import {
  ClusterAgentEntity,
  ClusterEntity,
  NodeEntity,
  NodePoolEntity,
  PartitionTriggerEntity,
  SchedulingPartitionEntity,
  SiteEntity,
} from './pool.entities.js';
import {
  AccountBalanceEntity,
  ReconciliationReportEntity,
  RecallProposalEntity,
  UsageBatchEntity,
  UsageDailyEntity,
  UsageRecordEntity,
  WorkloadHoldEntity,
} from './usage.entities.js';
import { RunConfirmationEntity, WorkloadEntity, WorkloadPlacementEntity } from './workload.entities.js';
import { ReservationEntity, ReservationNodeEntity, ReservationPlanEntity } from './reservation.entities.js';
import {
  AgencyEntity,
  ProgramBudgetEntity,
  ProgramEntity,
  ProgramReviewerEntity,
} from './program.entities.js';
import {
  AllocationRequestEntity,
  AllocationRequestLineEntity,
  ConflictDeclarationEntity,
  GrantIntentEntity,
  ReviewEntity,
} from './request.entities.js';

export * from './allocation.entities.js';
export * from './audit.entities.js';
export * from './billing.entities.js';
export * from './directory.entities.js';
export * from './ledger.entities.js';
export * from './notification.entities.js';
export * from './pool.entities.js';
export * from './program.entities.js';
export * from './usage.entities.js';
export * from './workload.entities.js';
export * from './request.entities.js';
export * from './reservation.entities.js';

export const ENTITIES = [
  OrganizationEntity,
  UserEntity,
  ApiTokenEntity,
  ProjectEntity,
  ProjectMemberEntity,
  AgencyEntity,
  ProgramEntity,
  ProgramBudgetEntity,
  ProgramReviewerEntity,
  AllocationRequestEntity,
  AllocationRequestLineEntity,
  ReviewEntity,
  ConflictDeclarationEntity,
  GrantIntentEntity,
  AllocationEntity,
  LedgerTransactionEntity,
  LedgerEntryEntity,
  AuditEventEntity,
  IdempotencyKeyEntity,
  SiteEntity,
  ClusterEntity,
  ClusterAgentEntity,
  NodePoolEntity,
  NodeEntity,
  SchedulingPartitionEntity,
  PartitionTriggerEntity,
  WorkloadEntity,
  WorkloadPlacementEntity,
  RunConfirmationEntity,
  NotificationEntity,
  WebhookSubscriptionEntity,
  WebhookDeliveryEntity,
  WebhookDeliveryAttemptEntity,
  UsageBatchEntity,
  UsageRecordEntity,
  WorkloadHoldEntity,
  UsageDailyEntity,
  AccountBalanceEntity,
  RecallProposalEntity,
  ReconciliationReportEntity,
  RateCardEntity,
  ProgramPricingEntity,
  BillingPeriodEntity,
  BillingLineEntity,
  BilledUsageEntity,
  BillingRefundEntity,
  BillingPeriodPolicyEntity,
  BillingExportEntity,
  BillingExportChunkEntity,
  ReservationEntity,
  ReservationNodeEntity,
  ReservationPlanEntity,
];
