import { makeWorkload } from '../../../../test/fakes/workloads.fakes.js';
import { agentToken, user, workloadHarness } from '../../../../test/fakes/workloads.harness.js';
import { WorkloadQueries } from './workload-queries.js';
import { makeAllocation } from '../../../../test/fakes/workloads.fakes.js';

function setUp() {
  const harness = workloadHarness();
  harness.memberships.add('p-1', 'u-1');
  harness.workloads.visibility.set('u-1', ['p-1']);
  harness.workloads.allocations.set('a-1', makeAllocation());
  harness.workloads.add(
    makeWorkload({ id: 'w-1', state: 'running' }),
    makeWorkload({ id: 'w-2', projectId: 'p-2', state: 'queued' }),
  );
  harness.placements.parts.set('w-1', [{ nodeId: 'n-1', nodeName: 'a-01', gpus: 8, adapter: 'simulator' }]);
  return { ...harness, queries: new WorkloadQueries(harness.workloads, harness.placements, harness.access) };
}

const page = { limit: 50 };

describe('WorkloadQueries', () => {
  it('reads a workload of the caller’s project with its placement, and 404s the others', async () => {
    const { queries } = setUp();
    await expect(queries.get(user(), 'w-1')).resolves.toMatchObject({
      workload: { id: 'w-1' },
      placement: [{ nodeId: 'n-1', nodeName: 'a-01', cluster: 'c-1', gpus: 8 }],
    });
    await expect(queries.get(user(), 'w-2')).rejects.toMatchObject({ kind: 'not_found' });
    await expect(queries.get(agentToken(), 'w-1')).rejects.toMatchObject({ kind: 'not_found' });
    await expect(queries.get(user(), 'w-404')).rejects.toMatchObject({ kind: 'not_found' });
  });

  it('lets admins and operators read every workload', async () => {
    const { queries, workloads } = setUp();
    for (const principal of [user('u-8', ['admin']), user('u-9', ['operator'])]) {
      await expect(queries.get(principal, 'w-2')).resolves.toMatchObject({ workload: { id: 'w-2' } });
      const listed = await queries.list(principal, {}, page);
      expect(listed.items.map((item) => item.workload.id).sort()).toEqual(['w-1', 'w-2']);
    }
    expect(workloads.listed.map((call) => call.scope)).toEqual([{ kind: 'all' }, { kind: 'all' }]);
  });

  it('lists only the projects the caller belongs to, and nothing for a token', async () => {
    const { queries, workloads } = setUp();
    const mine = await queries.list(user(), {}, page);
    expect(mine.items.map((item) => item.workload.id)).toEqual(['w-1']);
    expect(mine.items[0]?.placement).toHaveLength(1);
    expect(workloads.listed[0]?.scope).toEqual({ kind: 'member', userId: 'u-1', piOnly: false });
    await expect(queries.list(agentToken(), {}, page)).resolves.toEqual({ items: [], nextCursor: null });
  });

  it('404s a filter on an allocation or project the caller may not see, before listing', async () => {
    const { queries, workloads } = setUp();
    workloads.allocations.set('a-2', makeAllocation({ id: 'a-2', projectId: 'p-2' }));
    await expect(queries.list(user(), { allocationId: 'a-2' }, page)).rejects.toMatchObject({
      kind: 'not_found',
      message: expect.stringContaining('Allocation a-2') as unknown,
    });
    await expect(queries.list(user(), { allocationId: 'a-404' }, page)).rejects.toMatchObject({
      kind: 'not_found',
    });
    await expect(queries.list(user(), { projectId: 'p-2' }, page)).rejects.toMatchObject({
      kind: 'not_found',
      message: expect.stringContaining('Project p-2') as unknown,
    });
    expect(workloads.listed).toEqual([]);
    await expect(
      queries.list(user(), { allocationId: 'a-1', state: 'running' }, page),
    ).resolves.toMatchObject({
      items: [{ workload: { id: 'w-1' } }],
    });
  });
});
