import { allocationAccount, consumedAccount, holdAccount } from '../ledger/accounts.js';
import { burnRateLookback, netGrantedGpuSeconds } from './burn-rate-window.js';
import { expiryReturnReason } from './allocation-expiry.js';
import {
  classifyResentRecords,
  splitFreshRecords,
  usageRecordKey,
  type StoredUsageRecord,
} from './usage-batch.js';
import {
  attemptOf,
  planUsagePosting,
  postingOutcome,
  type AttemptHold,
  type PostingRecord,
} from './usage-posting.js';

const A = 'alloc-a';
const W = 'work-1';

function record(overrides: Partial<PostingRecord> = {}): PostingRecord {
  return {
    allocationId: A,
    workloadId: W,
    attempt: null,
    gpus: 1,
    startedAt: new Date('2026-03-02T03:00:00Z'),
    endedAt: new Date('2026-03-02T03:10:00Z'),
    gpuSeconds: 600n,
    ...overrides,
  };
}

function hold(attempt: number, since: string, overrides: Partial<AttemptHold> = {}): AttemptHold {
  return {
    workloadId: W,
    attempt,
    allocationId: A,
    remaining: 1000n,
    since: new Date(since),
    refundReason: null,
    ...overrides,
  };
}

describe('attemptOf', () => {
  const attempts = [hold(0, '2026-03-02T01:00:00Z'), hold(1, '2026-03-02T02:30:00Z')];

  it('takes the attempt a record names, else the one running when it started, else the first', () => {
    expect(attemptOf(attempts, record({ attempt: 0 }))?.attempt).toBe(0);
    expect(attemptOf(attempts, record())?.attempt).toBe(1);
    expect(attemptOf(attempts, record({ startedAt: new Date('2026-03-02T00:00:00Z') }))?.attempt).toBe(0);
    expect(attemptOf(attempts, record({ attempt: 7 }))).toBeNull();
    expect(attemptOf(undefined, record())).toBeNull();
  });
});

describe('planUsagePosting', () => {
  it('splits each group against its hold, refunds failed attempts and keys postings by batch and group', () => {
    const holds = new Map([
      [W, [hold(0, '2026-03-02T01:00:00Z', { remaining: 400n, refundReason: 'node_down' })]],
    ]);
    const plan = planUsagePosting('b1', [record(), record({ workloadId: null, gpuSeconds: 50n })], holds);
    expect(plan.postings.map((p) => [p.kind, p.idempotencyKey])).toEqual([
      ['consume', `usage:b1:${A}|-|-`],
      ['consume', `usage:b1:${A}|${W}|0`],
      ['refund', `refund:b1:${A}|${W}|0`],
    ]);
    const consume = plan.postings[1].entries;
    expect(consume).toContainEqual({ account: holdAccount(A), amount: -400n });
    expect(consume).toContainEqual({ account: allocationAccount(A), amount: -200n });
    expect(consume).toContainEqual({ account: consumedAccount(A), amount: 600n });
    expect(plan.holdUpdates).toEqual([
      { workloadId: W, attempt: 0, taken: 400n, metered: 600n, refunded: 600n },
    ]);
    expect(plan.workloadConsumed).toEqual(new Map([[W, 600n]]));
  });

  it('ignores a hold of another allocation and splits the rollups at Seoul midnight', () => {
    const holds = new Map([[W, [hold(0, '2026-03-01T00:00:00Z', { allocationId: 'other' })]]]);
    // 14:50–15:10 UTC is 23:50–00:10 in Seoul: two days, counted as one record on the first.
    const crossing = record({
      startedAt: new Date('2026-03-02T14:50:00Z'),
      endedAt: new Date('2026-03-02T15:10:00Z'),
      gpus: 2,
      gpuSeconds: 2400n,
    });
    const plan = planUsagePosting('b1', [crossing], holds);
    expect(plan.holdUpdates).toEqual([]);
    expect(plan.postings[0].idempotencyKey).toBe(`usage:b1:${A}|${W}|-`);
    expect(plan.daily).toEqual([
      { allocationId: A, day: '2026-03-02', gpuSeconds: 1200n, records: 1 },
      { allocationId: A, day: '2026-03-03', gpuSeconds: 1200n, records: 0 },
    ]);
  });
});

