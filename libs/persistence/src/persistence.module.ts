import { Global, Module } from '@nestjs/common';
import { ProjectMembershipRepository } from './repositories/project-membership.repository.js';
import { LedgerRepository } from './repositories/ledger.repository.js';
import { AuditRepository, TypeormAuditRepository } from './repositories/audit.repository.js';
import {
  NotificationsRepository,
  TypeormNotificationsRepository,
  TypeormWebhookDeliveryRepository,
  WebhookDeliveryRepository,
} from './repositories/notifications.repository.js';
import { TransactionRunner, TypeormTransactionRunner } from './transaction.js';

/**
 * What every use case may inject from persistence, in both processes: the transaction port bound to
 * TypeORM, the ledger (the one posting path), project membership, the audit trail and notifications
 * (each written inside the use case's transaction), and the webhook outbox the scheduler sends.
 * Feature repositories are provided by the feature's own application module. Needs the default
 * DataSource in the container (TypeOrmModule.forRoot).
 */
@Global()
@Module({
  providers: [
    { provide: TransactionRunner, useClass: TypeormTransactionRunner },
    LedgerRepository,
    ProjectMembershipRepository,
    { provide: AuditRepository, useClass: TypeormAuditRepository },
    { provide: NotificationsRepository, useClass: TypeormNotificationsRepository },
    { provide: WebhookDeliveryRepository, useClass: TypeormWebhookDeliveryRepository },
  ],
  exports: [
    TransactionRunner,
    LedgerRepository,
    ProjectMembershipRepository,
    AuditRepository,
    NotificationsRepository,
    WebhookDeliveryRepository,
  ],
})
export class PersistenceModule {}
