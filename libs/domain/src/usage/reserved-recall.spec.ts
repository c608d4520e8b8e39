import fc from 'fast-check';
import {
  chooseServersToRelease,
  evaluateReservedRecallRules,
  recallServerCount,
  releaseInstant,
  releasedGpuSeconds,
  serversToReleaseOnConfirm,
  type RecallAmount,
  type RecallRule,
  type ReservedRecallState,
} from './recall-rules.js';
import { reservedGpuSecondsUntil, reservedUtilization, type HeldServerSpan } from './reserved-utilization.js';

const DAY_MS = 86_400_000;
const HOUR = 3600n;
const GPUS = 8;
const windowStart = new Date('2026-03-01T00:00:00Z');
const windowEnd = new Date(windowStart.getTime() + 90 * DAY_MS);
const day31 = new Date(windowStart.getTime() + 31 * DAY_MS);

const remainder = (basisPoints: number): RecallAmount => ({ remainingBasisPoints: basisPoints });
const grant = (basisPoints: number): RecallAmount => ({ grantedBasisPoints: basisPoints });

function rule(id: string, days: number, usedBelowBasisPoints: number, recall: RecallAmount): RecallRule {
  return { id, at: { days }, usedBelowBasisPoints, recall };
}

/** Four 8-GPU servers held since the window start, 10 GPU-hours used by day 31. */
function makeState(overrides: Partial<ReservedRecallState> = {}): ReservedRecallState {
  const now = overrides.now ?? day31;
  const reserved = 4n * 8n * BigInt(Math.floor((now.getTime() - windowStart.getTime()) / 1000));
  return {
    allocationId: 'r1',
    serversGranted: 4,
    serversHeld: 4,
    gpusPerNode: GPUS,
    usedGpuSeconds: 10n * HOUR,
    reservedGpuSeconds: reserved,
    remaining: 4n * 8n * 90n * 86_400n - 10n * HOUR,
    windowStart,
    windowEnd,
    now,
    alreadyProposedRuleIds: new Set(),
    ...overrides,
  };
}

describe('recallServerCount: K servers a rule recalls', () => {
  it.each([
    // [recall, granted N, held H, K]
    [remainder(2500), 4, 4, 1],
    [remainder(5000), 4, 4, 2],
    [remainder(7500), 4, 4, 3],
    [remainder(9999), 4, 4, 3], // never all unless the rule says 100%
    [remainder(10_000), 4, 4, 4],
    [remainder(1000), 4, 4, 1], // ⌊0.4⌋ = 0, raised to at least one server
    [remainder(0), 4, 4, 0],
    [remainder(5000), 1, 1, 0], // one server held: a share under 100% always leaves it
    [remainder(10_000), 1, 1, 1],
    [remainder(5000), 8, 3, 1], // of the 3 still held
    [grant(5000), 8, 3, 2], // of the 8 granted (4), but one of the 3 held stays
    [grant(10_000), 8, 3, 3],
    [grant(2500), 8, 8, 2],
    [remainder(5000), 4, 0, 0],
  ])('%j of %i granted, %i held → %i', (recall, granted, held, servers) => {
    expect(recallServerCount(recall, granted, held)).toBe(servers);
  });

  const recallArbitrary = (share: fc.Arbitrary<number>) =>
    fc.oneof(
      share.map((bp): RecallAmount => remainder(bp)),
      share.map((bp): RecallAmount => grant(bp)),
    );
  const servers = fc
    .integer({ min: 1, max: 512 })
    .chain((granted) => fc.tuple(fc.constant(granted), fc.integer({ min: 0, max: granted })));

  it('takes 1 ≤ K ≤ H − 1 servers unless the rule recalls 100% (then all held); 0 only for a 0% share or one server', () => {
    fc.assert(
      fc.property(
        recallArbitrary(fc.integer({ min: 0, max: 10_000 })),
        servers,
        (recall, [granted, held]) => {
          const share =
            'remainingBasisPoints' in recall ? recall.remainingBasisPoints : recall.grantedBasisPoints;
          const count = recallServerCount(recall, granted, held);
          expect(Number.isSafeInteger(count)).toBe(true);
          if (share === 0 || held === 0) {
            expect(count).toBe(0);
          } else if (share === 10_000) {
            expect(count).toBe(held);
          } else if (held === 1) {
            expect(count).toBe(0);
          } else {
            expect(count).toBeGreaterThanOrEqual(1);
            expect(count).toBeLessThanOrEqual(held - 1);
          }
        },
      ),
    );
  });

  it('never decreases as the share grows', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.boolean(),
        servers,
        (a, b, ofRemainder, [granted, held]) => {
          const [low, high] = a <= b ? [a, b] : [b, a];
          const amount = ofRemainder ? remainder : grant;
          expect(recallServerCount(amount(low), granted, held)).toBeLessThanOrEqual(
            recallServerCount(amount(high), granted, held),
          );
        },
      ),
    );
  });

  it('grows with the share exactly as ⌊H × share⌋ between the floor of one and the ceiling of H − 1', () => {
    const counts = [0, 1000, 2500, 3300, 5000, 6700, 8800, 9999, 10_000].map((bp) =>
      recallServerCount(remainder(bp), 10, 10),
    );
    expect(counts).toEqual([0, 1, 2, 3, 5, 6, 8, 9, 10]);
  });
});

