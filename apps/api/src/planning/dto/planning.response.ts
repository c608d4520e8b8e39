import { z } from 'zod';
import type { WaitlistEntry } from '#persistence';

const instant = z.iso.datetime();

const utilizationFigures = z.object({
  reservedGpuSeconds: z
    .string()
    .meta({ description: 'Exact numerator: reserved GPU-seconds on available node time.' }),
  capacityGpuSeconds: z
    .string()
    .meta({ description: 'Exact denominator: node time of the month minus down time, × GPUs per node.' }),
  ratio: z
    .number()
    .meta({ description: 'reserved ÷ capacity rounded half up to 4 decimals, for display only.' }),
});

export const utilizationCellResponse = z.object({
  gpuModel: z.string(),
  month: z.string().meta({ description: 'Asia/Seoul calendar month, YYYY-MM.' }),
  before: utilizationFigures,
  after: utilizationFigures,
});

export const whatIfLineResponse = z.object({
  requestId: z.uuid(),
  requestLineId: z.uuid(),
  projectId: z.uuid(),
  gpuModel: z.string(),
  servers: z.number().int(),
  sector: z.string(),
  sameInterconnectDomain: z.boolean(),
  requestedStartsAt: instant,
  requestedEndsAt: instant,
  fits: z.boolean(),
  /** When it fits: where and when. */
  clusterId: z.uuid().nullable(),
  clusterName: z.string().nullable(),
  nodeNames: z.array(z.string()),
  startsAt: instant.nullable(),
  endsAt: instant.nullable(),
  delaySeconds: z.number().int().nullable(),
  /** When it does not: the earliest start the calendar offers (null: none before the horizon) and why. */
  earliestFeasibleStart: instant.nullable(),
  code: z.string().nullable(),
  reason: z.string().nullable(),
});

export const whatIfResponse = z
  .object({
    lines: z.array(whatIfLineResponse),
    requests: z.array(
      z.object({
        requestId: z.uuid(),
        status: z.string(),
        reservedLines: z.number().int(),
        /** True when every reserved line of the request fits. */
        fits: z.boolean(),
      }),
    ),
    /** Approved reserved allocations still waiting (pending or waitlisted): planned first, in approval order. */
    queueAhead: z.object({ lines: z.number().int(), placed: z.number().int(), waitlisted: z.number().int() }),
    utilization: z.array(utilizationCellResponse),
    horizon: z.object({ from: instant, to: instant }),
    planningMs: z.number().int(),
  })
  .meta({ description: 'A plan on a copy of the calendar; nothing is written.' });
export type WhatIfResponse = z.infer<typeof whatIfResponse>;
export type WhatIfLine = z.infer<typeof whatIfLineResponse>;

export const waitlistEntryResponse = z.object({
  allocationId: z.uuid(),
  requestId: z.uuid(),
  projectId: z.uuid(),
  projectTitle: z.string(),
  programId: z.uuid(),
  gpuModel: z.string(),
  servers: z.number().int().nullable(),
  sameInterconnectDomain: z.boolean(),
  sector: z.string().nullable(),
  requestedStartsAt: instant,
  requestedEndsAt: instant,
  earliestFeasibleStart: instant.nullable(),
  code: z.string().nullable(),
  reason: z.string().nullable(),
  attempts: z.number().int(),
  approvedAt: instant.nullable(),
  updatedAt: instant,
  position: z.number().int().meta({ description: "Place in its GPU model's waitlist (approval order)." }),
});
export type WaitlistEntryResponse = z.infer<typeof waitlistEntryResponse>;

export const waitlistPageResponse = z.object({
  items: z.array(waitlistEntryResponse),
  nextCursor: z.string().nullable(),
});

export function toWaitlistEntryResponse(row: WaitlistEntry): WaitlistEntryResponse {
  return {
    allocationId: row.allocationId,
    requestId: row.requestId,
    projectId: row.projectId,
    projectTitle: row.projectTitle,
    programId: row.programId,
    gpuModel: row.gpuModel,
    servers: row.servers,
    sameInterconnectDomain: row.sameInterconnectDomain,
    sector: row.sector,
    requestedStartsAt: row.startsAt.toISOString(),
    requestedEndsAt: row.endsAt.toISOString(),
    earliestFeasibleStart: row.earliestFeasibleStart?.toISOString() ?? null,
    code: row.code,
    reason: row.reason,
    attempts: row.attempts,
    approvedAt: row.approvedAt?.toISOString() ?? null,
    updatedAt: row.updatedAt.toISOString(),
    position: row.position,
  };
}
