import { invalid, type Principal } from '#domain';
import { BillingLineEntity } from '#persistence';
import { FakeAuditRepository } from '../../../../test/fakes/audit-repository.fake.js';
import {
  FakeBillingExportRepository,
  FakeBillingPeriodRepository,
  FakeBillingPricingRepository,
} from '../../../../test/fakes/billing.fakes.js';
import { FakeJobProducer } from '../../../../test/fakes/job-producer.fake.js';
import { FakeTransactionRunner } from '../../../../test/fakes/transaction-runner.fake.js';
import {
  BillingExportQueries,
  RequestBillingExportUseCase,
  RunBillingExportUseCase,
  SettlementFiles,
  type SettlementFileFormat,
} from './billing-exports.use-cases.js';

const POOL_FINANCE: Principal = {
  kind: 'user',
  userId: '00000000-0000-4000-8000-000000000001',
  email: 'f@example.org',
  roles: ['finance'],
  organizationId: null,
  agencyCode: null,
};
const NIPA_FINANCE: Principal = { ...POOL_FINANCE, agencyCode: 'NIPA' };
const KISTI_PROGRAM = '00000000-0000-4000-8000-0000000000b1';
const silent = { warn: () => undefined, info: () => undefined, error: () => undefined };

class LimitExceeded extends Error {}

/** A one-line-per-row text format; `failOnRow` makes the writer throw (as a ZIP limit would). */
class FakeSettlementFiles extends SettlementFiles {
  failOnRow: Error | null = null;

  override formatOf(format: string): SettlementFileFormat | undefined {
    if (format !== 'csv') return undefined;
    return {
      open: (sink) => {
        let opened = false;
        const header = async () => {
          if (!opened) await sink(Buffer.from('no\n', 'utf8'));
          opened = true;
        };
        return {
          line: async (line) => {
            await header();
            if (this.failOnRow) throw this.failOnRow;
            await sink(Buffer.from(`${line.lineNo}\n`, 'utf8'));
          },
          end: () => header(),
        };
      },
    };
  }

  override isPermanent(error: unknown): boolean {
    return error instanceof LimitExceeded;
  }
}

function line(lineNo: number, agencyCode = 'KISTI'): BillingLineEntity {
  return Object.assign(new BillingLineEntity(), {
    lineNo,
    period: '2026-04',
    agencyCode,
    programId: KISTI_PROGRAM,
    gpuSeconds: 3600n,
    listValue: 3000n,
    discount: 0n,
    supplyPrice: 3000n,
    subsidy: 0n,
    coPay: 3000n,
    vat: 300n,
    vatFromOrganization: 300n,
    vatFromProgram: 0n,
    totalDueOrg: 3300n,
    totalProgram: 0n,
  });
}

function harness() {
  const transactions = new FakeTransactionRunner();
  const exports = new FakeBillingExportRepository();
  const periods = new FakeBillingPeriodRepository();
  const pricing = new FakeBillingPricingRepository();
  const audit = new FakeAuditRepository();
  const producer = new FakeJobProducer();
  const files = new FakeSettlementFiles();
  exports.agencies.add('KISTI').add('NIPA');
  pricing.programs.set(KISTI_PROGRAM, { id: KISTI_PROGRAM, agencyCode: 'KISTI', subsidyRates: {} });
  periods.states.set('2026-04', 'closed');
  return {
    exports,
    periods,
    audit,
    producer,
    files,
    request: new RequestBillingExportUseCase(
      transactions,
      exports,
      periods,
      pricing,
      audit,
      producer,
      silent,
    ),
    queries: new BillingExportQueries(exports),
    run: new RunBillingExportUseCase(exports, periods, files, silent, { chunkBytes: 4, batchSize: 2 }),
  };
}

const csv = { period: '2026-04', format: 'csv' as const, requestId: 'req-1' };