describe('evaluateReservedRecallRules', () => {
  const secondsLeft = BigInt((windowEnd.getTime() - day31.getTime()) / 1000);

  it('at day 31, 10 GPU-hours used of 4 servers: releases 2 servers worth 2 × 8 × the seconds left', () => {
    const proposals = evaluateReservedRecallRules([rule('day30', 30, 1000, remainder(5000))], makeState());
    expect(proposals).toEqual([
      {
        ruleId: 'day30',
        allocationId: 'r1',
        servers: 2,
        serversHeld: 4,
        gpuSeconds: 2n * 8n * secondsLeft,
        dueAt: new Date(windowStart.getTime() + 30 * DAY_MS),
        // 36,000 of 4 × 8 × 31 days = 85,708,800 GPU-seconds: 0.04%
        usedBasisPoints: 4,
        reason:
          'Program rule "day30" (at day 30, under 10% of the reserved server time used: 50% of the servers ' +
          'still held are released early) came due 2026-03-31 09:00 KST. Allocation r1 has used 0.04% of the ' +
          'server time reserved so far (10 GPU-hours of 23,808 GPU-hours), so 2 of the 4 servers it holds ' +
          '(16 GPUs) are released early, from confirmation to the end of its window (2026-05-30 09:00 KST), ' +
          'for projects on the waitlist; about 22,656 GPU-hours return to the program.',
      },
    ]);
  });

  it('fires only strictly under the threshold of the utilization so far, not of the whole grant', () => {
    const reserved = makeState().reservedGpuSeconds;
    const tenth = reserved / 10n; // exactly 10% of the server time so far (reserved is a multiple of 10)
    expect(reserved % 10n).toBe(0n);
    const rules = [rule('day30', 30, 1000, remainder(5000))];
    expect(evaluateReservedRecallRules(rules, makeState({ usedGpuSeconds: tenth }))).toEqual([]);
    expect(evaluateReservedRecallRules(rules, makeState({ usedGpuSeconds: tenth - 1n }))).toMatchObject([
      { servers: 2, usedBasisPoints: 999 },
    ]);
  });

  it('is not due before its instant, after the window, once proposed, or with nothing held or reserved yet', () => {
    const rules = [rule('day30', 30, 1000, remainder(5000))];
    const due = windowStart.getTime() + 30 * DAY_MS;
    expect(evaluateReservedRecallRules(rules, makeState({ now: new Date(due - 1) }))).toEqual([]);
    expect(evaluateReservedRecallRules(rules, makeState({ now: new Date(due) }))).toHaveLength(1);
    expect(evaluateReservedRecallRules(rules, makeState({ now: windowEnd }))).toEqual([]);
    expect(
      evaluateReservedRecallRules(rules, makeState({ alreadyProposedRuleIds: new Set(['day30']) })),
    ).toEqual([]);
    expect(evaluateReservedRecallRules(rules, makeState({ serversHeld: 0 }))).toEqual([]);
    expect(evaluateReservedRecallRules(rules, makeState({ serversHeld: 1 }))).toEqual([]);
    expect(
      evaluateReservedRecallRules(rules, makeState({ reservedGpuSeconds: 0n, usedGpuSeconds: 0n })),
    ).toEqual([]);
  });

  it('rules due at once apply in order, each to the servers the earlier ones left', () => {
    const now = new Date(windowStart.getTime() + 80 * DAY_MS);
    const proposals = evaluateReservedRecallRules(
      [rule('q3', 67, 5000, remainder(5000)), rule('q2', 45, 3000, remainder(5000))],
      makeState({ now, serversGranted: 8, serversHeld: 8 }),
    );
    expect(proposals.map((p) => [p.ruleId, p.servers, p.serversHeld])).toEqual([
      ['q2', 4, 8],
      ['q3', 2, 4],
    ]);
  });

  it('caps the GPU-seconds at the balance, and still frees servers of an overdrawn allocation', () => {
    const rules = [rule('day30', 30, 1000, remainder(5000))];
    expect(evaluateReservedRecallRules(rules, makeState({ remaining: 1000n }))).toMatchObject([
      { servers: 2, gpuSeconds: 1000n },
    ]);
    expect(evaluateReservedRecallRules(rules, makeState({ remaining: -5n }))).toMatchObject([
      { servers: 2, gpuSeconds: 0n },
    ]);
  });

  it('counts the seconds left from the next whole second', () => {
    const now = new Date(day31.getTime() + 1);
    const [proposal] = evaluateReservedRecallRules(
      [rule('day30', 30, 1000, remainder(2500))],
      makeState({ now }),
    );
    expect(releaseInstant(now)).toEqual(new Date(day31.getTime() + 1000));
    expect(proposal.gpuSeconds).toBe(8n * (secondsLeft - 1n));
  });
});

