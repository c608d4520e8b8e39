import type { DataSource } from 'typeorm';
import { GrantAllocationUseCase } from '#application';
import { LedgerRepository, TypeormGrantRepository, TypeormTransactionRunner } from '#persistence';

/** The scheduler's grant use case on a test's data source, wired as the scheduler wires it. */
export function grantUseCase(dataSource: DataSource, faultDelayMs = 0): GrantAllocationUseCase {
  return new GrantAllocationUseCase(
    new TypeormTransactionRunner(dataSource),
    new TypeormGrantRepository(dataSource),
    new LedgerRepository(),
    faultDelayMs,
  );
}
