import { Injectable } from '@nestjs/common';
import { DomainError } from '#domain';
import { ReservationRepository, type WaitlistEntry } from '#persistence';

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
