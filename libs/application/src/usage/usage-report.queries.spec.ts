import type { AllocationReadScope, Principal, Role } from '#domain';
import {
  UsageReportRepository,
  type UsagePeriodTotal,
  type UsageReportFilter,
  type UsageReportPage,
} from '#persistence';
import { FakeAllocationRepository } from '../../../../test/fakes/allocations.fakes.js';
import { FakeProjectMembershipRepository } from '../../../../test/fakes/directory.fakes.js';
import { projectAccessWithMembers } from '../../../../test/fakes/requests.fakes.js';
import { makeAllocation } from '../../../../test/fakes/workloads.fakes.js';
import { AllocationReadAccess } from '../allocations/allocation-read-access.js';
import { encodeUsageCursor, UsageReportQueries } from './usage-report.queries.js';

/** Rollup rows in (period, key) order; records the scope and page each report was asked with. */
class FakeUsageReportRepository extends UsageReportRepository {
  rows: UsagePeriodTotal[] = [];
  readonly asked: { filter: UsageReportFilter; scope: AllocationReadScope; page: UsageReportPage }[] = [];

  override allocationPeriods(): Promise<UsagePeriodTotal[]> {
    return Promise.resolve(this.rows);
  }

  override report(
    filter: UsageReportFilter,
    scope: AllocationReadScope,
    page: UsageReportPage,
  ): Promise<{ rows: UsagePeriodTotal[]; total: bigint }> {
    this.asked.push({ filter, scope, page });
    const after = page.after;
    const rows = this.rows.filter(
      (row) => after === undefined || [row.period, row.key].join('|') > [after.period, after.key].join('|'),
    );
    return Promise.resolve({
      rows: rows.slice(0, page.limit + 1),
      total: this.rows.reduce((sum, row) => sum + row.gpuSeconds, 0n),
    });
  }
}

function person(userId: string, roles: Role[] = [], agencyCode: string | null = null): Principal {
  return { kind: 'user', userId, email: `${userId}@example.kr`, roles, organizationId: null, agencyCode };
}

function harness() {
  const { access, store } = projectAccessWithMembers();
  store.projects.set('p-1', {
    id: 'p-1',
    title: 'Protein folding',
    organizationId: 'o-1',
    piUserId: 'u-pi',
    createdAt: new Date('2026-01-01T00:00:00Z'),
  });
  const allocations = new FakeAllocationRepository().add(makeAllocation({ id: 'a-1', projectId: 'p-1' }));
  const reads = new AllocationReadAccess(access, new FakeProjectMembershipRepository(store), allocations);
  const reports = new FakeUsageReportRepository();
  reports.rows = [
    { period: '2026-05-01', key: '', gpuSeconds: 3600n, records: 2 },
    { period: '2026-05-02', key: '', gpuSeconds: 7200n, records: 1 },
  ];
  return { queries: new UsageReportQueries(reads, reports), reports };
}

const query = { granularity: 'day' as const, limit: 10 };

describe('UsageReportQueries: who may read usage reports', () => {
  it('refuses a member a report across projects (403 PROJECT_REQUIRED)', async () => {
    const { queries, reports } = harness();
    await expect(queries.report(person('u-member'), query)).rejects.toMatchObject({
      kind: 'forbidden',
      code: 'PROJECT_REQUIRED',
    });
    expect(reports.asked).toEqual([]);
  });

  it("gives a member their project's report, scoped to the projects they may see", async () => {
    const { queries, reports } = harness();
    const report = await queries.report(person('u-member'), { ...query, projectId: 'p-1' });
    expect(report.total).toMatchObject({ gpuSeconds: '10800' });
    expect(report.items.map((item) => item.key)).toEqual([null, null]);
    expect(reports.asked[0]?.scope).toEqual({
      kind: 'scoped',
      projects: { kind: 'member', userId: 'u-member', piOnly: false },
      agencyCode: null,
    });
  });

  it('is a 404 for a project the member cannot see', async () => {
    const { queries } = harness();
    await expect(queries.report(person('u-stranger'), { ...query, projectId: 'p-1' })).rejects.toMatchObject({
      kind: 'not_found',
    });
  });

  it('lets operators and agency finance report across projects (agency finance limited to its programs)', async () => {
    const { queries, reports } = harness();
    await queries.report(person('u-ops', ['operator']), query);
    await queries.report(person('u-fin', ['finance'], 'NRF'), query);
    expect(reports.asked.map((asked) => asked.scope.kind)).toEqual(['all', 'scoped']);
    expect(reports.asked[1]?.scope).toMatchObject({ agencyCode: 'NRF' });
  });

  it('pages over (period, key) with a cursor it issued, and refuses one it did not', async () => {
    const { queries } = harness();
    const admin = person('u-admin', ['admin']);
    const first = await queries.report(admin, { ...query, limit: 1 });
    expect(first.items.map((item) => item.period)).toEqual(['2026-05-01']);
    expect(first.nextCursor).toBe(encodeUsageCursor({ period: '2026-05-01', key: '' }));
    const second = await queries.report(admin, { ...query, limit: 1, cursor: first.nextCursor ?? '' });
    expect(second.items.map((item) => item.period)).toEqual(['2026-05-02']);
    expect(second.nextCursor).toBeNull();
    await expect(queries.report(admin, { ...query, cursor: 'bm9wZQ' })).rejects.toMatchObject({
      code: 'INVALID_CURSOR',
    });
  });

  it("reads one allocation's usage only for those who may read the allocation", async () => {
    const { queries } = harness();
    const usage = await queries.allocationUsage(person('u-pi'), 'a-1', { granularity: 'day' });
    expect(usage.total).toMatchObject({ gpuSeconds: '10800' });
    await expect(
      queries.allocationUsage(person('u-stranger'), 'a-1', { granularity: 'day' }),
    ).rejects.toMatchObject({
      kind: 'not_found',
    });
  });
});
