import { mkdir, writeFile } from 'node:fs/promises';
import { waitFor } from '../support/processes.js';
import { startChaosStack, type ChaosStack } from './support/chaos-stack.js';
import {
  checkInvariants,
  openWork,
  TERMINAL_STATES,
  totalViolations,
  violationsOf,
  type InvariantCounts,
  type QuietFacts,
} from './support/invariants.js';
import {
  describeFailure,
  isAccepted,
  isFailed,
  isRefused,
  SubmissionLoad,
  type Attempt,
} from './support/submission-load.js';

/**
 * Issue 13, "a reliability suite that stays": each fault below hits the whole system — the API,
 * the scheduler and the simulated cluster agent as processes of the built dist/, on a PostgreSQL
 * cluster and a Redis of this file's own — while workloads are submitted through the HTTP API at a
 * steady rate (CHAOS_RATE per second, default 8; 1–4 GPUs, 1–2 s runs). The fault is injected once
 * the load is flowing, the failed part is restarted, and the system must recover by itself:
 *   - kill -9 of the API (caught inside a transaction), of the scheduler (likewise) and of the agent
 *     (with runs in flight), each restarted at once;
 *   - Redis FLUSHALL; Redis stopped (the load keeps coming) and started again, empty;
 *   - PostgreSQL stopped (fast shutdown; the load keeps coming) and started again; PostgreSQL crashed
 *     (`pg_ctl restart -m immediate`: recovery replays the WAL).
 * Then the load stops, the system drains, and DESIGN.md's invariants are checked with SQL on the
 * quiet system (test/reliability/support/invariants.ts): balanced ledger and balances = sums, no
 * allocation over-held, no node over-booked and placements = gpus_allocated, one hold per admission
 * attempt, every accepted workload terminal with no phantom run, usage counted once.
 *
 * Per fault: submissions attempted, accepted (2xx), refused (4xx), failed (5xx or no answer) while
 * the fault lasted — allowed only while the API or one of its dependencies is down — and after
 * recovery (never allowed), workloads lost (accepted but not terminal within RECOVERY_BOUND_MS),
 * invariant violations (must be 0), recovery time (from the fault until a submission sent after it
 * has run to success and every workload in flight at the fault has ended). The table goes to
 * test/reliability/results/faults.md.
 */
const RATE = Number(process.env.CHAOS_RATE ?? 8);
/** Accepted submissions of a fault's phase before the fault is injected (the load is flowing). */
const WARMUP_ACCEPTED = 3 * RATE;
/** …and after the recovery, before the load stops: the system takes new work again. */
const AFTER_RECOVERY_ACCEPTED = 3 * RATE;
/** A dependency that is stopped stays down while this many submissions are attempted (~4 s). */
const OUTAGE_ATTEMPTS = 4 * RATE;
/** Failure bounds, sized for a loaded 2-core machine, not speed targets. */
const RECOVERY_BOUND_MS = 150_000;
const STEP_BOUND_MS = 90_000;
const FAULT_TEST_MS = 330_000;

interface FaultRow {
  fault: string;
  attempts: number;
  accepted: number;
  refused: number;
  errorsDuringFault: number;
  errorsAfterRecovery: number;
  /** Accepted but not terminal within the bound, or accepted and missing from PostgreSQL. */
  lost: number;
  violations: number;
  recoveryMs: number | null;
  detail: Record<string, unknown>;
}

interface Fault {
  name: string;
  /** The API or one of its dependencies is down for a while: failed submissions are allowed then. */
  dependencyDown: boolean;
  /** Injects the fault and brings the failed part back; returns what to log about it. */
  inject(stack: ChaosStack, load: SubmissionLoad): Promise<Record<string, unknown>>;
}

