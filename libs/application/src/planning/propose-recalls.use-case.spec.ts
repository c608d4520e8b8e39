import { allocationAccount, consumedAccount, holdAccount } from '#domain';
import type { RecallCandidateRow } from '#persistence';
import { FakeNotificationsRepository, FakeRecallRepository } from '../../../../test/fakes/planning.fakes.js';
import { FakeTransactionRunner } from '../../../../test/fakes/transaction-runner.fake.js';
import { dueCandidates, ProposeRecallsUseCase } from './propose-recalls.use-case.js';

const DAY_MS = 86_400_000;
const START = new Date('2026-01-01T00:00:00.000Z');
const END = new Date(START.getTime() + 90 * DAY_MS);
/** At day 30, under 10% used: 25% of the remainder returns to the program. */
const DAY_30_RULE = {
  id: 'day-30',
  at: { days: 30 },
  usedBelowBasisPoints: 1000,
  recall: { remainingBasisPoints: 2500 },
};
const GRANTED = 10_000_000n;

function row(id: string, overrides: Partial<RecallCandidateRow> = {}): RecallCandidateRow {
  return {
    allocationId: id,
    projectId: `project-${id}`,
    programId: 'prog-1',
    gpuModel: 'H100',
    kind: 'budget',
    servers: null,
    startsAt: START,
    endsAt: END,
    recallRules: [DAY_30_RULE],
    proposedRuleIds: [],
    ...overrides,
  };
}

function setup(rows: RecallCandidateRow[], consumed: Record<string, bigint> = {}) {
  const recalls = new FakeRecallRepository();
  const notifications = new FakeNotificationsRepository();
  recalls.candidateRows = rows;
  for (const candidate of rows) {
    const id = candidate.allocationId;
    const used = consumed[id] ?? 0n;
    recalls.granted.set(id, GRANTED);
    recalls.balanceOf.set(consumedAccount(id), used);
    recalls.balanceOf.set(holdAccount(id), 0n);
    recalls.balanceOf.set(allocationAccount(id), GRANTED - used);
  }
  const useCase = new ProposeRecallsUseCase(new FakeTransactionRunner(), recalls, notifications);
  return { recalls, notifications, useCase };
}

const at = (day: number) => new Date(START.getTime() + day * DAY_MS);

describe('ProposeRecallsUseCase (use it or lose it)', () => {
  it('proposes 25% of the remainder of an allocation under 10% used once the rule is due, and tells the project', async () => {
    const { recalls, notifications, useCase } = setup([row('a1')], { a1: 500_000n }); // 5% used
    const result = await useCase.execute(at(31));
    expect(result).toEqual({ proposals: 1, deliveryIds: ['delivery-1'], misconfiguredPrograms: [] });
    expect([...recalls.proposals.values()]).toEqual([
      expect.objectContaining({
        allocationId: 'a1',
        ruleId: 'day-30',
        gpuSeconds: (GRANTED - 500_000n) / 4n,
      }),
    ]);
    expect(notifications.recorded).toEqual([
      expect.objectContaining({
        kind: 'recall_proposed',
        dedupeKey: 'recall_proposed:proposal-1',
        projectId: 'project-a1',
        data: expect.objectContaining({ ruleId: 'day-30', usedBasisPoints: 500 }),
      }),
    ]);
  });

  it('proposes nothing at or above the threshold, nor before the rule is due', async () => {
    const used = setup([row('a1')], { a1: 1_000_000n }); // exactly 10%
    await expect(used.useCase.execute(at(31))).resolves.toMatchObject({ proposals: 0 });
    const early = setup([row('a1')]);
    await expect(early.useCase.execute(at(29))).resolves.toMatchObject({ proposals: 0 });
    // Not due: no balance is read at all.
    expect(early.recalls.balanceReads).toEqual([]);
  });

  it('never proposes a rule twice: already proposed, or a repeated sweep', async () => {
    const proposed = setup([row('a1', { proposedRuleIds: ['day-30'] })]);
    await expect(proposed.useCase.execute(at(31))).resolves.toMatchObject({ proposals: 0 });
    expect(proposed.recalls.balanceReads).toEqual([]);

    const twice = setup([row('a1')]);
    await twice.useCase.execute(at(31));
    await expect(twice.useCase.execute(at(31))).resolves.toEqual({
      proposals: 0,
      deliveryIds: [],
      misconfiguredPrograms: [],
    });
    expect(twice.notifications.recorded).toHaveLength(1);
  });

  it('skips and reports programs whose stored rules cannot be read, and still sweeps the others', async () => {
    const { useCase } = setup([
      row('a1', { programId: 'broken', recallRules: [{ id: 'x', at: { days: -1 } }] }),
      row('a2'),
    ]);
    await expect(useCase.execute(at(31))).resolves.toEqual({
      proposals: 1,
      deliveryIds: ['delivery-1'],
      misconfiguredPrograms: ['broken'],
    });
  });

  it('proposes for a reserved allocation only while its reservation holds servers', async () => {
    const rule = { ...DAY_30_RULE, id: 'servers', recall: { remainingBasisPoints: 5000 } };
    const reserved = row('r1', { kind: 'reserved', servers: 4, recallRules: [rule] });
    const holding = setup([reserved]);
    holding.recalls.usage.set('r1', {
      spans: [],
      serversHeld: 4,
      gpusPerNode: 8,
      utilization: { usedGpuSeconds: 0n, reservedGpuSeconds: 4n * 8n * 31n * 86_400n, ratio: 0 },
    });
    const result = await holding.useCase.execute(at(31));
    expect(result.proposals).toBe(1);
    expect([...holding.recalls.proposals.values()][0]).toMatchObject({ servers: 2, serversHeld: 4 });

    const waiting = setup([reserved]); // no reservation yet: nothing to release
    await expect(waiting.useCase.execute(at(31))).resolves.toMatchObject({ proposals: 0 });
  });
});

describe('dueCandidates', () => {
  it('reads reserved servers as 0 when missing and budget lines as null', () => {
    const { candidates } = dueCandidates([row('b'), row('r', { kind: 'reserved', servers: null })], at(31));
    expect(candidates.map((candidate) => candidate.servers)).toEqual([null, 0]);
  });

  it('leaves out candidates past their window end', () => {
    expect(dueCandidates([row('a')], at(90)).candidates).toEqual([]);
  });
});
