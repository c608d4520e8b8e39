import fc from 'fast-check';
import {
  allocationAccount,
  consumedAccount,
  fundingAccount,
  holdAccount,
  programBudgetAccount,
} from './accounts.js';
import { allocationBalance, balances, postingsOf } from './balances.js';
import {
  assertBalanced,
  expireTransaction,
  grantTransaction,
  holdTransaction,
  programBudgetTransaction,
  recallTransaction,
  refundTransaction,
  releaseHoldTransaction,
  settleHoldTransaction,
  splitUsageAgainstHold,
  usageTransaction,
  type LedgerTransaction,
} from './ledger-transaction.js';

const HOUR = 3600n;

describe('accounts', () => {
  it('spell every account one way', () => {
    expect(programBudgetAccount('p1', 'H100')).toBe('program:p1:H100');
    expect(fundingAccount('p1', 'H100')).toBe('funding:p1:H100');
    expect(allocationAccount('a1')).toBe('allocation:a1');
    expect(holdAccount('a1')).toBe('hold:a1');
    expect(consumedAccount('a1')).toBe('consumed:a1');
  });

  it.each(['', 'a:b'])('refuse the ambiguous id %p', (id) => {
    expect(() => allocationAccount(id)).toThrow(TypeError);
    expect(() => programBudgetAccount('p', id)).toThrow(TypeError);
  });
});

describe('assertBalanced', () => {
  const base: LedgerTransaction = {
    kind: 'grant',
    idempotencyKey: 'grant:l1',
    entries: [
      { account: 'program:p:H100', amount: -5n },
      { account: 'allocation:a', amount: 5n },
    ],
  };

  it('accepts a balanced transaction', () => {
    expect(() => assertBalanced(base)).not.toThrow();
  });

  it.each<[string, LedgerTransaction, RegExp]>([
    [
      'unbalanced',
      {
        ...base,
        entries: [
          { account: 'x', amount: -5n },
          { account: 'y', amount: 4n },
        ],
      },
      /sum to -1/,
    ],
    ['one entry', { ...base, entries: [{ account: 'x', amount: 0n }] }, /at least 2/],
    ['a zero entry', { ...base, entries: [...base.entries, { account: 'z', amount: 0n }] }, /is zero/],
    ['no key', { ...base, idempotencyKey: '' }, /no idempotency key/],
  ])('rejects a transaction with %s', (_name, tx, message) => {
    expect(() => assertBalanced(tx)).toThrow(
      expect.objectContaining({ code: 'UNBALANCED_LEDGER_TRANSACTION' }),
    );
    expect(() => assertBalanced(tx)).toThrow(message);
  });
});

