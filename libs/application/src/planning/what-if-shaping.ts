import {
  ceilSeconds,
  conflict,
  floorSeconds,
  instantOfSeconds,
  isOrganizationType,
  notFound,
  requestSector,
  ruleViolated,
  type PlanningInput,
  type RequestOutcome,
  type ReservationRequest,
  type UtilizationCell,
} from '#domain';
import type { LoadedCalendar, RequestReservedLine, WhatIfRequestRow } from '#persistence';

/** What-if plans requests in these states (submitted or under review). */
export const PENDING_REQUEST_STATES = ['submitted', 'under_review'];

interface UtilizationFigures {
  reservedGpuSeconds: string;
  capacityGpuSeconds: string;
  ratio: number;
}

/** One reserved line's answer: where and when it fits, or the earliest start offered and why. */
export interface WhatIfLine {
  requestId: string;
  requestLineId: string;
  projectId: string;
  gpuModel: string;
  servers: number;
  sector: string;
  sameInterconnectDomain: boolean;
  requestedStartsAt: string;
  requestedEndsAt: string;
  fits: boolean;
  clusterId: string | null;
  clusterName: string | null;
  nodeNames: string[];
  startsAt: string | null;
  endsAt: string | null;
  delaySeconds: number | null;
  earliestFeasibleStart: string | null;
  code: string | null;
  reason: string | null;
}

export interface WhatIfResult {
  lines: WhatIfLine[];
  requests: { requestId: string; status: string; reservedLines: number; fits: boolean }[];
  queueAhead: { lines: number; placed: number; waitlisted: number };
  utilization: { gpuModel: string; month: string; before: UtilizationFigures; after: UtilizationFigures }[];
  horizon: { from: string; to: string };
  planningMs: number;
}

/** The planner's answer to a what-if, as `planWhatIf` returns it. */
export interface WhatIfPlan {
  outcomes: readonly RequestOutcome[];
  utilization: readonly UtilizationCell[];
  utilizationBefore: readonly UtilizationCell[];
}

/**
 * The named requests in the order given (duplicates once), refusing what what-if does not plan:
 * an unknown request (404), one not pending (409 REQUEST_NOT_PENDING), one of another program than
 * `programId` (422 REQUEST_NOT_IN_PROGRAM).
 */
export function namedCandidates(
  requestIds: readonly string[],
  rows: readonly WhatIfRequestRow[],
  programId: string | undefined,
): WhatIfRequestRow[] {
  const ids = [...new Set(requestIds)];
  const byId = new Map(rows.map((row) => [row.id, row]));
  const missing = ids.filter((id) => !byId.has(id));
  if (missing.length > 0) throw notFound('Allocation request', missing.join(', '));
  const notPending = rows.filter((row) => !PENDING_REQUEST_STATES.includes(row.status));
  if (notPending.length > 0) {
    throw conflict(
      'REQUEST_NOT_PENDING',
      `What-if plans pending requests (submitted or under review); ${notPending
        .map((row) => `${row.id} is ${row.status}`)
        .join(', ')}. Leave those out.`,
      { requests: notPending.map((row) => ({ id: row.id, status: row.status })) },
    );
  }
  if (programId !== undefined) {
    const elsewhere = rows.filter((row) => row.programId !== programId);
    if (elsewhere.length > 0) {
      throw ruleViolated(
        'REQUEST_NOT_IN_PROGRAM',
        `${elsewhere.map((row) => row.id).join(', ')} belong${elsewhere.length === 1 ? 's' : ''} to another program; leave programId out or those requests.`,
      );
    }
  }
  return ids.map((id) => byId.get(id) as WhatIfRequestRow);
}

/** The candidates' reserved lines in candidate order, then by GPU model. */
export function orderLines(
  lines: readonly RequestReservedLine[],
  candidates: readonly WhatIfRequestRow[],
): RequestReservedLine[] {
  const order = new Map(candidates.map((candidate, index) => [candidate.id, index]));
  return [...lines].sort(
    (a, b) =>
      (order.get(a.requestId) ?? 0) - (order.get(b.requestId) ?? 0) || a.gpuModel.localeCompare(b.gpuModel),
  );
}

/**
 * Each line as the planner's request, after the approved queue (`orderKey` from `queueLength`): the
 * line's window or else its request's, the request's sector, the program's end as the latest end.
 */
export function whatIfRequests(
  lines: readonly RequestReservedLine[],
  candidates: readonly WhatIfRequestRow[],
  queueLength: number,
): ReservationRequest[] {
  const requestOf = new Map(candidates.map((candidate) => [candidate.id, candidate]));
  return lines.map((line, index): ReservationRequest => {
    const request = requestOf.get(line.requestId) as WhatIfRequestRow;
    const startsAt = line.startsAt ?? request.startsAt;
    const endsAt = line.endsAt ?? request.endsAt;
    const requestedStart = floorSeconds(startsAt);
    return {
      lineId: line.id,
      programId: request.programId,
      sector: isOrganizationType(request.organizationType)
        ? requestSector(request.sector, request.organizationType)
        : 'national',
      gpuModel: line.gpuModel,
      servers: line.servers,
      requestedStart,
      durationSeconds: Math.max(1, ceilSeconds(endsAt) - requestedStart),
      latestEnd: floorSeconds(request.programEndsAt),
      sameInterconnectDomain: line.sameInterconnectDomain,
      orderKey: queueLength + index,
    };
  });
}

