import { DomainError } from '#domain';
import { FakeJobProducer } from '../../../../test/fakes/job-producer.fake.js';
import { FakeClusterRepository, FakeNodeRepository, makeNode } from '../../../../test/fakes/pool.fakes.js';
import { makeWorkload } from '../../../../test/fakes/workloads.fakes.js';
import { user, workloadHarness } from '../../../../test/fakes/workloads.harness.js';
import { capacityViewOf } from './capacity.queries.js';
import { ChangeNodeStateUseCase } from './change-node-state.use-case.js';
import { ClusterQueries } from './cluster.queries.js';
import { NodeQueries } from './node.queries.js';
import { RegisterClusterUseCase } from './register-cluster.use-case.js';

const operator = user('op-1', ['operator']);

async function domainErrorOf(promise: Promise<unknown>): Promise<DomainError> {
  const error: unknown = await promise.then(
    () => new Error('expected a DomainError, the call succeeded'),
    (rejection: unknown) => rejection,
  );
  if (!(error instanceof DomainError)) throw error;
  return error;
}

function nodeSetUp() {
  const harness = workloadHarness();
  const nodes = new FakeNodeRepository(harness.steps);
  const producer = new FakeJobProducer();
  const useCase = new ChangeNodeStateUseCase(
    harness.transactions,
    nodes,
    harness.partitions,
    harness.endAttempt,
    harness.audit,
    producer,
  );
  return { ...harness, producer, nodes, useCase };
}

