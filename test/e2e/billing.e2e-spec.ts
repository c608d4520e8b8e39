import { createHash, randomUUID } from 'node:crypto';
import { readSheet } from 'read-excel-file/node';
import { DataSource } from 'typeorm';
import { SchedulerProcess } from '../../apps/scheduler/src/scheduler.js';
import { SETTLEMENT_COLUMNS } from '../../apps/scheduler/src/billing/settlement-format.js';
import {
  meteredGpuSeconds,
  nextPeriod,
  parseCsv,
  periodBounds,
  periodOf,
  UTF8_BOM,
} from '../../libs/domain/src/index.js';
import type { StoredUsageRecord } from '../../libs/domain/src/index.js';
import { postUsageBatch, storeUsageBatch } from '../support/usage-pipeline.js';
import {
  makeGrantedAllocation,
  makeOrganization,
  makeProject,
  makeUser,
} from '../factories/program.factory.js';
import { startApi, type ApiHarness } from '../support/api-harness.js';
import { waitFor } from '../support/processes.js';

type Header = [string, string];

const MARCH = '2026-03';

/**
 * Billing over HTTP with the real scheduler worker (in process, on the test's own queues): rate cards,
 * the close, statements and exports, and what finance users of one agency may not see of another's.
 */
describe('billing (e2e)', () => {
  let api: ApiHarness;
  let scheduler: SchedulerProcess;
  let db: DataSource;
  let admin: Header;
  let poolFinance: Header;
  let financeA: Header;
  let financeB: Header;
  let member: Header;
  let programA: string;
  let programB: string;
  let marchPreview: Record<string, string>;
  const auth = (token: string): Header => ['authorization', `Bearer ${token}`];

  async function login(options: Parameters<typeof makeUser>[1]): Promise<Header> {
    const user = await makeUser(db, options);
    return auth(await api.login(user.email, user.password));
  }

  async function program(code: string, agencyCode: string): Promise<string> {
    const response = await api.http
      .post('/v1/programs')
      .set(...admin)
      .send({
        code,
        name: `${code} 지원사업`,
        agencyCode,
        fiscalYear: 2026,
        startsAt: '2026-01-01T00:00:00Z',
        endsAt: '2027-12-31T00:00:00Z',
        budgets: [{ gpuModel: 'H100', gpuHours: 100000 }],
        subsidyRates: { startup: 0.7, sme: 0.7, youth_startup: 0.7 },
        eligibleOrganizationTypes: ['university', 'startup', 'youth_startup', 'sme'],
        tracks: [{ code: 'gpu', kind: 'gpu', minGpus: 1, maxGpus: 8 }],
        rubric: [{ key: 'merit', label: 'Merit', weight: 1, maxScore: 10 }],
      });
    expect(response.status).toBe(201);
    return response.body.id as string;
  }

  async function usage(
    programId: string,
    name: string,
    type: string,
    gpus: number,
    from: string,
    to: string,
  ) {
    const organizationId = await makeOrganization(db, { name, type });
    const owner = await makeUser(db, { organizationId });
    const projectId = await makeProject(db, { organizationId, piUserId: owner.id });
    const { allocationId } = await makeGrantedAllocation(db, {
      projectId,
      programId,
      createdBy: owner.id,
      gpuModel: 'H100',
      grantedGpuSeconds: 10_000_000n,
    });
    const startedAt = new Date(from);
    const endedAt = new Date(to);
    const record: StoredUsageRecord = {
      source: 'billing-e2e',
      externalId: randomUUID(),
      allocationId,
      workloadId: null,
      gpuModel: 'H100',
      gpus,
      startedAt,
      endedAt,
      gpuSeconds: meteredGpuSeconds(gpus, startedAt, endedAt),
      late: false,
    };
    const stored = await storeUsageBatch(db, null, [record]);
    await postUsageBatch(db, stored.batchId!);
  }

  async function finished(id: string, as: Header): Promise<Record<string, unknown>> {
    return waitFor(
      `export ${id}`,
      async () => {
        const response = await api.http.get(`/v1/billing/exports/${id}`).set(...as);
        const body = response.body as Record<string, unknown>;
        return body.status === 'done' || body.status === 'failed' ? body : undefined;
      },
      60_000,
    );
  }

  beforeAll(async () => {
    api = await startApi('billing', { RECONCILE_INTERVAL_MS: '1000', RECONCILE_GRACE_MS: '500' });
    db = api.app.get(DataSource);
    admin = auth(api.adminToken);
    scheduler = new SchedulerProcess(api.config);
    await scheduler.start();

    for (const [code, name] of [
      ['NIPA', '정보통신산업진흥원'],
      ['KISTI', '한국과학기술정보연구원'],
    ]) {
      await api.http
        .post('/v1/agencies')
        .set(...admin)
        .send({ code, name })
        .expect(201);
    }
    programA = await program('NIPA-GPU-2026', 'NIPA');
    programB = await program('KISTI-GPU-2026', 'KISTI');
    poolFinance = await login({ roles: ['finance'] });
    financeA = await login({ roles: ['finance'], agencyCode: 'NIPA' });
    financeB = await login({ roles: ['finance'], agencyCode: 'KISTI' });
    member = await login({ organizationId: await makeOrganization(db) });

    await usage(programA, '서울대학교', 'university', 4, '2026-03-03T00:00:00Z', '2026-03-03T10:00:00Z');
    await usage(
      programA,
      '주식회사 청년AI',
      'youth_startup',
      2,
      '2026-03-10T00:00:00Z',
      '2026-03-10T05:00:00Z',
    );
    await usage(programA, '=cmd|" /C calc"!A0', 'sme', 1, '2026-03-11T00:00:00Z', '2026-03-11T03:00:00Z');
    await usage(programB, '(주)카이스트AI', 'startup', 8, '2026-03-20T00:00:00Z', '2026-03-20T02:00:00Z');
  });

  afterAll(async () => {
    await scheduler?.stop();
    await api?.close();
  });

  describe('rate cards', () => {
    it('refuse bad prices, unknown fields and bad dates with 400, and non-admins with 403', async () => {
      const valid = { gpuModel: 'H100', krwPerGpuHour: 3000, effectiveFrom: '2026-01-01T00:00:00+09:00' };
      const cases: [Record<string, unknown>, string][] = [
        [{ ...valid, krwPerGpuHour: -3000 }, 'krwPerGpuHour'],
        [{ ...valid, krwPerGpuHour: 0 }, 'krwPerGpuHour'],
        [{ ...valid, krwPerGpuHour: 10.5 }, 'krwPerGpuHour'],
        [{ ...valid, discount: 10 }, '(body)'],
        [{ ...valid, effectiveFrom: '2026-13-01T00:00:00Z' }, 'effectiveFrom'],
        [{ ...valid, effectiveFrom: 'next tuesday' }, 'effectiveFrom'],
        [{ ...valid, gpuModel: 'H:100' }, 'gpuModel'],
      ];
      for (const [body, field] of cases) {
        const response = await api.http
          .post('/v1/rate-cards')
          .set(...admin)
          .send(body);
        expect(response.status).toBe(400);
        expect(response.body.error.code).toBe('VALIDATION_FAILED');
        expect(response.body.error.details.map((detail: { field: string }) => detail.field)).toContain(field);
      }
      const fraction = await api.http
        .post('/v1/rate-cards')
        .set(...admin)
        .send({ ...valid, effectiveFrom: '2026-01-01T00:00:00.500+09:00' });
      expect(fraction.status).toBe(400);
      expect(fraction.body.error.code).toBe('INVALID_RATE_CARDS');
      for (const who of [poolFinance, member]) {
        const refused = await api.http
          .post('/v1/rate-cards')
          .set(...who)
          .send(valid);
        expect(refused.status).toBe(403);
      }
    });

    it('add a price and a mid-month change; the same instant twice is a 409', async () => {
      const first = await api.http
        .post('/v1/rate-cards')
        .set(...admin)
        .send({ gpuModel: 'H100', krwPerGpuHour: 3000, effectiveFrom: '2026-01-01T00:00:00+09:00' });
      expect(first.status).toBe(201);
      expect(first.body).toMatchObject({
        gpuModel: 'H100',
        krwPerGpuHour: '3000',
        effectiveFrom: '2025-12-31T15:00:00.000Z',
      });
      const change = await api.http
        .post('/v1/rate-cards')
        .set(...admin)
        .send({ gpuModel: 'H100', krwPerGpuHour: 3600, effectiveFrom: '2026-03-16T00:00:00+09:00' });
      expect(change.status).toBe(201);
      const again = await api.http
        .post('/v1/rate-cards')
        .set(...admin)
        .send({ gpuModel: 'H100', krwPerGpuHour: 4000, effectiveFrom: '2026-03-15T15:00:00Z' });
      expect(again.status).toBe(409);
      expect(again.body.error.code).toBe('RATE_CARD_EXISTS');
      const list = await api.http.get('/v1/rate-cards?gpuModel=H100').set(...financeA);
      expect(list.status).toBe(200);
      expect(list.body.items.map((card: { krwPerGpuHour: string }) => card.krwPerGpuHour)).toEqual([
        '3600',
        '3000',
      ]);
    });
  });

  describe('program pricing', () => {
    const policy = {
      discountsByOrgType: {
        university: [10000],
        research_institute: [10000],
        public: [],
        startup: [],
        youth_startup: [3000, 5000],
        sme: [3000],
        enterprise: [],
      },
      vat: { rateBasisPoints: 1000, payer: 'organization', base: 'supply_price' },
      rounding: { listValue: 'floor', discount: 'floor', subsidy: 'floor', vat: 'floor' },
    };

    it('is replaced by admins (audited), validated, and read by finance of its own agency only', async () => {
      const before = await api.http.get(`/v1/programs/${programA}/pricing`).set(...financeA);
      expect(before.status).toBe(200);
      expect(before.body).toMatchObject({ customized: false, policy: { subsidyBasisPoints: { sme: 7000 } } });

      const replaced = await api.http
        .put(`/v1/programs/${programA}/pricing`)
        .set(...admin)
        .send({ ...policy, vat: { ...policy.vat, payer: 'split' } });
      expect(replaced.status).toBe(200);
      expect(replaced.body).toMatchObject({ customized: true, policy: { vat: { payer: 'split' } } });
      const restored = await api.http
        .put(`/v1/programs/${programA}/pricing`)
        .set(...admin)
        .send(policy);
      expect(restored.status).toBe(200);
      const audit = await db.query<{ action: string }[]>(
        `SELECT action FROM audit_events WHERE subject_type = 'program' AND subject_id = $1 AND action = 'program.pricing_changed'`,
        [programA],
      );
      expect(audit).toHaveLength(2);

      const bad = await api.http
        .put(`/v1/programs/${programA}/pricing`)
        .set(...admin)
        .send({ ...policy, discountsByOrgType: { ...policy.discountsByOrgType, sme: [20000] } });
      expect(bad.status).toBe(400);
      const unknownField = await api.http
        .put(`/v1/programs/${programA}/pricing`)
        .set(...admin)
        .send({ ...policy, subsidyBasisPoints: {} });
      expect(unknownField.status).toBe(400);
      expect(
        (
          await api.http
            .put(`/v1/programs/${programA}/pricing`)
            .set(...poolFinance)
            .send(policy)
        ).status,
      ).toBe(403);
      expect((await api.http.get(`/v1/programs/${programA}/pricing`).set(...financeB)).status).toBe(404);
      expect((await api.http.get(`/v1/programs/${programA}/pricing`).set(...member)).status).toBe(403);
      expect((await api.http.get(`/v1/programs/${randomUUID()}/pricing`).set(...admin)).status).toBe(404);
    });
  });

  describe('closing a period', () => {
    it('refuses non-finance users, agency finance, months not over and malformed periods', async () => {
      for (const who of [member, admin]) {
        const refused = await api.http.post(`/v1/billing/periods/${MARCH}/close`).set(...who);
        expect(refused.status).toBe(403);
      }
      const agency = await api.http.post(`/v1/billing/periods/${MARCH}/close`).set(...financeA);
      expect(agency.status).toBe(403);
      expect(agency.body.error.code).toBe('POOL_FINANCE_REQUIRED');
      const current = periodOf(new Date());
      const notOver = await api.http.post(`/v1/billing/periods/${current}/close`).set(...poolFinance);
      expect(notOver.status).toBe(409);
      expect(notOver.body.error.code).toBe('PERIOD_NOT_OVER');
      for (const period of ['2026-3', '2026-13', 'march']) {
        const malformed = await api.http.post(`/v1/billing/periods/${period}/close`).set(...poolFinance);
        expect(malformed.status).toBe(400);
      }
      const open = await api.http.get(`/v1/billing/periods/${MARCH}`).set(...financeA);
      expect(open.body).toMatchObject({ period: MARCH, status: 'open', totals: null });
    });

    it('previews open March as its close will bill it, marked preview and storing nothing', async () => {
      const preview = await api.http
        .get(`/v1/billing/statements/preview?period=${MARCH}&groupBy=agency`)
        .set(...poolFinance);
      expect(preview.status).toBe(200);
      expect(preview.body).toMatchObject({
        period: MARCH,
        groupBy: 'agency',
        preview: true,
        correctionsIncluded: true,
        earlierOpenPeriod: null,
        lineCount: 4,
      });
      expect(Number.isNaN(Date.parse(preview.body.asOf as string))).toBe(false);
      expect(preview.body.items.map((item: { key: string }) => item.key)).toEqual(['KISTI', 'NIPA']);
      marchPreview = preview.body.totals as Record<string, string>;
      // A finance user of an agency previews their agency only.
      const own = await api.http.get(`/v1/billing/statements/preview?period=${MARCH}`).set(...financeA);
      expect(own.body).toMatchObject({ agencyCode: 'NIPA', lineCount: 3, preview: true });
      // Nothing was stored: no lines, no billed markers, the period still open.
      const [stored] = await db.query<{ lines: number; billed: number }[]>(
        'SELECT (SELECT count(*)::int FROM billing_lines) AS lines, (SELECT count(*)::int FROM billed_usage) AS billed',
      );
      expect(stored).toEqual({ lines: 0, billed: 0 });
      const period = await api.http.get(`/v1/billing/periods/${MARCH}`).set(...poolFinance);
      expect(period.body).toMatchObject({ status: 'open', totals: null });
    });

    it('closes March once: totals, then 409 for a second close and for a price inside it', async () => {
      const requested = await api.http.post(`/v1/billing/periods/${MARCH}/close`).set(...poolFinance);
      expect(requested.status).toBe(202);
      expect(requested.headers.location).toBe(`/v1/billing/periods/${MARCH}/close`);
      expect(requested.body).toMatchObject({ period: MARCH, href: requested.headers.location });
      // A repeat while the close is queued or running answers the same close.
      const repeat = await api.http.post(`/v1/billing/periods/${MARCH}/close`).set(...poolFinance);
      if (repeat.status === 202) expect(repeat.body.id).toBe(requested.body.id);
      else expect(repeat.body.error.code).toBe('ILLEGAL_TRANSITION');
      const job = await waitFor(
        `close of ${MARCH}`,
        async () => {
          const response = await api.http.get(`/v1/billing/periods/${MARCH}/close`).set(...poolFinance);
          const body = response.body as Record<string, unknown>;
          return body.status === 'succeeded' || body.status === 'failed' ? body : undefined;
        },
        60_000,
      );
      expect(job).toMatchObject({ id: requested.body.id, status: 'succeeded', phase: 'done', error: null });
      const closed = await api.http.get(`/v1/billing/periods/${MARCH}`).set(...poolFinance);
      // What the preview showed is what the close billed.
      expect(closed.body.totals).toEqual(marchPreview);
      expect(closed.body).toMatchObject({ period: MARCH, status: 'closed' });
      expect(job.result).toMatchObject({ lineCount: 4, correctionLines: 0, closedByThisRecord: true });
      // Four allocations, each used on one side of the price change of the 16th: one line each.
      expect(closed.body.lineCount).toBe(4);
      const seconds = 4 * 10 * 3600 + 2 * 5 * 3600 + 1 * 3 * 3600 + 8 * 2 * 3600;
      expect(closed.body.totals.gpuSeconds).toBe(String(seconds));

      const again = await api.http.post(`/v1/billing/periods/${MARCH}/close`).set(...poolFinance);
      expect(again.status).toBe(409);
      expect(again.body.error.code).toBe('ILLEGAL_TRANSITION');
      const price = await api.http
        .post('/v1/rate-cards')
        .set(...admin)
        .send({ gpuModel: 'H100', krwPerGpuHour: 9999, effectiveFrom: '2026-03-20T00:00:00+09:00' });
      expect(price.status).toBe(409);
      expect(price.body.error.code).toBe('PERIOD_CLOSED');

      const agencyView = await api.http.get(`/v1/billing/periods/${MARCH}`).set(...financeA);
      expect(agencyView.body).toMatchObject({ status: 'closed', lineCount: 3 });
      const audit = await db.query<{ action: string }[]>(
        `SELECT action FROM audit_events WHERE subject_type = 'billing_period' AND subject_id = $1`,
        [MARCH],
      );
      expect(audit).toEqual([{ action: 'billing_period.closed' }]);
    });
  });

  describe('statements', () => {
    it('group the closed period by agency, organization, program and project, summing exactly', async () => {
      const byAgency = await api.http
        .get(`/v1/billing/statements?period=${MARCH}&groupBy=agency`)
        .set(...poolFinance);
      expect(byAgency.status).toBe(200);
      expect(byAgency.body.items.map((item: { key: string }) => item.key)).toEqual(['KISTI', 'NIPA']);
      expect(byAgency.body.items.map((item: { name: string }) => item.name)).toEqual([
        '한국과학기술정보연구원',
        '정보통신산업진흥원',
      ]);
      const sum = (items: Record<string, string>[], field: string) =>
        items.reduce((total, item) => total + BigInt(item[field]), 0n).toString();
      for (const field of ['gpuSeconds', 'listValue', 'supplyPrice', 'subsidy', 'coPay', 'vat', 'total']) {
        expect(sum(byAgency.body.items, field)).toBe(byAgency.body.totals[field]);
      }
      // The university is free, its value still shown.
      const byOrganization = await api.http
        .get(`/v1/billing/statements?period=${MARCH}&groupBy=organization&agencyCode=NIPA`)
        .set(...admin);
      const university = byOrganization.body.items.find(
        (item: { name: string }) => item.name === '서울대학교',
      );
      expect(university).toMatchObject({ gpuHours: '40', supplyPrice: '0', totalDueFromOrganization: '0' });
      expect(BigInt(university.listValue)).toBeGreaterThan(0n);
      expect(university.detail).toMatchObject({ orgType: 'university' });

      const paged = await api.http
        .get(`/v1/billing/statements?period=${MARCH}&groupBy=project&limit=2`)
        .set(...poolFinance);
      expect(paged.body.items).toHaveLength(2);
      const rest = await api.http
        .get(`/v1/billing/statements?period=${MARCH}&groupBy=project&limit=2&cursor=${paged.body.nextCursor}`)
        .set(...poolFinance);
      expect(rest.body.items).toHaveLength(2);
      expect(rest.body.nextCursor).toBeNull();
    });

    it("show a finance user of an agency that agency only; others' are 403 or 404, non-finance 403", async () => {
      const own = await api.http
        .get(`/v1/billing/statements?period=${MARCH}&groupBy=program`)
        .set(...financeA);
      expect(own.status).toBe(200);
      expect(own.body.agencyCode).toBe('NIPA');
      expect(own.body.items.map((item: { key: string }) => item.key)).toEqual([programA]);
      const other = await api.http
        .get(`/v1/billing/statements?period=${MARCH}&agencyCode=KISTI`)
        .set(...financeA);
      expect(other.status).toBe(403);
      expect(other.body.error.code).toBe('AGENCY_OUT_OF_SCOPE');
      const otherProgram = await api.http
        .get(`/v1/billing/statements?period=${MARCH}&programId=${programB}`)
        .set(...financeA);
      expect(otherProgram.status).toBe(404);
      expect((await api.http.get(`/v1/billing/statements?period=${MARCH}`).set(...member)).status).toBe(403);
      const open = await api.http.get('/v1/billing/statements?period=2026-04').set(...poolFinance);
      expect(open.status).toBe(409);
      expect(open.body.error.code).toBe('PERIOD_NOT_CLOSED');
      const bad = await api.http
        .get(`/v1/billing/statements?period=${MARCH}&groupBy=user`)
        .set(...poolFinance);
      expect(bad.status).toBe(400);
    });

    it('preview the current month by default; a closed month is a 409 to read its statements instead', async () => {
      const now = new Date();
      const current = periodOf(now);
      const from = periodBounds(current).startsAt;
      const seconds = Math.max(1, Math.min(7200, Math.floor((now.getTime() - from.getTime()) / 1000) - 1));
      await usage(
        programA,
        '주식회사 이번달',
        'startup',
        2,
        from.toISOString(),
        new Date(from.getTime() + seconds * 1000).toISOString(),
      );
      const preview = await api.http
        .get('/v1/billing/statements/preview?groupBy=organization')
        .set(...financeA);
      expect(preview.status).toBe(200);
      expect(preview.body).toMatchObject({
        period: current,
        preview: true,
        agencyCode: 'NIPA',
        lineCount: 1,
        items: [{ name: '주식회사 이번달', detail: { orgType: 'startup' } }],
      });
      expect(preview.body.totals.gpuSeconds).toBe(String(2 * seconds));
      const other = await api.http.get('/v1/billing/statements/preview').set(...financeB);
      expect(other.body).toMatchObject({ agencyCode: 'KISTI', lineCount: 0, items: [] });

      const closed = await api.http.get(`/v1/billing/statements/preview?period=${MARCH}`).set(...poolFinance);
      expect(closed.status).toBe(409);
      expect(closed.body).toEqual({
        error: {
          code: 'PERIOD_CLOSED',
          message: expect.stringContaining(`/v1/billing/statements?period=${MARCH}`),
          details: { period: MARCH, status: 'closed' },
        },
      });
      const future = await api.http
        .get(`/v1/billing/statements/preview?period=${nextPeriod(current)}`)
        .set(...poolFinance);
      expect(future.status).toBe(409);
      expect(future.body.error.code).toBe('PERIOD_NOT_STARTED');
      expect((await api.http.get('/v1/billing/statements/preview').set(...member)).status).toBe(403);
      const scope = await api.http.get('/v1/billing/statements/preview?agencyCode=KISTI').set(...financeA);
      expect(scope.status).toBe(403);
      expect(scope.body.error.code).toBe('AGENCY_OUT_OF_SCOPE');
      const unknown = await api.http.get('/v1/billing/statements/preview?extra=1').set(...poolFinance);
      expect(unknown.status).toBe(400);
      expect(unknown.body.error.code).toBe('VALIDATION_FAILED');
      // The closed statements say they are not a preview.
      const final = await api.http.get(`/v1/billing/statements?period=${MARCH}`).set(...poolFinance);
      expect(final.body.preview).toBe(false);
    });
  });

  describe('exports', () => {
    let exportA: string;
    let shaA: string;
    let totalsA: Record<string, string>;

    it('runs through the worker: 202, progress to done, then a streamed CSV whose SHA-256 is recorded', async () => {
      const created = await api.http
        .post('/v1/billing/exports')
        .set(...financeA)
        .send({ period: MARCH, format: 'csv' });
      expect(created.status).toBe(202);
      expect(created.body).toEqual({ id: expect.any(String), status: 'queued' });
      exportA = created.body.id as string;
      const done = await finished(exportA, financeA);
      expect(done).toMatchObject({
        status: 'done',
        progress: 100,
        rowCount: 3,
        agencyCode: 'NIPA',
        error: null,
      });
      shaA = done.sha256 as string;
      totalsA = done.totals as Record<string, string>;

      const download = await api.http
        .get(`/v1/billing/exports/${exportA}/download`)
        .set(...financeA)
        .responseType('blob');
      expect(download.status).toBe(200);
      expect(download.headers['content-type']).toMatch(/^text\/csv/);
      expect(download.headers['content-disposition']).toContain('gpupool-settlement-2026-03-NIPA.csv');
      expect(download.headers.etag).toBe(`"${shaA}"`);
      expect(download.headers['x-content-sha256']).toBe(shaA);
      const file = download.body as Buffer;
      expect(createHash('sha256').update(file).digest('hex')).toBe(shaA);
      expect(String(file.length)).toBe(done.bytes);
      const text = file.toString('utf8');
      expect(text.startsWith(UTF8_BOM)).toBe(true);
      const [header, ...rows] = parseCsv(text);
      expect(rows).toHaveLength(3);
      const names = rows.map((row) => row[header.indexOf('BillingAccountName')]);
      expect(names).toEqual(expect.arrayContaining(['서울대학교', '주식회사 청년AI', `'=cmd|" /C calc"!A0`]));
      expect(rows.every((row) => row[header.indexOf('AgencyCode')] === 'NIPA')).toBe(true);
      const due = rows.reduce(
        (sum, row) => sum + BigInt(row[header.indexOf('AmountDueFromOrganization')]),
        0n,
      );
      expect(due.toString()).toBe((done.totals as Record<string, string>).totalDueFromOrganization);

      const cached = await api.http
        .get(`/v1/billing/exports/${exportA}/download`)
        .set(...financeA)
        .set('If-None-Match', `"${shaA}"`);
      expect(cached.status).toBe(304);
    });

    it('gives the same bytes when the same closed period is exported again', async () => {
      const again = await api.http
        .post('/v1/billing/exports')
        .set(...financeA)
        .send({ period: MARCH, agencyCode: 'NIPA', format: 'csv' });
      expect(again.status).toBe(202);
      const done = await finished(again.body.id as string, financeA);
      expect(done.sha256).toBe(shaA);
    });

    it("hides one agency's exports from another's finance users (404) and refuses non-finance users (403)", async () => {
      for (const path of [`/v1/billing/exports/${exportA}`, `/v1/billing/exports/${exportA}/download`]) {
        const hidden = await api.http.get(path).set(...financeB);
        expect(hidden.status).toBe(404);
        expect(hidden.body.error.code).toBe('NOT_FOUND');
        expect((await api.http.get(path).set(...member)).status).toBe(403);
        expect((await api.http.get(path).set(...poolFinance)).status).toBe(200);
      }
      const listB = await api.http.get('/v1/billing/exports').set(...financeB);
      expect(listB.status).toBe(200);
      expect(listB.body.items).toEqual([]);
      const listA = await api.http.get(`/v1/billing/exports?period=${MARCH}`).set(...financeA);
      expect(listA.body.items.map((item: { id: string }) => item.id)).toContain(exportA);
      const forced = await api.http
        .post('/v1/billing/exports')
        .set(...financeB)
        .send({ period: MARCH, agencyCode: 'NIPA', format: 'csv' });
      expect(forced.status).toBe(403);
      expect(forced.body.error.code).toBe('AGENCY_OUT_OF_SCOPE');
      const program = await api.http
        .post('/v1/billing/exports')
        .set(...financeB)
        .send({ period: MARCH, programId: programA, format: 'csv' });
      expect(program.status).toBe(404);
      expect(
        (
          await api.http
            .post('/v1/billing/exports')
            .set(...member)
            .send({ period: MARCH, format: 'csv' })
        ).status,
      ).toBe(403);
    });

    it('exports XLSX through the worker: a workbook with the CSV header, Korean text, neutralized formulas and the same totals', async () => {
      const created = await api.http
        .post('/v1/billing/exports')
        .set(...financeA)
        .send({ period: MARCH, format: 'xlsx' });
      expect(created.status).toBe(202);
      const done = await finished(created.body.id as string, financeA);
      expect(done).toMatchObject({ status: 'done', rowCount: 3, agencyCode: 'NIPA', format: 'xlsx' });
      expect(done.totals).toEqual(totalsA);
      const download = await api.http
        .get(`/v1/billing/exports/${created.body.id as string}/download`)
        .set(...financeA)
        .responseType('blob');
      expect(download.status).toBe(200);
      expect(download.headers['content-type']).toBe(
        'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
      );
      expect(download.headers['content-disposition']).toContain('gpupool-settlement-2026-03-NIPA.xlsx');
      const file = download.body as Buffer;
      expect(createHash('sha256').update(file).digest('hex')).toBe(done.sha256);
      expect(String(file.length)).toBe(done.bytes);

      const [header, ...rows] = await readSheet(file, { trim: false, parseNumber: (text: string) => text });
      expect(header).toEqual([...SETTLEMENT_COLUMNS]);
      expect(rows).toHaveLength(3);
      const column = (name: string) => SETTLEMENT_COLUMNS.indexOf(name as never);
      expect(rows.map((row) => row[column('BillingAccountName')])).toEqual(
        expect.arrayContaining(['서울대학교', '주식회사 청년AI', `'=cmd|" /C calc"!A0`]),
      );
      const due = rows.reduce(
        (sum, row) => sum + BigInt(String(row[column('AmountDueFromOrganization')])),
        0n,
      );
      expect(due.toString()).toBe(totalsA.totalDueFromOrganization);

      // The same closed period again: the same bytes.
      const again = await api.http
        .post('/v1/billing/exports')
        .set(...financeA)
        .send({ period: MARCH, format: 'xlsx' });
      expect((await finished(again.body.id as string, financeA)).sha256).toBe(done.sha256);
    });

    it('exports every agency as JSON for pool finance, and refuses open periods and bad bodies', async () => {
      const created = await api.http
        .post('/v1/billing/exports')
        .set(...poolFinance)
        .send({ period: MARCH, format: 'json' });
      expect(created.status).toBe(202);
      const done = await finished(created.body.id as string, poolFinance);
      expect(done).toMatchObject({ status: 'done', rowCount: 4, agencyCode: null });
      const download = await api.http
        .get(`/v1/billing/exports/${created.body.id as string}/download`)
        .set(...poolFinance)
        .responseType('blob');
      expect(download.headers['content-type']).toMatch(/^application\/json/);
      const lines = JSON.parse((download.body as Buffer).toString('utf8')) as Record<string, string | null>[];
      expect(lines.map((line) => line.AgencyCode).sort()).toEqual(['KISTI', 'NIPA', 'NIPA', 'NIPA']);

      const open = await api.http
        .post('/v1/billing/exports')
        .set(...poolFinance)
        .send({ period: '2026-04', format: 'csv' });
      expect(open.status).toBe(409);
      expect(open.body.error.code).toBe('PERIOD_NOT_CLOSED');
      for (const body of [
        { period: MARCH, format: 'pdf' },
        { period: '2026-3', format: 'csv' },
        { period: MARCH, format: 'csv', extra: true },
      ]) {
        expect(
          (
            await api.http
              .post('/v1/billing/exports')
              .set(...poolFinance)
              .send(body)
          ).status,
        ).toBe(400);
      }
      const notReady = await db.query<{ id: string }[]>(
        `INSERT INTO billing_exports (period, format, status, created_by)
         SELECT $1, 'csv', 'failed', id FROM users LIMIT 1 RETURNING id`,
        [MARCH],
      );
      const refused = await api.http.get(`/v1/billing/exports/${notReady[0].id}/download`).set(...admin);
      expect(refused.status).toBe(409);
      expect(refused.body.error.code).toBe('EXPORT_NOT_READY');
    });
  });
});