/** Polls (every 5 ms) for a session of the named application inside a transaction; its statement. */
async function sessionInTransaction(
  stack: ChaosStack,
  applicationName: string,
  timeoutMs = 15_000,
): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const [session] = await stack.db
      .query<{ query: string }[]>(
        `SELECT query FROM pg_stat_activity
          WHERE application_name = $1 AND xact_start IS NOT NULL AND state IN ('active', 'idle in transaction')
          LIMIT 1`,
        [applicationName],
      )
      .catch(() => []);
    if (session) return session.query.replace(/\s+/g, ' ').slice(0, 100);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return undefined;
}

/** Keeps a dependency down while `OUTAGE_ATTEMPTS` submissions are attempted (the load decides the length). */
async function outage(
  load: SubmissionLoad,
  from: number,
): Promise<{ downMs: number; failedWhileDown: number }> {
  await waitFor(
    `${OUTAGE_ATTEMPTS} submissions attempted during the outage`,
    () => Promise.resolve(load.sentBetween(from).length >= OUTAGE_ATTEMPTS),
    STEP_BOUND_MS,
  );
  return { downMs: Date.now() - from, failedWhileDown: load.sentBetween(from).filter(isFailed).length };
}

const FAULTS: Fault[] = [
  {
    name: 'kill -9 API',
    dependencyDown: true,
    inject: async (stack) => {
      const statement = await sessionInTransaction(stack, 'gpupool-api');
      const pid = stack.api.current().pid;
      await stack.api.kill9();
      const killedAt = Date.now();
      await stack.api.start();
      return { pid, midTransaction: statement ?? 'not caught', restartMs: Date.now() - killedAt };
    },
  },
  {
    name: 'kill -9 scheduler',
    dependencyDown: false,
    inject: async (stack) => {
      const statement = await sessionInTransaction(stack, 'gpupool-scheduler');
      const pid = stack.scheduler.current().pid;
      await stack.scheduler.kill9();
      const killedAt = Date.now();
      await stack.scheduler.start();
      return { pid, midTransaction: statement ?? 'not caught', restartMs: Date.now() - killedAt };
    },
  },
  {
    name: 'kill -9 simulator agent',
    dependencyDown: false,
    inject: async (stack) => {
      const running = await waitFor(
        'runs in flight on the agent',
        async () => {
          const [row] = await stack.db.query<{ n: number }[]>(
            `SELECT count(*)::int AS n FROM workloads WHERE state = 'running'`,
          );
          const running = row?.n ?? 0;
          return running >= 2 ? running : false;
        },
        STEP_BOUND_MS,
      );
      const pid = stack.simulator.current().pid;
      await stack.simulator.kill9();
      const killedAt = Date.now();
      await stack.simulator.start();
      return { pid, runningAtKill: running, restartMs: Date.now() - killedAt };
    },
  },
  {
    name: 'Redis FLUSHALL',
    dependencyDown: false,
    inject: async (stack) => {
      const { Redis } = await import('ioredis');
      const client = new Redis(stack.redis.url, { maxRetriesPerRequest: 1 });
      try {
        const keys = await client.dbsize();
        await client.flushall();
        return { keysFlushed: keys };
      } finally {
        client.disconnect();
      }
    },
  },
  {
    name: 'Redis stop + start',
    dependencyDown: true,
    inject: async (stack, load) => {
      const stoppedAt = Date.now();
      await stack.redis.stop();
      const down = await outage(load, stoppedAt);
      await stack.redis.start();
      return down;
    },
  },
  {
    name: 'PostgreSQL stop + start',
    dependencyDown: true,
    inject: async (stack, load) => {
      const stoppedAt = Date.now();
      await stack.postgres.stopServer();
      const down = await outage(load, stoppedAt);
      await stack.postgres.startServer();
      return { ...down, startMs: Date.now() - stoppedAt - down.downMs };
    },
  },
  {
    name: 'PostgreSQL crash (restart -m immediate)',
    dependencyDown: true,
    inject: async (stack) => {
      const { downMs } = await stack.postgres.restart('immediate');
      return { downMs };
    },
  },
];

