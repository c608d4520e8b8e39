import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { meteredGpuSeconds } from '../../libs/domain/src/index.js';
import type { StoredUsageRecord } from '../../libs/domain/src/index.js';
import { postUsageBatch, storeUsageBatch } from '../support/usage-pipeline.js';
import { grantUseCase } from '../support/grant.js';
import { seedApprovedRequest } from '../factories/grant-fixtures.js';
import {
  makeGrantedAllocation,
  makeOrganization,
  makeProject,
  makeUser,
} from '../factories/program.factory.js';
import { startApi, type ApiHarness } from '../support/api-harness.js';

type Header = [string, string];

function record(
  allocationId: string,
  gpuModel: string,
  gpus: number,
  from: string,
  to: string,
): StoredUsageRecord {
  const startedAt = new Date(from);
  const endedAt = new Date(to);
  return {
    source: 'chc-gpu-1',
    externalId: randomUUID(),
    allocationId,
    workloadId: null,
    gpuModel,
    gpus,
    startedAt,
    endedAt,
    gpuSeconds: meteredGpuSeconds(gpus, startedAt, endedAt),
    late: false,
  };
}

describe('usage reports and reconciliation (e2e)', () => {
  let api: ApiHarness;
  let db: DataSource;
  let programId: string;
  let projectA: string;
  let projectB: string;
  let a1: string; // project A, H200: the records crossing midnight and a month end
  let a2: string; // project A, B200
  let b1: string; // project B, H200, same program
  let admin: Header;
  let piA: Header;
  let piB: Header;
  let outsider: Header;
  let operator: Header;
  let finance: Header;

  const auth = (token: string): Header => ['authorization', `Bearer ${token}`];
  async function login(options: { roles?: string[]; organizationId?: string | null } = {}) {
    const user = await makeUser(db, options);
    return { id: user.id, header: auth(await api.login(user.email, user.password)) };
  }

  /** Makes a fresh user with a password the PI of the project (the fixture's PI cannot sign in). */
  async function piOf(projectId: string): Promise<Header> {
    const user = await login({ organizationId: await makeOrganization(db) });
    await db.query(`UPDATE project_members SET user_id = $2 WHERE project_id = $1 AND role = 'pi'`, [
      projectId,
      user.id,
    ]);
    await db.query('UPDATE projects SET pi_user_id = $2 WHERE id = $1', [projectId, user.id]);
    return user.header;
  }

  async function ingest(records: StoredUsageRecord[]): Promise<void> {
    const stored = await storeUsageBatch(db, null, records);
    expect(stored.accepted).toHaveLength(records.length);
    const posted = await postUsageBatch(db, stored.batchId!);
    expect(posted).toMatchObject({ posted: true, records: records.length });
  }

  beforeAll(async () => {
    api = await startApi('usage-reports');
    db = api.app.get(DataSource);
    admin = auth(api.adminToken);

    const approved = await seedApprovedRequest(db, {
      models: ['H200', 'B200'],
      grantedGpuHours: [1000n, 500n],
      startsAt: new Date('2026-01-01T00:00:00Z'),
      endsAt: new Date('2027-01-01T00:00:00Z'),
    });
    const granted = await grantUseCase(db).execute(approved.requestId);
    if (granted.outcome !== 'granted') throw new Error(`grant failed: ${granted.outcome}`);
    programId = approved.programId;
    projectA = approved.projectId;
    const allocations = await db.query<{ id: string; gpu_model: string }[]>(
      'SELECT id, gpu_model FROM allocations WHERE request_id = $1',
      [approved.requestId],
    );
    a1 = allocations.find((row) => row.gpu_model === 'H200')!.id;
    a2 = allocations.find((row) => row.gpu_model === 'B200')!.id;

    const organizationB = await makeOrganization(db);
    const ownerB = await makeUser(db, { organizationId: organizationB });
    projectB = await makeProject(db, { organizationId: organizationB, piUserId: ownerB.id });
    b1 = (
      await makeGrantedAllocation(db, {
        projectId: projectB,
        programId,
        createdBy: ownerB.id,
        gpuModel: 'H200',
        grantedGpuSeconds: 3_600_000n,
      })
    ).allocationId;

    piA = await piOf(projectA);
    piB = await piOf(projectB);
    outsider = (await login({ organizationId: organizationB })).header;
    operator = (await login({ roles: ['operator'] })).header;
    finance = (await login({ roles: ['finance'] })).header;

    // Seoul is UTC+9: 14:00Z is 23:00 KST.
    await ingest([
      // 23:00 Apr 10 → 01:00 Apr 11 KST, 4 GPUs: 14,400 on each day.
      record(a1, 'H200', 4, '2026-04-10T14:00:00Z', '2026-04-10T16:00:00Z'),
      // 22:30 Apr 30 → 02:00 May 1 KST, 2 GPUs: 10,800 in April, 14,400 in May.
      record(a1, 'H200', 2, '2026-04-30T13:30:00Z', '2026-04-30T17:00:00Z'),
      // 599.75 s metered as 600 whole seconds, 8 GPUs: 4,800 on Apr 11.
      record(a1, 'H200', 8, '2026-04-11T01:00:00.250Z', '2026-04-11T01:10:00.000Z'),
      // 1 GPU for 3 h on May 20: 10,800.
      record(a1, 'H200', 1, '2026-05-20T00:00:00Z', '2026-05-20T03:00:00Z'),
    ]);
    await ingest([
      record(a2, 'B200', 2, '2026-04-10T03:00:00Z', '2026-04-10T04:00:00Z'), // 7,200 on Apr 10
      record(b1, 'H200', 4, '2026-04-30T00:00:00Z', '2026-04-30T01:00:00Z'), // 14,400 on Apr 30
    ]);
  });

  afterAll(async () => {
    await api?.close();
  });

  describe('GET /v1/allocations/:id/usage', () => {
    it('splits records at Seoul midnights into exact days, for the project PI', async () => {
      const response = await api.http.get(`/v1/allocations/${a1}/usage`).set(...piA);
      expect(response.status).toBe(200);
      expect(response.body).toEqual({
        allocationId: a1,
        granularity: 'day',
        from: null,
        to: null,
        items: [
          { period: '2026-04-10', gpuSeconds: '14400', gpuHours: '4', records: 1 },
          { period: '2026-04-11', gpuSeconds: '19200', gpuHours: '5.333333', records: 1 },
          { period: '2026-04-30', gpuSeconds: '10800', gpuHours: '3', records: 1 },
          { period: '2026-05-01', gpuSeconds: '14400', gpuHours: '4', records: 0 },
          { period: '2026-05-20', gpuSeconds: '10800', gpuHours: '3', records: 1 },
        ],
        total: { gpuSeconds: '69600', gpuHours: '19.333333' },
      });
    });

    it('rolls days into Seoul months, the record crossing the month end counted in both', async () => {
      const response = await api.http.get(`/v1/allocations/${a1}/usage?granularity=month`).set(...piA);
      expect(response.status).toBe(200);
      expect(response.body.items).toEqual([
        { period: '2026-04', gpuSeconds: '44400', gpuHours: '12.333333', records: 3 },
        { period: '2026-05', gpuSeconds: '25200', gpuHours: '7', records: 1 },
      ]);
      expect(response.body.total).toEqual({ gpuSeconds: '69600', gpuHours: '19.333333' });
    });

    it('takes from (inclusive) and to (exclusive) as Seoul days', async () => {
      const days = await api.http
        .get(`/v1/allocations/${a1}/usage?from=2026-04-11&to=2026-05-01`)
        .set(...admin);
      expect(days.status).toBe(200);
      expect(days.body).toMatchObject({ from: '2026-04-11', to: '2026-05-01' });
      expect(days.body.items.map((item: { period: string }) => item.period)).toEqual([
        '2026-04-11',
        '2026-04-30',
      ]);
      expect(days.body.total).toEqual({ gpuSeconds: '30000', gpuHours: '8.333333' });

      const months = await api.http
        .get(`/v1/allocations/${a1}/usage?from=2026-04-11&to=2026-05-02&granularity=month`)
        .set(...admin);
      expect(months.body.items).toEqual([
        { period: '2026-04', gpuSeconds: '30000', gpuHours: '8.333333', records: 2 },
        { period: '2026-05', gpuSeconds: '14400', gpuHours: '4', records: 0 },
      ]);
      expect(months.body.total).toEqual({ gpuSeconds: '44400', gpuHours: '12.333333' });

      const none = await api.http.get(`/v1/allocations/${a1}/usage?from=2026-06-01`).set(...piA);
      expect(none.body).toMatchObject({ items: [], total: { gpuSeconds: '0', gpuHours: '0' } });
    });

    it('is readable by admins, operators and finance, and a 404 for other projects and strangers', async () => {
      for (const reader of [admin, operator, finance]) {
        const response = await api.http.get(`/v1/allocations/${a1}/usage`).set(...reader);
        expect(response.status).toBe(200);
        expect(response.body.total.gpuSeconds).toBe('69600');
      }
      for (const stranger of [piB, outsider]) {
        const response = await api.http.get(`/v1/allocations/${a1}/usage`).set(...stranger);
        expect(response.status).toBe(404);
        expect(response.body.error.code).toBe('NOT_FOUND');
      }
      const unknown = await api.http.get(`/v1/allocations/${randomUUID()}/usage`).set(...admin);
      expect(unknown.status).toBe(404);
      const own = await api.http.get(`/v1/allocations/${b1}/usage`).set(...piB);
      expect(own.body.items).toEqual([
        { period: '2026-04-30', gpuSeconds: '14400', gpuHours: '4', records: 1 },
      ]);
    });

    it('refuses bad parameters with 400 naming the field', async () => {
      const cases: [string, string][] = [
        ['granularity=week', 'granularity'],
        ['from=2026-05-01&to=2026-04-01', 'to'],
        ['from=2026-05-01&to=2026-05-01', 'to'],
        ['from=2026-02-30', 'from'],
        ['to=20260501', 'to'],
        ['unknown=1', '(body)'],
      ];
      for (const [query, field] of cases) {
        const response = await api.http.get(`/v1/allocations/${a1}/usage?${query}`).set(...piA);
        expect(response.status).toBe(400);
        expect(response.body.error.code).toBe('VALIDATION_FAILED');
        expect(response.body.error.details.map((detail: { field: string }) => detail.field)).toEqual([field]);
      }
      const badId = await api.http.get('/v1/allocations/not-a-uuid/usage').set(...piA);
      expect(badId.status).toBe(400);
    });
  });

  describe('GET /v1/usage', () => {
    it('groups a program by allocation per month, for admins and finance', async () => {
      const expected = [
        { period: '2026-04', key: a1, gpuSeconds: '44400', gpuHours: '12.333333', records: 3 },
        { period: '2026-04', key: a2, gpuSeconds: '7200', gpuHours: '2', records: 1 },
        { period: '2026-04', key: b1, gpuSeconds: '14400', gpuHours: '4', records: 1 },
        { period: '2026-05', key: a1, gpuSeconds: '25200', gpuHours: '7', records: 1 },
      ].sort((x, y) => (x.period + x.key < y.period + y.key ? -1 : 1));
      for (const reader of [admin, finance]) {
        const response = await api.http
          .get(`/v1/usage?programId=${programId}&groupBy=allocation&granularity=month`)
          .set(...reader);
        expect(response.status).toBe(200);
        expect(response.body).toEqual({
          granularity: 'month',
          groupBy: 'allocation',
          from: null,
          to: null,
          items: expected,
          total: { gpuSeconds: '91200', gpuHours: '25.333333' },
          nextCursor: null,
        });
      }
    });

    it('groups by GPU model and by project, filters by model, and without groupBy sums each period', async () => {
      const models = await api.http.get('/v1/usage?groupBy=gpuModel&granularity=month').set(...admin);
      expect(models.body.items).toEqual([
        { period: '2026-04', key: 'B200', gpuSeconds: '7200', gpuHours: '2', records: 1 },
        { period: '2026-04', key: 'H200', gpuSeconds: '58800', gpuHours: '16.333333', records: 4 },
        { period: '2026-05', key: 'H200', gpuSeconds: '25200', gpuHours: '7', records: 1 },
      ]);
      const projects = await api.http
        .get('/v1/usage?groupBy=project&granularity=month&from=2026-04-01&to=2026-05-01')
        .set(...operator);
      expect(projects.status).toBe(200);
      expect(projects.body.items).toEqual(
        [
          { period: '2026-04', key: projectA, gpuSeconds: '51600', gpuHours: '14.333333', records: 4 },
          { period: '2026-04', key: projectB, gpuSeconds: '14400', gpuHours: '4', records: 1 },
        ].sort((x, y) => (x.key < y.key ? -1 : 1)),
      );
      const h200Days = await api.http
        .get('/v1/usage?gpuModel=H200&from=2026-04-30&to=2026-05-01')
        .set(...admin);
      expect(h200Days.body).toMatchObject({
        groupBy: null,
        items: [{ period: '2026-04-30', key: null, gpuSeconds: '25200', gpuHours: '7', records: 2 }],
        total: { gpuSeconds: '25200', gpuHours: '7' },
      });
    });

    it('pages by (period, key) with a total over every page', async () => {
      const all = await api.http.get('/v1/usage?groupBy=allocation').set(...admin);
      expect(all.body.items).toHaveLength(7);
      const seen: unknown[] = [];
      let cursor: string | null = null;
      do {
        const page = await api.http
          .get(`/v1/usage?groupBy=allocation&limit=3${cursor ? `&cursor=${cursor}` : ''}`)
          .set(...admin);
        expect(page.status).toBe(200);
        expect(page.body.total).toEqual({ gpuSeconds: '91200', gpuHours: '25.333333' });
        seen.push(...(page.body.items as unknown[]));
        cursor = page.body.nextCursor as string | null;
      } while (cursor !== null);
      expect(seen).toEqual(all.body.items);
      const bad = await api.http.get('/v1/usage?cursor=bm9wZQ').set(...admin);
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe('INVALID_CURSOR');
    });

    it("shows a PI their project's usage only, and needs a project they can see", async () => {
      const own = await api.http.get(`/v1/usage?projectId=${projectA}&groupBy=gpuModel`).set(...piA);
      expect(own.status).toBe(200);
      expect(own.body.total).toEqual({ gpuSeconds: '76800', gpuHours: '21.333333' });
      expect(new Set(own.body.items.map((item: { key: string }) => item.key))).toEqual(
        new Set(['H200', 'B200']),
      );

      const withoutProject = await api.http.get(`/v1/usage?programId=${programId}`).set(...piA);
      expect(withoutProject.status).toBe(403);
      expect(withoutProject.body.error.code).toBe('PROJECT_REQUIRED');
      const other = await api.http.get(`/v1/usage?projectId=${projectA}`).set(...piB);
      expect(other.status).toBe(404);
      const unknown = await api.http.get(`/v1/usage?projectId=${randomUUID()}`).set(...admin);
      expect(unknown.status).toBe(404);
    });

    it('refuses bad parameters with 400', async () => {
      for (const query of [
        'granularity=week',
        'groupBy=user',
        'from=2026-05-01&to=2026-04-01',
        'limit=0',
        'projectId=abc',
        'gpuModel=H:100',
        'extra=1',
      ]) {
        const response = await api.http.get(`/v1/usage?${query}`).set(...admin);
        expect(response.status).toBe(400);
        expect(response.body.error.code).toBe('VALIDATION_FAILED');
      }
    });
  });

  describe('reconciliation', () => {
    it('has no report before the first run, and only admins and operators read it', async () => {
      const before = await api.http.get('/v1/admin/reconciliation').set(...operator);
      expect(before.status).toBe(200);
      expect(before.body).toEqual({ report: null });
      const refused = await api.http.get('/v1/admin/reconciliation').set(...piA);
      expect(refused.status).toBe(403);
      const operatorRun = await api.http.post('/v1/admin/reconciliation').set(...operator);
      expect(operatorRun.status).toBe(403);
    });

    it('finds nothing when the ledger and rollups agree, then exactly the drifts seeded', async () => {
      const clean = await api.http.post('/v1/admin/reconciliation').set(...admin);
      expect(clean.status).toBe(200);
      expect(clean.body.report).toMatchObject({
        accountDrifts: 0,
        rollupDrifts: 0,
        usageDrifts: 0,
        rollupsChecked: 7,
        drifts: [],
      });
      expect(clean.body.report.accountsChecked).toBeGreaterThan(0);

      await db.query('UPDATE account_balances SET balance = balance + 1 WHERE account = $1', [
        `consumed:${a1}`,
      ]);
      await db.query(
        `UPDATE usage_daily SET gpu_seconds = gpu_seconds + 5 WHERE allocation_id = $1 AND day = '2026-04-11'`,
        [a1],
      );
      const drifted = await api.http.post('/v1/admin/reconciliation').set(...admin);
      expect(drifted.status).toBe(200);
      expect(drifted.body.report).toMatchObject({ accountDrifts: 1, rollupDrifts: 1, usageDrifts: 0 });
      expect(drifted.body.report.drifts).toEqual([
        { kind: 'account_balance', subject: `consumed:${a1}`, stored: '69601', recomputed: '69600' },
        { kind: 'usage_rollup', subject: `${a1} 2026-04-11`, stored: '19205', recomputed: '19200' },
      ]);
      expect(drifted.body.report.id).not.toBe(clean.body.report.id);

      const latest = await api.http.get('/v1/admin/reconciliation').set(...operator);
      expect(latest.body).toEqual(drifted.body);
      const audit = await db.query<{ action: string }[]>(
        `SELECT action FROM audit_events WHERE subject_type = 'reconciliation_report' ORDER BY id`,
      );
      expect(audit).toEqual([{ action: 'reconciliation.run' }, { action: 'reconciliation.run' }]);
    });
  });
});
