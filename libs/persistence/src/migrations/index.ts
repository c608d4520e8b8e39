import { Initial1764270000000 } from './1764270000000-initial.js';
import { LedgerGuards1764270000001 } from './1764270000001-ledger-guards.js';
import { PoolAndWorkloads1764270000002 } from './1764270000002-pool-and-workloads.js';
import { Usage1764270000003 } from './1764270000003-usage.js';
import { Notifications1764270000004 } from './1764270000004-notifications.js';
import { Billing1764270000005 } from './1764270000005-billing.js';
import { Reservations1764270000006 } from './1764270000006-reservations.js';
import { ReservedRecalls1764270000007 } from './1764270000007-reserved-recalls.js';
import { BillingCloses1764270000008 } from './1764270000008-billing-closes.js';
import { IdempotencyReservations1764270000009 } from './1764270000009-idempotency-reservations.js';
import { AgentHeartbeats1764270000010 } from './1764270000010-agent-heartbeats.js';
import { InfrastructureRequeues1764270000011 } from './1764270000011-infrastructure-requeues.js';

/** Every migration in order. ESM has no glob loading: a new migration is added here. */
export const MIGRATIONS = [
  Initial1764270000000,
  LedgerGuards1764270000001,
  PoolAndWorkloads1764270000002,
  Usage1764270000003,
  Notifications1764270000004,
  Billing1764270000005,
  Reservations1764270000006,
  ReservedRecalls1764270000007,
  BillingCloses1764270000008,
  IdempotencyReservations1764270000009,
  AgentHeartbeats1764270000010,
  InfrastructureRequeues1764270000011,
];
