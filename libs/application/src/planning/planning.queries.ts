import { Injectable } from '@nestjs/common';
import { DomainError, notFound } from '#domain';
import {
  RecallRepository,
  ReservationRepository,
  type Page,
  type PageQuery,
  type RecallProposalEntity,
  type RecallProposalFilter,
  type WaitlistEntry,
} from '#persistence';

export interface WaitlistPage {
  items: WaitlistEntry[];
  nextCursor: string | null;
}

/** The read side of planning for admins: the waitlist, keyset-paged. */
@Injectable()
export class PlanningQueries {
  constructor(private readonly reservations: ReservationRepository) {}

  /** Waitlisted reserved allocations, per GPU model in approval order. */
  async waitlist(query: {
    programId?: string;
    gpuModel?: string;
    limit: number;
    cursor?: string;
  }): Promise<WaitlistPage> {
    const rows = await this.reservations.waitlist(
      { programId: query.programId, gpuModel: query.gpuModel },
      { limit: query.limit, afterPosition: decodeWaitlistCursor(query.cursor) },
    );
    const items = rows.slice(0, query.limit);
    const last = items[items.length - 1];
    return {
      items,
      nextCursor: rows.length > query.limit && last ? encodeWaitlistCursor(last.ordinal) : null,
    };
  }
}

/**
 * The read side of recall proposals for admins (made by the scheduler's sweep; decided through
 * DecideRecallUseCase): the filtered, keyset-paged list and one proposal.
 */
@Injectable()
export class RecallQueries {
  constructor(private readonly recalls: RecallRepository) {}

  list(query: RecallProposalFilter & PageQuery): Promise<Page<RecallProposalEntity>> {
    return this.recalls.list(query, query);
  }

  /** 404 for an unknown proposal. */
  async get(id: string): Promise<RecallProposalEntity> {
    const row = await this.recalls.find(id);
    if (!row) throw notFound('Recall proposal', id);
    return row;
  }
}

function encodeWaitlistCursor(ordinal: number): string {
  return Buffer.from(`waitlist|${ordinal}`, 'utf8').toString('base64url');
}

function decodeWaitlistCursor(cursor: string | undefined): number {
  if (cursor === undefined) return 0;
  const match = /^waitlist\|(\d{1,12})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match?.[1]) {
    throw new DomainError(
      'invalid',
      'INVALID_CURSOR',
      'The cursor is not one this API issued; start again without it.',
    );
  }
  return Number(match[1]);
}
