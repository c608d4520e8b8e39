import { conflict, invalid, ruleViolated } from '../errors/domain-error.js';
import { summarizeViolations, type RuleViolation } from '../errors/rule-violation.js';
import { formatInstant, isValidInstant } from '../units/time-window.js';
import { formatSeoulDateTime } from '../usage/day-split.js';
import { periodBounds, type BillingPeriod } from './billing-period.js';
import { formatKrw, type Krw } from './money.js';

/**
 * The list price of one GPU model from an instant on. A card stays in effect until the next card of
 * the same model takes over; a price change is a new card, never an edit, so past statements keep
 * the price they were computed with.
 */
export interface RateCard {
  /** e.g. "H100", as node pools and allocations spell it. */
  gpuModel: string;
  /** List price in whole won per GPU-hour, > 0. */
  krwPerGpuHour: Krw;
  /** First instant the price applies; a whole second (billing cuts usage into whole seconds). */
  effectiveFrom: Date;
}

/** One stretch of [from, to) under a single card. */
export interface PriceSegment {
  startsAt: Date;
  endsAt: Date;
  krwPerGpuHour: Krw;
  /** Identifies the card (with the model): statements name the price version they used. */
  rateEffectiveFrom: Date;
}

function cardProblems(card: RateCard, index: number): RuleViolation[] {
  const at = `rateCards[${index}]`;
  const problems: RuleViolation[] = [];
  if (card.gpuModel.trim() === '') {
    problems.push({
      rule: 'GPU_MODEL_EMPTY',
      field: `${at}.gpuModel`,
      message: `Rate card ${index + 1} needs a GPU model.`,
    });
  }
  if (typeof card.krwPerGpuHour !== 'bigint' || card.krwPerGpuHour <= 0n) {
    problems.push({
      rule: 'RATE_NOT_POSITIVE',
      field: `${at}.krwPerGpuHour`,
      message: `The ${card.gpuModel} price must be a whole number of won per GPU-hour above 0, got ${String(card.krwPerGpuHour)}.`,
    });
  }
  if (!isValidInstant(card.effectiveFrom)) {
    problems.push({
      rule: 'RATE_CARD_DATE_INVALID',
      field: `${at}.effectiveFrom`,
      message: `The ${card.gpuModel} rate card needs a valid effective date.`,
    });
  } else if (card.effectiveFrom.getTime() % 1000 !== 0) {
    problems.push({
      rule: 'RATE_CARD_NOT_WHOLE_SECOND',
      field: `${at}.effectiveFrom`,
      message: `The ${card.gpuModel} rate card takes effect at ${formatInstant(card.effectiveFrom)}; give a whole second, e.g. Seoul midnight.`,
    });
  }
  return problems;
}

/** Every problem with a set of rate cards; empty when usable. */
export function rateCardProblems(cards: readonly RateCard[]): RuleViolation[] {
  const problems = cards.flatMap(cardProblems);
  const seen = new Set<string>();
  cards.forEach((card, index) => {
    if (!isValidInstant(card.effectiveFrom)) return;
    const key = `${card.gpuModel}\u0000${card.effectiveFrom.getTime()}`;
    if (seen.has(key)) {
      problems.push({
        rule: 'DUPLICATE_RATE_CARD',
        field: `rateCards[${index}]`,
        message: `Two ${card.gpuModel} rate cards take effect at ${formatSeoulDateTime(card.effectiveFrom)}; keep one price per model and instant.`,
      });
    }
    seen.add(key);
  });
  return problems;
}

/** Returns the cards unchanged when usable; otherwise throws INVALID_RATE_CARDS listing every problem. */
export function validateRateCards(cards: readonly RateCard[]): readonly RateCard[] {
  const problems = rateCardProblems(cards);
  if (problems.length > 0) {
    throw invalid(
      'INVALID_RATE_CARDS',
      `The rate cards have ${problems.length} problem${problems.length === 1 ? '' : 's'}: ${summarizeViolations(problems)}`,
      { problems },
    );
  }
  return cards;
}

