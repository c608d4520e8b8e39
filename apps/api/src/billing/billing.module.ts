import { Module } from '@nestjs/common';
import { BillingApplicationModule } from '#application';
import { BillingExportsController } from './billing-exports.controller.js';
import { BillingExportsService } from './billing-exports.service.js';
import { BillingPeriodsController } from './billing-periods.controller.js';
import { BillingPeriodsService } from './billing-periods.service.js';
import { ProgramPricingController } from './program-pricing.controller.js';
import { ProgramPricingService } from './program-pricing.service.js';
import { RateCardsController } from './rate-cards.controller.js';
import { RateCardsService } from './rate-cards.service.js';
import { StatementsController } from './statements.controller.js';
import { StatementsService } from './statements.service.js';

/**
 * Billing and settlement: rate cards, programs' pricing policies, billing periods and their close,
 * statements, and settlement exports (written by the scheduler's `billing.export` job).
 */
@Module({
  imports: [BillingApplicationModule],
  controllers: [
    RateCardsController,
    ProgramPricingController,
    BillingPeriodsController,
    StatementsController,
    BillingExportsController,
  ],
  providers: [
    RateCardsService,
    ProgramPricingService,
    BillingPeriodsService,
    StatementsService,
    BillingExportsService,
  ],
})
export class BillingModule {}