describe('builders', () => {
  it('budget: funding → program', () => {
    const tx = programBudgetTransaction('p1', 'H100', 100n * HOUR);
    expect(tx).toMatchObject({
      kind: 'program_budget',
      idempotencyKey: 'program_budget:p1:H100',
      entries: [
        { account: 'funding:p1:H100', amount: -360000n },
        { account: 'program:p1:H100', amount: 360000n },
      ],
    });
    expect(programBudgetTransaction('p1', 'H100', HOUR, 'topup:2026-06').idempotencyKey).toBe(
      'topup:2026-06',
    );
  });

  it('grant: program → allocation, keyed by request line', () => {
    const tx = grantTransaction({
      programId: 'p1',
      gpuModel: 'H100',
      allocationId: 'a1',
      requestLineId: 'l1',
      gpuSeconds: 7200n,
    });
    expect(tx.idempotencyKey).toBe('grant:l1');
    expect(tx.entries).toEqual([
      { account: 'program:p1:H100', amount: -7200n },
      { account: 'allocation:a1', amount: 7200n },
    ]);
    expect(tx.memo).toBe('Grant 2 GPU-hours of H100 to allocation a1');
  });

  it('settle: used to consumed, unused back to the allocation', () => {
    const tx = settleHoldTransaction({
      allocationId: 'a1',
      workloadId: 'w1',
      heldGpuSeconds: 100n,
      usedGpuSeconds: 60n,
    });
    expect(tx).toMatchObject({ kind: 'consume', idempotencyKey: 'settle:w1:0' });
    expect(tx.entries).toEqual([
      { account: 'hold:a1', amount: -100n },
      { account: 'consumed:a1', amount: 60n },
      { account: 'allocation:a1', amount: 40n },
    ]);
  });

  it('settle of an unused hold is a release; of an exact hold has no allocation entry', () => {
    expect(
      settleHoldTransaction({ allocationId: 'a', workloadId: 'w', heldGpuSeconds: 10n, usedGpuSeconds: 0n }),
    ).toMatchObject({
      kind: 'release',
      entries: [
        { account: 'hold:a', amount: -10n },
        { account: 'allocation:a', amount: 10n },
      ],
    });
    expect(
      settleHoldTransaction({ allocationId: 'a', workloadId: 'w', heldGpuSeconds: 10n, usedGpuSeconds: 10n })
        .entries,
    ).toHaveLength(2);
  });

  it('settle of an overrun records all usage and overdraws the allocation', () => {
    const tx = settleHoldTransaction({
      allocationId: 'a',
      workloadId: 'w',
      heldGpuSeconds: 10n,
      usedGpuSeconds: 25n,
    });
    expect(tx.entries).toContainEqual({ account: 'allocation:a', amount: -15n });
    expect(tx.entries).toContainEqual({ account: 'consumed:a', amount: 25n });
  });

  it.each([
    () =>
      grantTransaction({
        programId: 'p',
        gpuModel: 'H100',
        allocationId: 'a',
        requestLineId: 'l',
        gpuSeconds: 0n,
      }),
    () => holdTransaction({ allocationId: 'a', workloadId: 'w', gpuSeconds: -1n }),
    () => programBudgetTransaction('p', 'H100', 0n),
    () =>
      settleHoldTransaction({ allocationId: 'a', workloadId: 'w', heldGpuSeconds: -1n, usedGpuSeconds: 1n }),
  ])('refuse non-positive amounts (%#)', (build) => {
    expect(build).toThrow(expect.objectContaining({ kind: 'invalid', code: 'INVALID_LEDGER_AMOUNT' }));
  });

  it('refuse a settlement with nothing held or used', () => {
    expect(() =>
      settleHoldTransaction({ allocationId: 'a', workloadId: 'w', heldGpuSeconds: 0n, usedGpuSeconds: 0n }),
    ).toThrow(expect.objectContaining({ code: 'NOTHING_TO_SETTLE' }));
  });

  it('refund and expire move between the right accounts', () => {
    expect(refundTransaction({ allocationId: 'a', refundId: 'inc-7', gpuSeconds: 5n }).entries).toEqual([
      { account: 'consumed:a', amount: -5n },
      { account: 'allocation:a', amount: 5n },
    ]);
    const expired = expireTransaction({
      programId: 'p',
      gpuModel: 'H100',
      allocationId: 'a',
      gpuSeconds: 5n,
    });
    expect(expired.idempotencyKey).toBe('expire:a:window_end');
    expect(expired.entries).toEqual([
      { account: 'allocation:a', amount: -5n },
      { account: 'program:p:H100', amount: 5n },
    ]);
  });
});

