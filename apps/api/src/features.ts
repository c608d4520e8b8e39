import type { Type } from '@nestjs/common';
import { SessionModule } from './session/session.module.js';
import { AllocationRequestsModule } from './allocation-requests/allocation-requests.module.js';
import { OrganizationsModule } from './organizations/organizations.module.js';
import { UsersModule } from './users/users.module.js';
import { ApiTokensModule } from './api-tokens/api-tokens.module.js';
import { ProjectsModule } from './projects/projects.module.js';
import { ProgramsModule } from './programs/programs.module.js';
import { AllocationsModule } from './allocations/allocations.module.js';
import { WorkloadsModule } from './workloads/workloads.module.js';
import { AgentModule } from './agent/agent.module.js';
import { PoolModule } from './pool/pool.module.js';
import { NotificationsModule } from './notifications/notifications.module.js';
import { UsageReportsModule } from './usage-reports/usage-reports.module.js';
import { RecallsModule } from './recalls/recalls.module.js';
import { ReconciliationModule } from './reconciliation/reconciliation.module.js';
import { UsageModule } from './usage/usage.module.js';
import { BillingModule } from './billing/billing.module.js';
import { PlanningModule } from './planning/planning.module.js';

/** Every feature module of the API, in one list (add yours here). */
export const FEATURE_MODULES: Type[] = [
  SessionModule,
  AllocationRequestsModule,
  OrganizationsModule,
  UsersModule,
  ApiTokensModule,
  ProjectsModule,
  ProgramsModule,
  AllocationsModule,
  WorkloadsModule,
  AgentModule,
  PoolModule,
  NotificationsModule,
  UsageReportsModule,
  RecallsModule,
  ReconciliationModule,
  UsageModule,
  BillingModule,
  PlanningModule,
];
