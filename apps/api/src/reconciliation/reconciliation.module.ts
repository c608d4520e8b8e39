import { Module } from '@nestjs/common';
import { UsageApplicationModule } from '#application';
import { ReconciliationController } from './reconciliation.controller.js';

/** The ledger and usage reconciler's reports, for admins and operators. */
@Module({
  imports: [UsageApplicationModule],
  controllers: [ReconciliationController],
})
export class ReconciliationModule {}
