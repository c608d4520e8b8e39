/**
 * What gpupool's API and scheduler use of the reservation planner (libs/domain/src/planning), in one
 * place: the planner's entry points and types, and the conversions between the database's instants
 * and the planner's whole Unix seconds. The planner itself is pure and owns its rules; this file only
 * names what the rest of the code relies on, so a change there shows up here first.
 */
import { seoulPlanningMonths } from '../planning/months.js';
import type { PlanningMonth } from '../planning/types.js';

export {
  calendarUtilization,
  planReservations,
  planWhatIf,
  replanWaitlist,
  type WhatIfResult,
} from '../planning/planner.js';
export { seoulPlanningMonths, monthIndexAt } from '../planning/months.js';
export { displayRatio } from '../planning/utilization.js';
export { sectorTargetProblems } from '../planning/validation.js';
export {
  DEFAULT_SECTOR_TARGETS,
  SECTORS,
  type PlacedOutcome,
  type PlacedReservation,
  type PlanningCalendar,
  type PlanningInput,
  type PlanningMonth,
  type PlanningNode,
  type PlanResult,
  type RequestOutcome,
  type ReservationRequest,
  type Sector,
  type UnavailableInterval,
  type UtilizationCell,
  type WaitlistCause,
  type WaitlistCode,
  type WaitlistedOutcome,
} from '../planning/types.js';

const MS_PER_SECOND = 1000;
const SEOUL_OFFSET_MS = 9 * 3600 * MS_PER_SECOND;

/** An instant as whole Unix seconds, rounded down (a span's start). */
export function floorSeconds(instant: Date): number {
  return Math.floor(instant.getTime() / MS_PER_SECOND);
}

/** An instant as whole Unix seconds, rounded up (a span's end, so a hand-written span never shrinks). */
export function ceilSeconds(instant: Date): number {
  return Math.ceil(instant.getTime() / MS_PER_SECOND);
}

export function instantOfSeconds(seconds: number): Date {
  return new Date(seconds * MS_PER_SECOND);
}

/** 'YYYY-MM' of the Asia/Seoul calendar month containing the instant. */
export function seoulMonthKey(seconds: number): string {
  const local = new Date(seconds * MS_PER_SECOND + SEOUL_OFFSET_MS);
  return `${local.getUTCFullYear()}-${String(local.getUTCMonth() + 1).padStart(2, '0')}`;
}

function monthOrdinal(key: string): number {
  const [year, month] = key.split('-').map(Number);
  return (year ?? 0) * 12 + (month ?? 1) - 1;
}

/**
 * The planning calendar's months: every Seoul month from the one containing `from` through the one
 * containing `through`, plus `extraMonths` after it (room to offer a later start to a line that does
 * not fit), at most `maxMonths` in all.
 */
export function planningHorizon(
  from: number,
  through: number,
  extraMonths: number,
  maxMonths = 120,
): PlanningMonth[] {
  const first = seoulMonthKey(from);
  const span = monthOrdinal(seoulMonthKey(Math.max(from, through))) - monthOrdinal(first) + 1;
  return seoulPlanningMonths(first, Math.max(1, Math.min(maxMonths, span + Math.max(0, extraMonths))));
}
