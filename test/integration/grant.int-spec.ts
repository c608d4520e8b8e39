import type { DataSource } from 'typeorm';
import { gpuHoursToSeconds } from '../../libs/domain/src/index.js';
import { createDataSource } from '../../libs/persistence/src/index.js';
import { grantUseCase } from '../support/grant.js';
import type { GrantAllocationUseCase } from '#application';
import { createTestDatabase } from '../support/database.js';
import { grantFacts, seedApprovedRequest } from '../factories/grant-fixtures.js';

describe('GrantAllocationUseCase (real PostgreSQL)', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let dataSource: DataSource;
  let grants: GrantAllocationUseCase;

  beforeAll(async () => {
    database = await createTestDatabase('grant');
    dataSource = createDataSource({ url: database.url, poolSize: 12 });
    await dataSource.initialize();
    grants = grantUseCase(dataSource);
  });
  afterAll(async () => {
    await dataSource.destroy();
    await database.drop();
  });

  it('creates one allocation per granted line and posts the grant, balanced', async () => {
    const fixture = await seedApprovedRequest(dataSource, {
      models: ['H200', 'B200'],
      grantedGpuHours: [1_000n, 250n],
    });
    const outcome = await grants.execute(fixture.requestId);
    expect(outcome.outcome).toBe('granted');
    const facts = await grantFacts(dataSource, fixture.requestId);
    expect(facts).toEqual({
      allocations: 2,
      grantTransactions: 2,
      grantedGpuSeconds: gpuHoursToSeconds(1_250n),
      unbalancedTransactions: 0,
      intent: 'done',
    });
  });

  it('grants exactly once when the same job runs 8 times concurrently and again later', async () => {
    const fixture = await seedApprovedRequest(dataSource, { grantedGpuHours: [777n] });
    const outcomes = await Promise.all(Array.from({ length: 8 }, () => grants.execute(fixture.requestId)));
    expect(outcomes.filter((outcome) => outcome.outcome === 'granted')).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome.outcome === 'already_granted')).toHaveLength(7);
    await expect(grants.execute(fixture.requestId)).resolves.toEqual({ outcome: 'already_granted' });
    const facts = await grantFacts(dataSource, fixture.requestId);
    expect(facts.allocations).toBe(1);
    expect(facts.grantTransactions).toBe(1);
    expect(facts.grantedGpuSeconds).toBe(gpuHoursToSeconds(777n));
  });

  it('never grants beyond the program budget: the intent fails and nothing is written', async () => {
    const fixture = await seedApprovedRequest(dataSource, { budgetGpuHours: 100n, grantedGpuHours: [101n] });
    const outcome = await grants.execute(fixture.requestId);
    expect(outcome).toEqual({
      outcome: 'insufficient_budget',
      gpuModel: 'H200',
      shortGpuSeconds: gpuHoursToSeconds(1n),
    });
    const facts = await grantFacts(dataSource, fixture.requestId);
    expect(facts.allocations).toBe(0);
    expect(facts.grantTransactions).toBe(0);
    expect(facts.intent).toBe('failed');
  });

  it('refuses to change or delete ledger rows (append-only)', async () => {
    const fixture = await seedApprovedRequest(dataSource);
    await grants.execute(fixture.requestId);
    await expect(dataSource.query('UPDATE ledger_entries SET amount = amount + 1')).rejects.toThrow(
      /append-only/,
    );
    await expect(dataSource.query('DELETE FROM ledger_transactions')).rejects.toThrow(/append-only/);
  });

  it('refuses an unbalanced ledger transaction at commit', async () => {
    await expect(
      dataSource.transaction(async (manager) => {
        const [tx] = await manager.query<{ id: string }[]>(
          "INSERT INTO ledger_transactions (kind, idempotency_key) VALUES ('grant', 'unbalanced-test') RETURNING id",
        );
        await manager.query(
          "INSERT INTO ledger_entries (transaction_id, account, amount) VALUES ($1, 'a', 5), ($1, 'b', -4)",
          [tx?.id],
        );
      }),
    ).rejects.toThrow(/does not balance/);
  });
});
