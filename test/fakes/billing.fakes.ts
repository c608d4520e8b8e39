import { randomUUID } from 'node:crypto';
import type { BillingPeriodState } from '#domain';
import {
  BillingCloseRepository,
  BillingPeriodCloser,
  type BillingCloseRecord,
  type BillingCloseResult,
  type ClosedPeriodSummary,
  type Tx,
} from '#persistence';

/** Close records in memory, with the one-active-per-period rule of the partial unique index. */
export class FakeBillingCloseRepository extends BillingCloseRepository {
  readonly records = new Map<string, BillingCloseRecord>();

  override requestClose(
    _tx: Tx,
    input: { period: string; requestedBy: string; requestId: string | null },
  ): Promise<{ record: BillingCloseRecord; created: boolean }> {
    const active = [...this.records.values()].find(
      (record) =>
        record.period === input.period && (record.status === 'queued' || record.status === 'running'),
    );
    if (active) return Promise.resolve({ record: active, created: false });
    const record: BillingCloseRecord = {
      id: randomUUID(),
      period: input.period,
      status: 'queued',
      phase: 'queued',
      requestedBy: input.requestedBy,
      requestId: input.requestId,
      attempts: 0,
      errorCode: null,
      errorMessage: null,
      result: null,
      createdAt: new Date(),
      startedAt: null,
      finishedAt: null,
    };
    this.records.set(record.id, record);
    return Promise.resolve({ record, created: true });
  }

  override findById(id: string): Promise<BillingCloseRecord | null> {
    return Promise.resolve(this.records.get(id) ?? null);
  }

  override latestOf(period: string): Promise<BillingCloseRecord | null> {
    const all = [...this.records.values()].filter((record) => record.period === period);
    return Promise.resolve(all[all.length - 1] ?? null);
  }

  override startAttempt(id: string): Promise<BillingCloseRecord | null> {
    const record = this.records.get(id);
    if (!record || (record.status !== 'queued' && record.status !== 'running')) return Promise.resolve(null);
    record.status = 'running';
    record.phase = 'closing';
    record.attempts += 1;
    return Promise.resolve(record);
  }

  override markSucceeded(_tx: Tx, id: string, result: BillingCloseResult): Promise<void> {
    const record = this.records.get(id)!;
    Object.assign(record, { status: 'succeeded', phase: 'done', result });
    return Promise.resolve();
  }

  override markFailed(id: string, error: { code: string; message: string }): Promise<void> {
    const record = this.records.get(id)!;
    Object.assign(record, {
      status: 'failed',
      phase: 'failed',
      errorCode: error.code,
      errorMessage: error.message,
    });
    return Promise.resolve();
  }

  override unfinished(): Promise<string[]> {
    return Promise.resolve(
      [...this.records.values()]
        .filter((record) => record.status === 'queued' || record.status === 'running')
        .map((record) => record.id),
    );
  }
}

/** A period closer whose states and close outcome a test sets; counts the closes it ran. */
export class FakeBillingPeriodCloser extends BillingPeriodCloser {
  readonly states = new Map<string, BillingPeriodState>();
  closes = 0;
  refuseWith: Error | null = null;
  closeFails: Error | null = null;

  override checkClosable(period: string): Promise<BillingPeriodState> {
    if (this.refuseWith) return Promise.reject(this.refuseWith);
    return Promise.resolve(this.states.get(period) ?? 'open');
  }

  override stateOf(period: string): Promise<BillingPeriodState> {
    return Promise.resolve(this.states.get(period) ?? 'open');
  }

  override async close(input: {
    period: string;
    closedBy: string | null;
    beforeCommit: (tx: Tx, summary: ClosedPeriodSummary) => Promise<void>;
  }): Promise<ClosedPeriodSummary> {
    if (this.closeFails) throw this.closeFails;
    const summary: ClosedPeriodSummary = {
      period: input.period,
      startsAt: new Date(0),
      endsAt: new Date(0),
      closedAt: new Date(),
      lineCount: 3,
      correctionLines: 1,
      chargedPieces: 5,
      creditedPieces: 0,
      refundedGpuSeconds: 7n,
      totals: {
        gpuSeconds: 3600n,
        listValue: 0n,
        discount: 0n,
        supplyPrice: 0n,
        subsidy: 0n,
        coPay: 0n,
        vat: 0n,
        vatFromOrganization: 0n,
        vatFromProgram: 0n,
        totalDueFromOrganization: 0n,
        totalFromProgram: 0n,
        total: 0n,
      },
    };
    await input.beforeCommit({} as Tx, summary);
    this.closes += 1;
    this.states.set(input.period, 'closed');
    return summary;
  }
}