describe('postingOutcome', () => {
  const allocation = {
    id: A,
    gpuModel: 'H200',
    status: 'active',
    endsAt: new Date('2030-01-01T00:00:00Z'),
    onExhaustion: 'stop',
    granted: 1000n,
  };
  const after = (remaining: bigint, held: bigint, consumed: bigint) =>
    new Map([
      [allocationAccount(A), remaining],
      [holdAccount(A), held],
      [consumedAccount(A), consumed],
    ]);

  it('exhausts an active allocation once nothing is left to hold or admit', () => {
    expect(postingOutcome(allocation, 0n, after(0n, 0n, 1000n)).exhaustion).toEqual({
      reason: 'exhausted: 1000 GPU-seconds consumed of 1000 granted',
      stopsRunningWork: true,
    });
    expect(postingOutcome(allocation, 0n, after(-10n, 20n, 990n)).exhaustion).toBeNull();
    expect(
      postingOutcome({ ...allocation, status: 'suspended' }, 0n, after(0n, 0n, 1000n)).exhaustion,
    ).toBeNull();
    expect(postingOutcome({ ...allocation, granted: 0n }, 0n, after(0n, 0n, 5n)).exhaustion).toBeNull();
  });

  it('alerts only for a threshold this posting crossed', () => {
    expect(postingOutcome(allocation, 400n, after(400n, 0n, 600n)).alert?.key).toBe(
      `usage_threshold:${A}:50`,
    );
    expect(postingOutcome(allocation, 600n, after(300n, 0n, 700n)).alert).toBeNull();
  });
});

describe('usage batches', () => {
  const stored = (externalId: string, gpus = 1): StoredUsageRecord => ({
    source: 's',
    externalId,
    allocationId: A,
    workloadId: null,
    gpuModel: 'H200',
    gpus,
    startedAt: new Date(0),
    endedAt: new Date(1000),
    gpuSeconds: BigInt(gpus),
    late: false,
  });

  it('keys records unambiguously across source and external id', () => {
    expect(usageRecordKey('ab', 'c')).not.toBe(usageRecordKey('a', 'bc'));
  });

  it('accepts the first of a key the insert wrote; compares the rest with what is stored', () => {
    const records = [stored('1'), stored('1'), stored('2'), stored('3', 4)];
    const split = splitFreshRecords(records, new Set([usageRecordKey('s', '1')]));
    expect(split).toEqual({ accepted: [0], others: [1, 2, 3] });
    const resent = classifyResentRecords(
      records,
      split.others,
      new Map([
        [usageRecordKey('s', '1'), stored('1')],
        [usageRecordKey('s', '3'), stored('3', 2)],
      ]),
    );
    expect(resent.duplicates).toEqual([1]);
    expect(resent.conflicts).toEqual([{ index: 3, stored: stored('3', 2) }]);
  });
});

describe('expiryReturnReason', () => {
  it('keys the first return at the window end and later ones by their sequence', () => {
    expect(expiryReturnReason(0)).toBe('window_end');
    expect(expiryReturnReason(2)).toBe('after_end_2');
  });
});

describe('burn-rate look-back', () => {
  it('starts at the Seoul midnight seven days before today and counts whole seconds to now', () => {
    // 2026-03-10 01:30 in Seoul.
    const lookback = burnRateLookback(new Date('2026-03-09T16:30:00Z'));
    expect(lookback).toEqual({
      firstDay: '2026-03-03',
      today: '2026-03-10',
      startMs: Date.parse('2026-03-02T15:00:00Z'),
      windowSeconds: 7 * 86_400 + 5_400,
    });
  });

  it('projects on the net grant, exactly in bigint beyond 2^53', () => {
    const big = 2n ** 60n;
    expect(netGrantedGpuSeconds({ remaining: big, held: 3n, consumed: big + 1n })).toBe(2n ** 61n + 4n);
    expect(netGrantedGpuSeconds({ remaining: -50n, held: 0n, consumed: 100n })).toBe(50n);
  });
});