describe('usage builders', () => {
  it('usage: hold first, the rest from the allocation, all to consumed', () => {
    const tx = usageTransaction({
      allocationId: 'a',
      postingKey: 'rec-9',
      fromHold: 5400n,
      fromAllocation: 1800n,
    });
    expect(tx).toMatchObject({ kind: 'consume', idempotencyKey: 'usage:rec-9' });
    expect(tx.entries).toEqual([
      { account: 'hold:a', amount: -5400n },
      { account: 'allocation:a', amount: -1800n },
      { account: 'consumed:a', amount: 7200n },
    ]);
    expect(tx.memo).toBe(
      'Usage 2 GPU-hours on allocation a (1.5 GPU-hours from the hold, 0.5 GPU-hours from the allocation)',
    );
  });

  it('usage omits a zero part', () => {
    expect(
      usageTransaction({ allocationId: 'a', postingKey: 'k', fromHold: 0n, fromAllocation: 5n }).entries,
    ).toEqual([
      { account: 'allocation:a', amount: -5n },
      { account: 'consumed:a', amount: 5n },
    ]);
    expect(
      usageTransaction({ allocationId: 'a', postingKey: 'k', fromHold: 5n, fromAllocation: 0n }).entries,
    ).toEqual([
      { account: 'hold:a', amount: -5n },
      { account: 'consumed:a', amount: 5n },
    ]);
  });

  it('usage refuses nothing, negative parts and an empty key', () => {
    expect(() =>
      usageTransaction({ allocationId: 'a', postingKey: 'k', fromHold: 0n, fromAllocation: 0n }),
    ).toThrow(expect.objectContaining({ kind: 'invalid', code: 'NOTHING_TO_SETTLE' }));
    expect(() =>
      usageTransaction({ allocationId: 'a', postingKey: 'k', fromHold: -1n, fromAllocation: 5n }),
    ).toThrow(expect.objectContaining({ code: 'INVALID_LEDGER_AMOUNT' }));
    expect(() =>
      usageTransaction({ allocationId: 'a', postingKey: ' ', fromHold: 1n, fromAllocation: 0n }),
    ).toThrow(expect.objectContaining({ code: 'INVALID_LEDGER_KEY' }));
  });

  it('splitUsageAgainstHold takes the hold first', () => {
    expect(splitUsageAgainstHold(30n, 100n)).toEqual({ fromHold: 30n, fromAllocation: 0n });
    expect(splitUsageAgainstHold(130n, 100n)).toEqual({ fromHold: 100n, fromAllocation: 30n });
    expect(splitUsageAgainstHold(30n, 0n)).toEqual({ fromHold: 0n, fromAllocation: 30n });
    expect(splitUsageAgainstHold(30n, -5n)).toEqual({ fromHold: 0n, fromAllocation: 30n });
    expect(() => splitUsageAgainstHold(-1n, 10n)).toThrow(
      expect.objectContaining({ code: 'INVALID_LEDGER_AMOUNT' }),
    );
  });

  it('release: hold → allocation, keyed by workload attempt', () => {
    const tx = releaseHoldTransaction({ allocationId: 'a', workloadId: 'w', attempt: 2, gpuSeconds: 40n });
    expect(tx).toMatchObject({ kind: 'release', idempotencyKey: 'release:w:2' });
    expect(tx.entries).toEqual([
      { account: 'hold:a', amount: -40n },
      { account: 'allocation:a', amount: 40n },
    ]);
    expect(
      releaseHoldTransaction({ allocationId: 'a', workloadId: 'w', gpuSeconds: 1n }).idempotencyKey,
    ).toBe('release:w:0');
    expect(
      releaseHoldTransaction({
        allocationId: 'a',
        workloadId: 'w',
        attempt: 1,
        gpuSeconds: 1n,
        stage: 'grace',
      }).idempotencyKey,
    ).toBe('release:w:1:grace');
    expect(() => releaseHoldTransaction({ allocationId: 'a', workloadId: 'w', gpuSeconds: 0n })).toThrow(
      expect.objectContaining({ code: 'INVALID_LEDGER_AMOUNT' }),
    );
  });

  it('recall: allocation → program, keyed by proposal', () => {
    const tx = recallTransaction({
      programId: 'p',
      gpuModel: 'H100',
      allocationId: 'a',
      proposalId: 'rp-1',
      gpuSeconds: 7200n,
    });
    expect(tx).toMatchObject({ kind: 'recall', idempotencyKey: 'recall:rp-1' });
    expect(tx.entries).toEqual([
      { account: 'allocation:a', amount: -7200n },
      { account: 'program:p:H100', amount: 7200n },
    ]);
    expect(tx.memo).toBe('Recall 2 GPU-hours of H100 from allocation a to program p');
  });

  it('per-record usage, a release and a recall keep the allocation adding up', () => {
    const hold = 100n;
    const first = splitUsageAgainstHold(70n, hold);
    const second = splitUsageAgainstHold(50n, hold - first.fromHold);
    const txs = [
      programBudgetTransaction('p', 'H100', 1000n),
      grantTransaction({
        programId: 'p',
        gpuModel: 'H100',
        allocationId: 'a',
        requestLineId: 'l',
        gpuSeconds: 300n,
      }),
      holdTransaction({ allocationId: 'a', workloadId: 'w1', gpuSeconds: hold }),
      usageTransaction({ allocationId: 'a', postingKey: 'r1', ...first }),
      holdTransaction({ allocationId: 'a', workloadId: 'w2', gpuSeconds: 40n }),
      usageTransaction({ allocationId: 'a', postingKey: 'r2', ...second }),
      usageTransaction({ allocationId: 'a', postingKey: 'r3', fromHold: 10n, fromAllocation: 0n }),
      releaseHoldTransaction({ allocationId: 'a', workloadId: 'w2', gpuSeconds: 30n }),
      recallTransaction({
        programId: 'p',
        gpuModel: 'H100',
        allocationId: 'a',
        proposalId: 'rp',
        gpuSeconds: 25n,
      }),
    ];
    expect(second).toEqual({ fromHold: 30n, fromAllocation: 20n });
    const postings = postingsOf(txs);
    expect(allocationBalance(postings, 'a')).toEqual({
      granted: 300n,
      held: 0n,
      consumed: 130n,
      returned: 25n,
      remaining: 145n,
    });
    expect(balances(postings).get('program:p:H100')).toBe(725n);
  });
});

