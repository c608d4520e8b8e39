import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { holdAccount, holdTransaction } from '../../libs/domain/src/index.js';
import {
  accountBalances,
  postLedgerTransaction,
  WorkloadEntity,
  WorkloadHoldEntity,
} from '../../libs/persistence/src/index.js';
import { JobProducer, type JobItem } from '../../libs/queues/src/index.js';
import { seedPool, seedQuotas, type QuotaFixture } from '../factories/pool-fixtures.js';
import { makeUser } from '../factories/program.factory.js';
import { startApi, type ApiHarness } from '../support/api-harness.js';

type Header = [string, string];
const HOUR = 3600;

describe('allocation suspension and resumption (e2e)', () => {
  let api: ApiHarness;
  let db: DataSource;
  let admin: Header;
  let finish: QuotaFixture; // program lets running workloads finish
  let stop: QuotaFixture; // program stops them
  let memberOfFinish: Header;
  let memberOfStop: Header;
  let operator: Header;
  const enqueued: JobItem[] = [];

  const auth = (token: string): Header => ['authorization', `Bearer ${token}`];
  async function memberOf(projectId: string): Promise<Header> {
    const user = await makeUser(db);
    await db.query(`INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, 'member')`, [
      projectId,
      user.id,
    ]);
    return auth(await api.login(user.email, user.password));
  }
  const submit = (who: Header, allocationId: string) =>
    api.http
      .post('/v1/workloads')
      .set(...who)
      .send({ allocationId, gpuModel: 'H200', gpus: 8, walltimeSeconds: 2 * HOUR, name: 'train' });
  const suspend = (allocationId: string, body: unknown = { reason: 'export-control review' }, who = admin) =>
    api.http
      .post(`/v1/allocations/${allocationId}/suspend`)
      .set(...who)
      .send(body as object);
  const resume = (allocationId: string, who = admin) =>
    api.http.post(`/v1/allocations/${allocationId}/resume`).set(...who);
  const statusOf = async (allocationId: string) =>
    (
      await db.query<{ status: string; status_reason: string | null }[]>(
        'SELECT status, status_reason FROM allocations WHERE id = $1',
        [allocationId],
      )
    )[0];

  /** What the scheduler does at admission, by hand: hold posted, hold row written, state admitted. */
  async function admitByHand(workloadId: string): Promise<void> {
    await db.transaction(async (manager) => {
      const workload = await manager.getRepository(WorkloadEntity).findOneByOrFail({ id: workloadId });
      const held = BigInt(workload.gpus) * BigInt(workload.walltimeSeconds);
      await postLedgerTransaction(
        manager,
        holdTransaction({ allocationId: workload.allocationId, workloadId, attempt: 0, gpuSeconds: held }),
      );
      await manager.getRepository(WorkloadHoldEntity).insert({
        workloadId,
        attempt: 0,
        allocationId: workload.allocationId,
        heldGpuSeconds: held,
        remainingGpuSeconds: held,
        admittedAt: new Date(),
      });
      await manager
        .getRepository(WorkloadEntity)
        .update(workloadId, { state: 'admitted', admittedAt: new Date(), heldGpuSeconds: held });
    });
  }

  beforeAll(async () => {
    api = await startApi('allocation-status');
    db = api.app.get(DataSource);
    admin = auth(api.adminToken);
    await seedPool(db, { gpuModel: 'H200', nodes: 4 });
    [finish, stop] = await seedQuotas(db, 'H200', [
      { grantedGpuHours: 1000n, maxConcurrentGpus: 16 },
      { grantedGpuHours: 1000n, maxConcurrentGpus: 16 },
    ]);
    memberOfFinish = await memberOf(finish!.projectId);
    memberOfStop = await memberOf(stop!.projectId);
    operator = auth(await api.login(...(await credentials(['operator']))));
    const policy = await api.http
      .put(`/v1/programs/${stop!.programId}/usage-policy`)
      .set(...admin)
      .send({ onExhaustion: 'stop', recallRules: [] });
    expect(policy.status).toBe(200);
    expect(policy.body.onExhaustion).toBe('stop');

    const producer = api.app.get(JobProducer);
    const enqueueMany = producer.enqueueMany.bind(producer);
    producer.enqueueMany = async (jobs: JobItem[]) => {
      enqueued.push(...jobs);
      await enqueueMany(jobs);
    };
    // enqueueAfterCommit sends a lone job with enqueue: record both entry points.
    const enqueue = producer.enqueue.bind(producer);
    producer.enqueue = async (job: JobItem) => {
      enqueued.push(job);
      await enqueue(job);
    };
  });
  afterAll(async () => {
    await api?.close();
  });

  async function credentials(roles: string[]): Promise<[string, string]> {
    const user = await makeUser(db, { roles });
    return [user.email, user.password];
  }

  it('refuses non-admins with 403 and changes nothing', async () => {
    for (const who of [memberOfFinish, operator]) {
      const response = await suspend(finish.allocationId, { reason: 'not mine to decide' }, who);
      expect(response.status).toBe(403);
      expect(response.body.error.code).toBe('ROLE_REQUIRED');
    }
    const resumed = await resume(finish.allocationId, memberOfFinish);
    expect(resumed.status).toBe(403);
    expect(await statusOf(finish.allocationId)).toEqual({ status: 'active', status_reason: null });
  });

  it('refuses a missing reason, unknown fields and malformed ids with 400, and unknown ids with 404', async () => {
    for (const body of [{}, { reason: '' }, { reason: 'ok reason', extra: true }]) {
      const response = await suspend(finish.allocationId, body);
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('VALIDATION_FAILED');
    }
    expect((await suspend('not-a-uuid')).status).toBe(400);
    const unknown = await suspend(randomUUID());
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('NOT_FOUND');
    expect((await resume(randomUUID())).status).toBe(404);
    expect(await statusOf(finish.allocationId)).toEqual({ status: 'active', status_reason: null });
  });

  it('suspends: submissions are refused with 422, running work finishes, the project is told, all audited', async () => {
    const runningId = (await submit(memberOfFinish, finish.allocationId)).body.id as string;
    await admitByHand(runningId);
    const before = enqueued.length;

    const response = await suspend(finish.allocationId);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      id: finish.allocationId,
      status: 'suspended',
      statusReason: 'suspended: export-control review',
      statusChangedAt: expect.any(String),
    });
    const read = await api.http.get(`/v1/allocations/${finish.allocationId}`).set(...memberOfFinish);
    expect(read.body).toMatchObject({
      status: 'suspended',
      statusReason: 'suspended: export-control review',
    });
    expect(read.body.statusChangedAt).toBe(response.body.statusChangedAt);

    const refused = await submit(memberOfFinish, finish.allocationId);
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe('ALLOCATION_NOT_ACTIVE');
    expect(refused.body.error.message).toContain('is suspended');

    // "finish": the admitted workload keeps running; nothing is cancelled.
    const running = await db.getRepository(WorkloadEntity).findOneByOrFail({ id: runningId });
    expect(running.state).toBe('admitted');
    expect(enqueued.slice(before).filter((job) => job.name !== 'webhook.deliver')).toEqual([]);

    const [audit] = await db.query<{ action: string; before: unknown; after: unknown }[]>(
      `SELECT action, before, after FROM audit_events WHERE subject_type = 'allocation' AND subject_id = $1`,
      [finish.allocationId],
    );
    expect(audit).toMatchObject({
      action: 'allocation.suspended',
      before: { status: 'active', statusReason: null },
      after: { status: 'suspended', reason: 'export-control review' },
    });
    const notifications = await api.http
      .get(`/v1/notifications?allocationId=${finish.allocationId}`)
      .set(...memberOfFinish);
    expect(notifications.status).toBe(200);
    expect(notifications.body.items).toEqual([
      expect.objectContaining({
        kind: 'allocation_suspended',
        projectId: finish.projectId,
        body: expect.stringContaining('export-control review'),
      }),
    ]);
    const [row] = await db.query<{ dedupe_key: string }[]>(
      `SELECT dedupe_key FROM notifications WHERE allocation_id = $1 AND kind = 'allocation_suspended'`,
      [finish.allocationId],
    );
    expect(row.dedupe_key).toBe(
      `allocation_suspended:${finish.allocationId}:${response.body.statusChangedAt}`,
    );
  });

  it('answers 409 ILLEGAL_TRANSITION to suspending a suspended allocation', async () => {
    const again = await suspend(finish.allocationId, { reason: 'twice' });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({
      code: 'ILLEGAL_TRANSITION',
      details: { status: 'suspended', action: 'suspend' },
    });
    expect(await statusOf(finish.allocationId)).toEqual({
      status: 'suspended',
      status_reason: 'suspended: export-control review',
    });
  });

  it('resumes: submissions are accepted again, the partition gets a cycle, and a second resume is a 409', async () => {
    const before = enqueued.length;
    const response = await resume(finish.allocationId);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ status: 'active', statusReason: 'resumed' });
    expect(enqueued.slice(before)).toContainEqual({ name: 'schedule.cycle', data: { gpuModel: 'H200' } });
    const accepted = await submit(memberOfFinish, finish.allocationId);
    expect(accepted.status).toBe(202);
    expect(accepted.body.state).toBe('queued');

    const again = await resume(finish.allocationId);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('ILLEGAL_TRANSITION');
    const actions = await db.query<{ action: string }[]>(
      `SELECT action FROM audit_events WHERE subject_type = 'allocation' AND subject_id = $1 ORDER BY id`,
      [finish.allocationId],
    );
    expect(actions).toEqual([{ action: 'allocation.suspended' }, { action: 'allocation.resumed' }]);
    const kinds = await db.query<{ kind: string }[]>(
      'SELECT kind FROM notifications WHERE allocation_id = $1 ORDER BY created_at, kind',
      [finish.allocationId],
    );
    expect(kinds.map((row) => row.kind)).toEqual(['allocation_suspended', 'allocation_resumed']);
  });

  it('refuses to suspend or resume an exhausted or expired allocation (409)', async () => {
    const [other] = await seedQuotas(db, 'H200', [{ grantedGpuHours: 10n, maxConcurrentGpus: 8 }]);
    for (const status of ['exhausted', 'expired']) {
      await db.query('UPDATE allocations SET status = $2 WHERE id = $1', [other.allocationId, status]);
      for (const response of [await suspend(other.allocationId), await resume(other.allocationId)]) {
        expect(response.status).toBe(409);
        expect(response.body.error).toMatchObject({ code: 'ILLEGAL_TRANSITION', details: { status } });
      }
    }
  });

  it('stops admitted and running workloads when the program says "stop", and tells their cluster', async () => {
    const admittedId = (await submit(memberOfStop, stop.allocationId)).body.id as string;
    const queuedId = (await submit(memberOfStop, stop.allocationId)).body.id as string;
    await admitByHand(admittedId);
    expect(
      (await accountBalances(db.manager, [holdAccount(stop.allocationId)])).get(
        holdAccount(stop.allocationId),
      ),
    ).toBe(57_600n);
    const before = enqueued.length;

    const response = await suspend(stop.allocationId, { reason: 'budget audit' });
    expect(response.status).toBe(200);
    expect(response.body.status).toBe('suspended');

    const admitted = await db.getRepository(WorkloadEntity).findOneByOrFail({ id: admittedId });
    expect(admitted).toMatchObject({ state: 'cancelled', endReason: 'allocation suspended: budget audit' });
    const queued = await db.getRepository(WorkloadEntity).findOneByOrFail({ id: queuedId });
    expect(queued.state).toBe('queued');
    // Never started: the whole hold went back to the allocation.
    expect(
      (await accountBalances(db.manager, [holdAccount(stop.allocationId)])).get(
        holdAccount(stop.allocationId),
      ),
    ).toBe(0n);
    expect(enqueued.slice(before).filter((job) => job.name !== 'webhook.deliver')).toEqual([
      {
        name: 'dispatch.cancel',
        data: { workloadId: admittedId, attempt: 0, reason: 'allocation suspended: budget audit' },
      },
      { name: 'schedule.cycle', data: { gpuModel: 'H200' } },
    ]);
    const [notice] = await db.query<{ body: string }[]>(
      `SELECT body FROM notifications WHERE allocation_id = $1 AND kind = 'allocation_suspended'`,
      [stop.allocationId],
    );
    expect(notice.body).toContain('they are being stopped');
  });

  it('replays a suspension sent with the same Idempotency-Key instead of answering 409', async () => {
    const [other] = await seedQuotas(db, 'H200', [{ grantedGpuHours: 10n, maxConcurrentGpus: 8 }]);
    const send = () =>
      api.http
        .post(`/v1/allocations/${other.allocationId}/suspend`)
        .set(...admin)
        .set('idempotency-key', `suspend-${other.allocationId}`)
        .send({ reason: 'maintenance of the project account' });
    const first = await send();
    const replay = await send();
    expect(first.status).toBe(200);
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual(first.body);
    const [count] = await db.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM audit_events WHERE subject_id = $1 AND action = 'allocation.suspended'`,
      [other.allocationId],
    );
    expect(count.n).toBe(1);
  });
});
