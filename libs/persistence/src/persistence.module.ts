import { Global, Module } from '@nestjs/common';
import { ProjectMembershipRepository } from './repositories/project-membership.repository.js';
import { LedgerRepository } from './repositories/ledger.repository.js';
import { AuditRepository, TypeormAuditRepository } from './repositories/audit.repository.js';
import { TransactionRunner, TypeormTransactionRunner } from './transaction.js';

/**
 * What every use case may inject from persistence, in both processes: the transaction port bound to
 * TypeORM, the ledger (the one posting path), project membership and the audit trail. Feature repositories are
 * provided by the feature's own application module. Needs the default DataSource in the container
 * (TypeOrmModule.forRoot).
 */
@Global()
@Module({
  providers: [
    { provide: TransactionRunner, useClass: TypeormTransactionRunner },
    LedgerRepository,
    ProjectMembershipRepository,
    { provide: AuditRepository, useClass: TypeormAuditRepository },
  ],
  exports: [TransactionRunner, LedgerRepository, ProjectMembershipRepository, AuditRepository],
})
export class PersistenceModule {}
