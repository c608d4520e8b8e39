import { forbidden, invalid } from '../errors/domain-error.js';
import type { RuleViolation } from '../errors/rule-violation.js';
import type { RubricCriterion } from '../programs/program.js';

export interface WeightedScore {
  /** ⌊weighted mean × 1000⌋ on the 0..100 scale: 87.5 → 87500. Integer, fits a Postgres integer. */
  milli: number;
  /** The weighted mean truncated to two decimals: "87.50". */
  display: string;
}

function scoreProblems(
  rubric: readonly RubricCriterion[],
  scores: Readonly<Record<string, number>>,
): RuleViolation[] {
  const problems: RuleViolation[] = [];
  const rubricKeys = new Set(rubric.map((criterion) => criterion.key));
  for (const criterion of rubric) {
    const field = `scores.${criterion.key}`;
    if (!Object.hasOwn(scores, criterion.key)) {
      problems.push({
        rule: 'SCORE_MISSING',
        field,
        message: `Score "${criterion.label}" (${criterion.key}) from 0 to ${criterion.maxScore}.`,
      });
      continue;
    }
    const score: unknown = scores[criterion.key];
    // A number out of range is told the range, however large (1e30 is "whole" but no score).
    if (typeof score !== 'number' || !Number.isInteger(score)) {
      problems.push({
        rule: 'SCORE_NOT_INTEGER',
        field,
        message: `"${criterion.label}" must be a whole number from 0 to ${criterion.maxScore}, got ${String(score)}.`,
      });
    } else if (score < 0 || score > criterion.maxScore) {
      problems.push({
        rule: 'SCORE_OUT_OF_RANGE',
        field,
        message: `"${criterion.label}" must be from 0 to ${criterion.maxScore}, got ${score}.`,
      });
    }
  }
  for (const key of Object.keys(scores)) {
    if (!rubricKeys.has(key)) {
      problems.push({
        rule: 'UNKNOWN_CRITERION',
        field: `scores.${key}`,
        message: `"${key}" is not a criterion of this program's rubric; remove it.`,
      });
    }
  }
  return problems;
}

/**
 * Weighted mean of the criterion scores, each normalised to 0..100 (score / maxScore × 100).
 * Computed as one exact fraction in bigint, then floored once, so two reviewers who gave the same
 * scores always get the same number whatever the rubric's maxima.
 */
export function weightedScore(
  rubric: readonly RubricCriterion[],
  scores: Readonly<Record<string, number>>,
): WeightedScore {
  if (rubric.length === 0 || rubric.some((c) => !(c.weight > 0 && c.maxScore > 0))) {
    throw invalid(
      'INVALID_RUBRIC',
      'The program rubric has no usable criteria; ask the program operator to fix it.',
    );
  }
  const problems = scoreProblems(rubric, scores);
  if (problems.length > 0) {
    throw invalid(
      'INVALID_SCORES',
      `Fix ${problems.length} score${problems.length === 1 ? '' : 's'} before saving the review: ${problems.map((p) => p.message).join(' ')}`,
      { problems },
    );
  }
  // milli = ⌊ 1000 · Σ wᵢ·(sᵢ/mᵢ)·100 / Σ wᵢ ⌋ = ⌊ Σ wᵢ·sᵢ·100000·(M/mᵢ) / (M · Σ wᵢ) ⌋ with M = Π mᵢ.
  const common = rubric.reduce((product, criterion) => product * BigInt(criterion.maxScore), 1n);
  let numerator = 0n;
  let totalWeight = 0n;
  for (const criterion of rubric) {
    const weight = BigInt(criterion.weight);
    const score = BigInt(scores[criterion.key] ?? 0);
    numerator += weight * score * 100_000n * (common / BigInt(criterion.maxScore));
    totalWeight += weight;
  }
  const milli = numerator / (common * totalWeight);
  const centi = milli / 10n;
  return {
    milli: Number(milli),
    display: `${(centi / 100n).toString()}.${(centi % 100n).toString().padStart(2, '0')}`,
  };
}

export interface ConflictOfInterestCheck {
  /** The reviewer's affiliation; null when the reviewer has none on record. */
  reviewerOrganizationId: string | null;
  requestOrganizationId: string;
  /** The reviewer said they have a conflict (former employer, co-author, family, …). */
  declaredConflict: boolean;
}

export function assertNoConflictOfInterest(check: ConflictOfInterestCheck): void {
  if (check.reviewerOrganizationId !== null && check.reviewerOrganizationId === check.requestOrganizationId) {
    throw forbidden(
      'CONFLICT_OF_INTEREST',
      'You cannot review this request because you belong to the applicant organization. Ask the program operator to assign another reviewer.',
      { reason: 'same_organization' },
    );
  }
  if (check.declaredConflict) {
    throw forbidden(
      'CONFLICT_OF_INTEREST',
      'You declared a conflict of interest with this request, so you cannot review it. The program operator will assign another reviewer.',
      { reason: 'declared' },
    );
  }
}

export interface RankCandidate {
  requestId: string;
  submittedAt: Date;
  /** The `milli` of each reviewer's weighted score; may be empty before any review. */
  reviewMillis: readonly number[];
}

export type Ranked<T extends RankCandidate> = T & {
  /** 1 = best. Every candidate gets its own rank: ties are broken, never shared. */
  rank: number;
  /** ⌊mean of reviewMillis⌋, or null when nobody has reviewed it yet. */
  averageMilli: number | null;
};

/**
 * Orders requests by the mean of their reviewers' scores, highest first. Equal means go to the one
 * submitted first, then by request id so the order is the same on every run. Unreviewed requests
 * come last. Means are compared as exact fractions, not as rounded averages.
 */
export function rankByScore<T extends RankCandidate>(candidates: readonly T[]): Ranked<T>[] {
  const sumOf = (candidate: T) => candidate.reviewMillis.reduce((sum, milli) => sum + BigInt(milli), 0n);
  const sorted = [...candidates].sort((a, b) => {
    const aCount = BigInt(a.reviewMillis.length);
    const bCount = BigInt(b.reviewMillis.length);
    if (aCount === 0n || bCount === 0n) {
      if (aCount !== bCount) return aCount === 0n ? 1 : -1;
    } else {
      // a/aCount vs b/bCount without division.
      const left = sumOf(a) * bCount;
      const right = sumOf(b) * aCount;
      if (left !== right) return left > right ? -1 : 1;
    }
    const byTime = a.submittedAt.getTime() - b.submittedAt.getTime();
    if (byTime !== 0) return byTime;
    return a.requestId < b.requestId ? -1 : a.requestId > b.requestId ? 1 : 0;
  });
  return sorted.map((candidate, index) => ({
    ...candidate,
    rank: index + 1,
    averageMilli:
      candidate.reviewMillis.length === 0
        ? null
        : Number(sumOf(candidate) / BigInt(candidate.reviewMillis.length)),
  }));
}
