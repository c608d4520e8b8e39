/**
 * bench:billing — a month of usage closed and exported: close time, and per export format the wall
 * time, rows, bytes and peak RSS.
 *
 *   npm run bench:billing -- [--rows 10000000] [--allocations 2600] [--no-preview] [--write]
 *
 * 1. A throwaway database, migrated. Organizations of every type (university, research institute,
 *    public, startup, youth startup, SME, enterprise) with their 사업자등록번호, projects, three
 *    agencies and six programs, allocations on three GPU models, and rate cards with mid-month price
 *    changes (H100 at Seoul midnight of the 16th, A100 at noon of the 16th; B200 unchanged).
 * 2. R usage records of last month (Asia/Seoul), seeded straight into the tables the close reads
 *    (usage_batches posted, usage_records, and usage_daily rolled up from the same records in SQL
 *    with the day split of libs/domain), NOT posted through `usage.post` (bench:usage measures that):
 *    the ledger postings are not written. Records are a pure function of their index: 1–8 GPUs,
 *    1 min–6 h, anywhere in the month (so some cross Seoul midnight and the price changes), spread
 *    over the allocations with a skew (a few use most).
 * 3. Optional: the statements preview of the open month (previewBillingPeriod: the close's
 *    computation, read only).
 * 4. The close (closeBillingPeriod, as POST /v1/billing/periods/:period/close runs it).
 * 5. Exports of the closed month as CSV, JSON and XLSX (RunBillingExportUseCase.export, as the
 *    `billing.export` job runs it: lines read in batches, formatted, hashed, stored as chunks), then
 *    the XLSX again to check it is byte-identical.
 * Steps 3–5 each run in a child process of their own that samples process.memoryUsage().rss every
 * 50 ms and reports that peak and its process.resourceUsage().maxRSS; the bench process reports its
 * own maxRSS too. With --write: test/bench/results/billing-<date>.{json,md}. The database is dropped
 * at the end, also when the run fails.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';

const RSS_SAMPLE_MS = 50;
const RECORDS_PER_BATCH = 10_000;
const SEED_CHUNK = 1_000_000;
const SOURCE = 'slurm:bench-billing';
const RESULT_PREFIX = 'BENCH_RESULT ';
const EXPORT_FORMATS = ['csv', 'json', 'xlsx'] as const;
type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** A bigint mask that clears the sign bit: hash values in 0 … 2⁶³ − 1 (abs() fails on −2⁶³). */
const NON_NEGATIVE = '9223372036854775807';

const round = (value: number, digits = 0): number => Number(value.toFixed(digits));
const mib = (bytes: number): number => round(bytes / 2 ** 20, 1);

// ---------------------------------------------------------------------------------------------
// Child processes: one measured step each.

type ChildTask =
  | { task: 'preview'; databaseUrl: string; period: string }
  | { task: 'close'; databaseUrl: string; period: string; closedBy: string }
  | { task: 'export'; databaseUrl: string; exportId: string };

interface Measured {
  wallMs: number;
  /** RSS after imports and the database connection, before the step. */
  baselineRssBytes: number;
  /** Highest of the 50 ms samples (and one taken right after the step). */
  peakRssBytes: number;
  samples: number;
  /** process.resourceUsage().maxRSS of the child, in bytes (the kernel's high-water mark). */
  maxRssBytes: number;
  detail: Record<string, unknown>;
}