describe('RequestBillingExportUseCase', () => {
  it('records a queued export, audits it and enqueues its job after commit', async () => {
    const h = harness();
    const { id, status } = await h.request.execute({ principal: POOL_FINANCE, ...csv });
    expect(status).toBe('queued');
    expect(h.exports.rows.get(id)).toMatchObject({
      agencyCode: null,
      programId: null,
      createdBy: POOL_FINANCE.userId,
    });
    expect(h.audit.actions()).toEqual(['billing_export.requested']);
    expect(h.producer.jobs).toEqual([{ name: 'billing.export', data: { exportId: id } }]);
  });

  it('still answers queued when the enqueue fails: the row is the outbox the sweep recovers', async () => {
    const h = harness();
    h.producer.failing = true;
    const { id } = await h.request.execute({ principal: POOL_FINANCE, ...csv });
    expect(h.exports.rows.get(id)?.status).toBe('queued');
    expect(h.producer.jobs).toHaveLength(0);
  });

  it('limits an agency’s finance user to their agency: theirs by default, another is a 403', async () => {
    const h = harness();
    const { id } = await h.request.execute({ principal: NIPA_FINANCE, ...csv });
    expect(h.exports.rows.get(id)?.agencyCode).toBe('NIPA');
    await expect(
      h.request.execute({ principal: NIPA_FINANCE, ...csv, agencyCode: 'KISTI' }),
    ).rejects.toMatchObject({
      code: 'AGENCY_OUT_OF_SCOPE',
    });
    // Another agency's program does not exist for them.
    await expect(
      h.request.execute({ principal: NIPA_FINANCE, ...csv, programId: KISTI_PROGRAM }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('refuses an unknown agency, a program of another agency, and a period not closed, recording nothing', async () => {
    const h = harness();
    await expect(
      h.request.execute({ principal: POOL_FINANCE, ...csv, agencyCode: 'NONE' }),
    ).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await expect(
      h.request.execute({ principal: POOL_FINANCE, ...csv, agencyCode: 'NIPA', programId: KISTI_PROGRAM }),
    ).rejects.toMatchObject({ code: 'PROGRAM_NOT_IN_AGENCY' });
    h.periods.states.set('2026-05', 'closing');
    await expect(
      h.request.execute({ principal: POOL_FINANCE, ...csv, period: '2026-05' }),
    ).rejects.toMatchObject({
      code: 'PERIOD_NOT_CLOSED',
      details: { period: '2026-05', status: 'closing' },
    });
    expect(h.exports.rows.size).toBe(0);
    expect(h.producer.jobs).toHaveLength(0);
  });
});

describe('BillingExportQueries', () => {
  it('shows an agency’s finance user only their agency’s exports (others are 404s)', async () => {
    const h = harness();
    const pool = await h.request.execute({ principal: POOL_FINANCE, ...csv });
    const nipa = await h.request.execute({ principal: NIPA_FINANCE, ...csv });
    await expect(h.queries.get(NIPA_FINANCE, pool.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect((await h.queries.get(NIPA_FINANCE, nipa.id)).id).toBe(nipa.id);
    const listed = await h.queries.list(NIPA_FINANCE, {}, { limit: 10 });
    expect(listed.items.map((row) => row.id)).toEqual([nipa.id]);
    expect((await h.queries.list(POOL_FINANCE, {}, { limit: 10 })).items).toHaveLength(2);
  });

  it('answers 409 EXPORT_NOT_READY until the export is done, then names the file', async () => {
    const h = harness();
    h.exports.lines.push(line(1), line(2));
    const { id } = await h.request.execute({ principal: POOL_FINANCE, ...csv, agencyCode: 'KISTI' });
    await expect(h.queries.download(POOL_FINANCE, id)).rejects.toMatchObject({ code: 'EXPORT_NOT_READY' });
    await h.run.export(id);
    const file = await h.queries.download(POOL_FINANCE, id);
    expect(file.filename).toBe('gpupool-settlement-2026-04-KISTI.csv');
    const chunks: Buffer[] = [];
    for await (const chunk of file.chunks) chunks.push(chunk);
    expect(Buffer.concat(chunks).toString('utf8')).toBe('no\n1\n2\n');
  });
});

describe('RunBillingExportUseCase', () => {
  it('writes the lines in chunks with their totals, and skips an export already done', async () => {
    const h = harness();
    h.exports.lines.push(line(1), line(2), line(3));
    const { id } = await h.request.execute({ principal: POOL_FINANCE, ...csv });
    expect(await h.run.execute(id, 1)).toMatchObject({ outcome: 'done', rowCount: 3, bytes: '9' });
    expect(h.exports.rows.get(id)).toMatchObject({ status: 'done', rowCount: 3, progress: 100 });
    expect((h.exports.rows.get(id)?.totals as { gpuSeconds: string }).gpuSeconds).toBe('10800');
    expect(await h.run.execute(id, 1)).toEqual({ outcome: 'skipped' });
  });

  it('fails an export of a period that is not closed, or of a format with no writer', async () => {
    const h = harness();
    const { id } = await h.request.execute({ principal: POOL_FINANCE, ...csv });
    h.periods.states.set('2026-04', 'closing');
    expect(await h.run.export(id)).toMatchObject({ outcome: 'failed' });
    expect(h.exports.rows.get(id)?.status).toBe('failed');
    h.periods.states.set('2026-04', 'closed');
    const json = await h.request.execute({ principal: POOL_FINANCE, ...csv, format: 'json' });
    expect(await h.run.export(json.id)).toEqual({
      outcome: 'failed',
      error: 'Export format json has no writer in this deployment.',
    });
  });

  it('retries a transient failure until the last attempt, but fails a permanent one at once', async () => {
    const h = harness();
    h.exports.lines.push(line(1));
    const transient = await h.request.execute({ principal: POOL_FINANCE, ...csv });
    h.files.failOnRow = new Error('connection reset');
    await expect(h.run.execute(transient.id, 1)).rejects.toThrow('connection reset');
    expect(h.exports.rows.get(transient.id)?.status).toBe('running');
    expect(await h.run.execute(transient.id, 99)).toMatchObject({
      outcome: 'failed',
      error: 'connection reset',
    });
    expect(h.exports.rows.get(transient.id)?.status).toBe('failed');

    for (const permanent of [
      new LimitExceeded('zip too big'),
      invalid('XLSX_TOO_MANY_ROWS', 'too many rows'),
    ]) {
      const { id } = await h.request.execute({ principal: POOL_FINANCE, ...csv });
      h.files.failOnRow = permanent;
      expect(await h.run.execute(id, 1)).toMatchObject({ outcome: 'failed' });
      expect(h.exports.rows.get(id)?.status).toBe('failed');
    }
  });

  it('stops writing when a newer run of the export took over', async () => {
    const h = harness();
    h.exports.lines.push(line(1), line(2), line(3));
    const { id } = await h.request.execute({ principal: POOL_FINANCE, ...csv });
    const files = h.files;
    let restarted = false;
    files.formatOf = (format) => {
      const base = FakeSettlementFiles.prototype.formatOf.call(files, format)!;
      return {
        open: (sink, context) => {
          const file = base.open(sink, context);
          return {
            ...file,
            line: (row, index) => {
              // A redelivered job restarts the run while this one is writing.
              if (!restarted) {
                restarted = true;
                void h.exports.startRun(id);
              }
              return file.line(row, index);
            },
          };
        },
      };
    };
    expect(await h.run.export(id)).toEqual({ outcome: 'superseded' });
    expect(h.exports.rows.get(id)?.status).toBe('running');
  });
});