function seconds(ms: number | null): string {
  return ms === null ? 'never' : (ms / 1000).toFixed(1);
}

function table(rows: FaultRow[]): string {
  const lines = [
    '| fault | attempts | accepted | refused | errors during fault | errors after recovery | lost | violations | recovery s |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (row) =>
        `| ${row.fault} | ${row.attempts} | ${row.accepted} | ${row.refused} | ${row.errorsDuringFault} | ` +
        `${row.errorsAfterRecovery} | ${row.lost} | ${row.violations} | ${seconds(row.recoveryMs)} |`,
    ),
  ];
  return lines.join('\n');
}

function countBy(attempts: Attempt[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const attempt of attempts) {
    const key = describeFailure(attempt);
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

describe(`faults under a steady submission load (${RATE} workloads/s through the API)`, () => {
  let stack: ChaosStack;
  let load: SubmissionLoad;
  const rows: FaultRow[] = [];
  const startedAt = Date.now();

  beforeAll(async () => {
    stack = await startChaosStack({
      nodes: 8,
      gpusPerNode: 8,
      grantedGpuHours: 100_000n,
      maxConcurrentGpus: 512,
    });
    load = new SubmissionLoad({
      baseUrl: stack.api.baseUrl,
      token: stack.api.adminToken,
      allocationId: stack.quota.allocationId,
      gpuModel: 'H200',
      ratePerSecond: RATE,
      maxInFlight: 64,
      timeoutMs: 20_000,
    });
  }, 180_000);

  afterAll(async () => {
    await load?.stop();
    await stack?.stop();
    if (rows.length === 0) return;
    const report = [
      '# Faults under a steady submission load',
      '',
      `Command: \`npm run test:chaos -- faults\` (test/reliability/faults.chaos-spec.ts), ` +
        `${new Date().toISOString().slice(0, 10)}, ${RATE} submissions/s, whole file ` +
        `${((Date.now() - startedAt) / 1000).toFixed(0)} s.`,
      '',
      'API, scheduler and simulated agent are processes of the built dist/ on a throwaway PostgreSQL and ' +
        'Redis. "errors" are 5xx answers or connection errors/timeouts of submissions sent while the fault ' +
        'lasted (until the first accepted submission sent after it) and after that; "lost" are accepted ' +
        `workloads not terminal within ${RECOVERY_BOUND_MS / 1000} s after the load stopped; "violations" ` +
        'count rows breaking the DESIGN.md invariants (test/reliability/support/invariants.ts) on the ' +
        'drained system; "recovery" runs from the fault until a submission sent after it has succeeded and ' +
        'every workload in flight at the fault has ended.',
      '',
      table(rows),
      '',
      '## Details',
      '',
      ...rows.map((row) => `- ${row.fault}: \`${JSON.stringify(row.detail)}\``),
      '',
    ].join('\n');
    process.stdout.write(`\n${table(rows)}\n\n`);
    // Written as Prettier would (npm run lint checks it): tables aligned, long lines kept.
    const file = 'test/reliability/results/faults.md';
    const prettier = await import('prettier');
    const formatted = await prettier.format(report, {
      ...(await prettier.resolveConfig(file)),
      filepath: file,
    });
    await mkdir('test/reliability/results', { recursive: true });
    await writeFile(file, formatted);
  });

  /** Non-terminal workload ids right now. */
  async function inFlight(): Promise<string[]> {
    const rows = await stack.db.query<{ id: string }[]>(
      `SELECT id FROM workloads WHERE NOT (state = ANY($1))`,
      [TERMINAL_STATES],
    );
    return rows.map((row) => row.id);
  }

  async function runFault(
    fault: Fault,
  ): Promise<{ row: FaultRow; counts: InvariantCounts; facts: QuietFacts }> {
    const phaseStart = Date.now();
    load.start();
    await waitFor(
      `${WARMUP_ACCEPTED} accepted submissions, some of them run to success, before the fault`,
      async () => {
        const ids = load.sentBetween(phaseStart).flatMap((attempt) => attempt.workloadId ?? []);
        if (ids.length < WARMUP_ACCEPTED) return false;
        const [row] = await stack.db.query<{ n: number }[]>(
          `SELECT count(*)::int AS n FROM workloads WHERE id = ANY($1) AND state = 'succeeded'`,
          [ids],
        );
        return (row?.n ?? 0) >= RATE;
      },
      STEP_BOUND_MS,
    );
    const inFlightAtFault = await inFlight();
    const faultAt = Date.now();
    const injected = await fault.inject(stack, load);
    const backAt = Date.now();
    // The fault lasts until the API accepts again: errors of submissions sent before that are the fault's.
    const firstAccepted = await waitFor(
      'a submission sent after the fault to be accepted',
      () => Promise.resolve(load.sentBetween(backAt).find(isAccepted)),
      STEP_BOUND_MS,
    );
    const windowEnd = firstAccepted.sentAt;
    // End to end again: a submission sent after the fault has succeeded, and every workload that was in
    // flight at the fault has ended.
    let recoveredAt: number | null;
    try {
      recoveredAt = await waitFor(
        'the system to recover (a new submission succeeded; all in flight at the fault ended)',
        async () => {
          const fresh = load.sentBetween(backAt).flatMap((attempt) => attempt.workloadId ?? []);
          const [row] = await stack.db.query<
            { first_success: Date | null; open: number; last_end: Date | null }[]
          >(
            `SELECT (SELECT min(ended_at) FROM workloads WHERE id = ANY($1) AND state = 'succeeded') AS first_success,
                    (SELECT count(*) FROM workloads WHERE id = ANY($2) AND NOT (state = ANY($3)))::int AS open,
                    (SELECT max(ended_at) FROM workloads WHERE id = ANY($2)) AS last_end`,
            [fresh, inFlightAtFault, TERMINAL_STATES],
          );
          if (!row?.first_success || row.open > 0) return false;
          return Math.max(row.first_success.getTime(), row.last_end?.getTime() ?? 0);
        },
        RECOVERY_BOUND_MS,
      );
    } catch {
      recoveredAt = null;
    }
    await waitFor(
      `${AFTER_RECOVERY_ACCEPTED} more accepted submissions after the recovery`,
      () => Promise.resolve(load.sentBetween(windowEnd).filter(isAccepted).length >= AFTER_RECOVERY_ACCEPTED),
      STEP_BOUND_MS,
    );
    await load.stop();
    const attempts = load.sentBetween(phaseStart);
    const acceptedIds = attempts.flatMap((attempt) => attempt.workloadId ?? []);

    // Drain: every workload terminal and every usage batch posted, or the bound passes.
    const drainStart = Date.now();
    let drained = true;
    try {
      await waitFor(
        'the system to drain (all workloads terminal, all usage posted)',
        async () => {
          const open = await openWork(stack.db);
          return open.open === 0 && open.unposted === 0;
        },
        RECOVERY_BOUND_MS,
      );
    } catch {
      drained = false;
    }
    const drainMs = Date.now() - drainStart;
    const [lostRow] = await stack.db.query<
      { lost: number; missing: number; states: Record<string, number> | null }[]
    >(
      `SELECT count(*) FILTER (WHERE w.id IS NOT NULL AND NOT (w.state = ANY($2)))::int AS lost,
              count(*) FILTER (WHERE w.id IS NULL)::int AS missing,
              (SELECT jsonb_object_agg(state, n) FROM (SELECT state, count(*) AS n FROM workloads
                 WHERE NOT (state = ANY($2)) GROUP BY state) s) AS states
         FROM unnest($1::uuid[]) AS a(id) LEFT JOIN workloads w ON w.id = a.id`,
      [acceptedIds, TERMINAL_STATES],
    );
    // Where the slowest accepted workload of the phase spent its time (ms per stage): what a long
    // recovery waited for.
    const [slowest] = await stack.db.query<Record<string, number | string>[]>(
      `SELECT left(id::text, 8) AS id, state, attempt,
              (extract(epoch FROM ended_at - queued_at) * 1000)::int AS "totalMs",
              (extract(epoch FROM admitted_at - queued_at) * 1000)::int AS "queuedMs",
              (extract(epoch FROM dispatched_at - admitted_at) * 1000)::int AS "toDispatchMs",
              (extract(epoch FROM started_at - dispatched_at) * 1000)::int AS "toStartMs",
              (extract(epoch FROM ended_at - started_at) * 1000)::int AS "runMs"
         FROM workloads WHERE id = ANY($1) AND ended_at IS NOT NULL ORDER BY ended_at - queued_at DESC LIMIT 1`,
      [acceptedIds],
    );
    const { counts, facts } = await checkInvariants(stack.db, stack.db);
    const during = attempts.filter((attempt) => attempt.sentAt < windowEnd);
    const after = attempts.filter((attempt) => attempt.sentAt >= windowEnd);
    const failedDuring = during.filter(isFailed);
    const failedAfter = after.filter(isFailed);
    const causes: Record<string, string> = {};
    for (const attempt of [...failedAfter, ...failedDuring].filter((a) => a.errorId).slice(0, 3)) {
      causes[attempt.errorId!] = (await stack.explain(attempt.errorId!)) ?? 'not in the API log';
    }
    const row: FaultRow = {
      fault: fault.name,
      attempts: attempts.length,
      accepted: acceptedIds.length,
      refused: attempts.filter(isRefused).length,
      errorsDuringFault: failedDuring.length,
      errorsAfterRecovery: failedAfter.length,
      lost: (lostRow?.lost ?? 0) + (lostRow?.missing ?? 0),
      violations: totalViolations(counts),
      recoveryMs: recoveredAt === null ? null : recoveredAt - faultAt,
      detail: {
        ...injected,
        faultWindowMs: windowEnd - faultAt,
        inFlightAtFault: inFlightAtFault.length,
        failuresDuring: countBy(failedDuring),
        failuresAfter: countBy(failedAfter),
        refusals: countBy(attempts.filter(isRefused)),
        causes,
        drained,
        drainMs,
        slowest,
        notTerminal: lostRow?.states ?? {},
        acceptedButMissing: lostRow?.missing ?? 0,
        violations: violationsOf(counts),
        skippedTicks: load.skippedTicks,
        totals: facts,
      },
    };
    rows.push(row);
    process.stdout.write(`[faults] ${JSON.stringify(row)}\n`);
    return { row, counts, facts };
  }

  it.each(FAULTS.map((fault) => [fault.name, fault] as const))(
    '%s: recovers by itself, loses nothing, keeps every invariant',
    async (_name, fault) => {
      const { row, counts } = await runFault(fault);
      expect({
        lost: row.lost,
        violations: violationsOf(counts),
        errorsAfterRecovery: row.errorsAfterRecovery,
        refused: row.refused,
        errorsDuringFault: fault.dependencyDown ? 'allowed' : row.errorsDuringFault,
        recovered: row.recoveryMs !== null,
      }).toEqual({
        lost: 0,
        violations: {},
        errorsAfterRecovery: 0,
        refused: 0,
        errorsDuringFault: fault.dependencyDown ? 'allowed' : 0,
        recovered: true,
      });
      expect(row.accepted).toBeGreaterThanOrEqual(WARMUP_ACCEPTED + AFTER_RECOVERY_ACCEPTED);
    },
    FAULT_TEST_MS,
  );

  it('the checks can fail: each corruption of the data the faults left is counted (rolled back after)', async () => {
    const runner = stack.db.createQueryRunner();
    await runner.connect();
    await runner.startTransaction();
    try {
      const before = (await checkInvariants(runner, null)).counts;
      expect(violationsOf(before)).toEqual({});
      const [victim] = (await runner.query(
        `SELECT w.id, w.allocation_id FROM workloads w
          WHERE w.state = 'succeeded' AND w.attempt = 0
            AND EXISTS (SELECT 1 FROM usage_records u WHERE u.workload_id = w.id)
          ORDER BY w.queued_at LIMIT 1`,
      )) as ({ id: string; allocation_id: string } | undefined)[];
      const [other] = (await runner.query(
        `SELECT id FROM workloads WHERE state = 'succeeded' AND id <> $1 ORDER BY queued_at LIMIT 1`,
        [victim?.id],
      )) as ({ id: string } | undefined)[];
      if (!victim || !other) throw new Error('no succeeded workloads to corrupt');
      // 1: an entry that unbalances its transaction (checked at commit; this transaction never commits).
      await runner.query(
        `INSERT INTO ledger_entries (transaction_id, account, amount)
         SELECT transaction_id, account, 1 FROM ledger_entries ORDER BY transaction_id LIMIT 1`,
      );
      // 1: a kept balance that is not the sum of its entries (the trigger keeps them in step otherwise).
      await runner.query(
        `UPDATE account_balances SET balance = balance + 1
          WHERE account = (SELECT account FROM account_balances ORDER BY account LIMIT 1)`,
      );
      // 2: a balanced posting that holds more than the allocation has left.
      await runner.query(
        `WITH t AS (INSERT INTO ledger_transactions (kind, idempotency_key) VALUES ('refund', 'refund:chaos-self-test')
                    RETURNING id)
         INSERT INTO ledger_entries (transaction_id, account, amount)
         SELECT t.id, x.account, x.amount FROM t,
                (VALUES ('allocation:' || $1::text, -1e15::bigint), ('hold:' || $1::text, 1e15::bigint)) AS x(account, amount)`,
        [victim.allocation_id],
      );
      // 3: a node whose gpus_allocated is not the sum of its placements (over-booking itself the
      // schema refuses: ck_nodes_gpus_allocated keeps 0 <= gpus_allocated <= gpus_total).
      await runner.query(
        `UPDATE nodes SET gpus_allocated = gpus_total WHERE id = (SELECT id FROM nodes ORDER BY name LIMIT 1)`,
      );
      // 5: a phantom run: a finished workload running again, with no placement and its hold ended.
      await runner.query(`UPDATE workloads SET state = 'running' WHERE id = $1`, [other.id]);
      // One hold per attempt: a hold moved to an attempt that never was; another reopened.
      await runner.query(`UPDATE workload_holds SET attempt = attempt + 5 WHERE workload_id = $1`, [
        victim.id,
      ]);
      // 4: a record's GPU-seconds changed after its posting, and moved to an attempt of its own.
      await runner.query(
        `UPDATE usage_records SET gpu_seconds = gpu_seconds + 1, attempt = attempt + 7 WHERE workload_id = $1`,
        [victim.id],
      );
      const { counts } = await checkInvariants(runner, null);
      const caught = Object.fromEntries(
        (
          [
            'unbalancedTransactions',
            'balanceMismatches',
            'overHeldAllocations',
            'holdAccountMismatches',
            'holdPostingsWithoutHold',
            'placementMismatches',
            'phantomRuns',
            'misplacedWorkloads',
            'holdsBeyondAttempt',
            'holdsWithoutPosting',
            'consumedMismatches',
            'usageLedgerDrift',
            'unmeteredSucceeded',
          ] as const
        ).map((name) => [name, counts[name] !== 0]),
      );
      expect(Object.entries(caught).filter(([, seen]) => !seen)).toEqual([]);
    } finally {
      await runner.rollbackTransaction();
      await runner.release();
    }
    // Rolled back: the data the faults left is as clean as it was.
    expect(violationsOf((await checkInvariants(stack.db, null)).counts)).toEqual({});
  });
});