async function childMain(task: ChildTask): Promise<void> {
  const { createDataSource } = await import('#persistence');
  const db = createDataSource({
    url: task.databaseUrl,
    poolSize: 2,
    applicationName: `bench-billing-${task.task}`,
  });
  await db.initialize();
  try {
    const { closeBillingPeriod, previewBillingPeriod } = await import('#persistence');
    const { billingExportJob } = await import('../support/billing-export-job.js');
    const quiet = {
      info: () => undefined,
      warn: () => undefined,
      error: () => undefined,
      debug: () => undefined,
    };
    const run = async (): Promise<Record<string, unknown>> => {
      switch (task.task) {
        case 'preview': {
          const preview = await previewBillingPeriod(db, { period: task.period });
          return {
            lines: preview.lines.length,
            gpuSeconds: preview.totals.gpuSeconds.toString(),
            total: preview.totals.total.toString(),
          };
        }
        case 'close': {
          const summary = await closeBillingPeriod(db, { period: task.period, closedBy: task.closedBy });
          return {
            lines: summary.lineCount,
            chargedPieces: summary.chargedPieces,
            gpuSeconds: summary.totals.gpuSeconds.toString(),
            total: summary.totals.total.toString(),
          };
        }
        case 'export': {
          const exporter = billingExportJob(db, quiet);
          const outcome = await exporter.export(task.exportId);
          if (outcome.outcome !== 'done')
            throw new Error(`export ${task.exportId}: ${JSON.stringify(outcome)}`);
          return { rows: outcome.rowCount, bytes: Number(outcome.bytes), sha256: outcome.sha256 };
        }
      }
    };
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    let samples = 0;
    const sampler = setInterval(() => {
      samples += 1;
      peak = Math.max(peak, process.memoryUsage().rss);
    }, RSS_SAMPLE_MS);
    const started = performance.now();
    let detail: Record<string, unknown>;
    try {
      detail = await run();
    } finally {
      clearInterval(sampler);
    }
    const wallMs = performance.now() - started;
    peak = Math.max(peak, process.memoryUsage().rss);
    const measured: Measured = {
      wallMs,
      baselineRssBytes: baseline,
      peakRssBytes: peak,
      samples,
      maxRssBytes: process.resourceUsage().maxRSS * 1024,
      detail,
    };
    process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(measured)}\n`);
  } finally {
    await db.destroy();
  }
}

/** Runs one step in a child process of this script and returns what it measured. */
function inChild(task: ChildTask): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', JSON.stringify(task)], {
      env: { ...process.env, NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text: string) => {
      out += text;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.split('\n').find((candidate) => candidate.startsWith(RESULT_PREFIX));
      if (code !== 0 || line === undefined) {
        reject(new Error(`bench child ${task.task} exited with ${code}: ${out.slice(-2000)}`));
        return;
      }
      resolve(JSON.parse(line.slice(RESULT_PREFIX.length)) as Measured);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Seeding.

interface Shape {
  rows: number;
  allocations: number;
  period: string;
}

/** Organizations per type, a national pool's order of magnitude: many startups and universities, few enterprises. */
const ORGANIZATION_MIX = [
  ['university', 120, '대학교 산학협력단'],
  ['research_institute', 50, '연구원'],
  ['public', 40, '공단'],
  ['startup', 220, '주식회사'],
  ['youth_startup', 110, '(주)청년'],
  ['sme', 140, '중소기업'],
  ['enterprise', 20, '전자'],
] as const;

const AGENCIES = [
  ['NIPA', '정보통신산업진흥원'],
  ['KISTI', '한국과학기술정보연구원'],
  ['NIA', '한국지능정보사회진흥원'],
] as const;

const MODELS = ['H100', 'B200', 'A100'] as const;

/** A 32-bit integer hash (murmur3's finalizer): the same index always gives the same choice. */
function mix(index: number, salt: number): number {
  let h = (index ^ Math.imul(salt, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

async function timed<T>(label: string, seconds: Record<string, number>, work: () => Promise<T>): Promise<T> {
  process.stderr.write(`bench: ${label} …\n`);
  const started = performance.now();
  const result = await work();
  seconds[label] = round((performance.now() - started) / 1000, 1);
  process.stderr.write(`bench: ${label}: ${seconds[label]} s\n`);
  return result;
}

async function seed(client: pg.Client, shape: Shape, seconds: Record<string, number>) {
  const { periodBounds, taxIdentityCheckDigit } = await import('#domain');
  const bounds = periodBounds(shape.period);
  const monthStart = bounds.startsAt;
  const monthSeconds = (bounds.endsAt.getTime() - monthStart.getTime()) / 1000;
  const changeDay = new Date(monthStart.getTime() + 15 * 86_400_000);

  return timed('seed directory, programs, allocations and rate cards', seconds, async () => {
    const financeId = randomUUID();
    await client.query(
      `INSERT INTO users (id, email, name, roles) VALUES ($1, 'finance@bench.gpupool.kr', 'Bench finance', '{finance}')`,
      [financeId],
    );
    for (const [code, name] of AGENCIES) {
      await client.query('INSERT INTO agencies (code, name) VALUES ($1, $2)', [code, name]);
    }
    // Two programs per agency, each open to every organization type; the subsidy rates differ.
    const programs: string[] = [];
    for (const [agency] of AGENCIES) {
      for (const call of [1, 2]) {
        const id = randomUUID();
        programs.push(id);
        const subsidy = call === 1 ? 0.7 : 0.5;
        await client.query(
          `INSERT INTO programs (id, code, name, agency_code, fiscal_year, starts_at, ends_at, eligible_organization_types,
                                 tracks, sector_targets, rubric, subsidy_rates)
           VALUES ($1, $2, $3, $4, 2026, $5, $6, $7, $8, $9, $10, $11)`,
          [
            id,
            `${agency}-GPU-${call}`,
            `${agency} AI 컴퓨팅 지원 ${call}차`,
            agency,
            new Date(monthStart.getTime() - 365 * 86_400_000),
            new Date(monthStart.getTime() + 365 * 86_400_000),
            ORGANIZATION_MIX.map(([type]) => type),
            JSON.stringify([{ code: 'gpu', kind: 'gpu', minGpus: 1, maxGpus: 64 }]),
            JSON.stringify({ national: 50, industry: 30, academia: 20 }),
            JSON.stringify([{ key: 'merit', label: 'Merit', weight: 1, maxScore: 10 }]),
            JSON.stringify({
              startup: Math.round(subsidy * 10_000),
              youth_startup: Math.round(subsidy * 10_000),
              sme: Math.round(subsidy * 10_000),
              public: 5000,
            }),
          ],
        );
      }
    }

    const organizations = {
      id: [] as string[],
      name: [] as string[],
      type: [] as string[],
      taxId: [] as string[],
    };
    let serial = 0;
    for (const [type, count, suffix] of ORGANIZATION_MIX) {
      for (let i = 0; i < count; i += 1) {
        serial += 1;
        const first = String(100_000_000 + (mix(serial, 7) % 800_000_000)).slice(0, 9);
        organizations.id.push(randomUUID());
        // A few names a spreadsheet would take for formulas, and some with commas and quotes.
        organizations.name.push(
          serial % 97 === 0
            ? `=HYPERLINK("https://example.invalid/${serial}","${suffix}")`
            : serial % 31 === 0
              ? `${suffix} ${serial}, "AI"`
              : `${suffix} ${String(serial).padStart(4, '0')}`,
        );
        organizations.type.push(type);
        organizations.taxId.push(first + String(taxIdentityCheckDigit(first)));
      }
    }
    await client.query(
      `INSERT INTO organizations (id, name, type, region, capital_area, tax_id_kind, tax_id)
       SELECT id, name, type, 'seoul', true, 'business_registration_number', tax_id
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) AS o(id, name, type, tax_id)`,
      [organizations.id, organizations.name, organizations.type, organizations.taxId],
    );

    // Projects (1–3 per organization) and allocations (one model each, some projects two models),
    // until there are `allocations` of them.
    const projects = { id: [] as string[], organization: [] as string[], title: [] as string[] };
    const allocations = {
      id: [] as string[],
      request: [] as string[],
      line: [] as string[],
      project: [] as string[],
      program: [] as string[],
      model: [] as string[],
    };
    for (let p = 0; allocations.id.length < shape.allocations; p += 1) {
      const organization = p % organizations.id.length;
      const projectId = randomUUID();
      projects.id.push(projectId);
      projects.organization.push(organizations.id[organization]);
      projects.title.push(`${organizations.name[organization].slice(0, 40)} 연구 ${p + 1}`);
      const models = mix(p, 3) % 4 === 0 ? 2 : 1;
      for (let m = 0; m < models && allocations.id.length < shape.allocations; m += 1) {
        allocations.id.push(randomUUID());
        allocations.request.push(randomUUID());
        allocations.line.push(randomUUID());
        allocations.project.push(projectId);
        allocations.program.push(programs[mix(p, 5) % programs.length]);
        allocations.model.push(MODELS[(mix(p, 4) + m) % MODELS.length]);
      }
    }
    await client.query(
      `INSERT INTO projects (id, title, organization_id, pi_user_id)
       SELECT id, title, organization_id, $4 FROM unnest($1::uuid[], $2::text[], $3::uuid[]) AS p(id, title, organization_id)`,
      [projects.id, projects.title, projects.organization, financeId],
    );
    const window = [
      new Date(monthStart.getTime() - 60 * 86_400_000),
      new Date(monthStart.getTime() + 120 * 86_400_000),
    ];
    await client.query(
      `INSERT INTO allocation_requests (id, project_id, program_id, status, starts_at, ends_at, justification, created_by,
                                        submitted_at, decided_at)
       SELECT r, p, g, 'approved', $4, $5, 'bench', $6, $4, $4 FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) AS a(r, p, g)`,
      [allocations.request, allocations.project, allocations.program, window[0], window[1], financeId],
    );
    await client.query(
      `INSERT INTO allocation_request_lines (id, request_id, line_no, gpu_model, kind, gpu_seconds, max_concurrent_gpus,
                                             granted_gpu_seconds, granted_max_concurrent_gpus)
       SELECT l, r, 1, m, 'budget', 1000000000000, 64, 1000000000000, 64 FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS a(l, r, m)`,
      [allocations.line, allocations.request, allocations.model],
    );
    await client.query(
      `INSERT INTO allocations (id, request_id, request_line_id, project_id, program_id, gpu_model, kind, max_concurrent_gpus,
                                starts_at, ends_at, status)
       SELECT id, r, l, p, g, m, 'budget', 64, $7, $8, 'active'
         FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[]) AS a(id, r, l, p, g, m)`,
      [
        allocations.id,
        allocations.request,
        allocations.line,
        allocations.project,
        allocations.program,
        allocations.model,
        window[0],
        window[1],
      ],
    );
    const cards: [string, number, Date][] = [
      ['H100', 3000, new Date('2025-01-01T00:00:00+09:00')],
      ['H100', 3600, changeDay],
      ['A100', 1500, new Date('2025-01-01T00:00:00+09:00')],
      ['A100', 1400, new Date(changeDay.getTime() + 12 * 3_600_000)],
      ['B200', 5000, new Date('2025-01-01T00:00:00+09:00')],
    ];
    for (const [model, price, from] of cards) {
      await client.query(
        'INSERT INTO rate_cards (gpu_model, krw_per_gpu_hour, effective_from, created_by) VALUES ($1, $2, $3, $4)',
        [model, price, from, financeId],
      );
    }
    return {
      financeId,
      organizations: organizations.id.length,
      organizationsByType: Object.fromEntries(ORGANIZATION_MIX.map(([type, count]) => [type, count])),
      projects: projects.id.length,
      allocations: allocations.id.length,
      programs: programs.length,
      agencies: AGENCIES.length,
      rateCards: cards.map(([model, price, from]) => ({
        model,
        krwPerGpuHour: price,
        effectiveFrom: from.toISOString(),
      })),
      monthStart,
      monthSeconds,
    };
  });
}

/**
 * The usage: batches (posted), records, and their daily rollups. usage_records' secondary indexes
 * and foreign keys are dropped for the load and put back as they were (the same definitions).
 */
async function seedUsage(
  client: pg.Client,
  shape: Shape,
  monthStart: Date,
  monthSeconds: number,
  seconds: Record<string, number>,
): Promise<void> {
  const indexes = await client.query<{ name: string; definition: string }>(
    `SELECT indexname AS name, indexdef AS definition FROM pg_indexes
      WHERE tablename = 'usage_records' AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE contype = 'p')`,
  );
  const foreignKeys = await client.query<{ name: string; definition: string }>(
    `SELECT conname AS name, pg_get_constraintdef(oid) AS definition FROM pg_constraint
      WHERE conrelid = 'usage_records'::regclass AND contype = 'f'`,
  );
  await timed('seed usage batches and records', seconds, async () => {
    for (const fk of foreignKeys.rows)
      await client.query(`ALTER TABLE usage_records DROP CONSTRAINT "${fk.name}"`);
    for (const index of indexes.rows) await client.query(`DROP INDEX "${index.name}"`);
    const postedAt = new Date(monthStart.getTime() + monthSeconds * 1000 + 3_600_000);
    await client.query(
      `INSERT INTO usage_batches (id, record_count, accepted_count, received_at, posted_at)
       SELECT md5('bench-batch-' || b)::uuid, $2, $2, $3, $3 FROM generate_series(0, $1::bigint) AS b`,
      [Math.ceil(shape.rows / RECORDS_PER_BATCH) - 1, RECORDS_PER_BATCH, postedAt],
    );
    // Allocations by position (1…n, in id order); a join, not an array: PostgreSQL would copy a large
    // array for every row that indexes it.
    await client.query(
      `CREATE TEMP TABLE bench_allocations AS
         SELECT row_number() OVER (ORDER BY id)::int AS position, id, gpu_model FROM allocations`,
    );
    await client.query('CREATE UNIQUE INDEX ON bench_allocations (position)');
    await client.query('ANALYZE bench_allocations');
    const allocationCount = shape.allocations;
    for (let from = 0; from < shape.rows; from += SEED_CHUNK) {
      const to = Math.min(shape.rows, from + SEED_CHUNK) - 1;
      // u² skew: the first allocations (in id order) use the most. Whole seconds, inside the month.
      await client.query(
        `WITH g AS (
           SELECT n, hashint8extended(n, 1) & ${NON_NEGATIVE} AS h1, hashint8extended(n, 2) & ${NON_NEGATIVE} AS h2,
                  hashint8extended(n, 3) & ${NON_NEGATIVE} AS h3, hashint8extended(n, 4) & ${NON_NEGATIVE} AS h4
             FROM generate_series($1::bigint, $2::bigint) AS n
         ), shaped AS (
           SELECT g.n, 1 + floor($8 * power((g.h1 % 1000000) / 1000000.0, 2))::int AS a,
                  (ARRAY[1, 1, 2, 4, 8, 8])[1 + g.h2 % 6] AS gpus, 60 + g.h3 % (6 * 3600 - 60) AS secs, g.h4
             FROM g
         )
         INSERT INTO usage_records (batch_id, source, external_id, allocation_id, gpu_model, gpus, started_at, ended_at,
                                    gpu_seconds, late, received_at)
         SELECT md5('bench-batch-' || (s.n / $5))::uuid, $6, 'r' || s.n, b.id, b.gpu_model, s.gpus,
                $3::timestamptz + make_interval(secs => s.h4 % ($4 - s.secs)),
                $3::timestamptz + make_interval(secs => s.h4 % ($4 - s.secs) + s.secs),
                s.gpus * s.secs, false, $7
           FROM shaped s JOIN bench_allocations b ON b.position = s.a`,
        [from, to, monthStart, monthSeconds, RECORDS_PER_BATCH, SOURCE, postedAt, allocationCount],
      );
      process.stderr.write(`bench:   ${(to + 1).toLocaleString('en')} records\n`);
    }
  });
  await timed('rebuild usage_records indexes and foreign keys', seconds, async () => {
    for (const index of indexes.rows) await client.query(index.definition);
    for (const fk of foreignKeys.rows) {
      await client.query(`ALTER TABLE usage_records ADD CONSTRAINT "${fk.name}" ${fk.definition}`);
    }
  });
  await timed('roll usage up into usage_daily (Seoul days)', seconds, async () => {
    // The day split of libs/domain's splitUsageByDay: seconds laid from the start, cut at Seoul midnight.
    await client.query(
      `INSERT INTO usage_daily (allocation_id, day, project_id, program_id, gpu_model, gpu_seconds, records)
       SELECT r.allocation_id, d.day, a.project_id, a.program_id, a.gpu_model,
              sum(r.gpus * extract(epoch FROM least(r.ended_at, (d.day + 1)::timestamp AT TIME ZONE 'Asia/Seoul')
                                          - greatest(r.started_at, d.day::timestamp AT TIME ZONE 'Asia/Seoul')))::bigint,
              count(*)::int
         FROM usage_records r
         JOIN allocations a ON a.id = r.allocation_id
         CROSS JOIN LATERAL (
           SELECT day::date FROM generate_series((r.started_at AT TIME ZONE 'Asia/Seoul')::date,
                                                 ((r.ended_at - interval '1 millisecond') AT TIME ZONE 'Asia/Seoul')::date,
                                                 interval '1 day') AS day
         ) d
        GROUP BY r.allocation_id, d.day, a.project_id, a.program_id, a.gpu_model`,
    );
  });
  await timed('VACUUM ANALYZE + CHECKPOINT', seconds, async () => {
    await client.query('VACUUM ANALYZE usage_records, usage_batches, usage_daily, allocations');
    await client.query('CHECKPOINT');
  });
}

// ---------------------------------------------------------------------------------------------
// The run.

interface Options {
  rows: number;
  allocations: number;
  preview: boolean;
}

async function measure(options: Options, databaseUrl: string) {
  const { createDataSource, ensureDatabase } = await import('#persistence');
  const { periodOf, previousPeriod } = await import('#domain');
  const period = previousPeriod(periodOf(new Date()));
  const shape: Shape = { rows: options.rows, allocations: options.allocations, period };
  const seedSeconds: Record<string, number> = {};

  await timed('create and migrate the database', seedSeconds, async () => {
    await ensureDatabase(databaseUrl);
    const db = createDataSource({ url: databaseUrl, poolSize: 1 });
    await db.initialize();
    await db.runMigrations();
    await db.destroy();
  });
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'bench-billing-seed' });
  await client.connect();
  let seeded: Awaited<ReturnType<typeof seed>>;
  let postgres: Record<string, string> | undefined;
  try {
    await client.query('SET statement_timeout = 0');
    // Seeding only: the measured steps run in their own sessions with the server's settings.
    await client.query('SET synchronous_commit = off');
    seeded = await seed(client, shape, seedSeconds);
    await seedUsage(client, shape, seeded.monthStart, seeded.monthSeconds, seedSeconds);
    [postgres] = (
      await client.query<Record<string, string>>(
        `SELECT current_setting('server_version') AS version, current_setting('shared_buffers') AS shared_buffers,
                current_setting('synchronous_commit') AS seeding_synchronous_commit,
                (SELECT reset_val FROM pg_settings WHERE name = 'synchronous_commit') AS synchronous_commit,
                pg_size_pretty(pg_total_relation_size('usage_records')) AS usage_records_size`,
      )
    ).rows;
  } finally {
    await client.end();
  }

  const loadBefore = loadavg().map((load) => round(load, 2));
  let preview: Measured | null = null;
  if (options.preview) {
    process.stderr.write(`bench: preview of open ${period} …\n`);
    preview = await inChild({ task: 'preview', databaseUrl, period });
    process.stderr.write(`bench: preview: ${round(preview.wallMs / 1000, 1)} s\n`);
  }
  process.stderr.write(`bench: close of ${period} …\n`);
  const close = await inChild({ task: 'close', databaseUrl, period, closedBy: seeded.financeId });
  process.stderr.write(
    `bench: close: ${round(close.wallMs / 1000, 1)} s, ${String(close.detail.lines)} lines\n`,
  );

  const exports: Record<string, Measured & { format: ExportFormat }> = {};
  const requestExport = async (format: ExportFormat): Promise<string> => {
    const c = new pg.Client({ connectionString: databaseUrl });
    await c.connect();
    try {
      const { rows } = await c.query<{ id: string }>(
        `INSERT INTO billing_exports (period, format, status, created_by) VALUES ($1, $2, 'queued', $3) RETURNING id`,
        [period, format, seeded.financeId],
      );
      return rows[0].id;
    } finally {
      await c.end();
    }
  };
  for (const format of [...EXPORT_FORMATS, 'xlsx again'] as const) {
    const fileFormat: ExportFormat = format === 'xlsx again' ? 'xlsx' : format;
    process.stderr.write(`bench: export ${format} …\n`);
    const measured = await inChild({
      task: 'export',
      databaseUrl,
      exportId: await requestExport(fileFormat),
    });
    exports[format] = { ...measured, format: fileFormat };
    process.stderr.write(`bench: export ${format}: ${round(measured.wallMs / 1000, 2)} s\n`);
  }
  const xlsxIdentical = exports['xlsx']?.detail.sha256 === exports['xlsx again']?.detail.sha256;

  return {
    benchmark: 'billing-close-and-export',
    command: `npm run bench:billing -- ${process.argv.slice(2).join(' ')}`.trim(),
    node: process.version,
    at: new Date().toISOString(),
    machine: {
      note: '2 cores, shared (other sessions may use the same PostgreSQL and CPUs)',
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryGb: round(totalmem() / 2 ** 30, 1),
      loadAverageBeforeMeasuring: loadBefore,
    },
    postgres: postgres ?? null,
    shape: {
      period,
      usageRows: options.rows,
      organizations: seeded.organizations,
      organizationsByType: seeded.organizationsByType,
      projects: seeded.projects,
      allocations: seeded.allocations,
      programs: seeded.programs,
      agencies: seeded.agencies,
      gpuModels: MODELS,
      rateCards: seeded.rateCards,
      seeding:
        'direct SQL into the tables the close reads (usage_batches posted, usage_records, usage_daily rolled up in SQL); not posted through usage.post, no ledger postings',
    },
    seedSeconds,
    preview: preview === null ? null : stepView(preview),
    close: stepView(close),
    exports: Object.fromEntries(Object.entries(exports).map(([format, m]) => [format, stepView(m)])),
    xlsxByteIdentical: xlsxIdentical,
    benchProcessMaxRssMiB: mib(process.resourceUsage().maxRSS * 1024),
  };
}

interface StepView {
  wallSeconds: number;
  peakRssMiB: number;
  baselineRssMiB: number;
  childMaxRssMiB: number;
  rssSamples: number;
  rows?: number;
  lines?: number;
  bytes?: number;
  sha256?: string;
  [detail: string]: unknown;
}

function stepView(m: Measured): StepView {
  return {
    wallSeconds: round(m.wallMs / 1000, 2),
    peakRssMiB: mib(m.peakRssBytes),
    baselineRssMiB: mib(m.baselineRssBytes),
    childMaxRssMiB: mib(m.maxRssBytes),
    rssSamples: m.samples,
    ...m.detail,
  };
}

type BillingBenchResult = Awaited<ReturnType<typeof measure>>;

function rows(result: BillingBenchResult): string[][] {
  const line = (step: string, m: StepView) => [
    step,
    `${m.wallSeconds} s`,
    String(m.rows ?? m.lines ?? '—'),
    typeof m.bytes === 'number' ? `${mib(m.bytes)} MiB` : '—',
    `${m.peakRssMiB} MiB`,
    `${m.childMaxRssMiB} MiB`,
    `${m.baselineRssMiB} MiB`,
  ];
  return [
    ...(result.preview ? [line('preview (open month, read only)', result.preview)] : []),
    line('close', result.close),
    ...Object.entries(result.exports).map(([format, m]) => line(`export ${format}`, m)),
  ];
}

const HEADER = [
  'step',
  'wall',
  'rows/lines',
  'bytes',
  'peak RSS (50 ms samples)',
  'child maxRSS',
  'RSS before',
];

function summary(result: BillingBenchResult): string {
  const table = [HEADER, ...rows(result)];
  const widths = HEADER.map((_, column) => Math.max(...table.map((row) => row[column].length)));
  return [
    `bench:billing — ${result.shape.usageRows.toLocaleString('en')} usage rows in ${result.shape.period}, ` +
      `${result.shape.allocations} allocations, ${result.shape.organizations} organizations, ${result.close.lines as number} lines`,
    ...table.map((row) => row.map((cell, column) => cell.padEnd(widths[column])).join('  ')),
    `XLSX re-export byte-identical: ${result.xlsxByteIdentical}; bench process maxRSS ${result.benchProcessMaxRssMiB} MiB`,
    `seeding (s): ${JSON.stringify(result.seedSeconds)}`,
  ].join('\n');
}

function markdown(result: BillingBenchResult): string {
  return [
    '# bench:billing: a month of usage closed and exported',
    '',
    `Command: \`${result.command}\` (${result.node}, ${result.at}; ${result.machine.cpus} cores (${result.machine.cpuModel}), shared; ` +
      `PostgreSQL ${String(result.postgres?.version ?? '?')}, shared_buffers ${String(result.postgres?.shared_buffers ?? '?')}, ` +
      `synchronous_commit ${String(result.postgres?.synchronous_commit ?? '?')} (off only in the seeding session); load average before measuring ${result.machine.loadAverageBeforeMeasuring.join(', ')}).`,
    '',
    `${result.shape.usageRows.toLocaleString('en')} usage records of ${result.shape.period} (usage_records ${String(result.postgres?.usage_records_size ?? '?')}) on ` +
      `${result.shape.allocations.toLocaleString('en')} allocations (${result.shape.gpuModels.join(', ')}) of ${result.shape.projects.toLocaleString('en')} projects, ` +
      `${result.shape.organizations} organizations (${Object.entries(result.shape.organizationsByType)
        .map(([type, count]) => `${count} ${type}`)
        .join(', ')}), ${result.shape.programs} programs of ${result.shape.agencies} agencies; ` +
      `price changes mid-month: ${result.shape.rateCards.map((card) => `${card.model} ${card.krwPerGpuHour} from ${card.effectiveFrom}`).join('; ')}.`,
    '',
    `Seeding: ${result.shape.seeding}. Seconds: ${Object.entries(result.seedSeconds)
      .map(([step, value]) => `${step} ${value}`)
      .join('; ')}.`,
    '',
    'Each step runs in a child process of its own, which samples its RSS every 50 ms; child maxRSS is its `process.resourceUsage().maxRSS`. ' +
      'An export reads the closed lines (not the usage records): its size follows the line count (allocations × prices × corrections), not the usage rows.',
    '',
    `| ${HEADER.join(' | ')} |`,
    `| ${HEADER.map(() => '---').join(' | ')} |`,
    ...rows(result).map((row) => `| ${row.join(' | ')} |`),
    '',
    `XLSX exported twice: byte-identical ${result.xlsxByteIdentical} (SHA-256 ${String(result.exports.xlsx?.sha256 ?? '?')}). ` +
      `The bench process's own maxRSS: ${result.benchProcessMaxRssMiB} MiB.`,
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: '10000000' },
      allocations: { type: 'string', default: '2600' },
      'no-preview': { type: 'boolean', default: false },
      write: { type: 'boolean', default: false },
    },
  });
  const options: Options = {
    rows: Number(values.rows),
    allocations: Number(values.allocations),
    preview: !values['no-preview'],
  };
  for (const name of ['rows', 'allocations'] as const) {
    if (!(Number.isSafeInteger(options[name]) && options[name] > 0)) {
      throw new Error(`--${name} must be a positive integer`);
    }
  }
  const databaseName = `gpupool_bench_billing_${Date.now()}`;
  const adminUrl = process.env.BENCH_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const url = new URL(adminUrl);
  url.pathname = `/${databaseName}`;

  const interrupted = new Promise<never>((_, reject) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.on(signal, () => reject(new Error(`interrupted by ${signal}`)));
    }
  });
  let result: BillingBenchResult;
  try {
    result = await Promise.race([measure(options, url.toString()), interrupted]);
  } finally {
    const dropper = new pg.Client({ connectionString: adminUrl });
    await dropper.connect();
    await dropper.query(`DROP DATABASE IF EXISTS "${databaseName}" WITH (FORCE)`);
    await dropper.end();
    process.stderr.write(`bench: dropped ${databaseName}\n`);
  }

  process.stdout.write(summary(result) + '\n');
  if (values.write) {
    const date = result.at.slice(0, 10);
    mkdirSync('test/bench/results', { recursive: true });
    writeFileSync(`test/bench/results/billing-${date}.json`, JSON.stringify(result, null, 2) + '\n');
    writeFileSync(`test/bench/results/billing-${date}.md`, markdown(result));
    process.stdout.write(`wrote test/bench/results/billing-${date}.{json,md}\n`);
  }
}

const childIndex = process.argv.indexOf('--child');
const entry =
  childIndex >= 0 ? childMain(JSON.parse(process.argv[childIndex + 1] ?? '{}') as ChildTask) : main();
entry.catch((error: unknown) => {
  process.stderr.write(
    `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
