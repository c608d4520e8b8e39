import { closeAttemptHold, METERING_GRACE_MS, type AttemptHoldFigures } from './attempt-hold.js';

const AT = new Date('2026-06-01T00:00:00Z');
const hold = (figures: Partial<AttemptHoldFigures> = {}): AttemptHoldFigures => ({
  allocationId: 'a-1',
  remainingGpuSeconds: 1000n,
  meteredGpuSeconds: 0n,
  refundedGpuSeconds: 0n,
  ...figures,
});
const end = (runtimeGpuSeconds: bigint, refundReason: string | null = null) => ({
  workloadId: 'w-1',
  attempt: 2,
  runtimeGpuSeconds,
  at: AT,
  refundReason,
});

describe('closeAttemptHold', () => {
  it('releases what the runtime does not explain and keeps the rest for its usage records', () => {
    const closing = closeAttemptHold(hold(), end(300n));
    expect(closing.awaitingGpuSeconds).toBe(300n);
    expect(closing.releaseAfter).toEqual(new Date(AT.getTime() + METERING_GRACE_MS));
    expect(closing.postings).toHaveLength(1);
    expect(closing.postings[0]).toMatchObject({
      kind: 'release',
      idempotencyKey: 'release:w-1:2:end',
      entries: [
        { account: 'hold:a-1', amount: -700n },
        { account: 'allocation:a-1', amount: 700n },
      ],
    });
  });

  it('keeps only what is not metered yet, and never more than the hold', () => {
    expect(closeAttemptHold(hold({ meteredGpuSeconds: 200n }), end(300n)).awaitingGpuSeconds).toBe(100n);
    expect(closeAttemptHold(hold(), end(5000n)).awaitingGpuSeconds).toBe(1000n);
    const allMetered = closeAttemptHold(hold({ meteredGpuSeconds: 300n }), end(300n));
    expect(allMetered.awaitingGpuSeconds).toBe(0n);
    expect(allMetered.releaseAfter).toBeNull();
  });

  it('posts nothing when the whole hold waits for usage', () => {
    const closing = closeAttemptHold(hold(), end(1000n));
    expect(closing.postings).toEqual([]);
    expect(closing.awaitingGpuSeconds).toBe(1000n);
  });

  it('refunds what was metered so far when the infrastructure failed the attempt, once', () => {
    const closing = closeAttemptHold(
      hold({ remainingGpuSeconds: 500n, meteredGpuSeconds: 400n, refundedGpuSeconds: 100n }),
      end(400n, 'node_down: n-1'),
    );
    expect(closing.postings.map((posting) => posting.kind)).toEqual(['release', 'refund']);
    expect(closing.postings[1]).toMatchObject({ idempotencyKey: 'refund:w-1:2:end' });
    expect(closing.refundedGpuSeconds).toBe(400n);
    expect(closeAttemptHold(hold({ meteredGpuSeconds: 400n }), end(400n)).refundedGpuSeconds).toBe(0n);
  });

  it('releases the whole hold at once when the infrastructure failed the attempt: no meter is awaited', () => {
    // A lost run that may have run its whole hold: nothing stays held for a meter that is refunded anyway.
    const closing = closeAttemptHold(hold(), end(1000n, 'lost: the cluster agent restarted without it'));
    expect(closing.awaitingGpuSeconds).toBe(0n);
    expect(closing.releaseAfter).toBeNull();
    expect(closing.postings).toHaveLength(1);
    expect(closing.postings[0]).toMatchObject({
      kind: 'release',
      entries: [
        { account: 'hold:a-1', amount: -1000n },
        { account: 'allocation:a-1', amount: 1000n },
      ],
    });
  });
});
