import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import {
  allocationAccount,
  burnRateAlertKey,
  consumedAccount,
  DomainError,
  holdAccount,
  holdTransaction,
  meteredGpuSeconds,
  programBudgetAccount,
  type Principal,
  type RecallRule,
} from '../../libs/domain/src/index.js';
import {
  accountBalances,
  createDataSource,
  postLedgerTransaction,
} from '../../libs/persistence/src/index.js';
import { burnRateAlerts, postUsageBatch, storeUsageBatch } from '../support/usage-pipeline.js';
import { createPlanningUseCases } from '../../libs/application/src/index.js';
import type { JobProducer } from '../../libs/queues/src/index.js';
import { grantUseCase } from '../support/grant.js';
import { seedApprovedRequest } from '../factories/grant-fixtures.js';
import { createTestDatabase } from '../support/database.js';
import { RecordingProducer } from '../support/recording-producer.js';

/** The scheduler's use-it-or-lose-it sweep, run in process. */
const proposeRecalls = (db: DataSource, now: Date) =>
  createPlanningUseCases(db, null).proposeRecalls.execute(now);

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const GRANTED = 3_600_000n; // 1,000 GPU-hours
const DAY30: RecallRule = {
  id: 'day30',
  at: { days: 30 },
  usedBelowBasisPoints: 1000,
  recall: { remainingBasisPoints: 2500 },
};

interface Seeded {
  allocationId: string;
  programId: string;
  projectId: string;
}