describe('balances', () => {
  it('sum entries per account', () => {
    const result = balances([
      { account: 'x', amount: 5n },
      { account: 'y', amount: -5n },
      { account: 'x', amount: -2n },
    ]);
    expect([...result]).toEqual([
      ['x', 3n],
      ['y', -5n],
    ]);
  });

  it('allocationBalance separates granted, held, consumed, returned and remaining', () => {
    const txs = [
      programBudgetTransaction('p', 'H100', 1000n),
      grantTransaction({
        programId: 'p',
        gpuModel: 'H100',
        allocationId: 'a',
        requestLineId: 'l1',
        gpuSeconds: 300n,
      }),
      grantTransaction({
        programId: 'p',
        gpuModel: 'H100',
        allocationId: 'other',
        requestLineId: 'l2',
        gpuSeconds: 50n,
      }),
      holdTransaction({ allocationId: 'a', workloadId: 'w1', gpuSeconds: 100n }),
      holdTransaction({ allocationId: 'a', workloadId: 'w2', gpuSeconds: 40n }),
      settleHoldTransaction({
        allocationId: 'a',
        workloadId: 'w1',
        heldGpuSeconds: 100n,
        usedGpuSeconds: 70n,
      }),
      expireTransaction({ programId: 'p', gpuModel: 'H100', allocationId: 'a', gpuSeconds: 20n }),
    ];
    expect(allocationBalance(postingsOf(txs), 'a')).toEqual({
      granted: 300n,
      held: 40n,
      consumed: 70n,
      returned: 20n,
      remaining: 170n,
    });
  });
});

type Operation =
  | { type: 'grant'; allocation: number; gpuSeconds: bigint }
  | { type: 'hold'; allocation: number; gpuSeconds: bigint }
  | { type: 'settle'; pick: number; usedGpuSeconds: bigint };

const amount = fc.bigInt({ min: 1n, max: 10n ** 12n });
const operation: fc.Arbitrary<Operation> = fc.oneof(
  fc.record({ type: fc.constant('grant' as const), allocation: fc.nat({ max: 2 }), gpuSeconds: amount }),
  fc.record({ type: fc.constant('hold' as const), allocation: fc.nat({ max: 2 }), gpuSeconds: amount }),
  // used may be 0 (release), below, equal to or above (overrun) the hold
  fc.record({
    type: fc.constant('settle' as const),
    pick: fc.nat(),
    usedGpuSeconds: fc.bigInt({ min: 0n, max: 2n * 10n ** 12n }),
  }),
);

describe('ledger invariants (property)', () => {
  it('any sequence of grants, holds and settlements stays balanced and every allocation adds up', () => {
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 60 }), (operations) => {
        const allocations = ['a0', 'a1', 'a2'];
        // An independent model of what each allocation should show.
        const model = allocations.map(() => ({ granted: 0n, held: 0n, consumed: 0n }));
        const openHolds: { allocation: number; workloadId: string; gpuSeconds: bigint }[] = [];
        const transactions: LedgerTransaction[] = [programBudgetTransaction('p', 'H100', 10n ** 15n)];
        operations.forEach((op, index) => {
          let tx: LedgerTransaction | undefined;
          if (op.type === 'grant') {
            const allocationId = allocations[op.allocation] ?? 'a0';
            tx = grantTransaction({
              programId: 'p',
              gpuModel: 'H100',
              allocationId,
              requestLineId: `l${index}`,
              gpuSeconds: op.gpuSeconds,
            });
            model[op.allocation].granted += op.gpuSeconds;
          } else if (op.type === 'hold') {
            const workloadId = `w${index}`;
            tx = holdTransaction({
              allocationId: allocations[op.allocation] ?? 'a0',
              workloadId,
              gpuSeconds: op.gpuSeconds,
            });
            openHolds.push({ allocation: op.allocation, workloadId, gpuSeconds: op.gpuSeconds });
            model[op.allocation].held += op.gpuSeconds;
          } else if (openHolds.length > 0) {
            const [hold] = openHolds.splice(op.pick % openHolds.length, 1);
            tx = settleHoldTransaction({
              allocationId: allocations[hold.allocation] ?? 'a0',
              workloadId: hold.workloadId,
              heldGpuSeconds: hold.gpuSeconds,
              usedGpuSeconds: op.usedGpuSeconds,
            });
            model[hold.allocation].held -= hold.gpuSeconds;
            model[hold.allocation].consumed += op.usedGpuSeconds;
          }
          if (tx === undefined) return;
          expect(() => assertBalanced(tx)).not.toThrow();
          expect(tx.entries.reduce((sum, entry) => sum + entry.amount, 0n)).toBe(0n);
          transactions.push(tx);
        });

        const postings = postingsOf(transactions);
        const total = [...balances(postings).values()].reduce((sum, balance) => sum + balance, 0n);
        expect(total).toBe(0n);
        expect(new Set(transactions.map((tx) => tx.idempotencyKey)).size).toBe(transactions.length);

        allocations.forEach((allocationId, index) => {
          const balance = allocationBalance(postings, allocationId);
          const expected = model[index];
          expect(balance.granted).toBe(expected.granted);
          expect(balance.held).toBe(expected.held);
          expect(balance.consumed).toBe(expected.consumed);
          expect(balance.remaining).toBe(expected.granted - expected.held - expected.consumed);
          expect(balance.granted).toBe(balance.remaining + balance.held + balance.consumed);
        });
      }),
    );
  });
});

