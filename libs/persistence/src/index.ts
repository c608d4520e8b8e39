export * from './entities/index.js';
export { bigintTransformer } from './mappers/bigint.transformer.js';
export { createDataSource, dataSourceOptions, type DataSourceSettings } from './data-source.js';
export { ensureDatabase } from './cli/ensure-database.js';
export { pendingSchemaChanges } from './cli/schema-diff.js';
export { SnakeNamingStrategy } from './naming.strategy.js';
export {
  accountBalances,
  inflowOfKind,
  postLedgerTransaction,
  type LedgerPosting,
} from './repositories/ledger.repository.js';
export * from './repositories/workload-lifecycle.js';
export { postLedgerTransactions } from './repositories/ledger-batch.repository.js';
export { auditJson } from './mappers/audit-json.js';