describe('confirming a server recall', () => {
  it('releases the K proposed, at most what is held, and never the last server unless all were recalled', () => {
    expect(serversToReleaseOnConfirm({ servers: 2, serversHeld: 4 }, 4)).toBe(2);
    expect(serversToReleaseOnConfirm({ servers: 2, serversHeld: 4 }, 2)).toBe(1);
    expect(serversToReleaseOnConfirm({ servers: 2, serversHeld: 4 }, 1)).toBe(0);
    expect(serversToReleaseOnConfirm({ servers: 2, serversHeld: 4 }, 0)).toBe(0);
    expect(serversToReleaseOnConfirm({ servers: 4, serversHeld: 4 }, 3)).toBe(3);
    expect(serversToReleaseOnConfirm({ servers: 4, serversHeld: 4 }, 4)).toBe(4);
  });

  it('chooses the servers the owner’s running work occupies least, then the highest node ids', () => {
    const servers = [
      { nodeId: 'a', busyGpus: 0 },
      { nodeId: 'd', busyGpus: 8 },
      { nodeId: 'b', busyGpus: 0 },
      { nodeId: 'c', busyGpus: 2 },
    ];
    expect(chooseServersToRelease(servers, 2)).toEqual(['b', 'a']);
    expect(chooseServersToRelease(servers, 3)).toEqual(['b', 'a', 'c']);
    expect(chooseServersToRelease(servers, 0)).toEqual([]);
  });

  it('returns K × GPUs per node × the window seconds left; a span not begun returns whole', () => {
    const at = new Date(day31.getTime());
    const spans = [
      { gpus: 8, startsAt: windowStart, endsAt: windowEnd },
      { gpus: 8, startsAt: windowStart, endsAt: windowEnd },
    ];
    expect(releasedGpuSeconds(spans, at)).toBe(2n * 8n * BigInt((windowEnd.getTime() - at.getTime()) / 1000));
    const later = {
      gpus: 8,
      startsAt: new Date(at.getTime() + DAY_MS),
      endsAt: new Date(at.getTime() + 3 * DAY_MS),
    };
    expect(releasedGpuSeconds([later], at)).toBe(8n * 2n * 86_400n);
    expect(releasedGpuSeconds([{ gpus: 8, startsAt: windowStart, endsAt: at }], at)).toBe(0n);
  });
});

describe('reservedUtilization', () => {
  const span = (nodeId: string, endsAt: Date): HeldServerSpan => ({
    nodeId,
    gpus: GPUS,
    startsAt: windowStart,
    endsAt,
  });

  it('is used ÷ servers × GPUs per node × elapsed seconds, exact, with a rounded display ratio', () => {
    const spans = [span('a', windowEnd), span('b', windowEnd)];
    const now = new Date(windowStart.getTime() + 10 * DAY_MS + 999);
    const reserved = 2n * 8n * 10n * 86_400n;
    expect(reservedUtilization(reserved / 3n, spans, now)).toEqual({
      usedGpuSeconds: reserved / 3n,
      reservedGpuSeconds: reserved,
      ratio: 0.3333,
    });
  });

  it('counts a server released early only up to its release, and nothing before the window', () => {
    const released = new Date(windowStart.getTime() + 2 * DAY_MS);
    const now = new Date(windowStart.getTime() + 5 * DAY_MS);
    expect(reservedGpuSecondsUntil([span('a', windowEnd), span('b', released)], now)).toBe(
      8n * 5n * 86_400n + 8n * 2n * 86_400n,
    );
    expect(reservedUtilization(0n, [span('a', windowEnd)], new Date(windowStart.getTime() - 1))).toEqual({
      usedGpuSeconds: 0n,
      reservedGpuSeconds: 0n,
      ratio: null,
    });
    expect(reservedUtilization(5n, [], now).ratio).toBeNull();
  });
});
