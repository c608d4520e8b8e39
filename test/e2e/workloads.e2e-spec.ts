import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { grantUseCase } from '../support/grant.js';
import {
  allocationAccount,
  consumedAccount,
  holdAccount,
  holdTransaction,
} from '../../libs/domain/src/index.js';
import {
  accountBalances,
  AllocationEntity,
  ClusterEntity,
  lockPartition,
  NodeEntity,
  NodePoolEntity,
  postLedgerTransaction,
  ProjectEntity,
  ProjectMemberEntity,
  SiteEntity,
  WorkloadEntity,
  WorkloadHoldEntity,
  WorkloadPlacementEntity,
} from '../../libs/persistence/src/index.js';
import { postUsageBatch } from '../support/usage-pipeline.js';
import { JobProducer, type JobItem } from '../../libs/queues/src/index.js';
import { grantFacts, seedApprovedRequest } from '../factories/grant-fixtures.js';
import { RequestFixtures } from '../factories/request-fixtures.js';
import { startApi, type ApiHarness } from '../support/api-harness.js';

const DAY_MS = 86_400_000;
const HOUR = 3600;
const GRANTED_GPU_HOURS = 1000n;

type AllocationPatch = Partial<
  Pick<AllocationEntity, 'status' | 'startsAt' | 'endsAt' | 'maxConcurrentGpus'>
>;

interface Actor {
  userId: string;
  email: string;
  token: string;
}

