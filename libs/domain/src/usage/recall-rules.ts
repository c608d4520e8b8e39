import { invalid } from '../errors/domain-error.js';
import { summarizeViolations, type RuleViolation } from '../errors/rule-violation.js';
import { formatGpuHoursForPeople } from '../units/gpu-seconds.js';
import { formatSeoulDateTime } from './day-split.js';

/** Shares are integer basis points: 10000 = 100%, 2500 = 25%, 1 = 0.01%. */
const BASIS_POINTS_WHOLE = 10_000;
const MS_PER_DAY = 86_400_000;

/** When a rule is checked: a number of days after the window starts, or a share of the window. */
export type RecallTrigger = { days: number } | { windowBasisPoints: number };

/** What a rule takes back: a share of what is left unused, or a share of the original grant. */
export type RecallAmount = { remainingBasisPoints: number } | { grantedBasisPoints: number };

/**
 * One use-it-or-lose-it rule of a program: at `at`, an allocation that has consumed less than
 * `usedBelowBasisPoints` of its grant gives `recall` back to the program for the waitlist.
 * Examples, as JSON a program operator writes:
 *
 *   at day 30, under 10% used: 25% of the remainder returns to the program
 *     { "id": "day30", "at": { "days": 30 }, "usedBelowBasisPoints": 1000,
 *       "recall": { "remainingBasisPoints": 2500 } }
 *   DOE INCITE/ALCC-like, at the midpoint, under 25% used: the award shrinks by 50% of the remainder
 *     { "id": "midpoint", "at": { "windowBasisPoints": 5000 }, "usedBelowBasisPoints": 2500,
 *       "recall": { "remainingBasisPoints": 5000 } }
 *   NREL-like quarterly, at 25%/50%/75% of the window, under 10%/30%/50% used: 50% of the remainder
 *     { "id": "q1", "at": { "windowBasisPoints": 2500 }, "usedBelowBasisPoints": 1000, "recall": { "remainingBasisPoints": 5000 } }
 *     { "id": "q2", "at": { "windowBasisPoints": 5000 }, "usedBelowBasisPoints": 3000, "recall": { "remainingBasisPoints": 5000 } }
 *     { "id": "q3", "at": { "windowBasisPoints": 7500 }, "usedBelowBasisPoints": 5000, "recall": { "remainingBasisPoints": 5000 } }
 */
export interface RecallRule {
  /** Stable within the program: an allocation gets at most one proposal per rule id. */
  id: string;
  at: RecallTrigger;
  usedBelowBasisPoints: number;
  recall: RecallAmount;
}

/** "25%", "12.5%", "0.01%": exact, without going through a float. */
export function formatBasisPoints(basisPoints: number): string {
  const whole = Math.floor(basisPoints / 100);
  const fraction = (basisPoints % 100).toString().padStart(2, '0').replace(/0+$/, '');
  return fraction === '' ? `${whole}%` : `${whole}.${fraction}%`;
}

