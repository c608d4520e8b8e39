import { NodeCalendar } from './calendar.js';
import { formatInstantSeconds } from './format.js';
import type { PlacedReservation, PlanningInput, PlanResult, RequestOutcome } from './types.js';
import { computeUtilization } from './utilization.js';
import { assertValid, compareRequests, planningInputProblems, requestDuration } from './validation.js';

/**
 * First-come-first-served greedy baseline, for the benchmark and for comparison in what-ifs — not a
 * policy gpupool uses. In (orderKey, lineId) order, each line is placed at exactly its requested start
 * (or plannableFrom, if later) on the first free nodes of its model in node-id order, inside the first
 * cluster (or interconnect domain, when asked) in id order that has enough of them; otherwise it is
 * waitlisted. No later start, no best fit, no sector targets. Same inputs, same output shape.
 */
export function planFirstComeFirstServed(input: PlanningInput): PlanResult {
  assertValid(planningInputProblems(input));
  const horizonStart = input.months[0].start;
  const horizonEnd = input.months[input.months.length - 1].end;
  const from = input.plannableFrom ?? horizonStart;
  const calendar = new NodeCalendar(input.nodes, input.reservations, horizonStart, horizonEnd);
  const reservations: PlacedReservation[] = [...input.reservations];
  const outcomes: RequestOutcome[] = [];
  for (const request of [...input.requests].sort(compareRequests)) {
    const duration = requestDuration(request);
    const start = Math.max(request.requestedStart, from);
    const end = start + duration;
    const base = {
      lineId: request.lineId,
      programId: request.programId,
      sector: request.sector,
      gpuModel: request.gpuModel,
      servers: request.servers,
      round: 1 as const,
    };
    let chosen: number[] | null = null;
    if (end <= horizonEnd && (request.latestEnd === undefined || end <= request.latestEnd)) {
      const groupOf = request.sameInterconnectDomain ? calendar.domainOf : calendar.clusterOf;
      const freeByGroup = new Map<number, number[]>();
      for (const i of calendar.nodesOfModel(request.gpuModel)) {
        if (!calendar.isFree(i, start, end)) continue;
        const free = freeByGroup.get(groupOf[i]) ?? [];
        free.push(i);
        freeByGroup.set(groupOf[i], free);
      }
      for (const group of [...freeByGroup.keys()].sort((a, b) => a - b)) {
        const free = freeByGroup.get(group) as number[];
        if (free.length >= request.servers) {
          chosen = free.slice(0, request.servers);
          break;
        }
      }
    }
    if (!chosen) {
      outcomes.push({
        status: 'waitlisted',
        ...base,
        earliestFeasibleStart: null,
        code: 'BUSY_AT_REQUESTED_START',
        blockedBy: 'capacity',
        reason: `No ${request.servers} ${request.gpuModel} servers are free together from ${formatInstantSeconds(start)} for the whole window (first-come-first-served baseline: no later start is tried).`,
      });
      continue;
    }
    const nodeIds = chosen.map((i) => calendar.nodes[i].id);
    for (const i of chosen) calendar.occupy(i, start, end);
    outcomes.push({
      status: 'placed',
      ...base,
      clusterId: calendar.nodes[chosen[0]].clusterId,
      nodeIds,
      start,
      end,
      delaySeconds: start - request.requestedStart,
    });
    reservations.push({
      lineId: request.lineId,
      nodeIds,
      start,
      end,
      programId: request.programId,
      sector: request.sector,
      sameInterconnectDomain: request.sameInterconnectDomain ?? false,
    });
  }
  return { outcomes, reservations, utilization: computeUtilization(calendar, input.months, reservations) };
}