describe('workloads (e2e)', () => {
  let api: ApiHarness;
  let fixtures: RequestFixtures;
  let db: DataSource;
  let allocationA: string; // alice's project, H200
  let allocationB: string; // bob's project, H200
  let requestA: string;
  let alice: Actor;
  let bob: Actor;
  let agentToken: string;
  let nodes: NodeEntity[];
  const enqueued: JobItem[] = [];
  const enqueueCalls: JobItem[][] = [];

  const auth = (who: Actor | string) => ({
    authorization: `Bearer ${typeof who === 'string' ? who : who.token}`,
  });
  const body = (overrides: Record<string, unknown> = {}) => ({
    allocationId: allocationA,
    gpuModel: 'H200',
    gpus: 8,
    walltimeSeconds: 2 * HOUR,
    name: 'llm-pretrain',
    ...overrides,
  });
  const submit = async (who: Actor, overrides: Record<string, unknown> = {}): Promise<string> => {
    const response = await api.http.post('/v1/workloads').set(auth(who)).send(body(overrides));
    expect(response.status).toBe(202);
    return response.body.id as string;
  };
  const event = (id: string, payload: Record<string, unknown>) =>
    api.http
      .post(`/v1/agent/workloads/${id}/events`)
      .set(auth(agentToken))
      .send({ at: new Date().toISOString(), ...payload });
  /** What a cluster agent does before reporting the end: meters the attempt, then the job posts it. */
  const meter = async (
    workloadId: string,
    allocationId: string,
    gpus: number,
    runtimeSeconds: number,
    attempt = 0,
  ): Promise<void> => {
    const endedAt = new Date();
    const response = await api.http
      .post('/v1/usage/records')
      .set(auth(agentToken))
      .send({
        records: [
          {
            source: 'test-agent',
            externalId: `${workloadId}:${attempt}`,
            allocationId,
            workloadId,
            attempt,
            gpuModel: 'H200',
            gpus,
            startedAt: new Date(endedAt.getTime() - runtimeSeconds * 1000).toISOString(),
            endedAt: endedAt.toISOString(),
          },
        ],
      });
    expect(response.status).toBe(202);
    expect(response.body).toMatchObject({ accepted: 1, duplicates: 0, rejected: [] });
    await postUsageBatch(db, response.body.batchId as string);
  };
  const setAllocation = (id: string, patch: AllocationPatch) =>
    db.getRepository(AllocationEntity).update(id, patch);
  const balances = async (allocationId: string) => {
    const accounts = [
      allocationAccount(allocationId),
      holdAccount(allocationId),
      consumedAccount(allocationId),
    ];
    const map = await accountBalances(db.manager, accounts);
    return {
      remaining: map.get(accounts[0])!,
      held: map.get(accounts[1])!,
      consumed: map.get(accounts[2])!,
    };
  };
  const gpusAllocated = async () =>
    (await db.getRepository(NodeEntity).find({ order: { name: 'ASC' } })).map((node) => node.gpusAllocated);

  /** What the scheduler does at admission, by hand: placement on whole nodes, GPUs taken, hold posted. */
  async function admitByHand(workloadId: string, onNodes: NodeEntity[], attempt = 0): Promise<void> {
    await db.transaction(async (manager) => {
      await lockPartition(manager, 'H200');
      const workload = await manager.getRepository(WorkloadEntity).findOneByOrFail({ id: workloadId });
      const hold = BigInt(workload.gpus) * BigInt(workload.walltimeSeconds);
      let left = workload.gpus;
      for (const node of onNodes) {
        const gpus = Math.min(left, node.gpusTotal);
        left -= gpus;
        await manager.getRepository(WorkloadPlacementEntity).insert({ workloadId, nodeId: node.id, gpus });
        await manager.query('UPDATE nodes SET gpus_allocated = gpus_allocated + $2 WHERE id = $1', [
          node.id,
          gpus,
        ]);
      }
      await postLedgerTransaction(
        manager,
        holdTransaction({ allocationId: workload.allocationId, workloadId, attempt, gpuSeconds: hold }),
      );
      await manager.getRepository(WorkloadEntity).update(workloadId, {
        state: 'admitted',
        attempt,
        admittedAt: new Date(),
        dispatchedAt: new Date(),
        heldGpuSeconds: hold,
      });
      // The attempt's hold, as the cycle records it (usage records draw on it).
      await manager.getRepository(WorkloadHoldEntity).insert({
        workloadId,
        attempt,
        allocationId: workload.allocationId,
        heldGpuSeconds: hold,
        remainingGpuSeconds: hold,
        admittedAt: new Date(),
      });
    });
  }

  async function grantedAllocation(): Promise<{
    allocationId: string;
    projectId: string;
    requestId: string;
  }> {
    const approved = await seedApprovedRequest(db, { grantedGpuHours: [GRANTED_GPU_HOURS] });
    const outcome = await grantUseCase(db).execute(approved.requestId);
    if (outcome.outcome !== 'granted') throw new Error(`grant failed: ${outcome.outcome}`);
    const allocationId = outcome.allocationIds[0];
    // The fixture's window is in the past of this run: open it around now, with room for 64 GPUs.
    await setAllocation(allocationId, {
      startsAt: new Date(Date.now() - DAY_MS),
      endsAt: new Date(Date.now() + 60 * DAY_MS),
      maxConcurrentGpus: 64,
    });
    return { allocationId, projectId: approved.projectId, requestId: approved.requestId };
  }

  async function memberOf(projectId: string): Promise<Actor> {
    const project = await db.getRepository(ProjectEntity).findOneByOrFail({ id: projectId });
    const user = await fixtures.makeUser({ organizationId: project.organizationId });
    await db.getRepository(ProjectMemberEntity).insert({ projectId, userId: user.id, role: 'member' });
    return { userId: user.id, email: user.email, token: await api.login(user.email, 'password-123') };
  }

  /** H200: domain ib-a with 6 servers of 8 (48 GPUs), ib-b with 2 (16); B200: one server. */
  async function seedPool(): Promise<void> {
    const site = await db
      .getRepository(SiteEntity)
      .save({ code: 'chc', name: 'Chuncheon', provider: 'Naver Cloud' });
    const cluster = await db.getRepository(ClusterEntity).save({ name: 'chc-gpu-1', siteId: site.id });
    const h200 = await db
      .getRepository(NodePoolEntity)
      .save({ clusterId: cluster.id, gpuModel: 'H200', gpusPerNode: 8 });
    const b200 = await db
      .getRepository(NodePoolEntity)
      .save({ clusterId: cluster.id, gpuModel: 'B200', gpusPerNode: 8 });
    const rows = [
      ...['a1', 'a2', 'a3', 'a4', 'a5', 'a6'].map((name) => ({ name, domain: 'ib-a', pool: h200 })),
      ...['b1', 'b2'].map((name) => ({ name, domain: 'ib-b', pool: h200 })),
      { name: 'z1', domain: 'ib-z', pool: b200 },
    ];
    await db.getRepository(NodeEntity).insert(
      rows.map((row) => ({
        nodePoolId: row.pool.id,
        clusterId: cluster.id,
        gpuModel: row.pool.gpuModel,
        name: `h-${row.name}`,
        interconnectDomain: row.domain,
        gpusTotal: 8,
      })),
    );
    nodes = await db.getRepository(NodeEntity).find({ where: { gpuModel: 'H200' }, order: { name: 'ASC' } });
  }

  beforeAll(async () => {
    api = await startApi('workloads');
    fixtures = await RequestFixtures.connect(api.databaseUrl);
    db = fixtures.db;
    const a = await grantedAllocation();
    const b = await grantedAllocation();
    allocationA = a.allocationId;
    allocationB = b.allocationId;
    requestA = a.requestId;
    alice = await memberOf(a.projectId);
    bob = await memberOf(b.projectId);
    await seedPool();

    const created = await api.http
      .post('/v1/api-tokens')
      .set(auth(api.adminToken))
      .send({ name: 'test cluster agent', scopes: ['agent', 'usage:write'] });
    expect(created.status).toBe(201);
    agentToken = created.body.token as string;

    // Record what the API enqueues, one entry per call (the jobs still go to this test's own queue
    // prefix); enqueueAfterCommit sends a single job with enqueue and several with enqueueMany.
    const producer = api.app.get(JobProducer);
    const enqueueMany = producer.enqueueMany.bind(producer);
    producer.enqueueMany = async (jobs: JobItem[]) => {
      enqueueCalls.push(jobs);
      enqueued.push(...jobs);
      await enqueueMany(jobs);
    };
    const enqueueOne = producer.enqueue.bind(producer);
    producer.enqueue = async (job: JobItem) => {
      enqueueCalls.push([job]);
      enqueued.push(job);
      await enqueueOne(job);
    };
  });

  afterAll(async () => {
    await fixtures?.close();
    await api?.close();
  });

  it('queues a workload: 202 with state queued, a wait explanation and zero hold; the partition is dirty', async () => {
    const before = enqueueCalls.length;
    const response = await api.http
      .post('/v1/workloads')
      .set(auth(alice))
      .send(body({ simulatedRuntimeSeconds: 600 }));
    expect(response.status).toBe(202);
    expect(response.body).toMatchObject({
      id: expect.any(String),
      state: 'queued',
      allocationId: allocationA,
      gpuModel: 'H200',
      gpus: 8,
      walltimeSeconds: 7200,
      name: 'llm-pretrain',
      attempt: 0,
      allowedActions: ['cancel'],
      submittedBy: alice.userId,
      simulatedRuntimeSeconds: 600,
      placement: [],
      held: { gpuSeconds: '0', gpuHours: '0' },
      consumed: { gpuSeconds: '0', gpuHours: '0' },
      wait: { reason: null, detail: expect.any(String), position: null, estimatedStartAt: null },
      admittedAt: null,
    });
    const id = response.body.id as string;
    const read = await api.http.get(`/v1/workloads/${id}`).set(auth(alice));
    expect(read.status).toBe(200);
    expect(read.body).toEqual(response.body);
    const [partition] = await db.query<{ dirty: boolean }[]>(
      "SELECT EXISTS (SELECT 1 FROM partition_triggers WHERE gpu_model = 'H200') AS dirty",
    );
    expect(partition?.dirty).toBe(true);
    expect(enqueueCalls.slice(before)).toEqual([[{ name: 'schedule.cycle', data: { gpuModel: 'H200' } }]]);
    const [audit] = await db.query<{ action: string; actor_id: string }[]>(
      "SELECT action, actor_id FROM audit_events WHERE subject_type = 'workload' AND subject_id = $1",
      [id],
    );
    expect(audit).toEqual({ action: 'workload.submitted', actor_id: alice.userId });
  });

  describe('refusals: 422 with a code and every broken rule in details', () => {
    const cases: {
      title: string;
      patch?: AllocationPatch;
      overrides: Record<string, unknown>;
      rules: string[];
    }[] = [
      {
        title: 'a GPU model the allocation does not grant',
        overrides: { gpuModel: 'B200' },
        rules: ['GPU_MODEL_NOT_IN_ALLOCATION'],
      },
      {
        title: 'more GPUs than the concurrency cap',
        patch: { maxConcurrentGpus: 8 },
        overrides: { gpus: 16 },
        rules: ['EXCEEDS_CONCURRENCY_CAP'],
      },
      {
        title: 'a multi-server workload that is not a whole number of servers',
        overrides: { gpus: 12 },
        rules: ['NO_PLACEMENT_POSSIBLE'],
      },
      {
        title: 'more GPUs than any interconnect domain has',
        overrides: { gpus: 56 },
        rules: ['NO_PLACEMENT_POSSIBLE'],
      },
      {
        title: 'a walltime past the end of the allocation',
        patch: { endsAt: new Date(Date.now() + HOUR * 1000) },
        overrides: { gpus: 1, walltimeSeconds: 2 * HOUR },
        rules: ['WALLTIME_BEYOND_WINDOW'],
      },
      {
        title: 'a suspended allocation',
        patch: { status: 'suspended' },
        overrides: {},
        rules: ['ALLOCATION_NOT_ACTIVE'],
      },
      {
        title: 'an allocation whose window has not started',
        patch: { startsAt: new Date(Date.now() + DAY_MS) },
        overrides: {},
        rules: ['ALLOCATION_NOT_ACTIVE'],
      },
      {
        title: 'more than the quota left (8 GPUs × 30 days > 1,000 GPU-hours)',
        overrides: { walltimeSeconds: 30 * 24 * HOUR },
        rules: ['INSUFFICIENT_QUOTA'],
      },
    ];

    it.each(cases)('$title → $rules', async ({ patch, overrides, rules }) => {
      const original = await db.getRepository(AllocationEntity).findOneByOrFail({ id: allocationA });
      if (patch) await setAllocation(allocationA, patch);
      try {
        const count = await db.getRepository(WorkloadEntity).countBy({ allocationId: allocationA });
        const response = await api.http.post('/v1/workloads').set(auth(alice)).send(body(overrides));
        expect(response.status).toBe(422);
        expect(response.body.error.code).toBe(rules[0]);
        expect(response.body.error.message).toEqual(expect.any(String));
        expect(response.body.error.details.map((detail: { rule: string }) => detail.rule)).toEqual(rules);
        for (const detail of response.body.error.details) expect(detail.message.length).toBeGreaterThan(20);
        expect(await db.getRepository(WorkloadEntity).countBy({ allocationId: allocationA })).toBe(count);
      } finally {
        await setAllocation(allocationA, {
          status: original.status,
          startsAt: original.startsAt,
          endsAt: original.endsAt,
          maxConcurrentGpus: original.maxConcurrentGpus,
        });
      }
    });

    it('returns all six broken rules at once', async () => {
      await setAllocation(allocationB, {
        status: 'suspended',
        maxConcurrentGpus: 8,
        endsAt: new Date(Date.now() + DAY_MS),
      });
      const response = await api.http
        .post('/v1/workloads')
        .set(auth(bob))
        .send(
          body({ allocationId: allocationB, gpuModel: 'A100', gpus: 12, walltimeSeconds: 30 * 24 * HOUR }),
        );
      expect(response.status).toBe(422);
      expect(response.body.error.code).toBe('ALLOCATION_NOT_ACTIVE');
      expect(response.body.error.message).toMatch(/breaks 6 rules/);
      expect(response.body.error.details).toEqual([
        {
          rule: 'ALLOCATION_NOT_ACTIVE',
          field: 'allocationId',
          message: expect.stringContaining('suspended'),
        },
        { rule: 'GPU_MODEL_NOT_IN_ALLOCATION', field: 'gpuModel', message: expect.stringContaining('A100') },
        { rule: 'EXCEEDS_CONCURRENCY_CAP', field: 'gpus', message: expect.stringContaining('at most 8') },
        { rule: 'NO_PLACEMENT_POSSIBLE', field: 'gpuModel', message: expect.stringContaining('no A100') },
        {
          rule: 'WALLTIME_BEYOND_WINDOW',
          field: 'walltimeSeconds',
          message: expect.stringContaining('at most'),
        },
        {
          rule: 'INSUFFICIENT_QUOTA',
          field: 'walltimeSeconds',
          message: expect.stringContaining('1,000 GPU-hours left'),
        },
      ]);
      await setAllocation(allocationB, {
        status: 'active',
        maxConcurrentGpus: 64,
        endsAt: new Date(Date.now() + 60 * DAY_MS),
      });
    });

    it('refuses a batch by the same rules', async () => {
      const response = await api.http
        .post('/v1/workloads/batch')
        .set(auth(alice))
        .send(body({ gpus: 12, count: 10 }));
      expect(response.status).toBe(422);
      expect(response.body.error.code).toBe('NO_PLACEMENT_POSSIBLE');
    });
  });

  it('carries out 20 concurrent submissions with one Idempotency-Key once: one workload, every answer the first (issue 13 item 2)', async () => {
    const key = `dup-${Date.now()}`;
    const name = `idempotent-${key}`;
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        api.http
          .post('/v1/workloads')
          .set({ ...auth(alice), 'idempotency-key': key })
          .send(body({ name, gpus: 1 })),
      ),
    );
    const rows = await db.query<{ id: string }[]>('SELECT id FROM workloads WHERE name = $1', [name]);
    expect(rows).toHaveLength(1);
    const first = rows[0].id;
    for (const answer of answers) {
      // The first answer, or (while it is being written) 409 in progress with Retry-After.
      if (answer.status === 409) {
        expect(answer.body.error.code).toBe('IDEMPOTENCY_IN_PROGRESS');
        expect(answer.headers['retry-after']).toBe('1');
      } else {
        expect({ status: answer.status, id: answer.body.id }).toEqual({ status: 202, id: first });
      }
    }
    // Afterwards every replay is the first answer.
    const replay = await api.http
      .post('/v1/workloads')
      .set({ ...auth(alice), 'idempotency-key': key })
      .send(body({ name, gpus: 1 }));
    expect({ status: replay.status, id: replay.body.id }).toEqual({ status: 202, id: first });
    const reused = await api.http
      .post('/v1/workloads')
      .set({ ...auth(alice), 'idempotency-key': key })
      .send(body({ name, gpus: 2 }));
    expect(reused.status).toBe(409);
    expect(reused.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
  });

  it('keeps the key with the work: a key whose work committed is never carried out again, even with its answer lost', async () => {
    const key = `lost-${Date.now()}`;
    const name = `answer-lost-${key}`;
    const first = await api.http
      .post('/v1/workloads')
      .set({ ...auth(alice), 'idempotency-key': key })
      .send(body({ name, gpus: 1 }));
    expect(first.status).toBe(202);
    // What a crash between the work's commit and storing its answer leaves: the key, no answer.
    await db.query(`UPDATE idempotency_keys SET status_code = NULL, response_body = NULL WHERE key = $1`, [
      key,
    ]);
    const inProgress = await api.http
      .post('/v1/workloads')
      .set({ ...auth(alice), 'idempotency-key': key })
      .send(body({ name, gpus: 1 }));
    expect(inProgress.status).toBe(409);
    expect(inProgress.body.error.code).toBe('IDEMPOTENCY_IN_PROGRESS');
    await db.query(`UPDATE idempotency_keys SET created_at = now() - interval '2 minutes' WHERE key = $1`, [
      key,
    ]);
    const lost = await api.http
      .post('/v1/workloads')
      .set({ ...auth(alice), 'idempotency-key': key })
      .send(body({ name, gpus: 1 }));
    expect(lost.status).toBe(409);
    expect(lost.body.error.code).toBe('IDEMPOTENCY_ANSWER_LOST');
    const rows = await db.query<{ id: string }[]>('SELECT id FROM workloads WHERE name = $1', [name]);
    expect(rows).toHaveLength(1);
  });

  it('queues a sweep of 1,000 in one call: one multi-row insert, one cycle trigger, pages by batchId', async () => {
    const before = enqueueCalls.length;
    const started = performance.now();
    const response = await api.http
      .post('/v1/workloads/batch')
      .set(auth(alice))
      .send(
        body({ gpus: 1, walltimeSeconds: HOUR, name: 'lr-sweep', count: 1000, simulatedRuntimeSeconds: 120 }),
      );
    const elapsedMs = Math.round(performance.now() - started);
    process.stdout.write(`[workloads e2e] POST /v1/workloads/batch count=1000 answered in ${elapsedMs} ms\n`);
    expect(response.status).toBe(202);
    expect(response.body).toMatchObject({ batchId: expect.any(String), count: 1000, state: 'queued' });
    const ids = response.body.ids as string[];
    expect(ids).toHaveLength(1000);
    expect(elapsedMs).toBeLessThan(5000);
    expect(enqueueCalls.slice(before)).toEqual([[{ name: 'schedule.cycle', data: { gpuModel: 'H200' } }]]);

    const batchId = response.body.batchId as string;
    const rows = await db.getRepository(WorkloadEntity).find({ where: { batchId } });
    expect(rows).toHaveLength(1000);
    expect(new Set(rows.map((row) => row.name))).toEqual(new Set(ids.map((_, i) => `lr-sweep[${i}]`)));
    const first = rows.find((row) => row.id === ids[0]);
    expect(first).toMatchObject({
      name: 'lr-sweep[0]',
      state: 'queued',
      gpus: 1,
      simulatedRuntimeSeconds: 120,
    });

    const seen = new Set<string>();
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: {
        status: number;
        body: { items: { id: string; batchId: string }[]; nextCursor: string | null };
      } = await api.http
        .get('/v1/workloads')
        .query({ batchId, limit: 200, ...(cursor ? { cursor } : {}) })
        .set(auth(alice));
      expect(page.status).toBe(200);
      for (const item of page.body.items) {
        expect(item.batchId).toBe(batchId);
        seen.add(item.id);
      }
      cursor = page.body.nextCursor;
      pages++;
    } while (cursor);
    expect(seen.size).toBe(1000);
    expect(pages).toBe(5);

    const largestStarted = performance.now();
    const largest = await api.http
      .post('/v1/workloads/batch')
      .set(auth(alice))
      .send(body({ gpus: 1, walltimeSeconds: HOUR, name: 'grid', count: 10_000 }));
    const largestMs = Math.round(performance.now() - largestStarted);
    process.stdout.write(
      `[workloads e2e] POST /v1/workloads/batch count=10000 answered in ${largestMs} ms\n`,
    );
    expect(largest.status).toBe(202);
    expect(largest.body).toEqual({ batchId: expect.any(String), count: 10_000, state: 'queued' });
    expect(await db.getRepository(WorkloadEntity).countBy({ batchId: largest.body.batchId as string })).toBe(
      10_000,
    );
    const big = await api.http
      .post('/v1/workloads/batch')
      .set(auth(alice))
      .send(body({ count: 10_001 }));
    expect(big.status).toBe(400);
  });

  it('cancels a queued workload (nothing held); a second cancel is 409 ILLEGAL_TRANSITION', async () => {
    const id = await submit(alice);
    const before = enqueueCalls.length;
    const cancelled = await api.http.post(`/v1/workloads/${id}/cancel`).set(auth(alice));
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({
      state: 'cancelled',
      endReason: `cancelled by ${alice.email}`,
      allowedActions: [],
      wait: null,
      held: { gpuSeconds: '0' },
      consumed: { gpuSeconds: '0' },
      endedAt: expect.any(String),
    });
    expect(enqueueCalls.slice(before)).toEqual([[{ name: 'schedule.cycle', data: { gpuModel: 'H200' } }]]);
    const again = await api.http.post(`/v1/workloads/${id}/cancel`).set(auth(alice));
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('ILLEGAL_TRANSITION');
    expect(again.body.error.message).toContain('already cancelled');
  });

  it('runs the agent lifecycle: started, ended with runtime → succeeded, consumed exactly gpus × runtime, hold and GPUs back', async () => {
    const before = await balances(allocationA);
    const id = await submit(alice, { gpus: 16, walltimeSeconds: HOUR, name: 'two-server' });
    await admitByHand(id, [nodes[0], nodes[1]]);
    expect(await gpusAllocated()).toEqual([8, 8, 0, 0, 0, 0, 0, 0, 0]);

    const admitted = await api.http.get(`/v1/workloads/${id}`).set(auth(alice));
    expect(admitted.body).toMatchObject({
      state: 'admitted',
      wait: null,
      held: { gpuSeconds: String(16 * HOUR), gpuHours: '16' },
      placement: [
        { nodeId: nodes[0].id, nodeName: 'h-a1', cluster: 'chc-gpu-1', interconnectDomain: 'ib-a', gpus: 8 },
        { nodeId: nodes[1].id, nodeName: 'h-a2', cluster: 'chc-gpu-1', interconnectDomain: 'ib-a', gpus: 8 },
      ],
    });
    expect((await balances(allocationA)).held).toBe(before.held + 16n * 3600n);

    const startedAt = new Date(Date.now() - 5000).toISOString();
    const started = await event(id, { attempt: 0, type: 'started', at: startedAt });
    expect(started.status).toBe(200);
    expect(started.body).toEqual({
      applied: true,
      workloadId: id,
      state: 'running',
      attempt: 0,
      stop: false,
    });
    const running = await api.http.get(`/v1/workloads/${id}`).set(auth(alice));
    expect(running.body).toMatchObject({ state: 'running', startedAt });

    const startedAgain = await event(id, { attempt: 0, type: 'started' });
    expect(startedAgain.body).toMatchObject({
      applied: false,
      reason: 'already_running',
      state: 'running',
      stop: false,
    });

    await meter(id, allocationA, 16, 1234);
    const enqueuedBefore = enqueueCalls.length;
    const ended = await event(id, { attempt: 0, type: 'ended', outcome: 'succeeded', runtimeSeconds: 1234 });
    expect(ended.status).toBe(200);
    expect(ended.body).toEqual({
      applied: true,
      workloadId: id,
      state: 'succeeded',
      attempt: 0,
      stop: false,
    });
    expect(enqueueCalls.slice(enqueuedBefore)).toEqual([
      [{ name: 'schedule.cycle', data: { gpuModel: 'H200' } }],
    ]);

    const done = await api.http.get(`/v1/workloads/${id}`).set(auth(alice));
    expect(done.body).toMatchObject({
      state: 'succeeded',
      placement: [],
      held: { gpuSeconds: '0' },
      consumed: { gpuSeconds: String(16 * 1234) },
      endedAt: expect.any(String),
      allowedActions: [],
    });
    const after = await balances(allocationA);
    expect(after.consumed - before.consumed).toBe(16n * 1234n);
    expect(after.held).toBe(before.held);
    expect(before.remaining - after.remaining).toBe(16n * 1234n);
    expect(await gpusAllocated()).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0]);

    // The same report again (an agent retrying after a lost answer) changes nothing.
    const endedAgain = await event(id, {
      attempt: 0,
      type: 'ended',
      outcome: 'succeeded',
      runtimeSeconds: 1234,
    });
    expect(endedAgain.status).toBe(200);
    expect(endedAgain.body).toMatchObject({
      applied: false,
      reason: 'already_ended',
      state: 'succeeded',
      stop: true,
    });
    expect(await balances(allocationA)).toEqual(after);

    const facts = await grantFacts(db, requestA);
    expect(facts.unbalancedTransactions).toBe(0);

    const cancelEnded = await api.http.post(`/v1/workloads/${id}/cancel`).set(auth(alice));
    expect(cancelEnded.status).toBe(409);
  });

  it('ignores events of an older attempt; cancelling an admitted attempt releases its hold and tells the cluster', async () => {
    const before = await balances(allocationA);
    const id = await submit(alice, { gpus: 4, walltimeSeconds: HOUR, name: 'requeued' });
    await admitByHand(id, [nodes[6]], 1); // attempt 1: attempt 0 was preempted
    const stale = await event(id, { attempt: 0, type: 'started' });
    expect(stale.status).toBe(200);
    expect(stale.body).toEqual({
      applied: false,
      reason: 'stale_attempt',
      workloadId: id,
      state: 'admitted',
      attempt: 1,
      // The earlier attempt was preempted: its agent is told to stop it, even if the stop was lost.
      stop: true,
    });
    const staleEnd = await event(id, { attempt: 0, type: 'ended', outcome: 'failed', runtimeSeconds: 99 });
    expect(staleEnd.body).toMatchObject({ applied: false, reason: 'stale_attempt', state: 'admitted' });
    const future = await event(id, { attempt: 2, type: 'started' });
    expect(future.body).toMatchObject({ applied: false, reason: 'unknown_attempt' });

    const enqueuedBefore = enqueueCalls.length;
    const cancelled = await api.http.post(`/v1/workloads/${id}/cancel`).set(auth(alice));
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({
      state: 'cancelled',
      consumed: { gpuSeconds: '0' },
      placement: [],
    });
    expect(enqueueCalls.slice(enqueuedBefore)).toEqual([
      [
        {
          name: 'dispatch.cancel',
          data: { workloadId: id, attempt: 1, reason: `cancelled by ${alice.email}` },
        },
        { name: 'schedule.cycle', data: { gpuModel: 'H200' } },
      ],
    ]);
    expect(await balances(allocationA)).toEqual(before);
    expect(await gpusAllocated()).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0]);

    const late = await event(id, { attempt: 1, type: 'ended', outcome: 'succeeded', runtimeSeconds: 10 });
    expect(late.body).toMatchObject({ applied: false, reason: 'already_ended', state: 'cancelled' });
  });

  it('records a failed run as failed, consuming what it ran', async () => {
    const id = await submit(alice, { gpus: 2, walltimeSeconds: HOUR, name: 'crashes' });
    await admitByHand(id, [nodes[7]]);
    // The workload's own failure (not the infrastructure's): its metered usage counts.
    await meter(id, allocationA, 2, 30);
    const ended = await event(id, {
      attempt: 0,
      type: 'ended',
      outcome: 'failed',
      runtimeSeconds: 30,
      message: 'CUDA error: an illegal memory access was encountered',
    });
    expect(ended.body).toMatchObject({ applied: true, state: 'failed' });
    const read = await api.http.get(`/v1/workloads/${id}`).set(auth(alice));
    expect(read.body).toMatchObject({
      state: 'failed',
      endReason: 'CUDA error: an illegal memory access was encountered',
      consumed: { gpuSeconds: '60' },
    });
  });

  it('offers cancel only to those who may cancel: an operator reads every workload but cancels none (issue 13 item 9)', async () => {
    const id = await submit(alice);
    const institute = await fixtures.makeOrganization({ type: 'research_institute' });
    const operator = await fixtures.makeUser({ organizationId: institute.id, roles: ['operator'] });
    const operatorToken = await api.login(operator.email, 'password-123');
    const read = await api.http.get(`/v1/workloads/${id}`).set(auth(operatorToken));
    expect(read.status).toBe(200);
    expect(read.body.allowedActions).toEqual([]);
    const listed = await api.http
      .get('/v1/workloads')
      .query({ allocationId: allocationA })
      .set(auth(operatorToken));
    expect(listed.status).toBe(200);
    expect(
      (listed.body.items as { allowedActions: string[] }[]).every((w) => w.allowedActions.length === 0),
    ).toBe(true);
    expect((await api.http.post(`/v1/workloads/${id}/cancel`).set(auth(operatorToken))).status).toBe(404);
    expect((await api.http.get(`/v1/workloads/${id}`).set(auth(alice))).body.allowedActions).toEqual([
      'cancel',
    ]);
    expect((await api.http.get(`/v1/workloads/${id}`).set(auth(api.adminToken))).body.allowedActions).toEqual(
      ['cancel'],
    );
  });

  it('keeps machines and people on their own routes', async () => {
    const id = await submit(alice);
    const asUser = await api.http
      .post(`/v1/agent/workloads/${id}/events`)
      .set(auth(alice))
      .send({ attempt: 0, type: 'started', at: new Date().toISOString() });
    expect(asUser.status).toBe(403);
    expect(asUser.body.error.code).toBe('AGENT_TOKEN_REQUIRED');
    const asAdmin = await api.http
      .post(`/v1/agent/workloads/${id}/events`)
      .set(auth(api.adminToken))
      .send({ attempt: 0, type: 'started', at: new Date().toISOString() });
    expect(asAdmin.status).toBe(403);
    const tokenReads = await api.http.get(`/v1/workloads/${id}`).set(auth(agentToken));
    expect(tokenReads.status).toBe(403);
    // The route takes no API token at all: the answer says so, never `requiredScopes: []` (issue 13 item 9).
    expect(tokenReads.body.error).toEqual({
      code: 'USER_SESSION_REQUIRED',
      message: expect.stringContaining('does not accept API tokens'),
      details: { acceptsApiTokens: false, requiredRoles: [] },
    });
    // Usage is metered by machines: an admin's session may not write it, whatever its roles.
    const usageByAdmin = await api.http
      .post('/v1/usage/records')
      .set(auth(api.adminToken))
      .send({
        records: [
          {
            source: 'admin-hand',
            externalId: `${id}:hand`,
            allocationId: allocationA,
            workloadId: id,
            gpuModel: 'H200',
            gpus: 8,
            startedAt: new Date(Date.now() - 60_000).toISOString(),
            endedAt: new Date().toISOString(),
          },
        ],
      });
    expect(usageByAdmin.status).toBe(403);
    expect(usageByAdmin.body.error).toEqual({
      code: 'API_TOKEN_REQUIRED',
      message: expect.stringMatching(/meter or cluster agent.*API token.*usage:write/),
      details: { requiredScopes: ['usage:write'] },
    });
    expect(await db.query('SELECT 1 FROM usage_records WHERE source = $1', ['admin-hand'])).toEqual([]);
    const unknown = await event(randomUUID(), { attempt: 0, type: 'started' });
    expect(unknown.status).toBe(404);
    const queued = await event(id, { attempt: 0, type: 'ended', outcome: 'succeeded', runtimeSeconds: 5 });
    expect(queued.body).toMatchObject({ applied: false, reason: 'not_admitted', state: 'queued' });
  });

  it('hides one project’s workloads from another project’s members (404, never 403)', async () => {
    const id = await submit(alice, { name: 'private' });
    const read = await api.http.get(`/v1/workloads/${id}`).set(auth(bob));
    expect(read.status).toBe(404);
    expect(read.body.error.code).toBe('NOT_FOUND');
    const cancel = await api.http.post(`/v1/workloads/${id}/cancel`).set(auth(bob));
    expect(cancel.status).toBe(404);
    const submitOnA = await api.http.post('/v1/workloads').set(auth(bob)).send(body());
    expect(submitOnA.status).toBe(404);
    const listA = await api.http.get('/v1/workloads').query({ allocationId: allocationA }).set(auth(bob));
    expect(listA.status).toBe(404);
    const bobs = await api.http.get('/v1/workloads').set(auth(bob));
    expect(bobs.status).toBe(200);
    expect(bobs.body.items).toEqual([]);
    const state = await db.getRepository(WorkloadEntity).findOneByOrFail({ id });
    expect(state.state).toBe('queued');

    // Admins see and may cancel everything.
    const asAdmin = await api.http.get(`/v1/workloads/${id}`).set(auth(api.adminToken));
    expect(asAdmin.status).toBe(200);
  });

  it('lists a project’s workloads by state, newest first', async () => {
    const response = await api.http
      .get('/v1/workloads')
      .query({ allocationId: allocationA, state: 'succeeded' })
      .set(auth(alice));
    expect(response.status).toBe(200);
    expect(response.body.items.map((item: { name: string }) => item.name)).toEqual(['two-server']);
    const queued = await api.http.get('/v1/workloads').query({ state: 'queued', limit: 3 }).set(auth(alice));
    expect(queued.body.items).toHaveLength(3);
    expect(queued.body.nextCursor).toEqual(expect.any(String));
    for (const item of queued.body.items) expect(item.state).toBe('queued');
  });

  it.each([
    ['an unknown field', '/v1/workloads', { queue: 'fast' }],
    ['0 GPUs', '/v1/workloads', { gpus: 0 }],
    ['a fractional walltime', '/v1/workloads', { walltimeSeconds: 90.5 }],
    ['a walltime under a minute', '/v1/workloads', { walltimeSeconds: 59 }],
    ['an empty name', '/v1/workloads', { name: '  ' }],
    ['a malformed allocation id', '/v1/workloads', { allocationId: 'not-a-uuid' }],
    ['a count on a single submission', '/v1/workloads', { count: 2 }],
    ['a batch of 0', '/v1/workloads/batch', { count: 0 }],
    ['a batch without count', '/v1/workloads/batch', {}],
  ])('refuses %s with 400', async (_title, path, overrides) => {
    const response = await api.http.post(path).set(auth(alice)).send(body(overrides));
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('VALIDATION_FAILED');
  });

  it('refuses malformed ids and malformed agent events with 400', async () => {
    expect((await api.http.get('/v1/workloads/not-a-uuid').set(auth(alice))).status).toBe(400);
    expect((await api.http.post('/v1/workloads/123/cancel').set(auth(alice))).status).toBe(400);
    const id = await submit(alice);
    const cases = [
      { attempt: 0, type: 'paused' },
      { attempt: 0, type: 'ended' }, // no outcome
      { attempt: 0, type: 'started', outcome: 'succeeded' }, // outcome only on ended
      { attempt: -1, type: 'started' },
      { attempt: 0, type: 'ended', outcome: 'succeeded', runtimeSeconds: 1.5 },
    ];
    for (const payload of cases) {
      const response = await event(id, payload);
      expect({ payload, status: response.status }).toEqual({ payload, status: 400 });
    }
    const badTime = await api.http
      .post(`/v1/agent/workloads/${id}/events`)
      .set(auth(agentToken))
      .send({ attempt: 0, type: 'started', at: 'yesterday' });
    expect(badTime.status).toBe(400);
  });
});