describe('ChangeNodeStateUseCase', () => {
  it('is a no-op for the current state: no write, no audit, no job', async () => {
    const t = nodeSetUp();
    const node = makeNode({ state: 'draining' });
    t.nodes.add(node);
    const result = await t.useCase.execute(operator, node.id, { state: 'draining' }, null);
    expect(result).toMatchObject({ changed: false, failedWorkloadIds: [], state: 'draining' });
    expect(t.steps).toEqual([`lock partition H200`, `lock node ${node.id}`]);
    expect(t.audit.events).toEqual([]);
    expect(t.producer.jobs).toEqual([]);
  });

  it('drains under the partition lock, marks it dirty, audits and enqueues the cycle and re-plan', async () => {
    const t = nodeSetUp();
    const node = makeNode();
    t.nodes.add(node);
    t.nodes.activeOn.set(node.id, [makeWorkload({ state: 'running' })]);
    const result = await t.useCase.execute(operator, node.id, { state: 'draining', reason: 'maint' }, 'r-1');
    expect(result).toMatchObject({
      changed: true,
      state: 'draining',
      stateReason: 'maint',
      failedWorkloadIds: [],
    });
    expect(t.steps).toEqual([
      'lock partition H200',
      `lock node ${node.id}`,
      `node ${node.id} draining`,
      'mark dirty H200',
    ]);
    expect(t.audit.events).toEqual([
      expect.objectContaining({
        action: 'node.state_changed',
        before: expect.objectContaining({ state: 'up' }) as unknown,
        after: expect.objectContaining({ state: 'draining', failedWorkloadIds: [] }) as unknown,
      }),
    ]);
    expect(t.producer.jobs).toEqual([
      { name: 'schedule.cycle', data: { gpuModel: 'H200' } },
      { name: 'planning.replan', data: { gpuModel: 'H200' } },
    ]);
  });

  it('down fails the active workloads on the node, audits each and cancels them after commit', async () => {
    const t = nodeSetUp();
    const node = makeNode({ name: 'c1-h200-0007' });
    t.nodes.add(node);
    const running = makeWorkload({ id: 'w-1', state: 'running', attempt: 2 });
    const ended = makeWorkload({ id: 'w-2', state: 'succeeded' });
    t.workloads.add(running, ended);
    t.nodes.activeOn.set(node.id, [running, ended]);
    const result = await t.useCase.execute(operator, node.id, { state: 'down' }, null);
    const reason = 'node_down: c1-h200-0007: marked down by an operator';
    expect(result.failedWorkloadIds).toEqual(['w-1']);
    expect(t.audit.actions()).toEqual(['workload.failed', 'node.state_changed']);
    expect(t.audit.events[0]?.after).toEqual({ state: 'failed', attempt: 2, reason, nodeId: node.id });
    expect(t.producer.jobs[0]).toEqual({
      name: 'dispatch.cancel',
      data: { workloadId: 'w-1', attempt: 2, reason },
    });
    expect(t.producer.jobs.map((job) => job.name)).toEqual([
      'dispatch.cancel',
      'schedule.cycle',
      'planning.replan',
    ]);
  });

  it('down requeues the workloads on the node while their program allows, keeping their age', async () => {
    const t = nodeSetUp();
    const node = makeNode({ name: 'c1-h200-0007' });
    t.nodes.add(node);
    const queuedAt = new Date('2026-05-01T00:00:00Z');
    const first = makeWorkload({ id: 'w-1', state: 'running', attempt: 2, queuedAt, programId: 'p-1' });
    const spent = makeWorkload({ id: 'w-2', state: 'running', programId: 'p-1', infrastructureRequeues: 3 });
    t.workloads.add(first, spent);
    t.workloads.requeueLimits.set('p-1', 3);
    t.nodes.activeOn.set(node.id, [first, spent]);
    const result = await t.useCase.execute(operator, node.id, { state: 'down' }, null);
    expect(result).toMatchObject({ requeuedWorkloadIds: ['w-1'], failedWorkloadIds: ['w-2'] });
    const reason = 'node_down: c1-h200-0007: marked down by an operator';
    expect(t.workloads.rows.get('w-1')).toMatchObject({
      state: 'queued',
      attempt: 3,
      queuedAt,
      infrastructureRequeues: 1,
      endReason: `${reason} (requeued, 1 of at most 3)`,
    });
    expect(t.workloads.rows.get('w-2')).toMatchObject({
      state: 'failed',
      endReason: `${reason} (not requeued: already requeued 3 times, the program's limit)`,
    });
    expect(t.audit.actions()).toEqual(['workload.requeued', 'workload.failed', 'node.state_changed']);
    // Both attempts are stopped on the cluster: the requeued one runs again as attempt 3.
    expect(t.producer.jobs.filter((job) => job.name === 'dispatch.cancel').map((job) => job.data)).toEqual([
      { workloadId: 'w-1', attempt: 2, reason },
      { workloadId: 'w-2', attempt: 0, reason },
    ]);
  });

  it('caps the cancel reason at 200 characters and 404s an unknown node', async () => {
    const t = nodeSetUp();
    const node = makeNode();
    t.nodes.add(node);
    const running = makeWorkload({ id: 'w-1', state: 'running' });
    t.workloads.add(running);
    t.nodes.activeOn.set(node.id, [running]);
    await t.useCase.execute(operator, node.id, { state: 'down', reason: 'x'.repeat(400) }, null);
    const cancel = t.producer.jobs[0];
    expect(cancel?.name === 'dispatch.cancel' && cancel.data.reason.length).toBe(200);
    expect((await domainErrorOf(t.useCase.execute(operator, 'missing', { state: 'up' }, null))).kind).toBe(
      'not_found',
    );
  });
});

describe('NodeQueries.list', () => {
  it('pages in name order with a cursor only when more nodes follow, and refuses a foreign cursor', async () => {
    const nodes = new FakeNodeRepository();
    nodes.add(makeNode({ name: 'n-3' }), makeNode({ name: 'n-1' }), makeNode({ name: 'n-2' }));
    const queries = new NodeQueries(nodes);
    const first = await queries.list({}, { limit: 2 });
    expect(first.items.map((node) => node.name)).toEqual(['n-1', 'n-2']);
    const second = await queries.list({}, { limit: 2, cursor: first.nextCursor ?? undefined });
    expect(second).toMatchObject({ items: [{ name: 'n-3' }], nextCursor: null });
    expect((await domainErrorOf(queries.list({}, { limit: 2, cursor: 'bm9wZQ' }))).code).toBe(
      'INVALID_CURSOR',
    );
  });
});

