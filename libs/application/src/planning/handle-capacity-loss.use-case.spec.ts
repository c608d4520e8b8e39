import type { PlacedReservation, PlanningMonth, PlanningNode } from '#domain';
import {
  ReservationMovesRepository,
  ReservationPlansRepository,
  type AffectedReservation,
  type CapacityLossWrites,
  type LoadedCalendar,
  type LostNodeRow,
  type Tx,
} from '#persistence';
import type { JobProducer } from '#queues';
import { FakeJobProducer, FakeNotificationsRepository } from '../../../../test/fakes/planning.fakes.js';
import { FakeTransactionRunner } from '../../../../test/fakes/transaction-runner.fake.js';
import { HandleCapacityLossUseCase } from './handle-capacity-loss.use-case.js';

const DAY = 86_400;
const T0 = Date.UTC(2026, 0, 1) / 1000;
const months: PlanningMonth[] = [{ key: 'q1', start: T0, end: T0 + 90 * DAY }];

function nodes(count: number): PlanningNode[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `a-${i + 1}`,
    clusterId: 'a',
    gpuModel: 'H100',
    gpusPerNode: 8,
    interconnectDomain: 'd1',
  }));
}

/** The model's lost nodes, the reservations holding them and the calendar, as PostgreSQL would return them. */
class FakeMovesRepository extends ReservationMovesRepository {
  readonly recorded: CapacityLossWrites[] = [];

  constructor(
    private readonly lost: LostNodeRow[],
    private readonly affected: AffectedReservation[],
    private readonly calendar: LoadedCalendar,
  ) {
    super();
  }

  override lostNodes(): Promise<LostNodeRow[]> {
    return Promise.resolve(this.lost);
  }

  override lockAffected(): Promise<AffectedReservation[]> {
    return Promise.resolve(this.affected);
  }

  override calendarFrom(): Promise<{ calendar: LoadedCalendar; months: PlanningMonth[] }> {
    return Promise.resolve({ calendar: this.calendar, months });
  }

  override record(_tx: Tx, writes: CapacityLossWrites): Promise<void> {
    this.recorded.push(writes);
    return Promise.resolve();
  }

  override modelsWithUnhandledLoss(): Promise<string[]> {
    return Promise.resolve([]);
  }
}

/** Records the model lock and the dirty partition; nothing else of the plans is read here. */
class FakePlansRepository extends ReservationPlansRepository {
  readonly calls: string[] = [];

  constructor() {
    super(null as never);
  }

  override lockModel(_tx: Tx, gpuModel: string): Promise<void> {
    this.calls.push(`lock ${gpuModel}`);
    return Promise.resolve();
  }

  override markPartitionDirty(_tx: Tx, gpuModel: string): Promise<void> {
    this.calls.push(`dirty ${gpuModel}`);
    return Promise.resolve();
  }
}

function scenario(nodeCount: number, lost: LostNodeRow[], affected: AffectedReservation[]) {
  const reservations: PlacedReservation[] = [
    { lineId: 'L', nodeIds: ['a-1', 'a-2'], start: T0, end: T0 + 60 * DAY, sameInterconnectDomain: false },
  ];
  const calendar: LoadedCalendar = {
    nodes: nodes(nodeCount),
    reservations,
    nodeNames: new Map(nodes(nodeCount).map((node) => [node.id, `node-${node.id}`])),
    clusterNames: new Map([['a', 'cluster a']]),
  };
  const moves = new FakeMovesRepository(lost, affected, calendar);
  const plans = new FakePlansRepository();
  const notifications = new FakeNotificationsRepository();
  const producer = new FakeJobProducer();
  const transactions = new FakeTransactionRunner();
  const useCase = new HandleCapacityLossUseCase(
    transactions,
    plans,
    moves,
    notifications,
    producer as unknown as JobProducer,
  );
  return { useCase, moves, plans, notifications, producer, transactions };
}

const lostA1: LostNodeRow = {
  nodeId: 'a-1',
  name: 'node-a-1',
  clusterId: 'a',
  state: 'down',
  lostAt: new Date((T0 + 10 * DAY) * 1000),
};
const lineL: AffectedReservation = {
  allocationId: 'L',
  reservationId: 'res-L',
  projectId: 'proj-L',
  projectTitle: 'Project L',
  clusterId: 'a',
  heldNodeIds: ['a-1', 'a-2'],
};
const clock = () => new Date((T0 + 11 * DAY) * 1000);

describe('HandleCapacityLossUseCase', () => {
  it('moves a line off a lost node onto a free one from the loss on, under the model lock', async () => {
    const { useCase, moves, plans, notifications, producer, transactions } = scenario(4, [lostA1], [lineL]);
    const stats = await useCase.execute('H100', { clock });

    expect(stats).toMatchObject({ gpuModel: 'H100', lostNodes: 1, affected: 1, moved: 1, unplaceable: 0 });
    expect(stats.notifications).toBe(notifications.recorded.length);
    const [writes] = moves.recorded;
    expect(writes.cuts).toEqual([
      expect.objectContaining({ allocationId: 'L', nodeId: 'a-1', at: T0 + 10 * DAY }),
    ]);
    expect(writes.adds).toEqual([
      expect.objectContaining({ allocationId: 'L', start: T0 + 10 * DAY, end: T0 + 60 * DAY }),
    ]);
    expect(['a-3', 'a-4']).toContain(writes.adds[0].nodeId);
    expect(plans.calls).toEqual(['lock H100', 'dirty H100']);
    expect(transactions.runs).toEqual([{ options: { isolation: 'READ COMMITTED' }, outcome: 'committed' }]);
    expect(producer.jobs[0]).toEqual({ name: 'schedule.cycle', data: { gpuModel: 'H100' } });
    expect(producer.jobs.slice(1).map((job) => job.name)).toEqual(
      notifications.recorded.map(() => 'webhook.deliver'),
    );
  });

  it('keeps the healthy servers of a line that cannot move, and tells its owner the options', async () => {
    const { useCase, moves, notifications } = scenario(2, [lostA1], [lineL]);
    const stats = await useCase.execute('H100', { clock });

    expect(stats).toMatchObject({ affected: 1, moved: 0, unplaceable: 1 });
    const [writes] = moves.recorded;
    expect(writes.adds).toEqual([]);
    expect(writes.cuts).toEqual([expect.objectContaining({ allocationId: 'L', nodeId: 'a-1' })]);
    expect(notifications.recorded.length).toBeGreaterThan(0);
    expect(notifications.recorded.some((notice) => notice.projectId === 'proj-L')).toBe(true);
  });

  it('writes nothing and enqueues nothing when no reservation holds a lost node (idempotent re-run)', async () => {
    const { useCase, moves, plans, producer } = scenario(4, [lostA1], []);
    const stats = await useCase.execute('H100', { clock });

    expect(stats).toMatchObject({ lostNodes: 1, affected: 0, moved: 0, unplaceable: 0, notifications: 0 });
    expect(moves.recorded).toEqual([]);
    expect(plans.calls).toEqual(['lock H100']);
    expect(producer.jobs).toEqual([]);
  });
});