/** The model's cards, earliest first. */
function cardsOf(cards: readonly RateCard[], gpuModel: string): RateCard[] {
  return cards
    .filter((card) => card.gpuModel === gpuModel)
    .sort((a, b) => a.effectiveFrom.getTime() - b.effectiveFrom.getTime());
}

function noRateCard(gpuModel: string, at: Date) {
  return ruleViolated(
    'NO_RATE_CARD',
    `No ${gpuModel} rate card is in effect at ${isValidInstant(at) ? formatSeoulDateTime(at) : formatInstant(at)}, so this usage cannot be priced; add a ${gpuModel} rate card effective at or before then.`,
    { gpuModel, at: formatInstant(at) },
  );
}

/** The latest card of the model whose effectiveFrom ≤ at; NO_RATE_CARD (rule_violated) when there is none. */
export function rateAt(cards: readonly RateCard[], gpuModel: string, at: Date): RateCard {
  const atMs = at.getTime();
  const inEffect = cardsOf(cards, gpuModel).filter((card) => card.effectiveFrom.getTime() <= atMs);
  const card = inEffect.at(-1);
  if (card === undefined) throw noRateCard(gpuModel, at);
  return card;
}

/**
 * [from, to) cut wherever a new card of the model takes effect, each piece with its price: a price
 * change mid-period gives two segments. Throws NO_RATE_CARD when no card covers `from`.
 */
export function priceSegments(
  cards: readonly RateCard[],
  gpuModel: string,
  from: Date,
  to: Date,
): PriceSegment[] {
  if (!isValidInstant(from) || !isValidInstant(to) || to.getTime() <= from.getTime()) {
    throw invalid(
      'END_NOT_AFTER_START',
      `A priced interval must end after it starts; got ${formatInstant(from)} to ${formatInstant(to)}.`,
    );
  }
  const first = rateAt(cards, gpuModel, from);
  const changes = cardsOf(cards, gpuModel).filter(
    (card) => card.effectiveFrom.getTime() > from.getTime() && card.effectiveFrom.getTime() < to.getTime(),
  );
  const segments: PriceSegment[] = [];
  let current = first;
  let startMs = from.getTime();
  for (const next of [...changes, undefined]) {
    const endMs = next === undefined ? to.getTime() : next.effectiveFrom.getTime();
    segments.push({
      startsAt: new Date(startMs),
      endsAt: new Date(endMs),
      krwPerGpuHour: current.krwPerGpuHour,
      rateEffectiveFrom: current.effectiveFrom,
    });
    if (next !== undefined) {
      current = next;
      startMs = endMs;
    }
  }
  return segments;
}

/** "H100 3,000원/GPU-hour from 2026-05-01 00:00 KST", for statements and messages. */
export function describeRateCard(card: RateCard): string {
  return `${card.gpuModel} ${formatKrw(card.krwPerGpuHour)}/GPU-hour from ${formatSeoulDateTime(card.effectiveFrom)}`;
}

/**
 * A new card may not take effect inside a period whose lines are fixed (`fixedPeriod`: the newest
 * period closing or closed, null when none is): 409 PERIOD_CLOSED naming the earliest instant allowed.
 */
export function assertEffectiveAfterFixedPeriod(
  effectiveFrom: Date,
  fixedPeriod: BillingPeriod | null,
): void {
  if (fixedPeriod === null) return;
  const end = periodBounds(fixedPeriod).endsAt;
  if (effectiveFrom.getTime() < end.getTime()) {
    throw conflict(
      'PERIOD_CLOSED',
      `Billing period ${fixedPeriod} is closed (or closing), so prices before ${formatSeoulDateTime(end)} are fixed; give an effectiveFrom at or after it.`,
      { period: fixedPeriod, earliestEffectiveFrom: end.toISOString() },
    );
  }
}