type MeteredOperation =
  | { type: 'hold'; gpuSeconds: bigint }
  | { type: 'usage'; pick: number; gpuSeconds: bigint }
  | { type: 'release'; pick: number }
  | { type: 'recall'; gpuSeconds: bigint };

const meteredOperation: fc.Arbitrary<MeteredOperation> = fc.oneof(
  fc.record({ type: fc.constant('hold' as const), gpuSeconds: amount }),
  fc.record({ type: fc.constant('usage' as const), pick: fc.nat(), gpuSeconds: amount }),
  fc.record({ type: fc.constant('release' as const), pick: fc.nat() }),
  fc.record({ type: fc.constant('recall' as const), gpuSeconds: amount }),
);

describe('ledger invariants with per-record usage (property)', () => {
  it('usage against holds, releases and recalls keep granted = remaining + held + consumed + returned', () => {
    fc.assert(
      fc.property(fc.array(meteredOperation, { maxLength: 60 }), (operations) => {
        const granted = 10n ** 13n;
        const model = { held: 0n, consumed: 0n, returned: 0n };
        const holds: { workloadId: string; left: bigint }[] = [];
        const transactions: LedgerTransaction[] = [
          programBudgetTransaction('p', 'H100', 10n ** 15n),
          grantTransaction({
            programId: 'p',
            gpuModel: 'H100',
            allocationId: 'a',
            requestLineId: 'l',
            gpuSeconds: granted,
          }),
        ];
        operations.forEach((op, index) => {
          if (op.type === 'hold') {
            transactions.push(
              holdTransaction({ allocationId: 'a', workloadId: `w${index}`, gpuSeconds: op.gpuSeconds }),
            );
            holds.push({ workloadId: `w${index}`, left: op.gpuSeconds });
            model.held += op.gpuSeconds;
          } else if (op.type === 'usage') {
            // usage of a workload with a hold, or (no hold open) usage that only the allocation covers
            const hold = holds.length > 0 ? holds[op.pick % holds.length] : undefined;
            const split = splitUsageAgainstHold(op.gpuSeconds, hold?.left ?? 0n);
            if (hold !== undefined) hold.left -= split.fromHold;
            transactions.push(usageTransaction({ allocationId: 'a', postingKey: `r${index}`, ...split }));
            model.held -= split.fromHold;
            model.consumed += op.gpuSeconds;
          } else if (op.type === 'release' && holds.length > 0) {
            const [hold] = holds.splice(op.pick % holds.length, 1);
            if (hold.left > 0n) {
              transactions.push(
                releaseHoldTransaction({
                  allocationId: 'a',
                  workloadId: hold.workloadId,
                  gpuSeconds: hold.left,
                }),
              );
              model.held -= hold.left;
            }
          } else if (op.type === 'recall') {
            transactions.push(
              recallTransaction({
                programId: 'p',
                gpuModel: 'H100',
                allocationId: 'a',
                proposalId: `rp${index}`,
                gpuSeconds: op.gpuSeconds,
              }),
            );
            model.returned += op.gpuSeconds;
          }
        });
        transactions.forEach((tx) => expect(() => assertBalanced(tx)).not.toThrow());
        expect(new Set(transactions.map((tx) => tx.idempotencyKey)).size).toBe(transactions.length);
        const postings = postingsOf(transactions);
        expect([...balances(postings).values()].reduce((sum, balance) => sum + balance, 0n)).toBe(0n);
        const balance = allocationBalance(postings, 'a');
        expect(balance).toEqual({
          granted,
          held: model.held,
          consumed: model.consumed,
          returned: model.returned,
          remaining: granted - model.held - model.consumed - model.returned,
        });
        expect(balance.held).toBe(holds.reduce((sum, hold) => sum + hold.left, 0n));
      }),
    );
  });
});