describe('recalls and burn-rate alerts (real PostgreSQL)', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let dataSource: DataSource;
  let adminId: string;

  /** A granted 1,000 GPU-hour H200 allocation whose window opened `startedDaysAgo` days ago. */
  async function allocation(
    options: { startedDaysAgo?: number; rules?: unknown; onExhaustion?: string } = {},
  ): Promise<Seeded> {
    const now = Date.now();
    const approved = await seedApprovedRequest(dataSource, {
      grantedGpuHours: [1000n],
      startsAt: new Date(now - (options.startedDaysAgo ?? 31) * DAY_MS),
      endsAt: new Date(now + 150 * DAY_MS),
    });
    const outcome = await grantUseCase(dataSource).execute(approved.requestId);
    if (outcome.outcome !== 'granted') throw new Error(`grant failed: ${outcome.outcome}`);
    await dataSource.query('UPDATE programs SET recall_rules = $2::jsonb WHERE id = $1', [
      approved.programId,
      JSON.stringify(options.rules ?? [DAY30]),
    ]);
    return {
      allocationId: outcome.allocationIds[0],
      programId: approved.programId,
      projectId: approved.projectId,
    };
  }

  /**
   * Stores and posts one usage record of `gpus` × `seconds`, ending two hours ago (whole seconds, so
   * the metered amount is exact), through the usage pipeline's repositories.
   */
  async function meter(allocationId: string, gpus: number, seconds: number): Promise<void> {
    const endedAt = new Date(Math.floor(Date.now() / 1000) * 1000 - 2 * HOUR_MS);
    const startedAt = new Date(endedAt.getTime() - seconds * 1000);
    const stored = await storeUsageBatch(dataSource, null, [
      {
        source: 'test-cluster',
        externalId: randomUUID(),
        allocationId,
        workloadId: null,
        gpuModel: 'H200',
        gpus,
        startedAt,
        endedAt,
        gpuSeconds: meteredGpuSeconds(gpus, startedAt, endedAt),
        late: false,
      },
    ]);
    if (!stored.batchId) throw new Error('usage record not stored');
    const posted = await postUsageBatch(dataSource, stored.batchId);
    if (!posted.posted) throw new Error('usage batch not posted');
  }

  /** `gpuHours` spread over `gpus` GPUs. */
  const meterHours = (allocationId: string, gpuHours: number, gpus = 1) =>
    meter(allocationId, gpus, (gpuHours * 3600) / gpus);

  async function hold(allocationId: string, gpuSeconds: bigint): Promise<void> {
    await dataSource.transaction((manager) =>
      postLedgerTransaction(manager, holdTransaction({ allocationId, workloadId: randomUUID(), gpuSeconds })),
    );
  }

  async function balances(allocationId: string) {
    const map = await accountBalances(dataSource.manager, [
      allocationAccount(allocationId),
      holdAccount(allocationId),
      consumedAccount(allocationId),
    ]);
    const [returned] = await dataSource.query<{ total: string }[]>(
      `SELECT coalesce(-sum(e.amount), 0)::text AS total FROM ledger_entries e
         JOIN ledger_transactions t ON t.id = e.transaction_id
        WHERE e.account = $1 AND t.kind IN ('recall', 'expire') AND e.amount < 0`,
      [allocationAccount(allocationId)],
    );
    return {
      remaining: map.get(allocationAccount(allocationId))!,
      held: map.get(holdAccount(allocationId))!,
      consumed: map.get(consumedAccount(allocationId))!,
      returned: BigInt(returned.total),
    };
  }

  const proposalsOf = (allocationId: string) =>
    dataSource.query<
      {
        id: string;
        rule_id: string;
        status: string;
        gpu_seconds: string;
        used_basis_points: number;
        reason: string;
        due_at: Date;
        decided_by: string | null;
        recalled_gpu_seconds: string | null;
      }[]
    >(
      `SELECT id, rule_id, status, gpu_seconds::text AS gpu_seconds, used_basis_points, reason, due_at, decided_by,
              recalled_gpu_seconds::text AS recalled_gpu_seconds
         FROM recall_proposals WHERE allocation_id = $1 ORDER BY rule_id`,
      [allocationId],
    );

  const notificationsOf = (allocationId: string, kind: string) =>
    dataSource.query<
      { project_id: string; dedupe_key: string; body: string; data: Record<string, unknown> }[]
    >('SELECT project_id, dedupe_key, body, data FROM notifications WHERE allocation_id = $1 AND kind = $2', [
      allocationId,
      kind,
    ]);

  const recallTransactions = (proposalId: string) =>
    dataSource.query<{ account: string; amount: string }[]>(
      `SELECT e.account, e.amount::text AS amount FROM ledger_entries e
         JOIN ledger_transactions t ON t.id = e.transaction_id
        WHERE t.kind = 'recall' AND t.idempotency_key = $1 ORDER BY e.amount`,
      [`recall:${proposalId}`],
    );

  /** An admin's decision through DecideRecallUseCase; confirm answers what went back. */
  const decider = () => {
    const principal: Principal = {
      kind: 'user',
      userId: adminId,
      email: 'recall-admin@test.gpupool.kr',
      roles: ['admin'],
      organizationId: null,
      agencyCode: null,
    };
    const { decideRecall } = createPlanningUseCases(
      dataSource,
      new RecordingProducer() as unknown as JobProducer,
    );
    return { decideRecall, command: (proposalId: string) => ({ principal, requestId: null, proposalId }) };
  };
  const confirm = async (proposalId: string) => {
    const { decideRecall, command } = decider();
    return (await decideRecall.confirm(command(proposalId))).decision;
  };
  const dismiss = async (proposalId: string) => {
    const { decideRecall, command } = decider();
    await decideRecall.dismiss(command(proposalId));
  };

  async function expectIllegal(promise: Promise<unknown>): Promise<void> {
    const error: unknown = await promise.then(
      () => null,
      (failure: unknown) => failure,
    );
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({ kind: 'conflict', code: 'ILLEGAL_TRANSITION' });
  }

  beforeAll(async () => {
    database = await createTestDatabase('recall');
    dataSource = createDataSource({ url: database.url, poolSize: 12 });
    await dataSource.initialize();
    const [admin] = await dataSource.query<{ id: string }[]>(
      `INSERT INTO users (email, name, roles) VALUES ('recall-admin@test.gpupool.kr', 'Admin', '{admin}') RETURNING id`,
    );
    adminId = admin.id;
  });
  afterAll(async () => {
    await dataSource.destroy();
    await database.drop();
  });

  describe('proposeRecalls', () => {
    let underUsed: Seeded;

    it('proposes 25% of the remainder once for an allocation at day 31 with 1% used; holds are not touched', async () => {
      underUsed = await allocation();
      await meterHours(underUsed.allocationId, 10); // 36,000 GPU-seconds: 1% of the grant
      await hold(underUsed.allocationId, 28_800n);
      // Not due or not under-used: no proposal for these.
      const busy = await allocation();
      await meterHours(busy.allocationId, 200, 8); // 20%
      const young = await allocation({ startedDaysAgo: 29 });

      const now = new Date();
      const first = await proposeRecalls(dataSource, now);
      expect(first).toEqual({ proposals: 1, deliveryIds: [], misconfiguredPrograms: [] });

      const remaining = GRANTED - 36_000n - 28_800n;
      const [proposal, ...others] = await proposalsOf(underUsed.allocationId);
      expect(others).toEqual([]);
      expect(proposal).toMatchObject({
        rule_id: 'day30',
        status: 'proposed',
        gpu_seconds: (remaining / 4n).toString(),
        used_basis_points: 100,
        decided_by: null,
        recalled_gpu_seconds: null,
      });
      const [window] = await dataSource.query<{ starts_at: Date }[]>(
        'SELECT starts_at FROM allocations WHERE id = $1',
        [underUsed.allocationId],
      );
      expect(new Date(proposal.due_at).getTime()).toBe(new Date(window.starts_at).getTime() + 30 * DAY_MS);
      expect(proposal.reason).toContain('has used 1% of its grant');
      expect(proposal.reason).toContain('held by running workloads are not touched');
      expect(await proposalsOf(busy.allocationId)).toEqual([]);
      expect(await proposalsOf(young.allocationId)).toEqual([]);

      const notifications = await notificationsOf(underUsed.allocationId, 'recall_proposed');
      expect(notifications).toHaveLength(1);
      expect(notifications[0]).toMatchObject({
        project_id: underUsed.projectId,
        dedupe_key: `recall_proposed:${proposal.id}`,
        data: { proposalId: proposal.id, ruleId: 'day30', gpuSeconds: (remaining / 4n).toString() },
      });
      expect(
        notifications[0].body.startsWith(
          `Up to 245.5 GPU-hours of allocation ${underUsed.allocationId} (H200) may be recalled. Program rule "day30"`,
        ),
      ).toBe(true);
      expect(notifications[0].body).toContain('An administrator of the program will confirm or dismiss');

      await expect(proposeRecalls(dataSource, new Date())).resolves.toMatchObject({ proposals: 0 });
      expect(await proposalsOf(underUsed.allocationId)).toHaveLength(1);
    });

    it('proposes exactly once when four sweeps run concurrently', async () => {
      const fresh = await allocation();
      const results = await Promise.all(
        Array.from({ length: 4 }, () => proposeRecalls(dataSource, new Date())),
      );
      expect(results.reduce((sum, result) => sum + result.proposals, 0)).toBe(1);
      expect(await proposalsOf(fresh.allocationId)).toHaveLength(1);
      expect(await notificationsOf(fresh.allocationId, 'recall_proposed')).toHaveLength(1);
    });

    it('skips a program whose stored rules cannot be read, and names it', async () => {
      const broken = await allocation({ rules: [{ id: 'x', at: { weeks: 2 } }] });
      const result = await proposeRecalls(dataSource, new Date());
      expect(result.misconfiguredPrograms).toEqual([broken.programId]);
      expect(await proposalsOf(broken.allocationId)).toEqual([]);
      await dataSource.query(`UPDATE programs SET recall_rules = '[]' WHERE id = $1`, [broken.programId]);
    });

    it('confirm posts allocation → program exactly once, and a second confirm is a 409', async () => {
      const [proposal] = await proposalsOf(underUsed.allocationId);
      const before = await balances(underUsed.allocationId);
      const [programBefore] = await dataSource.query<{ balance: string }[]>(
        'SELECT balance::text AS balance FROM account_balances WHERE account = $1',
        [programBudgetAccount(underUsed.programId, 'H200')],
      );
      const proposed = BigInt(proposal.gpu_seconds);

      const decision = await confirm(proposal.id);
      expect(decision).toEqual({ recalledGpuSeconds: proposed, deliveryIds: [] });
      await expectIllegal(confirm(proposal.id));
      await expectIllegal(dismiss(proposal.id));

      expect(await recallTransactions(proposal.id)).toEqual([
        { account: allocationAccount(underUsed.allocationId), amount: (-proposed).toString() },
        { account: programBudgetAccount(underUsed.programId, 'H200'), amount: proposed.toString() },
      ]);
      const after = await balances(underUsed.allocationId);
      expect(after).toEqual({
        remaining: before.remaining - proposed,
        held: 28_800n,
        consumed: 36_000n,
        returned: proposed,
      });
      expect(after.remaining + after.held + after.consumed + after.returned).toBe(GRANTED);
      const [programAfter] = await dataSource.query<{ balance: string }[]>(
        'SELECT balance::text AS balance FROM account_balances WHERE account = $1',
        [programBudgetAccount(underUsed.programId, 'H200')],
      );
      expect(BigInt(programAfter.balance) - BigInt(programBefore.balance)).toBe(proposed);

      const [row] = await proposalsOf(underUsed.allocationId);
      expect(row).toMatchObject({
        status: 'confirmed',
        decided_by: adminId,
        recalled_gpu_seconds: proposed.toString(),
      });
      const confirmed = await notificationsOf(underUsed.allocationId, 'recall_confirmed');
      expect(confirmed).toHaveLength(1);
      expect(confirmed[0]).toMatchObject({
        project_id: underUsed.projectId,
        dedupe_key: `recall_confirmed:${proposal.id}`,
        data: { recalledGpuSeconds: proposed.toString(), proposedGpuSeconds: proposed.toString() },
      });
      // The rule fired for this allocation: it never proposes again.
      await proposeRecalls(dataSource, new Date());
      expect(await proposalsOf(underUsed.allocationId)).toHaveLength(1);
    });

    it('two concurrent confirms: one recall, one 409', async () => {
      const fresh = await allocation();
      await proposeRecalls(dataSource, new Date());
      const [proposal] = await proposalsOf(fresh.allocationId);
      const settled = await Promise.allSettled([confirm(proposal.id), confirm(proposal.id)]);
      expect(settled.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
      const [rejected] = settled.filter((outcome) => outcome.status === 'rejected');
      expect(rejected.reason).toMatchObject({ code: 'ILLEGAL_TRANSITION' });
      expect(await recallTransactions(proposal.id)).toHaveLength(2);
      expect((await balances(fresh.allocationId)).returned).toBe(GRANTED / 4n);
    });

    it('caps the recall at the unused balance at confirmation, and confirms 0 when nothing is left', async () => {
      const capped = await allocation();
      const empty = await allocation();
      await proposeRecalls(dataSource, new Date());
      const [cappedProposal] = await proposalsOf(capped.allocationId);
      const [emptyProposal] = await proposalsOf(empty.allocationId);
      expect(cappedProposal.gpu_seconds).toBe((GRANTED / 4n).toString());

      // Used since the proposal: 500,000 left on one, nothing on the other.
      await meter(capped.allocationId, 8, 387_500); // 3,100,000 GPU-seconds
      await meter(empty.allocationId, 10, 360_000); // the whole grant
      expect((await balances(capped.allocationId)).remaining).toBe(500_000n);
      expect((await balances(empty.allocationId)).remaining).toBe(0n);

      await expect(confirm(cappedProposal.id)).resolves.toEqual({
        recalledGpuSeconds: 500_000n,
        deliveryIds: [],
      });
      expect((await balances(capped.allocationId)).remaining).toBe(0n);
      const [cappedNotice] = await notificationsOf(capped.allocationId, 'recall_confirmed');
      expect(cappedNotice.body).toContain('only 138.888888 GPU-hours were unused');

      await expect(confirm(emptyProposal.id)).resolves.toEqual({ recalledGpuSeconds: 0n, deliveryIds: [] });
      expect(await recallTransactions(emptyProposal.id)).toEqual([]);
      const [emptyRow] = await proposalsOf(empty.allocationId);
      expect(emptyRow).toMatchObject({ status: 'confirmed', recalled_gpu_seconds: '0' });
      const [emptyNotice] = await notificationsOf(empty.allocationId, 'recall_confirmed');
      expect(emptyNotice.body).toContain('nothing was recalled');
    });

    it('dismiss takes nothing, is final, and the rule does not fire again', async () => {
      const dismissed = await allocation();
      await proposeRecalls(dataSource, new Date());
      const [proposal] = await proposalsOf(dismissed.allocationId);
      const before = await balances(dismissed.allocationId);
      await dismiss(proposal.id);
      await expectIllegal(dismiss(proposal.id));
      await expectIllegal(confirm(proposal.id));
      expect(await balances(dismissed.allocationId)).toEqual(before);
      expect(await recallTransactions(proposal.id)).toEqual([]);
      expect(await proposalsOf(dismissed.allocationId)).toEqual([
        expect.objectContaining({ status: 'dismissed', decided_by: adminId, recalled_gpu_seconds: null }),
      ]);
      await proposeRecalls(dataSource, new Date());
      expect(await proposalsOf(dismissed.allocationId)).toHaveLength(1);
    });

    it('answers 404 for an unknown proposal', async () => {
      await expect(confirm(randomUUID())).rejects.toMatchObject({ kind: 'not_found' });
    });
  });

  describe('burnRateAlerts', () => {
    it('warns once a day an allocation that runs out before its window ends at the recent pace', async () => {
      const fast = await allocation({ startedDaysAgo: 1, rules: [] });
      const slow = await allocation({ startedDaysAgo: 1, rules: [] });
      await meterHours(fast.allocationId, 160, 8); // 160 GPU-hours in a day: gone in about 5 more days
      await meterHours(slow.allocationId, 1); // 1 GPU-hour a day: lasts years

      const now = new Date();
      const countAlerts = async () =>
        Number(
          (
            await dataSource.query<{ n: string }[]>(
              "SELECT count(*)::text AS n FROM notifications WHERE kind = 'burn_rate'",
            )
          )[0].n,
        );
      const before = await countAlerts();
      const first = await burnRateAlerts(dataSource, now);
      // Allocations of the recall tests with recent usage may be warned too: every alert is one row.
      expect(first.alerts).toBe((await countAlerts()) - before);
      expect(first.deliveryIds).toEqual([]);
      const [alert, ...more] = await notificationsOf(fast.allocationId, 'burn_rate');
      expect(more).toEqual([]);
      expect(alert).toMatchObject({
        project_id: fast.projectId,
        dedupe_key: burnRateAlertKey(fast.allocationId, now),
        data: { granted: GRANTED.toString(), consumed: '576000', held: '0', recentConsumed: '576000' },
      });
      expect(alert.body).toContain('will run out around');
      expect(await notificationsOf(slow.allocationId, 'burn_rate')).toEqual([]);

      await expect(burnRateAlerts(dataSource, now)).resolves.toEqual({ alerts: 0, deliveryIds: [] });
      const concurrent = await Promise.all([
        burnRateAlerts(dataSource, now),
        burnRateAlerts(dataSource, now),
      ]);
      expect(concurrent.reduce((sum, result) => sum + result.alerts, 0)).toBe(0);
      expect(await notificationsOf(fast.allocationId, 'burn_rate')).toHaveLength(1);
    });
  });
});
