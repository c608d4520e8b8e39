import type { DataSource } from 'typeorm';
import { createDataSource } from '../../libs/persistence/src/index.js';
import { SchedulerProcess } from '../../apps/scheduler/src/scheduler.js';
import { startApi, type ApiHarness } from '../support/api-harness.js';
import { waitFor } from '../support/processes.js';

const DAY = 86_400_000;
const NODES = 16;

/** GET /v1/allocations/:id as these tests read it. */
interface AllocationBody {
  id: string;
  granted: { gpuSeconds: string };
  reservation: { status: string; nodes: unknown[] } | null;
}

/**
 * Reserved servers over HTTP (issue 7): a reserved request line drafted, refused when it cannot be,
 * approved for fewer servers and placed by the scheduler's planning job; what-if and the waitlist for
 * admins only; a release re-plans the waitlist; the pool's `reserved` figure.
 */
describe('planning: reserved servers over HTTP', () => {
  let api: ApiHarness;
  let scheduler: SchedulerProcess;
  let db: DataSource;
  const auth = (token: string) => ({ authorization: `Bearer ${token}` });
  let admin: { authorization: string };
  let pi: { authorization: string };
  let programId: string;
  let projectId: string;
  let windowStart: Date;
  let windowEnd: Date;

  beforeAll(async () => {
    api = await startApi('planning', { RECONCILE_INTERVAL_MS: '1000', RECONCILE_GRACE_MS: '500' });
    scheduler = new SchedulerProcess(api.config);
    await scheduler.start();
    db = createDataSource({ url: api.databaseUrl, poolSize: 2, applicationName: 'planning-e2e' });
    await db.initialize();
    admin = auth(api.adminToken);

    await api.http
      .post('/v1/agencies')
      .set(admin)
      .send({ code: 'MSIT', name: '과학기술정보통신부' })
      .expect(201);
    // The compute window: 30 whole days from a week ahead; the program ends with it.
    windowStart = new Date(Math.ceil((Date.now() + 7 * DAY) / DAY) * DAY);
    windowEnd = new Date(windowStart.getTime() + 30 * DAY);
    const program = await api.http
      .post('/v1/programs')
      .set(admin)
      .send({
        code: 'GPU-SERVERS-2026',
        name: '2026 GPU server support',
        agencyCode: 'MSIT',
        fiscalYear: 2026,
        startsAt: new Date(Date.now() - DAY).toISOString(),
        endsAt: windowEnd.toISOString(),
        budgets: [{ gpuModel: 'H200', gpuHours: 10_000_000 }],
        subsidyRates: { university: 1 },
        eligibleOrganizationTypes: ['university'],
        tracks: [{ code: 'server', kind: 'server', minGpus: 8, maxGpus: 256, gpusPerServer: 8 }],
        rubric: [{ key: 'merit', label: 'Merit', weight: 1, maxScore: 10 }],
      })
      .expect(201);
    programId = program.body.id as string;
    await api.http
      .post('/v1/clusters')
      .set(admin)
      .send({
        name: 'naver-chuncheon-1',
        site: { code: 'naver-chuncheon', name: 'Naver Cloud Chuncheon', provider: 'Naver Cloud' },
        nodePools: [{ gpuModel: 'H200', gpusPerNode: 8, nodes: NODES, interconnectDomains: 2 }],
      })
      .expect(201);
    const organization = await api.http
      .post('/v1/organizations')
      .set(admin)
      .send({
        name: 'KAIST',
        type: 'university',
        region: 'daejeon',
        businessRegistrationNumber: '314-82-00128',
      })
      .expect(201);
    await api.http
      .post('/v1/users')
      .set(admin)
      .send({
        email: 'pi@kaist.test',
        name: 'Kim PI',
        organizationId: organization.body.id,
        roles: [],
        password: 'pi-password-1',
      })
      .expect(201);
    pi = auth(await api.login('pi@kaist.test', 'pi-password-1'));
    const me = await api.http.get('/v1/me').set(pi).expect(200);
    const project = await api.http
      .post('/v1/projects')
      .set(admin)
      .send({ title: 'Korean foundation model', organizationId: organization.body.id, piUserId: me.body.id })
      .expect(201);
    projectId = project.body.id as string;
  });
  afterAll(async () => {
    await db.destroy();
    await scheduler.stop();
    await api.close();
  });

  const draft = (lines: object[], window = { startsAt: windowStart, endsAt: windowEnd }) =>
    api.http.post('/v1/allocation-requests').set(pi).send({
      projectId,
      programId,
      lines,
      startsAt: window.startsAt.toISOString(),
      endsAt: window.endsAt.toISOString(),
      justification: 'Pre-training on whole servers',
    });

  it('refuses a reserved line that cannot be with the API.md error body, naming what would be accepted', async () => {
    const cases: [object, number, string, string | null][] = [
      [{ gpuModel: 'H200', kind: 'reserved', servers: 0 }, 400, 'VALIDATION_FAILED', null],
      [{ gpuModel: 'H200', kind: 'reserved', servers: 2, gpuHours: 10 }, 400, 'VALIDATION_FAILED', null],
      [{ gpuModel: 'H200', kind: 'rented', servers: 2 }, 400, 'VALIDATION_FAILED', null],
      [
        { gpuModel: 'B300', kind: 'reserved', servers: 2 },
        422,
        'RESERVED_LINE_INVALID',
        'GPU_MODEL_NOT_IN_POOL',
      ],
      [
        { gpuModel: 'H200', kind: 'reserved', servers: NODES + 1 },
        422,
        'RESERVED_LINE_INVALID',
        'MORE_SERVERS_THAN_POOL',
      ],
      [
        { gpuModel: 'H200', kind: 'reserved', servers: 9, sameInterconnectDomain: true },
        422,
        'RESERVED_LINE_INVALID',
        'MORE_SERVERS_THAN_DOMAIN',
      ],
      [
        {
          gpuModel: 'H200',
          kind: 'reserved',
          servers: 2,
          startsAt: new Date(windowStart.getTime() + 5 * DAY).toISOString(),
          endsAt: new Date(windowStart.getTime() + 5 * DAY).toISOString(),
        },
        422,
        'RESERVED_LINE_INVALID',
        'RESERVED_WINDOW_EMPTY',
      ],
      [
        {
          gpuModel: 'H200',
          kind: 'reserved',
          servers: 2,
          startsAt: new Date(windowStart.getTime() - DAY).toISOString(),
        },
        422,
        'RESERVED_LINE_INVALID',
        'RESERVED_WINDOW_OUTSIDE_REQUEST',
      ],
    ];
    const before = await db.query<{ n: string }[]>('SELECT count(*)::text AS n FROM allocation_requests');
    for (const [line, status, code, rule] of cases) {
      const response = await draft([line]);
      expect({ line, status: response.status }).toEqual({ line, status });
      expect(response.body).toEqual({
        error: { code, message: expect.any(String), details: expect.anything() },
      });
      if (rule !== null) {
        expect(response.body.error.details).toEqual(
          expect.arrayContaining([
            expect.objectContaining({ rule, field: expect.any(String), message: expect.any(String) }),
          ]),
        );
      }
    }
    const after = await db.query<{ n: string }[]>('SELECT count(*)::text AS n FROM allocation_requests');
    expect(after[0].n).toBe(before[0].n);
  });

  let requestId: string;
  let allocationId: string;

  it('drafts a reserved line sized from the pool and shows what-if to admins only', async () => {
    const created = await draft([
      { gpuModel: 'H200', kind: 'reserved', servers: 4, sameInterconnectDomain: true },
    ]);
    expect(created.status).toBe(201);
    requestId = created.body.id as string;
    const seconds = BigInt((windowEnd.getTime() - windowStart.getTime()) / 1000);
    expect(created.body.lines).toEqual([
      expect.objectContaining({
        gpuModel: 'H200',
        kind: 'reserved',
        maxConcurrentGpus: 32,
        requested: expect.objectContaining({ gpuSeconds: (32n * seconds).toString() }),
        reserved: {
          servers: 4,
          startsAt: windowStart.toISOString(),
          endsAt: windowEnd.toISOString(),
          ownWindow: false,
          sameInterconnectDomain: true,
          grantedServers: null,
        },
      }),
    ]);
    await api.http.post(`/v1/allocation-requests/${requestId}/submit`).set(pi).expect(200);

    const forbidden = await api.http
      .post('/v1/planning/what-if')
      .set(pi)
      .send({ requestIds: [requestId] });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.error.code).toBe('ROLE_REQUIRED');

    const whatIf = await api.http
      .post('/v1/planning/what-if')
      .set(admin)
      .send({ requestIds: [requestId] });
    expect(whatIf.status).toBe(200);
    expect(whatIf.body.lines).toEqual([
      expect.objectContaining({
        requestId,
        fits: true,
        servers: 4,
        clusterName: 'naver-chuncheon-1',
        startsAt: windowStart.toISOString(),
        endsAt: windowEnd.toISOString(),
        delaySeconds: 0,
      }),
    ]);
    expect(whatIf.body.lines[0].nodeNames).toHaveLength(4);
    expect(whatIf.body.utilization.length).toBeGreaterThan(0);
    const touched = (
      whatIf.body.utilization as {
        after: { reservedGpuSeconds: string };
        before: { reservedGpuSeconds: string };
      }[]
    ).filter((cell) => cell.after.reservedGpuSeconds !== cell.before.reservedGpuSeconds);
    expect(touched.length).toBeGreaterThan(0);
    // Nothing was written: the request has no allocation and no plan.
    const plans = await db.query<{ n: string }[]>('SELECT count(*)::text AS n FROM reservation_plans');
    expect(plans[0].n).toBe('0');
  });

  it('approves fewer servers, never more, and the planning job places them', async () => {
    const more = await api.http
      .post(`/v1/allocation-requests/${requestId}/approve`)
      .set(admin)
      .send({ lines: [{ gpuModel: 'H200', servers: 5 }] });
    expect(more.status).toBe(422);
    expect(more.body.error.code).toBe('GRANT_EXCEEDS_REQUEST');
    const wrongKind = await api.http
      .post(`/v1/allocation-requests/${requestId}/approve`)
      .set(admin)
      .send({ lines: [{ gpuModel: 'H200', gpuHours: 10, maxConcurrentGpus: 8 }] });
    expect(wrongKind.status).toBe(400);
    expect(wrongKind.body.error.code).toBe('INVALID_GRANT');

    const approved = await api.http
      .post(`/v1/allocation-requests/${requestId}/approve`)
      .set(admin)
      .send({ lines: [{ gpuModel: 'H200', servers: 3 }], sector: 'national' });
    expect(approved.status).toBe(200);
    expect(approved.body.status).toBe('partially_approved');
    // The admin decided the request is a national project: it counts toward that share.
    expect(approved.body.sector).toBe('national');
    expect(approved.body.lines[0].reserved.grantedServers).toBe(3);
    expect(approved.body.lines[0].grantedMaxConcurrentGpus).toBe(24);

    allocationId = await waitFor('the reserved allocation', async () => {
      const request = await api.http.get(`/v1/allocation-requests/${requestId}`).set(pi).expect(200);
      return (request.body.allocations as { id: string }[])[0]?.id;
    });
    const placed = await waitFor('the reservation placed', async () => {
      const allocation = await api.http.get(`/v1/allocations/${allocationId}`).set(pi).expect(200);
      const body = allocation.body as AllocationBody;
      return body.reservation?.status === 'placed' ? body : undefined;
    });
    expect(placed).toMatchObject({
      kind: 'reserved',
      servers: 3,
      sameInterconnectDomain: true,
      maxConcurrentGpus: 24,
      startsAt: windowStart.toISOString(),
      endsAt: windowEnd.toISOString(),
      reservation: {
        status: 'placed',
        servers: 3,
        clusterName: 'naver-chuncheon-1',
        startsAt: windowStart.toISOString(),
        endsAt: windowEnd.toISOString(),
        earliestFeasibleStart: null,
      },
    });
    expect(placed.reservation?.nodes).toHaveLength(3);
    expect(placed.granted.gpuSeconds).toBe(
      (24n * BigInt((windowEnd.getTime() - windowStart.getTime()) / 1000)).toString(),
    );
  });

  it('waitlists what does not fit, lists it for admins, and re-plans it when servers are released', async () => {
    const created = await draft([{ gpuModel: 'H200', kind: 'reserved', servers: NODES }]);
    expect(created.status).toBe(201);
    const secondId = created.body.id as string;
    await api.http.post(`/v1/allocation-requests/${secondId}/submit`).set(pi).expect(200);
    await api.http.post(`/v1/allocation-requests/${secondId}/approve`).set(admin).send({}).expect(200);
    const second = await waitFor('the second allocation waitlisted', async () => {
      const request = await api.http.get(`/v1/allocation-requests/${secondId}`).set(pi).expect(200);
      const id = (request.body.allocations as { id: string }[])[0]?.id;
      if (!id) return undefined;
      const allocation = await api.http.get(`/v1/allocations/${id}`).set(pi).expect(200);
      const body = allocation.body as AllocationBody;
      return body.reservation?.status === 'waitlisted' ? body : undefined;
    });
    // Its start would follow the first reservation, past the program's end: offered, never shortened.
    expect(second.reservation).toMatchObject({
      status: 'waitlisted',
      code: 'ENDS_AFTER_LATEST_END',
      earliestFeasibleStart: windowEnd.toISOString(),
      reason: expect.stringContaining('never shortens'),
    });

    const denied = await api.http.get('/v1/planning/waitlist').set(pi);
    expect(denied.status).toBe(403);
    const waitlist = await api.http
      .get('/v1/planning/waitlist')
      .query({ programId, gpuModel: 'H200' })
      .set(admin)
      .expect(200);
    expect(waitlist.body).toEqual({
      items: [
        expect.objectContaining({
          allocationId: second.id,
          requestId: secondId,
          servers: NODES,
          sector: 'academia',
          earliestFeasibleStart: windowEnd.toISOString(),
          code: 'ENDS_AFTER_LATEST_END',
          position: 1,
        }),
      ],
      nextCursor: null,
    });

    // The first allocation gives its servers back before it starts: the waitlist is re-planned.
    const released = await api.http
      .post(`/v1/planning/reservations/${allocationId}/release`)
      .set(admin)
      .send({ reason: 'The project moved to another call' });
    expect(released.status).toBe(200);
    expect(released.body).toMatchObject({ status: 'released', nodes: [] });
    await waitFor('the waitlisted allocation placed', async () => {
      const allocation = await api.http.get(`/v1/allocations/${second.id}`).set(pi).expect(200);
      return allocation.body.reservation?.status === 'placed';
    });
    const empty = await api.http.get('/v1/planning/waitlist').query({ programId }).set(admin).expect(200);
    expect(empty.body.items).toEqual([]);
  });

  it('resizes a draft reserved line with its request window and takes the request sector', async () => {
    const created = await api.http
      .post('/v1/allocation-requests')
      .set(pi)
      .send({
        projectId,
        programId,
        lines: [{ gpuModel: 'H200', kind: 'reserved', servers: 2 }],
        startsAt: windowStart.toISOString(),
        endsAt: new Date(windowStart.getTime() + 10 * DAY).toISOString(),
        justification: 'A national project run by a university',
        sector: 'national',
      })
      .expect(201);
    expect(created.body.sector).toBe('national');
    expect(created.body.lines[0].requested.gpuSeconds).toBe(String(16 * 10 * 86_400));
    const patched = await api.http
      .patch(`/v1/allocation-requests/${created.body.id as string}`)
      .set(pi)
      .send({ endsAt: new Date(windowStart.getTime() + 20 * DAY).toISOString(), sector: null })
      .expect(200);
    expect(patched.body.sector).toBeNull();
    expect(patched.body.lines[0]).toMatchObject({
      maxConcurrentGpus: 16,
      requested: { gpuSeconds: String(16 * 20 * 86_400) },
      reserved: {
        servers: 2,
        endsAt: new Date(windowStart.getTime() + 20 * DAY).toISOString(),
        ownWindow: false,
      },
    });
  });

  it('lets admins change a program’s sector targets (whole percents adding up to 100)', async () => {
    const denied = await api.http
      .put(`/v1/programs/${programId}/sector-targets`)
      .set(pi)
      .send({ national: 40, industry: 40, academia: 20 });
    expect(denied.status).toBe(403);
    const wrong = await api.http
      .put(`/v1/programs/${programId}/sector-targets`)
      .set(admin)
      .send({ national: 40, industry: 40, academia: 30 });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.code).toBe('INVALID_SECTOR_TARGETS');
    const changed = await api.http
      .put(`/v1/programs/${programId}/sector-targets`)
      .set(admin)
      .send({ national: 40, industry: 40, academia: 20 })
      .expect(200);
    expect(changed.body.sectorTargets).toEqual({ national: 40, industry: 40, academia: 20 });
    const [audit] = await db.query<{ n: string }[]>(
      "SELECT count(*)::text AS n FROM audit_events WHERE action = 'program.sector_targets_changed'",
    );
    expect(audit.n).toBe('1');
  });

  it('counts GPUs of nodes under a reservation now as reserved capacity', async () => {
    const before = await api.http.get('/v1/pool/capacity').set(pi).expect(200);
    const h200 = (before.body.models as { gpuModel: string; reserved: number }[]).find(
      (m) => m.gpuModel === 'H200',
    );
    expect(h200?.reserved).toBe(0);
    // Two nodes held now (hand-written into the released first reservation: planned spans start on
    // the calendar's minutes, and the placed one starts in a week).
    const nodes = await db.query<{ id: string }[]>(
      "SELECT id FROM nodes WHERE gpu_model = 'H200' ORDER BY name LIMIT 2",
    );
    await db.query(
      `INSERT INTO reservation_nodes (reservation_id, node_id, during)
       SELECT r.id, n, tstzrange(now() - interval '1 hour', now() + interval '1 hour')
         FROM reservations r, unnest($2::uuid[]) AS n WHERE r.allocation_id = $1`,
      [allocationId, nodes.map((node) => node.id)],
    );
    const after = await api.http.get('/v1/pool/capacity').set(pi).expect(200);
    const reserved = (after.body.models as { gpuModel: string; reserved: number }[]).find(
      (m) => m.gpuModel === 'H200',
    );
    expect(reserved?.reserved).toBe(16);
    expect(after.body.totals.reserved).toBe(16);
  });
});
