import { isDomainError } from '../errors/domain-error.js';
import {
  evaluateRecallRules,
  evaluateReservedRecallRules,
  parseRecallRules,
  recallRuleDueAt,
  type RecallProposal,
  type RecallRule,
} from './recall-rules.js';

/**
 * The use-it-or-lose-it sweep's view of one active allocation inside its window whose program has
 * recall rules: budget allocations are judged by evaluateRecallRules (GPU-seconds of the remainder),
 * reserved ones by evaluateReservedRecallRules (K servers released early).
 */
export interface RecallCandidate {
  allocationId: string;
  projectId: string;
  programId: string;
  gpuModel: string;
  /** Reserved allocations: servers granted (their rules release servers); null for budget ones. */
  servers: number | null;
  windowStart: Date;
  windowEnd: Date;
  rules: RecallRule[];
  alreadyProposed: ReadonlySet<string>;
}

/** A proposal of either kind: reserved ones release `servers` of `serversHeld` early. */
export type AnyRecallProposal = RecallProposal & { servers?: number; serversHeld?: number };

/** What the ledger and the reservation say about a candidate at `now`. */
export interface RecallFacts {
  /** GPU-seconds granted into the allocation (positive grant entries). */
  granted: bigint;
  consumed: bigint;
  held: bigint;
  /** The allocation account's balance. */
  remaining: bigint;
  /** Reserved allocations only, while their reservation holds servers; absent: nothing to release. */
  reserved?: {
    serversHeld: number;
    gpusPerNode: number;
    usedGpuSeconds: bigint;
    reservedGpuSeconds: bigint;
  };
}

/** A program's stored rules, or null when they cannot be read (the program is skipped, reported). */
export function readStoredRecallRules(json: unknown): RecallRule[] | null {
  try {
    return parseRecallRules(json);
  } catch (error) {
    if (isDomainError(error)) return null;
    throw error;
  }
}

/** True when a rule not yet proposed is due at `now`, inside the window: only then are balances read. */
export function anyRecallRuleDue(candidate: RecallCandidate, now: Date): boolean {
  const at = now.getTime();
  return candidate.rules.some(
    (rule) =>
      !candidate.alreadyProposed.has(rule.id) &&
      recallRuleDueAt(rule, candidate.windowStart, candidate.windowEnd).getTime() <= at &&
      at < candidate.windowEnd.getTime(),
  );
}

/** The proposals the candidate's rules make now (a reserved one without held servers makes none). */
export function recallProposalsFor(
  candidate: RecallCandidate,
  facts: RecallFacts,
  now: Date,
): AnyRecallProposal[] {
  const common = {
    allocationId: candidate.allocationId,
    remaining: facts.remaining,
    windowStart: candidate.windowStart,
    windowEnd: candidate.windowEnd,
    now,
    alreadyProposedRuleIds: candidate.alreadyProposed,
  };
  if (candidate.servers !== null) {
    if (!facts.reserved) return [];
    return evaluateReservedRecallRules(candidate.rules, {
      ...common,
      serversGranted: candidate.servers,
      ...facts.reserved,
    });
  }
  return evaluateRecallRules(candidate.rules, {
    ...common,
    granted: facts.granted,
    consumed: facts.consumed,
    held: facts.held,
  });
}

/** One order for every sweep (allocation, then rule): concurrent sweeps lock rows alike, never deadlock. */
export function compareRecallProposals(a: RecallProposal, b: RecallProposal): number {
  const left = `${a.allocationId}|${a.ruleId}`;
  const right = `${b.allocationId}|${b.ruleId}`;
  return left < right ? -1 : left > right ? 1 : 0;
}
