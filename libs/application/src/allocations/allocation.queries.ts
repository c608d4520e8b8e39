import { Injectable } from '@nestjs/common';
import {
  allocationAccount,
  allocationBalance,
  consumedAccount,
  holdAccount,
  type AllocationBalance,
  type Principal,
} from '#domain';
import {
  AllocationRepository,
  LedgerRepository,
  pageOf,
  TransactionRunner,
  type AllocationEntity,
  type AllocationFilter,
  type Page,
  type PageQuery,
  type ReservationStanding,
  type ReservedUsage,
} from '#persistence';
import { AllocationReadAccess } from './allocation-read-access.js';

/** An allocation as read: its row, its ledger balance and — reserved — its calendar standing and use. */
export interface AllocationRead {
  allocation: AllocationEntity;
  balance: AllocationBalance;
  standing: ReservationStanding | null;
  usage: ReservedUsage | null;
}

const ZERO_BALANCE: AllocationBalance = { granted: 0n, held: 0n, consumed: 0n, returned: 0n, remaining: 0n };

/** Quotas (read side): they are created by the scheduler when a grant is posted. */
@Injectable()
export class AllocationQueries {
  constructor(
    private readonly access: AllocationReadAccess,
    private readonly allocations: AllocationRepository,
    private readonly ledger: LedgerRepository,
    private readonly transactions: TransactionRunner,
  ) {}

  async list(
    principal: Principal,
    query: AllocationFilter & PageQuery,
    now: Date = new Date(),
  ): Promise<Page<AllocationRead>> {
    if (query.projectId !== undefined)
      await this.access.assertProjectFilterReadable(principal, query.projectId);
    const rows = await this.allocations.list(query, this.access.scopeOf(principal), query);
    const reads = await this.read(rows.slice(0, query.limit), now);
    return pageOf(rows, query.limit, (row) => reads.get(row.id) ?? emptyRead(row));
  }

  /** One allocation; 404 for an allocation the caller may not read (no existence leak). */
  async get(principal: Principal, allocationId: string, now: Date = new Date()): Promise<AllocationRead> {
    const allocation = await this.access.readable(principal, allocationId);
    const reads = await this.read([allocation], now);
    return reads.get(allocation.id) ?? emptyRead(allocation);
  }

  private async read(rows: AllocationEntity[], now: Date): Promise<Map<string, AllocationRead>> {
    const balances = await this.balancesOf(rows.map((row) => row.id));
    const reservedIds = rows.filter((row) => row.kind === 'reserved').map((row) => row.id);
    const standings = await this.allocations.standings(reservedIds);
    const usage = await this.allocations.reservedUsage(reservedIds, now);
    return new Map(
      rows.map((row) => [
        row.id,
        {
          allocation: row,
          balance: balances.get(row.id) ?? ZERO_BALANCE,
          standing: standings.get(row.id) ?? null,
          usage: usage.get(row.id) ?? null,
        },
      ]),
    );
  }

  /** Balances of allocations from their ledger accounts, folded by libs/domain's allocationBalance. */
  private async balancesOf(allocationIds: string[]): Promise<Map<string, AllocationBalance>> {
    const result = new Map<string, AllocationBalance>();
    if (allocationIds.length === 0) return result;
    const accounts = allocationIds.flatMap((id) => [
      allocationAccount(id),
      holdAccount(id),
      consumedAccount(id),
    ]);
    const postings = await this.transactions.run((tx) => this.ledger.postingSums(tx, accounts));
    for (const id of allocationIds) result.set(id, allocationBalance(postings, id));
    return result;
  }
}

function emptyRead(allocation: AllocationEntity): AllocationRead {
  return { allocation, balance: ZERO_BALANCE, standing: null, usage: null };
}
