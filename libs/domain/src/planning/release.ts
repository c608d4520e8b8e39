import { conflict, invalid, notFound, ruleViolated } from '../errors/domain-error.js';
import type { PlacedReservation } from './types.js';

export interface ReleaseResult {
  /** The servers the line keeps, for its whole window; null when every server is released. */
  kept: PlacedReservation | null;
  /** The released servers' occupancy, shortened to [start, at); null when they are released before the start. */
  released: PlacedReservation | null;
  /** The span the released servers return to the calendar. */
  freed: { nodeIds: string[]; start: number; end: number };
}

/**
 * Early release (a confirmed recall): `nodeIds` of the reservation stop being held at `at`, the rest
 * keep the whole window. Replace the record with `kept` and `released` on the calendar; the freed
 * span is then open to the waitlist (replanWaitlist). This is the one way a reservation gets shorter,
 * and only for the servers an admin named.
 */
export function releaseServers(
  reservation: PlacedReservation,
  nodeIds: readonly string[],
  at: number,
): ReleaseResult {
  if (!Number.isSafeInteger(at)) {
    throw invalid('RELEASE_TIME_INVALID', `The release time must be whole seconds, got ${at}.`);
  }
  if (at >= reservation.end) {
    throw invalid(
      'RELEASE_AFTER_END',
      `Line ${reservation.lineId} ends at ${reservation.end}; a release at ${at} frees nothing. Release before the end.`,
    );
  }
  const releasing = new Set(nodeIds);
  if (releasing.size === 0 || releasing.size !== nodeIds.length) {
    throw invalid('RELEASE_NODES_INVALID', `Name each server to release once, at least one.`);
  }
  const unknown = [...releasing].filter((id) => !reservation.nodeIds.includes(id));
  if (unknown.length > 0) {
    throw invalid(
      'RELEASE_NODES_NOT_RESERVED',
      `Line ${reservation.lineId} does not hold ${unknown.join(', ')}; release only its servers (${reservation.nodeIds.join(', ')}).`,
    );
  }
  const keptIds = reservation.nodeIds.filter((id) => !releasing.has(id));
  const releasedIds = reservation.nodeIds.filter((id) => releasing.has(id));
  const freedFrom = Math.max(at, reservation.start);
  return {
    kept: keptIds.length > 0 ? { ...reservation, nodeIds: keptIds } : null,
    released: at > reservation.start ? { ...reservation, nodeIds: releasedIds, end: at } : null,
    freed: { nodeIds: releasedIds, start: freedFrom, end: reservation.end },
  };
}

/**
 * The calendar after releasing `nodeIds` of line `lineId` at `at`: the record of that line holding
 * those servers over `at` is replaced by its kept and released parts; every other record is unchanged.
 */
export function applyRelease(
  reservations: readonly PlacedReservation[],
  lineId: string,
  nodeIds: readonly string[],
  at: number,
): PlacedReservation[] {
  const index = reservations.findIndex(
    (r) => r.lineId === lineId && r.end > at && nodeIds.every((id) => r.nodeIds.includes(id)),
  );
  if (index < 0) throw notFound('Reservation', `${lineId} holding ${nodeIds.join(', ')} after ${at}`);
  const { kept, released } = releaseServers(reservations[index], nodeIds, at);
  const parts = [kept, released].filter((part): part is PlacedReservation => part !== null);
  return [...reservations.slice(0, index), ...parts, ...reservations.slice(index + 1)];
}

/**
 * Which of a reservation's servers an early release at `at` takes: the named ones (all it holds
 * after `at` when none are named). Refuses a node it does not hold then (NODES_NOT_HELD) and a
 * release that would take nothing (NOTHING_TO_RELEASE).
 */
export function serversToRelease(
  heldNodeIds: readonly string[],
  named: readonly string[] | null,
  at: Date,
): string[] {
  const held = new Set(heldNodeIds);
  const releasing = named === null ? [...held] : [...new Set(named)];
  const unknown = releasing.filter((id) => !held.has(id));
  if (unknown.length > 0) {
    throw ruleViolated(
      'NODES_NOT_HELD',
      `The reservation does not hold ${unknown.join(', ')} after ${at.toISOString()}; release only nodes it holds (${[...held].join(', ') || 'none'}).`,
      { nodeIds: unknown },
    );
  }
  if (releasing.length === 0) {
    throw conflict(
      'NOTHING_TO_RELEASE',
      'The reservation holds no server after that instant; nothing to release.',
    );
  }
  return releasing;
}