/** "at day 30, under 10% used: 25% of the remainder returns to the program". */
export function describeRecallRule(rule: RecallRule): string {
  const when =
    'days' in rule.at
      ? `at day ${rule.at.days}`
      : `at ${formatBasisPoints(rule.at.windowBasisPoints)} of the window`;
  const what =
    'remainingBasisPoints' in rule.recall
      ? `${formatBasisPoints(rule.recall.remainingBasisPoints)} of the remainder`
      : `${formatBasisPoints(rule.recall.grantedBasisPoints)} of the grant`;
  return `${when}, under ${formatBasisPoints(rule.usedBelowBasisPoints)} used: ${what} returns to the program`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isBasisPoints(value: unknown): value is number {
  return (
    typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= BASIS_POINTS_WHOLE
  );
}

function shown(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}

function unknownFields(
  value: Record<string, unknown>,
  allowed: readonly string[],
  field: string,
): RuleViolation[] {
  return Object.keys(value)
    .filter((key) => !allowed.includes(key))
    .map((key) => ({
      rule: 'RECALL_RULE_UNKNOWN_FIELD',
      field: `${field}.${key}`,
      message: `${field} has a field "${key}" that recall rules do not use; remove it or fix its spelling (expected ${allowed.join(', ')}).`,
    }));
}

/** Exactly one of two keys: the shape of `at` and of `recall`. */
function oneOf(
  value: unknown,
  keys: readonly [string, string],
  field: string,
  example: string,
): { key: string; value: unknown } | RuleViolation[] {
  const present = isRecord(value) ? keys.filter((key) => key in value) : [];
  if (!isRecord(value) || present.length !== 1) {
    return [
      {
        rule: 'RECALL_RULE_INVALID_SHAPE',
        field,
        message: `${field} must be an object with exactly one of ${keys.join(' or ')}, such as ${example}; got ${shown(value)}.`,
      },
    ];
  }
  const [key = ''] = present;
  const extra = unknownFields(value, keys, field);
  return extra.length > 0 ? extra : { key, value: value[key] };
}

function basisPointsProblem(value: unknown, field: string): RuleViolation[] {
  if (isBasisPoints(value)) return [];
  return [
    {
      rule: 'RECALL_RULE_INVALID_BASIS_POINTS',
      field,
      message: `${field} must be whole basis points from 0 to 10000 (25% = 2500), got ${shown(value)}.`,
    },
  ];
}

function parseTrigger(value: unknown, field: string): RecallTrigger | RuleViolation[] {
  const choice = oneOf(
    value,
    ['days', 'windowBasisPoints'],
    field,
    '{ "days": 30 } or { "windowBasisPoints": 5000 }',
  );
  if (Array.isArray(choice)) return choice;
  if (choice.key === 'days') {
    const days = choice.value;
    if (typeof days === 'number' && Number.isSafeInteger(days) && days > 0) return { days };
    return [
      {
        rule: 'RECALL_RULE_INVALID_DAYS',
        field: `${field}.days`,
        message: `${field}.days must be a whole number of days of at least 1, got ${shown(days)}.`,
      },
    ];
  }
  const problems = basisPointsProblem(choice.value, `${field}.windowBasisPoints`);
  return problems.length > 0 ? problems : { windowBasisPoints: choice.value as number };
}

function parseAmount(value: unknown, field: string): RecallAmount | RuleViolation[] {
  const choice = oneOf(
    value,
    ['remainingBasisPoints', 'grantedBasisPoints'],
    field,
    '{ "remainingBasisPoints": 2500 }',
  );
  if (Array.isArray(choice)) return choice;
  const problems = basisPointsProblem(choice.value, `${field}.${choice.key}`);
  if (problems.length > 0) return problems;
  const basisPoints = choice.value as number;
  return choice.key === 'remainingBasisPoints'
    ? { remainingBasisPoints: basisPoints }
    : { grantedBasisPoints: basisPoints };
}

/** One rule, or every problem with it. */
function parseRule(value: unknown, field: string): RecallRule | RuleViolation[] {
  if (!isRecord(value)) {
    return [
      {
        rule: 'RECALL_RULE_NOT_OBJECT',
        field,
        message: `${field} must be an object with id, at, usedBelowBasisPoints and recall; got ${shown(value)}.`,
      },
    ];
  }
  const problems = unknownFields(value, ['id', 'at', 'usedBelowBasisPoints', 'recall'], field);
  const { id } = value;
  if (typeof id !== 'string' || id.trim() === '') {
    problems.push({
      rule: 'RECALL_RULE_ID_MISSING',
      field: `${field}.id`,
      message: `${field} needs an id, a short non-empty name such as "day30", got ${shown(id)}.`,
    });
  }
  const at = parseTrigger(value.at, `${field}.at`);
  if (Array.isArray(at)) problems.push(...at);
  problems.push(...basisPointsProblem(value.usedBelowBasisPoints, `${field}.usedBelowBasisPoints`));
  const recall = parseAmount(value.recall, `${field}.recall`);
  if (Array.isArray(recall)) problems.push(...recall);
  if (problems.length > 0 || typeof id !== 'string' || Array.isArray(at) || Array.isArray(recall)) {
    return problems;
  }
  return { id, at, usedBelowBasisPoints: value.usedBelowBasisPoints as number, recall };
}

/**
 * Reads a program's recall rules from JSON (as stored with the program). Throws INVALID_RECALL_RULES
 * listing every problem at once, so an operator fixes the table in one pass. Returns fresh objects in
 * the given order; an empty list means the program recalls nothing.
 */
export function parseRecallRules(json: unknown): RecallRule[] {
  if (!Array.isArray(json)) {
    throw invalid(
      'INVALID_RECALL_RULES',
      `Recall rules must be a JSON array of rules (use [] for none), got ${shown(json)}.`,
      { problems: [] },
    );
  }
  const problems: RuleViolation[] = [];
  const rules: RecallRule[] = [];
  const seen = new Set<string>();
  json.forEach((value: unknown, index) => {
    const parsed = parseRule(value, `rules[${index}]`);
    if (Array.isArray(parsed)) {
      problems.push(...parsed);
      return;
    }
    if (seen.has(parsed.id)) {
      problems.push({
        rule: 'RECALL_RULE_DUPLICATE_ID',
        field: `rules[${index}].id`,
        message: `Recall rule id "${parsed.id}" is used twice; give each rule its own id, since an allocation is recalled at most once per rule.`,
      });
    }
    seen.add(parsed.id);
    rules.push(parsed);
  });
  if (problems.length > 0) {
    throw invalid(
      'INVALID_RECALL_RULES',
      `The recall rules have ${problems.length} problem${problems.length === 1 ? '' : 's'}: ${summarizeViolations(problems)}`,
      { problems },
    );
  }
  return rules;
}

/** Where one allocation stands, as allocationBalance reports it. */
export interface RecallState {
  allocationId: string;
  /** The original grant (allocationBalance().granted): shares and use are measured against it. */
  granted: bigint;
  consumed: bigint;
  /** Spoken for by running workloads; never recalled. */
  held: bigint;
  /**
   * allocationBalance().remaining: the allocation account, neither consumed, held nor returned.
   * This is "the remainder" of a rule and the most any recall can take.
   */
  remaining: bigint;
  windowStart: Date;
  windowEnd: Date;
  now: Date;
  /** Rules that already produced a proposal for this allocation (accepted or not): each fires once. */
  alreadyProposedRuleIds: ReadonlySet<string>;
}

export interface RecallProposal {
  ruleId: string;
  allocationId: string;
  /** What returns to the program; always more than 0. */
  gpuSeconds: bigint;
  /** A sentence for the admin who confirms it and the PI who is told. */
  reason: string;
  /** When the rule came due. */
  dueAt: Date;
  /** Consumption as whole basis points of the grant, truncated. */
  usedBasisPoints: number;
}

/** The instant a rule is checked: start + days, or start + ⌊bp × window length / 10000⌋ ms. */
export function recallRuleDueAt(rule: RecallRule, windowStart: Date, windowEnd: Date): Date {
  const start = windowStart.getTime();
  if ('days' in rule.at) return new Date(start + rule.at.days * MS_PER_DAY);
  const lengthMs = BigInt(windowEnd.getTime() - start);
  return new Date(start + Number((BigInt(rule.at.windowBasisPoints) * lengthMs) / 10_000n));
}

/** consumed / granted < usedBelow / 10000, cross-multiplied so it stays exact. */
function usedTooLittle(rule: RecallRule, state: RecallState): boolean {
  return state.consumed * 10_000n < BigInt(rule.usedBelowBasisPoints) * state.granted;
}

/** What the rule would take when `available` is still in the allocation account. */
function recallAmount(rule: RecallRule, granted: bigint, available: bigint): bigint {
  const asked =
    'remainingBasisPoints' in rule.recall
      ? (available * BigInt(rule.recall.remainingBasisPoints)) / 10_000n
      : (granted * BigInt(rule.recall.grantedBasisPoints)) / 10_000n;
  return asked < available ? asked : available;
}

function hours(seconds: bigint): string {
  return `${formatGpuHoursForPeople(seconds)} GPU-hours`;
}

function recallReason(
  rule: RecallRule,
  state: RecallState,
  dueAt: Date,
  amount: bigint,
  usedBasisPoints: number,
): string {
  const held = state.held > 0n ? ` The ${hours(state.held)} held by running workloads are not touched.` : '';
  return (
    `Program rule "${rule.id}" (${describeRecallRule(rule)}) came due ${formatSeoulDateTime(dueAt)}. ` +
    `Allocation ${state.allocationId} has used ${formatBasisPoints(usedBasisPoints)} of its grant ` +
    `(${hours(state.consumed)} of ${hours(state.granted)}), so ${hours(amount)} of its unused balance ` +
    `return to the program for projects on the waitlist.${held}`
  );
}

/**
 * Recall proposals due for one allocation now. A rule is due from its instant until the window ends
 * and fires when consumed / granted is under its threshold, once per rule. Proposals come ordered by
 * due instant, then rule id; when several are due at once each applies to what the earlier ones left,
 * as if they had been evaluated on time, so together they never exceed `remaining`.
 */
export function evaluateRecallRules(rules: readonly RecallRule[], state: RecallState): RecallProposal[] {
  if (state.granted <= 0n) return [];
  const now = state.now.getTime();
  const due = rules
    .filter((rule) => !state.alreadyProposedRuleIds.has(rule.id))
    .map((rule) => ({ rule, dueAt: recallRuleDueAt(rule, state.windowStart, state.windowEnd) }))
    .filter(({ dueAt }) => now >= dueAt.getTime() && now < state.windowEnd.getTime())
    .filter(({ rule }) => usedTooLittle(rule, state))
    .sort((a, b) => a.dueAt.getTime() - b.dueAt.getTime() || (a.rule.id < b.rule.id ? -1 : 1));
  const usedBasisPoints = Number((state.consumed * 10_000n) / state.granted);
  const proposals: RecallProposal[] = [];
  let available = state.remaining;
  for (const { rule, dueAt } of due) {
    const gpuSeconds = recallAmount(rule, state.granted, available);
    if (gpuSeconds <= 0n) continue;
    available -= gpuSeconds;
    proposals.push({
      ruleId: rule.id,
      allocationId: state.allocationId,
      gpuSeconds,
      reason: recallReason(rule, state, dueAt, gpuSeconds, usedBasisPoints),
      dueAt,
      usedBasisPoints,
    });
  }
  return proposals;
}