describe('capacityViewOf', () => {
  it('sums lines by model, shows demand for models without nodes, and sorts by model', () => {
    const view = capacityViewOf(
      [
        { gpuModel: 'H200', gpusPerNode: 8, nodes: 2, total: 16, inUse: 6, draining: 8, down: 0, free: 2 },
        { gpuModel: 'A100', gpusPerNode: 8, nodes: 1, total: 8, inUse: 0, draining: 0, down: 8, free: 0 },
      ],
      [{ gpuModel: 'B200', queuedDemand: 64, queuedWorkloads: 2 }],
      new Map([['H200', 4]]),
      new Date('2026-03-01T00:00:00Z'),
    );
    expect(view.models.map((line) => line.gpuModel)).toEqual(['A100', 'B200', 'H200']);
    expect(view.models[1]).toMatchObject({ nodes: 0, total: 0, queuedDemand: 64, queuedWorkloads: 2 });
    expect(view.models[2]).toMatchObject({ reserved: 4, free: 2 });
    expect(view.totals).toEqual({
      nodes: 3,
      total: 24,
      inUse: 6,
      reserved: 4,
      draining: 8,
      down: 8,
      free: 2,
      queuedDemand: 64,
      queuedWorkloads: 2,
    });
    expect(view.at).toBe('2026-03-01T00:00:00.000Z');
  });
});

function clusterSetUp() {
  const harness = workloadHarness();
  const clusters = new FakeClusterRepository();
  const producer = new FakeJobProducer();
  const useCase = new RegisterClusterUseCase(
    harness.transactions,
    clusters,
    harness.partitions,
    harness.audit,
    producer,
  );
  return { ...harness, producer, clusters, useCase, queries: new ClusterQueries(clusters) };
}

const layout = (count: number) => ({
  names: Array.from({ length: count }, (_, index) => `n-${index}`),
  domains: Array.from({ length: count }, (_, index) => `d-${Math.floor(index / 2)}`),
});

describe('RegisterClusterUseCase', () => {
  const input = {
    name: 'c1',
    adapter: 'simulator',
    site: 'kisti',
    nodePools: [
      { gpuModel: 'H200', gpusPerNode: 8, layout: layout(4) },
      { gpuModel: 'A100', gpusPerNode: 4, layout: layout(2) },
    ],
  };

  it('locks partitions in name order, creates the site, audits both and enqueues after commit', async () => {
    const t = clusterSetUp();
    const view = await t.useCase.execute(operator, input, 'r-1');
    expect(t.steps).toEqual([
      'lock partition A100',
      'lock partition H200',
      'mark dirty A100',
      'mark dirty H200',
    ]);
    expect(view).toMatchObject({
      name: 'c1',
      site: { code: 'kisti', name: 'kisti', provider: 'unspecified' },
      nodes: 6,
      gpus: 40,
      nodesByState: { up: 6, draining: 0, down: 0 },
    });
    expect([...t.clusters.partitions].sort()).toEqual(['A100', 'H200']);
    expect(t.audit.actions()).toEqual(['site.created', 'cluster.created']);
    expect(t.producer.jobs.map((job) => job.name)).toEqual([
      'schedule.cycle',
      'schedule.cycle',
      'planning.replan',
      'planning.replan',
    ]);
    await expect(t.queries.get(view.id)).resolves.toEqual(view);
  });

  it('refuses a taken name, before and at the insert, enqueueing nothing', async () => {
    const t = clusterSetUp();
    await t.useCase.execute(operator, input, null);
    t.producer.jobs.length = 0;
    expect((await domainErrorOf(t.useCase.execute(operator, input, null))).code).toBe('CLUSTER_NAME_TAKEN');
    t.clusters.loseNextInsert = true;
    expect((await domainErrorOf(t.useCase.execute(operator, { ...input, name: 'c2' }, null))).code).toBe(
      'CLUSTER_NAME_TAKEN',
    );
    expect(t.producer.jobs).toEqual([]);
  });

  it('reuses an existing site by code, and refuses one sent with a different name', async () => {
    const t = clusterSetUp();
    await t.useCase.execute(operator, { ...input, site: { code: 'kisti', name: 'KISTI' } }, null);
    await t.useCase.execute(operator, { ...input, name: 'c2', site: 'kisti' }, null);
    expect(t.audit.actions()).toEqual(['site.created', 'cluster.created', 'cluster.created']);
    const error = await domainErrorOf(
      t.useCase.execute(operator, { ...input, name: 'c3', site: { code: 'kisti', name: 'Other' } }, null),
    );
    expect(error.code).toBe('SITE_MISMATCH');
    expect(error.details).toEqual([{ field: 'site.name', message: 'recorded as "KISTI"' }]);
  });
});
