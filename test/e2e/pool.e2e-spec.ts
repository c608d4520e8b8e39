import type { DataSource } from 'typeorm';
import { holdTransaction, meteredGpuSeconds } from '../../libs/domain/src/index.js';
import {
  createDataSource,
  NodeEntity,
  postLedgerTransaction,
  WorkloadEntity,
  WorkloadPlacementEntity,
} from '../../libs/persistence/src/index.js';
import { postUsageBatch, storeUsageBatch } from '../support/usage-pipeline.js';
import { JobProducer } from '../../libs/queues/src/index.js';
import { NATIONAL_POOL, seedNationalPool, type PoolSeedCall } from '../../apps/api/src/cli/pool-seed.js';
import { seedApprovedRequest } from '../factories/grant-fixtures.js';
import { makeGrantedAllocation, makeUser } from '../factories/program.factory.js';
import { startApi, type ApiHarness } from '../support/api-harness.js';

interface CapacityLine {
  gpuModel: string;
  gpusPerNode: number;
  nodes: number;
  total: number;
  inUse: number;
  reserved: number;
  draining: number;
  down: number;
  free: number;
  queuedDemand: number;
  queuedWorkloads: number;
}

const HOUR = 3600;

function kistiCluster(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'kisti-daejeon-1',
    site: { code: 'kisti-daejeon', name: 'KISTI 국가슈퍼컴퓨팅센터', provider: 'KISTI' },
    nodePools: [
      { gpuModel: 'H100', gpusPerNode: 8, nodes: 2_000 },
      { gpuModel: 'A100-80G', gpusPerNode: 4, nodes: 10, interconnectDomains: 3 },
    ],
    ...overrides,
  };
}

