import { invalid } from '../errors/domain-error.js';
import { summarizeViolations, type RuleViolation } from '../errors/rule-violation.js';
import type { SectorTargets } from '../programs/program.js';
import {
  SECTORS,
  type PlanningCalendar,
  type PlanningInput,
  type ReservationRequest,
  type Sector,
} from './types.js';

const isInstant = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value);
const isSector = (value: unknown): value is Sector => SECTORS.includes(value as Sector);

/** Duration of a request in seconds, from durationSeconds or requestedEnd (validated input). */
export function requestDuration(request: ReservationRequest): number {
  return request.durationSeconds ?? (request.requestedEnd as number) - request.requestedStart;
}

/** Planning order: orderKey ascending, then lineId (code-unit order, locale-independent). */
export function compareRequests(a: ReservationRequest, b: ReservationRequest): number {
  if (a.orderKey !== b.orderKey) return a.orderKey < b.orderKey ? -1 : 1;
  return a.lineId < b.lineId ? -1 : a.lineId > b.lineId ? 1 : 0;
}

export function sectorTargetProblems(programId: string, targets: SectorTargets): RuleViolation[] {
  const problems: RuleViolation[] = [];
  const field = `sectorTargets.${programId}`;
  for (const sector of SECTORS) {
    const percent = targets[sector];
    if (!Number.isSafeInteger(percent) || percent < 0 || percent > 100) {
      problems.push({
        rule: 'SECTOR_TARGET_INVALID',
        field: `${field}.${sector}`,
        message: `Program ${programId}: the ${sector} target must be a whole percent between 0 and 100, got ${percent}.`,
      });
    }
  }
  const total = targets.national + targets.industry + targets.academia;
  if (problems.length === 0 && total !== 100) {
    problems.push({
      rule: 'SECTOR_TARGETS_NOT_100',
      field,
      message: `Program ${programId}: sector targets must add up to 100%, got ${total}%.`,
    });
  }
  return problems;
}

/** Every problem with a calendar (nodes, reservations, months, rules); empty when it can be planned on. */
export function planningCalendarProblems(calendar: PlanningCalendar): RuleViolation[] {
  const problems: RuleViolation[] = [];
  const { months } = calendar;
  if (months.length === 0) {
    problems.push({
      rule: 'NO_PLANNING_MONTHS',
      field: 'months',
      message: 'Give at least one planning month.',
    });
  }
  const monthKeys = new Set<string>();
  months.forEach((month, i) => {
    if (!isInstant(month.start) || !isInstant(month.end) || month.end <= month.start) {
      problems.push({
        rule: 'PLANNING_MONTH_INVALID',
        field: `months[${i}]`,
        message: `Month ${month.key} must be whole seconds with start before end.`,
      });
    }
    if (i > 0 && months[i - 1].end !== month.start) {
      problems.push({
        rule: 'PLANNING_MONTHS_NOT_CONTIGUOUS',
        field: `months[${i}]`,
        message: `Month ${month.key} must start where ${months[i - 1].key} ends: planning months are contiguous.`,
      });
    }
    if (monthKeys.has(month.key)) {
      problems.push({
        rule: 'DUPLICATE_MONTH',
        field: `months[${i}]`,
        message: `Month ${month.key} is listed twice.`,
      });
    }
    monthKeys.add(month.key);
  });
  if (calendar.plannableFrom !== undefined && months.length > 0) {
    const from = calendar.plannableFrom;
    if (!isInstant(from) || from < months[0].start || from >= months[months.length - 1].end) {
      problems.push({
        rule: 'PLANNABLE_FROM_OUTSIDE_CALENDAR',
        field: 'plannableFrom',
        message: `plannableFrom must be a whole second inside the planning months, got ${from}.`,
      });
    }
  }
  for (const [programId, targets] of Object.entries(calendar.sectorTargets ?? {})) {
    problems.push(...sectorTargetProblems(programId, targets));
  }

  const nodeIds = new Set<string>();
  calendar.nodes.forEach((node, i) => {
    const field = `nodes[${i}]`;
    if (node.id === '' || nodeIds.has(node.id)) {
      problems.push({
        rule: 'NODE_ID_INVALID',
        field,
        message: `Node ids must be unique and non-empty: "${node.id}".`,
      });
    }
    nodeIds.add(node.id);
    if (!Number.isSafeInteger(node.gpusPerNode) || node.gpusPerNode < 1) {
      problems.push({
        rule: 'GPUS_PER_NODE_INVALID',
        field: `${field}.gpusPerNode`,
        message: `Node ${node.id} must have a whole number of GPUs of at least 1.`,
      });
    }
    (node.unavailable ?? []).forEach((span, j) => {
      if (!isInstant(span.start) || !isInstant(span.end) || span.end <= span.start) {
        problems.push({
          rule: 'UNAVAILABLE_INTERVAL_INVALID',
          field: `${field}.unavailable[${j}]`,
          message: `Node ${node.id}: an unavailable interval must be whole seconds with start before end.`,
        });
      }
    });
  });

  const spansByNode = new Map<string, { start: number; end: number; lineId: string }[]>();
  calendar.reservations.forEach((reservation, i) => {
    const field = `reservations[${i}]`;
    if (
      !isInstant(reservation.start) ||
      !isInstant(reservation.end) ||
      reservation.end <= reservation.start
    ) {
      problems.push({
        rule: 'RESERVATION_WINDOW_INVALID',
        field,
        message: `Reservation ${reservation.lineId} must be whole seconds with start before end.`,
      });
      return;
    }
    if (reservation.sector !== undefined && !isSector(reservation.sector)) {
      problems.push({
        rule: 'SECTOR_INVALID',
        field: `${field}.sector`,
        message: `Reservation ${reservation.lineId} has an unknown sector "${String(reservation.sector)}".`,
      });
    }
    if (
      reservation.nodeIds.length === 0 ||
      new Set(reservation.nodeIds).size !== reservation.nodeIds.length
    ) {
      problems.push({
        rule: 'RESERVATION_NODES_INVALID',
        field: `${field}.nodeIds`,
        message: `Reservation ${reservation.lineId} must name at least one node, each once.`,
      });
    }
    for (const nodeId of reservation.nodeIds) {
      if (!nodeIds.has(nodeId)) {
        problems.push({
          rule: 'UNKNOWN_NODE',
          field: `${field}.nodeIds`,
          message: `Reservation ${reservation.lineId} names node ${nodeId}, which is not in the pool.`,
        });
        continue;
      }
      const spans = spansByNode.get(nodeId) ?? [];
      spans.push({ start: reservation.start, end: reservation.end, lineId: reservation.lineId });
      spansByNode.set(nodeId, spans);
    }
  });
  for (const [nodeId, spans] of spansByNode) {
    spans.sort((a, b) => a.start - b.start || a.end - b.end);
    for (let i = 1; i < spans.length; i += 1) {
      if (spans[i].start < spans[i - 1].end) {
        problems.push({
          rule: 'RESERVATIONS_OVERLAP',
          field: 'reservations',
          message: `Node ${nodeId} is double-booked: ${spans[i - 1].lineId} and ${spans[i].lineId} overlap; fix the calendar before planning.`,
        });
      }
    }
  }
  return problems;
}

