import { Initial1764270000000 } from './1764270000000-initial.js';
import { LedgerGuards1764270000001 } from './1764270000001-ledger-guards.js';
import { PoolAndWorkloads1764270000002 } from './1764270000002-pool-and-workloads.js';

/** Every migration in order. ESM has no glob loading: a new migration is added here. */
export const MIGRATIONS = [Initial1764270000000, LedgerGuards1764270000001, PoolAndWorkloads1764270000002];