describe('the GPU pool: clusters, nodes and capacity', () => {
  let api: ApiHarness;
  let db: DataSource;
  let admin: [string, string];
  let operator: [string, string];
  let researcher: [string, string];
  let clusterId: string;

  const auth = (token: string): [string, string] => ['authorization', `Bearer ${token}`];

  async function capacity(): Promise<Map<string, CapacityLine>> {
    const response = await api.http
      .get('/v1/pool/capacity')
      .set(...researcher)
      .expect(200);
    return new Map((response.body.models as CapacityLine[]).map((line) => [line.gpuModel, line]));
  }

  async function nodeNamed(name: string): Promise<NodeEntity> {
    return db.getRepository(NodeEntity).findOneOrFail({ where: { name } });
  }

  async function waitingJobs(queue: 'scheduling' | 'dispatch') {
    const jobs = await api.app
      .get(JobProducer)
      .queue(queue)
      .getJobs(['waiting', 'delayed', 'prioritized', 'active', 'completed', 'failed']);
    return jobs.map((job) => ({ name: job.name, data: job.data as Record<string, unknown> }));
  }

  beforeAll(async () => {
    api = await startApi('pool');
    db = createDataSource({ url: api.databaseUrl, poolSize: 2, applicationName: 'pool-e2e' });
    await db.initialize();
    admin = auth(api.adminToken);
    const operatorUser = await makeUser(db, { roles: ['operator'] });
    operator = auth(await api.login(operatorUser.email, operatorUser.password));
    const researcherUser = await makeUser(db);
    researcher = auth(await api.login(researcherUser.email, researcherUser.password));
  });
  afterAll(async () => {
    await db?.destroy();
    await api?.close();
  });

  it('registers a cluster with two pools and every node in one request, and reports exact capacity', async () => {
    const started = Date.now();
    const created = await api.http
      .post('/v1/clusters')
      .set(...operator)
      .send(kistiCluster());
    const elapsedMs = Date.now() - started;
    expect(created.status).toBe(201);
    // 2,010 nodes in one transaction: one set-based insert per pool, not a row at a time.
    expect(elapsedMs).toBeLessThan(1_500);
    clusterId = created.body.id as string;
    expect(created.body).toMatchObject({
      name: 'kisti-daejeon-1',
      adapter: 'simulator',
      site: { code: 'kisti-daejeon', name: 'KISTI 국가슈퍼컴퓨팅센터', provider: 'KISTI' },
      nodes: 2_010,
      gpus: 16_040,
      nodesByState: { up: 2_010, draining: 0, down: 0 },
      nodePools: [
        {
          gpuModel: 'A100-80G',
          gpusPerNode: 4,
          nodes: 10,
          gpus: 40,
          gpusAllocated: 0,
          interconnectDomains: 3,
          nodesByState: { up: 10, draining: 0, down: 0 },
        },
        {
          gpuModel: 'H100',
          gpusPerNode: 8,
          nodes: 2_000,
          gpus: 16_000,
          gpusAllocated: 0,
          // Domains of 32 nodes by default: 62 full ones and one of 16.
          interconnectDomains: 63,
          nodesByState: { up: 2_000, draining: 0, down: 0 },
        },
      ],
    });

    const first = await nodeNamed('kisti-daejeon-1-H100-0001');
    expect(first).toMatchObject({
      interconnectDomain: 'kisti-daejeon-1/H100/d1',
      gpusTotal: 8,
      gpusAllocated: 0,
      state: 'up',
      clusterId,
    });
    expect((await nodeNamed('kisti-daejeon-1-H100-2000')).interconnectDomain).toBe(
      'kisti-daejeon-1/H100/d63',
    );
    const domainSizes = await db.query<{ interconnect_domain: string; nodes: number }[]>(
      `SELECT interconnect_domain, count(*)::int AS nodes FROM nodes WHERE gpu_model = 'A100-80G'
       GROUP BY interconnect_domain ORDER BY interconnect_domain`,
    );
    expect(domainSizes.map((row) => row.nodes)).toEqual([4, 3, 3]);

    const partitions = await db.query<{ gpu_model: string; dirty: boolean }[]>(
      'SELECT gpu_model, EXISTS (SELECT 1 FROM partition_triggers t WHERE t.gpu_model = p.gpu_model) AS dirty FROM scheduling_partitions p ORDER BY gpu_model',
    );
    expect(partitions).toEqual([
      { gpu_model: 'A100-80G', dirty: true },
      { gpu_model: 'H100', dirty: true },
    ]);
    const audits = await db.query<{ action: string; subject_id: string }[]>(
      `SELECT action, subject_id FROM audit_events WHERE action IN ('cluster.created', 'site.created') ORDER BY id`,
    );
    expect(audits.map((row) => row.action)).toEqual(['site.created', 'cluster.created']);
    expect(audits[1]?.subject_id).toBe(clusterId);
    const cycles = await waitingJobs('scheduling');
    expect(cycles.filter((job) => job.name === 'schedule.cycle').map((job) => job.data.gpuModel)).toEqual(
      expect.arrayContaining(['H100', 'A100-80G']),
    );

    // Any signed-in user sees the capacity; the figures are exact.
    const lines = await capacity();
    expect(lines.get('H100')).toEqual({
      gpuModel: 'H100',
      gpusPerNode: 8,
      nodes: 2_000,
      total: 16_000,
      inUse: 0,
      reserved: 0,
      draining: 0,
      down: 0,
      free: 16_000,
      queuedDemand: 0,
      queuedWorkloads: 0,
    });
    expect(lines.get('A100-80G')).toMatchObject({ gpusPerNode: 4, nodes: 10, total: 40, free: 40 });

    const one = await api.http
      .get(`/v1/clusters/${clusterId}`)
      .set(...admin)
      .expect(200);
    expect(one.body).toEqual(created.body);
    const listed = await api.http
      .get('/v1/clusters?name=kisti-daejeon-1')
      .set(...operator)
      .expect(200);
    expect(listed.body).toEqual({ items: [created.body], nextCursor: null });
  });

  it('refuses a taken cluster name with 409, reuses a site by code, and refuses a contradicting site', async () => {
    const duplicate = await api.http
      .post('/v1/clusters')
      .set(...operator)
      .send(kistiCluster({ nodePools: [{ gpuModel: 'H100', gpusPerNode: 8, nodes: 1 }] }));
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.error.code).toBe('CLUSTER_NAME_TAKEN');
    // Nothing of the refused registration remains.
    expect(await db.getRepository(NodeEntity).count({ where: { clusterId } })).toBe(2_010);

    const sameSite = await api.http
      .post('/v1/clusters')
      .set(...admin)
      .send({
        name: 'kisti-daejeon-2',
        site: 'kisti-daejeon',
        nodePools: [{ gpuModel: 'L40S', gpusPerNode: 4, nodes: 2 }],
      });
    expect(sameSite.status).toBe(201);
    expect(sameSite.body.site).toMatchObject({ code: 'kisti-daejeon', provider: 'KISTI' });

    const contradicting = await api.http
      .post('/v1/clusters')
      .set(...operator)
      .send({
        name: 'kisti-daejeon-3',
        site: { code: 'kisti-daejeon', provider: 'Someone else' },
        nodePools: [{ gpuModel: 'L40S', gpusPerNode: 4, nodes: 1 }],
      });
    expect(contradicting.status).toBe(409);
    expect(contradicting.body.error).toMatchObject({
      code: 'SITE_MISMATCH',
      details: [{ field: 'site.provider', message: 'recorded as "KISTI"' }],
    });

    const newSite = await api.http
      .post('/v1/clusters')
      .set(...operator)
      .send({
        name: 'edge-1',
        site: 'edge-seoul',
        nodePools: [{ gpuModel: 'L40S', gpusPerNode: 4, nodes: 1 }],
      });
    expect(newSite.status).toBe(201);
    expect(newSite.body.site).toMatchObject({
      code: 'edge-seoul',
      name: 'edge-seoul',
      provider: 'unspecified',
    });
  });

  it('lets only operators and admins manage the pool (403 with the API.md body)', async () => {
    const attempts = [
      api.http
        .post('/v1/clusters')
        .set(...researcher)
        .send(kistiCluster({ name: 'sneaky-1' })),
      api.http.get('/v1/clusters').set(...researcher),
      api.http.get(`/v1/clusters/${clusterId}`).set(...researcher),
      api.http.get('/v1/nodes').set(...researcher),
      api.http
        .patch(`/v1/nodes/${(await nodeNamed('kisti-daejeon-1-H100-0001')).id}`)
        .set(...researcher)
        .send({ state: 'down' }),
    ];
    for (const response of await Promise.all(attempts)) {
      expect(response.status).toBe(403);
      expect(response.body).toEqual({
        error: expect.objectContaining({ code: 'ROLE_REQUIRED', message: expect.any(String) }),
      });
    }
    expect((await nodeNamed('kisti-daejeon-1-H100-0001')).state).toBe('up');
    await api.http.get('/v1/pool/capacity').expect(401);
  });

  const pool = (overrides: Record<string, unknown>) => ({
    gpuModel: 'H200',
    gpusPerNode: 8,
    nodes: 4,
    ...overrides,
  });
  it.each([
    ['an unknown field', { name: 'bad-1', site: 'x-site', nodePools: [pool({})], racks: 3 }, '(body)'],
    [
      'an unknown pool field',
      { name: 'bad-1', site: 'x-site', nodePools: [pool({ color: 'red' })] },
      'nodePools[0]',
    ],
    [
      'gpusPerNode 0',
      { name: 'bad-1', site: 'x-site', nodePools: [pool({ gpusPerNode: 0 })] },
      'nodePools[0].gpusPerNode',
    ],
    [
      'gpusPerNode 17',
      { name: 'bad-1', site: 'x-site', nodePools: [pool({ gpusPerNode: 17 })] },
      'nodePools[0].gpusPerNode',
    ],
    [
      '100,000 nodes',
      { name: 'bad-1', site: 'x-site', nodePools: [pool({ nodes: 100_000 })] },
      'nodePools[0].nodes',
    ],
    [
      'a lower-case model',
      { name: 'bad-1', site: 'x-site', nodePools: [pool({ gpuModel: 'h200' })] },
      'nodePools[0].gpuModel',
    ],
    [
      'a model with ":"',
      { name: 'bad-1', site: 'x-site', nodePools: [pool({ gpuModel: 'H200:X' })] },
      'nodePools[0].gpuModel',
    ],
    [
      'more domains than nodes',
      { name: 'bad-1', site: 'x-site', nodePools: [pool({ interconnectDomains: 5 })] },
      'nodePools[0].interconnectDomains',
    ],
    [
      'one model twice',
      { name: 'bad-1', site: 'x-site', nodePools: [pool({}), pool({})] },
      'nodePools[1].gpuModel',
    ],
    ['no pools', { name: 'bad-1', site: 'x-site', nodePools: [] }, 'nodePools'],
    ['a cluster name with "/"', { name: 'bad/1', site: 'x-site', nodePools: [pool({})] }, 'name'],
    [
      'another adapter',
      { name: 'bad-1', site: 'x-site', adapter: 'slurm', nodePools: [pool({})] },
      'adapter',
    ],
  ])('refuses a cluster with %s (400 VALIDATION_FAILED naming the field)', async (_label, body, field) => {
    const response = await api.http
      .post('/v1/clusters')
      .set(...operator)
      .send(body);
    expect(response.status).toBe(400);
    expect(response.body.error).toMatchObject({ code: 'VALIDATION_FAILED', message: expect.any(String) });
    expect(response.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
  });

  it('refuses malformed ids, states and filters with 400, and unknown ids with 404', async () => {
    const cases = [
      api.http.get('/v1/clusters/not-a-uuid').set(...operator),
      api.http.get('/v1/nodes/12345').set(...operator),
      api.http
        .patch('/v1/nodes/12345')
        .set(...operator)
        .send({ state: 'down' }),
      api.http
        .patch(`/v1/nodes/${(await nodeNamed('kisti-daejeon-1-H100-0001')).id}`)
        .set(...operator)
        .send({ state: 'broken' }),
      api.http.get('/v1/nodes?state=sideways').set(...operator),
      api.http.get('/v1/nodes?clusterId=nope').set(...operator),
      api.http.get('/v1/nodes?cursor=garbage').set(...operator),
    ];
    for (const response of await Promise.all(cases)) {
      expect(response.status).toBe(400);
      expect(response.body.error.code).toMatch(/^(VALIDATION_FAILED|INVALID_CURSOR)$/);
    }
    const missing = '00000000-0000-4000-8000-000000000000';
    const notFound = await Promise.all([
      api.http.get(`/v1/clusters/${missing}`).set(...operator),
      api.http
        .patch(`/v1/nodes/${missing}`)
        .set(...operator)
        .send({ state: 'down' }),
    ]);
    for (const response of notFound) {
      expect(response.status).toBe(404);
      expect(response.body.error.code).toBe('NOT_FOUND');
    }
  });

  it('lists nodes in name order, filtered, with a stable cursor', async () => {
    const first = await api.http
      .get(`/v1/nodes?clusterId=${clusterId}&gpuModel=A100-80G&limit=4`)
      .set(...operator)
      .expect(200);
    expect((first.body.items as { name: string }[]).map((node) => node.name)).toEqual([
      'kisti-daejeon-1-A100-80G-0001',
      'kisti-daejeon-1-A100-80G-0002',
      'kisti-daejeon-1-A100-80G-0003',
      'kisti-daejeon-1-A100-80G-0004',
    ]);
    const names: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await api.http
        .get(`/v1/nodes?gpuModel=A100-80G&limit=3${cursor ? `&cursor=${cursor}` : ''}`)
        .set(...operator)
        .expect(200);
      names.push(...(page.body.items as { name: string }[]).map((node) => node.name));
      cursor = page.body.nextCursor as string | null;
    } while (cursor);
    expect(names).toHaveLength(10);
    expect(names).toEqual([...names].sort());
  });

  it('drains a node: capacity and the state filter show it draining, and the same state again is a no-op', async () => {
    const node = await nodeNamed('kisti-daejeon-1-H100-0100');
    const drained = await api.http
      .patch(`/v1/nodes/${node.id}`)
      .set(...operator)
      .send({ state: 'draining', reason: 'firmware update' });
    expect(drained.status).toBe(200);
    expect(drained.body).toMatchObject({
      id: node.id,
      state: 'draining',
      stateReason: 'firmware update',
      changed: true,
      failedWorkloadIds: [],
    });
    expect((await capacity()).get('H100')).toMatchObject({
      total: 16_000,
      draining: 8,
      free: 15_992,
      inUse: 0,
    });
    const draining = await api.http
      .get('/v1/nodes?state=draining')
      .set(...operator)
      .expect(200);
    expect((draining.body.items as { id: string }[]).map((item) => item.id)).toEqual([node.id]);

    const auditsBefore = await db.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM audit_events WHERE action = 'node.state_changed' AND subject_id = $1`,
      [node.id],
    );
    const again = await api.http
      .patch(`/v1/nodes/${node.id}`)
      .set(...operator)
      .send({ state: 'draining', reason: 'something else' });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ state: 'draining', stateReason: 'firmware update', changed: false });
    const auditsAfter = await db.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM audit_events WHERE action = 'node.state_changed' AND subject_id = $1`,
      [node.id],
    );
    expect(auditsAfter[0]?.n).toBe(auditsBefore[0]?.n);
    expect(auditsAfter[0]?.n).toBe(1);

    await api.http
      .patch(`/v1/nodes/${node.id}`)
      .set(...operator)
      .send({ state: 'up' })
      .expect(200);
    expect((await capacity()).get('H100')).toMatchObject({ draining: 0, free: 16_000 });
  });

  it('takes a node down: its running gang workload is requeued with its age, every GPU it held returns, its hold is released and its usage refunded', async () => {
    // A granted H100 allocation, straight through the entities and the ledger repository.
    const fixture = await seedApprovedRequest(db, { models: ['H100'] });
    const creator = await makeUser(db);
    const { allocationId } = await makeGrantedAllocation(db, {
      projectId: fixture.projectId,
      programId: fixture.programId,
      createdBy: creator.id,
      gpuModel: 'H100',
      grantedGpuSeconds: 1_000n * BigInt(HOUR),
      maxConcurrentGpus: 64,
    });
    const failing = await nodeNamed('kisti-daejeon-1-H100-0001');
    const partner = await nodeNamed('kisti-daejeon-1-H100-0002');
    const bystanderNode = await nodeNamed('kisti-daejeon-1-H100-0040');
    const startedAt = new Date(Date.now() - 600_000);

    // A 16-GPU gang over two nodes (running for ten minutes), a 2-GPU workload elsewhere, one queued.
    const [gang, bystander] = await db.transaction(async (manager) => {
      const workloads = manager.getRepository(WorkloadEntity);
      const base = {
        allocationId,
        projectId: fixture.projectId,
        programId: fixture.programId,
        gpuModel: 'H100',
        walltimeSeconds: HOUR,
        queuedAt: new Date(Date.now() - 700_000),
      };
      const rows = [
        await workloads.save({
          ...base,
          name: 'gang',
          gpus: 16,
          state: 'running',
          startedAt,
          admittedAt: startedAt,
        }),
        await workloads.save({
          ...base,
          name: 'small',
          gpus: 2,
          state: 'running',
          startedAt,
          admittedAt: startedAt,
        }),
      ];
      await workloads.save({ ...base, name: 'waiting', gpus: 24, state: 'queued' });
      const placements: [WorkloadEntity, NodeEntity, number][] = [
        [rows[0], failing, 8],
        [rows[0], partner, 8],
        [rows[1], bystanderNode, 2],
      ];
      for (const [workload, node, gpus] of placements) {
        await manager
          .getRepository(WorkloadPlacementEntity)
          .insert({ workloadId: workload.id, nodeId: node.id, gpus });
        await manager.getRepository(NodeEntity).increment({ id: node.id }, 'gpusAllocated', gpus);
      }
      for (const workload of rows) {
        const held = BigInt(workload.gpus * HOUR);
        await postLedgerTransaction(
          manager,
          holdTransaction({ allocationId, workloadId: workload.id, attempt: 0, gpuSeconds: held }),
        );
        await workloads.update(workload.id, { heldGpuSeconds: held });
      }
      return rows as [WorkloadEntity, WorkloadEntity];
    });

    expect((await capacity()).get('H100')).toMatchObject({
      inUse: 18,
      free: 16_000 - 18,
      down: 0,
      queuedDemand: 24,
      queuedWorkloads: 1,
    });

    const down = await api.http
      .patch(`/v1/nodes/${failing.id}`)
      .set(...operator)
      .send({ state: 'down', reason: 'GPU Xid 79' });
    expect(down.status).toBe(200);
    expect(down.body).toMatchObject({
      state: 'down',
      stateReason: 'GPU Xid 79',
      gpusAllocated: 0,
      changed: true,
      // Its program requeues up to 3 times: back to the queue with its age, not failed.
      failedWorkloadIds: [],
      requeuedWorkloadIds: [gang.id],
    });

    const reason = 'node_down: kisti-daejeon-1-H100-0001: GPU Xid 79';
    const ended = await db.getRepository(WorkloadEntity).findOneByOrFail({ id: gang.id });
    expect(ended).toMatchObject({
      state: 'queued',
      attempt: 1,
      infrastructureRequeues: 1,
      queuedAt: gang.queuedAt,
      endReason: `${reason} (requeued, 1 of at most 3)`,
      heldGpuSeconds: 0n,
    });
    // It ran about ten minutes on 16 GPUs. The end charges nothing (usage records do), and the
    // attempt is refunded because the infrastructure failed it: so its whole hold is released at
    // once, nothing waits for its meter.
    expect(ended.consumedGpuSeconds).toBe(0n);
    const [hold] = await db.query<{ remaining: string; refund_reason: string | null; ended_at: Date }[]>(
      `SELECT remaining_gpu_seconds::text AS remaining, refund_reason, ended_at FROM workload_holds
        WHERE workload_id = $1 AND attempt = 0`,
      [gang.id],
    );
    expect(hold.remaining).toBe('0');
    expect(hold.refund_reason).toBe(reason);
    const attemptEnd = new Date(hold.ended_at);
    // The cluster's meter for those ten minutes arrives: consumed, and refunded in the same posting.
    const ranFrom = gang.startedAt ?? startedAt;
    const stored = await storeUsageBatch(db, null, [
      {
        source: 'pool-e2e',
        externalId: `${gang.id}:0`,
        allocationId,
        workloadId: gang.id,
        attempt: 0,
        gpuModel: 'H100',
        gpus: 16,
        startedAt: ranFrom,
        endedAt: attemptEnd,
        gpuSeconds: meteredGpuSeconds(16, ranFrom, attemptEnd),
        late: false,
      },
    ]);
    expect((await postUsageBatch(db, stored.batchId!)).posted).toBe(true);
    expect((await db.getRepository(WorkloadEntity).findOneByOrFail({ id: bystander.id })).state).toBe(
      'running',
    );

    // Every GPU of the gang is back, on the failed node and on its partner; the bystander keeps its 2.
    expect((await nodeNamed(failing.name)).gpusAllocated).toBe(0);
    expect((await nodeNamed(partner.name)).gpusAllocated).toBe(0);
    expect((await nodeNamed(bystanderNode.name)).gpusAllocated).toBe(2);
    expect(await db.getRepository(WorkloadPlacementEntity).count({ where: { workloadId: gang.id } })).toBe(0);

    // The ledger: every transaction balances, the gang's hold is released once, its metered usage
    // is refunded (consumed back to 0, naming the node failure), the hold account holds exactly the
    // bystander's hold, and granted = remaining + held + consumed.
    const [ledger] = await db.query<
      {
        unbalanced: number;
        releases: number;
        refund_memo: string | null;
        hold: string;
        allocation: string;
        consumed: string;
      }[]
    >(
      `SELECT
         (SELECT count(*) FROM (SELECT transaction_id FROM ledger_entries GROUP BY transaction_id
            HAVING SUM(amount) <> 0) x)::int AS unbalanced,
         (SELECT count(*) FROM ledger_transactions WHERE idempotency_key = 'release:' || $2 || ':0:end')::int AS releases,
         (SELECT max(memo) FROM ledger_transactions WHERE kind = 'refund' AND idempotency_key LIKE 'refund:%' || $2 || '%') AS refund_memo,
         (SELECT coalesce(SUM(amount), 0) FROM ledger_entries WHERE account = 'hold:' || $1)::text AS hold,
         (SELECT coalesce(SUM(amount), 0) FROM ledger_entries WHERE account = 'allocation:' || $1)::text AS allocation,
         (SELECT coalesce(SUM(amount), 0) FROM ledger_entries WHERE account = 'consumed:' || $1)::text AS consumed`,
      [allocationId, gang.id],
    );
    expect(ledger).toMatchObject({ unbalanced: 0, releases: 1 });
    expect(ledger.refund_memo).toContain('node_down');
    expect(BigInt(ledger.hold)).toBe(BigInt(2 * HOUR));
    expect(BigInt(ledger.consumed)).toBe(0n);
    expect(BigInt(ledger.allocation) + BigInt(ledger.hold) + BigInt(ledger.consumed)).toBe(
      1_000n * BigInt(HOUR),
    );

    // Audited, the cluster is told to stop the attempt, and the partition gets a cycle.
    const audits = await db.query<{ action: string; subject_id: string }[]>(
      `SELECT action, subject_id FROM audit_events WHERE subject_id IN ($1, $2) ORDER BY id`,
      [failing.id, gang.id],
    );
    expect(audits.map((row) => row.action)).toEqual(['workload.requeued', 'node.state_changed']);
    expect(await waitingJobs('dispatch')).toEqual(
      expect.arrayContaining([
        { name: 'dispatch.cancel', data: { workloadId: gang.id, attempt: 0, reason } },
      ]),
    );

    expect((await capacity()).get('H100')).toMatchObject({
      total: 16_000,
      inUse: 2,
      down: 8,
      free: 16_000 - 8 - 2,
      // The requeued gang waits again beside the 24-GPU workload.
      queuedDemand: 24 + 16,
    });
    const node = await api.http
      .get(`/v1/nodes/${bystanderNode.id}`)
      .set(...operator)
      .expect(200);
    expect(node.body.workloads).toEqual([{ id: bystander.id, name: 'small', state: 'running', gpus: 2 }]);

    // Down again changes nothing; up brings the node back.
    const again = await api.http
      .patch(`/v1/nodes/${failing.id}`)
      .set(...operator)
      .send({ state: 'down', reason: 'GPU Xid 79' })
      .expect(200);
    expect(again.body).toMatchObject({ changed: false, failedWorkloadIds: [] });
    const up = await api.http
      .patch(`/v1/nodes/${failing.id}`)
      .set(...admin)
      .send({ state: 'up' })
      .expect(200);
    expect(up.body).toMatchObject({ state: 'up', stateReason: null, changed: true });
    expect((await capacity()).get('H100')).toMatchObject({ down: 0, free: 16_000 - 2 });
  });

  it('seeds the national pool through the API: 50,000 GPUs on 6,250 nodes, once', async () => {
    const call: PoolSeedCall = async (method, path, body) => {
      const response = await api.http[method.toLowerCase() as 'get' | 'post'](path)
        .set(...admin)
        .send(body as object | undefined);
      return { status: response.status, body: response.body as Record<string, unknown> };
    };
    const started = Date.now();
    const result = await seedNationalPool(call);
    const elapsedMs = Date.now() - started;
    expect(result).toEqual({
      seeded: true,
      created: NATIONAL_POOL.map((cluster) => cluster.name),
      existing: [],
    });
    expect(elapsedMs).toBeLessThan(10_000);

    const lines = await capacity();
    expect(lines.get('H200')).toMatchObject({ gpusPerNode: 8, nodes: 4_250, total: 34_000, free: 34_000 });
    expect(lines.get('B200')).toMatchObject({ gpusPerNode: 8, nodes: 2_000, total: 16_000, free: 16_000 });
    const [national] = await db.query<
      { nodes: number; gpus: number; sites: number; largest_domain: number }[]
    >(
      `SELECT count(*)::int AS nodes, sum(n.gpus_total)::int AS gpus, count(DISTINCT c.site_id)::int AS sites,
              (SELECT max(size) FROM (SELECT count(*) AS size FROM nodes WHERE gpu_model IN ('H200', 'B200')
                 GROUP BY interconnect_domain) d)::int AS largest_domain
       FROM nodes n JOIN clusters c ON c.id = n.cluster_id
       WHERE n.gpu_model IN ('H200', 'B200')`,
    );
    expect(national).toEqual({ nodes: 6_250, gpus: 50_000, sites: 3, largest_domain: 32 });

    await expect(seedNationalPool(call)).resolves.toEqual({
      seeded: false,
      created: [],
      existing: NATIONAL_POOL.map((cluster) => cluster.name),
    });
    const after = await capacity();
    expect((after.get('H200')?.total ?? 0) + (after.get('B200')?.total ?? 0)).toBe(50_000);
  });
});
