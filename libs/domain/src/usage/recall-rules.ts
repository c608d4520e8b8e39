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
 *
 * Reserved allocations (whole servers) are held to the same rules, read for servers: "used" is the
 * utilization of the server time reserved so far and the recall is K servers released early — see
 * recallServerCount and evaluateReservedRecallRules at the end of this file.
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

/** What every rule evaluation shares: when it is checked and against what. */
interface RuleClock {
  windowStart: Date;
  windowEnd: Date;
  now: Date;
  alreadyProposedRuleIds: ReadonlySet<string>;
}

/**
 * Rules not proposed yet, due now (from their instant until the window ends) and under their
 * threshold, ordered by due instant, then rule id.
 */
function dueRules(
  rules: readonly RecallRule[],
  clock: RuleClock,
  underThreshold: (rule: RecallRule) => boolean,
): { rule: RecallRule; dueAt: Date }[] {
  const now = clock.now.getTime();
  return rules
    .filter((rule) => !clock.alreadyProposedRuleIds.has(rule.id))
    .map((rule) => ({ rule, dueAt: recallRuleDueAt(rule, clock.windowStart, clock.windowEnd) }))
    .filter(({ dueAt }) => now >= dueAt.getTime() && now < clock.windowEnd.getTime())
    .filter(({ rule }) => underThreshold(rule))
    .sort((a, b) => a.dueAt.getTime() - b.dueAt.getTime() || (a.rule.id < b.rule.id ? -1 : 1));
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
  const due = dueRules(rules, state, (rule) => usedTooLittle(rule, state));
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

// ---------------------------------------------------------------------------------------------------
// Reserved allocations (whole servers on the capacity calendar): the same rules, read for servers.
//
// - "Used" is the utilization of the server time reserved so far (reserved-utilization.ts): metered
//   GPU-seconds ÷ GPU-seconds its servers were held from the window start to now. A reservation's future
//   cannot be used yet, so the grant as a whole would make every reservation look idle early on.
//   The rule fires when used × 10000 < usedBelowBasisPoints × reserved so far (exact, cross-multiplied).
// - What it recalls is K whole servers, released early from confirmation to the end of the window
//   (recallServerCount below defines K). Several rules due at once apply in due order, each to the servers
//   the earlier ones left, as budget recalls apply each to the remainder the earlier ones left.
// - What returns to the program on confirmation is the released server time: K × GPUs per node ×
//   remaining window seconds (releasedGpuSeconds), capped at the allocation account's balance.
// ---------------------------------------------------------------------------------------------------

/**
 * K, the servers a rule recalls from a reserved allocation that holds H = `serversHeld` servers after
 * now out of N = `serversGranted` granted (N is taken as at least H):
 *
 *   share of the remainder, r bp:  base = ⌊H × r / 10000⌋   (the servers still held are the remainder)
 *   share of the grant,     g bp:  base = ⌊N × g / 10000⌋
 *
 *   share = 0                 → K = 0: the rule takes nothing
 *   share = 100% (10000 bp)   → K = min(base, H): the only way a rule recalls every server
 *   otherwise                 → K = min(max(base, 1), H − 1): a rule that fires takes at least one
 *                               server and always leaves one (so nothing when only one is held)
 *
 * So 1 ≤ K ≤ H − 1 unless the rule recalls 100%, and K never decreases as the share grows.
 * Example: 4 servers, under 10% used at day 30 → recall 25% of the remainder: K = 1; 50%: K = 2;
 * 10%: ⌊0.4⌋ = 0, raised to 1; 100%: all 4.
 */
export function recallServerCount(recall: RecallAmount, serversGranted: number, serversHeld: number): number {
  const held = Math.max(0, Math.floor(serversHeld));
  const granted = Math.max(held, Math.floor(serversGranted));
  const [share, of] =
    'remainingBasisPoints' in recall
      ? [recall.remainingBasisPoints, held]
      : [recall.grantedBasisPoints, granted];
  if (share <= 0 || held === 0) return 0;
  const base = Math.floor((of * share) / BASIS_POINTS_WHOLE);
  if (share >= BASIS_POINTS_WHOLE) return Math.min(base, held);
  return Math.max(0, Math.min(Math.max(base, 1), held - 1));
}

/** Where one reserved allocation stands when its rules are evaluated. */
export interface ReservedRecallState {
  allocationId: string;
  /** N: servers granted (allocations.servers). */
  serversGranted: number;
  /** H: servers its reservation still holds after `now` (granted minus any released early). */
  serversHeld: number;
  gpusPerNode: number;
  /** Metered GPU-seconds on the allocation (its consumed account). */
  usedGpuSeconds: bigint;
  /** GPU-seconds its servers were held from the window start to now (reservedGpuSecondsUntil). */
  reservedGpuSeconds: bigint;
  /** allocationBalance().remaining: the most the recalls together return to the program. */
  remaining: bigint;
  windowStart: Date;
  windowEnd: Date;
  now: Date;
  alreadyProposedRuleIds: ReadonlySet<string>;
}

/**
 * A proposal to release servers early. Its `gpuSeconds` is what confirming now would return: K × GPUs
 * per node × the window seconds left, capped at the balance (0 when the allocation is overdrawn: the
 * servers still go back to the calendar for the waitlist).
 */
export interface ReservedRecallProposal extends RecallProposal {
  /** K: servers to release early, from confirmation to the end of the window; always more than 0. */
  servers: number;
  /** H: servers held when the rule was evaluated (after the earlier proposals of the same run). */
  serversHeld: number;
}

/** Servers are released on a whole second: the first at or after `now` (as the admin release does). */
export function releaseInstant(now: Date): Date {
  return new Date(Math.ceil(now.getTime() / 1000) * 1000);
}

/** "at day 30, under 10% of the reserved server time used: 25% of the servers still held are released". */
export function describeReservedRecallRule(rule: RecallRule): string {
  const when =
    'days' in rule.at
      ? `at day ${rule.at.days}`
      : `at ${formatBasisPoints(rule.at.windowBasisPoints)} of the window`;
  const what =
    'remainingBasisPoints' in rule.recall
      ? `${formatBasisPoints(rule.recall.remainingBasisPoints)} of the servers still held`
      : `${formatBasisPoints(rule.recall.grantedBasisPoints)} of the servers granted`;
  return `${when}, under ${formatBasisPoints(rule.usedBelowBasisPoints)} of the reserved server time used: ${what} are released early`;
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

function reservedRecallReason(
  rule: RecallRule,
  state: ReservedRecallState,
  dueAt: Date,
  servers: number,
  held: number,
  gpuSeconds: bigint,
  usedBasisPoints: number,
): string {
  return (
    `Program rule "${rule.id}" (${describeReservedRecallRule(rule)}) came due ${formatSeoulDateTime(dueAt)}. ` +
    `Allocation ${state.allocationId} has used ${formatBasisPoints(usedBasisPoints)} of the server time ` +
    `reserved so far (${hours(state.usedGpuSeconds)} of ${hours(state.reservedGpuSeconds)}), so ${servers} of ` +
    `the ${plural(held, 'server')} it holds (${servers * state.gpusPerNode} GPUs) are released early, from ` +
    `confirmation to the end of its window (${formatSeoulDateTime(state.windowEnd)}), for projects on the ` +
    `waitlist; about ${hours(gpuSeconds)} return to the program.`
  );
}

/**
 * Server recall proposals due for one reserved allocation now: the rules due (as evaluateRecallRules:
 * from their instant until the window ends, once per rule, by due instant then id) whose threshold the
 * utilization so far is under, each releasing recallServerCount servers of those the earlier ones left.
 * A rule whose K is 0 proposes nothing. The GPU-seconds are what confirming now would return.
 */
export function evaluateReservedRecallRules(
  rules: readonly RecallRule[],
  state: ReservedRecallState,
): ReservedRecallProposal[] {
  if (state.reservedGpuSeconds <= 0n || state.serversHeld <= 0) return [];
  const due = dueRules(
    rules,
    state,
    (rule) => state.usedGpuSeconds * 10_000n < BigInt(rule.usedBelowBasisPoints) * state.reservedGpuSeconds,
  );
  const usedBasisPoints = Number((state.usedGpuSeconds * 10_000n) / state.reservedGpuSeconds);
  const secondsLeft = BigInt(
    Math.max(0, Math.floor((state.windowEnd.getTime() - releaseInstant(state.now).getTime()) / 1000)),
  );
  if (secondsLeft === 0n) return [];
  const proposals: ReservedRecallProposal[] = [];
  let held = state.serversHeld;
  let available = state.remaining > 0n ? state.remaining : 0n;
  for (const { rule, dueAt } of due) {
    const servers = recallServerCount(rule.recall, state.serversGranted, held);
    if (servers <= 0) continue;
    const serverTime = BigInt(servers) * BigInt(state.gpusPerNode) * secondsLeft;
    const gpuSeconds = serverTime < available ? serverTime : available;
    proposals.push({
      ruleId: rule.id,
      allocationId: state.allocationId,
      gpuSeconds,
      reason: reservedRecallReason(rule, state, dueAt, servers, held, gpuSeconds, usedBasisPoints),
      dueAt,
      usedBasisPoints,
      servers,
      serversHeld: held,
    });
    held -= servers;
    available -= gpuSeconds;
  }
  return proposals;
}

/**
 * Servers a confirmation releases when the reservation holds `heldNow` after the release instant:
 * the K proposed, never more than it holds, and — unless the proposal recalled every server it held
 * then — never the last one (servers an admin released since the proposal come out of K).
 */
export function serversToReleaseOnConfirm(
  proposed: { servers: number; serversHeld: number },
  heldNow: number,
): number {
  const recallsAll = proposed.servers >= proposed.serversHeld;
  const room = recallsAll ? heldNow : heldNow - 1;
  return Math.max(0, Math.min(proposed.servers, room));
}

/**
 * Which servers a confirmation releases: those on which the allocation's running workloads occupy the
 * fewest GPUs now (idle servers first, so the owner's running jobs are spared where possible), ties to
 * the highest node id. Per-node use over the window is not known — usage records carry no node and a
 * workload's placement is removed when its attempt ends — so occupancy now is the per-node use there is.
 */
export function chooseServersToRelease(
  servers: readonly { nodeId: string; busyGpus: number }[],
  count: number,
): string[] {
  return [...servers]
    .sort((a, b) => a.busyGpus - b.busyGpus || (a.nodeId < b.nodeId ? 1 : a.nodeId > b.nodeId ? -1 : 0))
    .slice(0, Math.max(0, count))
    .map((server) => server.nodeId);
}

/**
 * GPU-seconds that released servers give back: Σ GPUs × whole seconds of [max(span start, at), span end)
 * over the released spans — K × GPUs per node × remaining window seconds once the window has begun.
 */
export function releasedGpuSeconds(
  spans: readonly { gpus: number; startsAt: Date; endsAt: Date }[],
  at: Date,
): bigint {
  let total = 0n;
  for (const span of spans) {
    const from = Math.max(span.startsAt.getTime(), at.getTime());
    const seconds = Math.floor((span.endsAt.getTime() - from) / 1000);
    if (seconds > 0) total += BigInt(span.gpus) * BigInt(seconds);
  }
  return total;
}
