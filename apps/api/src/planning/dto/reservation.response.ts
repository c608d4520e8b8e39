import { z } from 'zod';
import type { ReservationStanding } from '#persistence';

/** A reserved allocation on the capacity calendar: its reservation, or where its plan stands. */
export const reservationStandingResponse = z
  .object({
    status: z.enum(['pending', 'placed', 'waitlisted', 'released']).meta({
      description:
        'pending: not planned yet · placed: on the calendar · waitlisted: no room yet (see earliestFeasibleStart and reason) · released: every server given back early',
    }),
    servers: z.number().int().nullable(),
    sameInterconnectDomain: z.boolean(),
    clusterId: z.uuid().nullable(),
    clusterName: z.string().nullable(),
    startsAt: z.iso.datetime().nullable(),
    endsAt: z.iso.datetime().nullable(),
    nodes: z.array(
      z.object({
        id: z.uuid(),
        name: z.string(),
        /** The span the node is held; a node released early ends at its release. */
        startsAt: z.iso.datetime().nullable(),
        endsAt: z.iso.datetime().nullable(),
      }),
    ),
    earliestFeasibleStart: z.iso.datetime().nullable(),
    code: z.string().nullable(),
    reason: z.string().nullable(),
  })
  .meta({ description: 'Reserved allocations only (null for budget allocations).' });
export type ReservationStandingView = z.infer<typeof reservationStandingResponse>;

export function reservationStandingView(standing: ReservationStanding): ReservationStandingView {
  const reservation = standing.reservation;
  return {
    status: standing.status,
    servers: standing.servers,
    sameInterconnectDomain: standing.sameInterconnectDomain,
    clusterId: reservation?.clusterId ?? null,
    clusterName: reservation?.clusterName ?? null,
    startsAt: reservation?.startsAt.toISOString() ?? null,
    endsAt: reservation?.endsAt.toISOString() ?? null,
    nodes: (reservation?.nodes ?? []).map((node) => ({
      id: node.id,
      name: node.name,
      startsAt: node.startsAt?.toISOString() ?? null,
      endsAt: node.endsAt?.toISOString() ?? null,
    })),
    earliestFeasibleStart: standing.earliestFeasibleStart?.toISOString() ?? null,
    code: standing.code,
    reason: standing.reason,
  };
}