/** Everything the answer is shaped from. */
export interface WhatIfShapeInput {
  candidates: readonly WhatIfRequestRow[];
  lines: readonly RequestReservedLine[];
  asked: readonly ReservationRequest[];
  /** Allocation ids of the approved queue planned first. */
  queueIds: readonly string[];
  input: Pick<PlanningInput, 'months' | 'plannableFrom'>;
  calendar: Pick<LoadedCalendar, 'clusterNames' | 'nodeNames'>;
  plan: WhatIfPlan;
  planningMs: number;
}

/**
 * The what-if answer: per line fits or not (where and when, or the earliest start and why), per
 * request whether all its lines fit, how the queue ahead fared, and utilization before and after for
 * the months through the last requested or planned end.
 */
export function shapeWhatIf(shape: WhatIfShapeInput): WhatIfResult {
  const { input, plan } = shape;
  const { answers, through } = lineAnswers(shape);
  const horizonEnd = input.months[input.months.length - 1]?.end ?? through;
  const queueIds = new Set(shape.queueIds);
  const queueOutcomes = plan.outcomes.filter((outcome) => queueIds.has(outcome.lineId));
  return {
    lines: answers,
    requests: shape.candidates.map((candidate) => {
      const own = answers.filter((answer) => answer.requestId === candidate.id);
      return {
        requestId: candidate.id,
        status: candidate.status,
        reservedLines: own.length,
        fits: own.every((answer) => answer.fits),
      };
    }),
    queueAhead: {
      lines: shape.queueIds.length,
      placed: queueOutcomes.filter((outcome) => outcome.status === 'placed').length,
      waitlisted: queueOutcomes.filter((outcome) => outcome.status === 'waitlisted').length,
    },
    utilization: utilizationThrough(plan, input.months, through),
    horizon: {
      from: instantOfSeconds(input.months[0]?.start ?? 0).toISOString(),
      to: instantOfSeconds(horizonEnd).toISOString(),
    },
    planningMs: shape.planningMs,
  };
}

/** Each line's answer, and the last requested or planned end among them (seconds). */
function lineAnswers(shape: WhatIfShapeInput): { answers: WhatIfLine[]; through: number } {
  const { input, calendar } = shape;
  const requestOf = new Map(shape.candidates.map((candidate) => [candidate.id, candidate]));
  const outcomeOf = new Map<string, RequestOutcome>(
    shape.plan.outcomes.map((outcome) => [outcome.lineId, outcome]),
  );
  let through = input.plannableFrom ?? input.months[0]?.start ?? 0;
  const answers = shape.lines.map((line, index): WhatIfLine => {
    const request = requestOf.get(line.requestId) as WhatIfRequestRow;
    const asked = shape.asked[index];
    const outcome = outcomeOf.get(line.id) as RequestOutcome;
    const requestedEnd = asked.requestedStart + (asked.durationSeconds ?? 0);
    const base = {
      requestId: line.requestId,
      requestLineId: line.id,
      projectId: request.projectId,
      gpuModel: line.gpuModel,
      servers: line.servers,
      sector: asked.sector,
      sameInterconnectDomain: line.sameInterconnectDomain,
      requestedStartsAt: instantOfSeconds(asked.requestedStart).toISOString(),
      requestedEndsAt: instantOfSeconds(requestedEnd).toISOString(),
    };
    through = Math.max(through, requestedEnd);
    if (outcome.status === 'placed') {
      through = Math.max(through, outcome.end);
      return {
        ...base,
        fits: true,
        clusterId: outcome.clusterId,
        clusterName: calendar.clusterNames.get(outcome.clusterId) ?? null,
        nodeNames: outcome.nodeIds.map((id) => calendar.nodeNames.get(id) ?? id),
        startsAt: instantOfSeconds(outcome.start).toISOString(),
        endsAt: instantOfSeconds(outcome.end).toISOString(),
        delaySeconds: outcome.delaySeconds,
        earliestFeasibleStart: null,
        code: null,
        reason: null,
      };
    }
    return {
      ...base,
      fits: false,
      clusterId: null,
      clusterName: null,
      nodeNames: [],
      startsAt: null,
      endsAt: null,
      delaySeconds: null,
      earliestFeasibleStart:
        outcome.earliestFeasibleStart === null
          ? null
          : instantOfSeconds(outcome.earliestFeasibleStart).toISOString(),
      code: outcome.code,
      reason: outcome.reason,
    };
  });
  return { answers, through };
}

/** Utilization before and after per model and month, for the months that start before `through`. */
function utilizationThrough(
  plan: WhatIfPlan,
  months: PlanningInput['months'],
  through: number,
): WhatIfResult['utilization'] {
  const before = new Map(plan.utilizationBefore.map((cell) => [`${cell.gpuModel}|${cell.month}`, cell]));
  const shownMonths = new Set(months.filter((month) => month.start < through).map((month) => month.key));
  return plan.utilization
    .filter((cell) => shownMonths.has(cell.month))
    .map((cell) => ({
      gpuModel: cell.gpuModel,
      month: cell.month,
      before: figures(before.get(`${cell.gpuModel}|${cell.month}`)),
      after: figures(cell),
    }));
}

function figures(cell: UtilizationCell | undefined): UtilizationFigures {
  return {
    reservedGpuSeconds: (cell?.reservedGpuSeconds ?? 0n).toString(),
    capacityGpuSeconds: (cell?.capacityGpuSeconds ?? 0n).toString(),
    ratio: cell?.ratio ?? 0,
  };
}