export function planningInputProblems(input: PlanningInput): RuleViolation[] {
  const problems = planningCalendarProblems(input);
  const reservedLines = new Set(input.reservations.map((reservation) => reservation.lineId));
  const lineIds = new Set<string>();
  input.requests.forEach((request, i) => {
    const field = `requests[${i}]`;
    const problem = (rule: string, suffix: string, message: string): void => {
      problems.push({ rule, field: `${field}${suffix}`, message: `Line ${request.lineId}: ${message}` });
    };
    if (request.lineId === '' || lineIds.has(request.lineId)) {
      problem('LINE_ID_INVALID', '.lineId', 'line ids must be unique and non-empty in one planning batch.');
    }
    lineIds.add(request.lineId);
    if (reservedLines.has(request.lineId)) {
      problem(
        'LINE_ALREADY_PLACED',
        '.lineId',
        'the line is already on the calendar; release it before planning it again.',
      );
    }
    if (request.programId === '') problem('PROGRAM_ID_EMPTY', '.programId', 'name the program.');
    if (!isSector(request.sector))
      problem('SECTOR_INVALID', '.sector', `unknown sector "${String(request.sector)}".`);
    if (!Number.isSafeInteger(request.servers) || request.servers < 1) {
      problem('SERVERS_INVALID', '.servers', 'ask for a whole number of servers, at least 1.');
    }
    if (!isInstant(request.requestedStart))
      problem('START_INVALID', '.requestedStart', 'the start must be whole seconds.');
    if (!Number.isFinite(request.orderKey))
      problem('ORDER_KEY_INVALID', '.orderKey', 'the order key must be a number.');
    const hasDuration = request.durationSeconds !== undefined;
    const hasEnd = request.requestedEnd !== undefined;
    if (hasDuration === hasEnd) {
      problem('DURATION_OR_END', '', 'give exactly one of durationSeconds and requestedEnd.');
    } else if (hasDuration && (!isInstant(request.durationSeconds) || request.durationSeconds < 1)) {
      problem('DURATION_INVALID', '.durationSeconds', 'the duration must be whole seconds, at least 1.');
    } else if (
      hasEnd &&
      (!isInstant(request.requestedEnd) || request.requestedEnd <= request.requestedStart)
    ) {
      problem(
        'END_INVALID',
        '.requestedEnd',
        'the requested end must be whole seconds after the requested start.',
      );
    }
    if (request.latestEnd !== undefined && !isInstant(request.latestEnd)) {
      problem('LATEST_END_INVALID', '.latestEnd', 'the latest end must be whole seconds.');
    }
  });
  return problems;
}

export function assertValid(problems: readonly RuleViolation[]): void {
  if (problems.length > 0) {
    throw invalid('PLANNING_INPUT_INVALID', summarizeViolations(problems), { violations: problems });
  }
}
