import { invalid } from '../errors/domain-error.js';
import { summarizeViolations, type RuleViolation } from '../errors/rule-violation.js';
import { isOrganizationType, type OrganizationType } from '../organizations/organization-type.js';
import { formatInstant, isValidInstant } from '../units/time-window.js';

/**
 * A size class of a call. `gpu` tracks take any GPU count in minGpus..maxGpus; `server` tracks are
 * requested in whole servers, so the count must also be a multiple of gpusPerServer.
 */
export interface Track {
  code: string;
  kind: 'gpu' | 'server';
  minGpus: number;
  maxGpus: number;
  /** Server tracks only: GPUs in one server (e.g. 8). */
  gpusPerServer?: number;
}

export interface RubricCriterion {
  key: string;
  label: string;
  /** Positive integer; criteria count in proportion to their weights. */
  weight: number;
  /** Positive integer; reviewers score 0..maxScore. */
  maxScore: number;
}

/** Shares of the program's GPU-seconds by sector, in whole percent summing to 100 (plan: 50/30/20). */
export interface SectorTargets {
  national: number;
  industry: number;
  academia: number;
}

export interface ProgramRules {
  code: string;
  fiscalYear: number;
  /** Application window (half-open); requested compute windows must also fall inside it. */
  startsAt: Date;
  endsAt: Date;
  eligibleOrganizationTypes: OrganizationType[];
  tracks: Track[];
  rubric: RubricCriterion[];
  sectorTargets: SectorTargets;
  /** Basis points (0..10000) of the supply price (after discounts) the program pays, per organization type. */
  subsidyRates: Partial<Record<OrganizationType, number>>;
  /** Budget per GPU model (e.g. "H100") in GPU-seconds. */
  budgetsGpuSeconds: Record<string, bigint>;
}

export const BASIS_POINTS_MAX = 10_000;

function isPositiveInteger(value: number | undefined): boolean {
  return value !== undefined && Number.isSafeInteger(value) && value > 0;
}

export function trackAccepts(track: Track, gpus: number): boolean {
  if (!Number.isSafeInteger(gpus) || gpus < track.minGpus || gpus > track.maxGpus) return false;
  if (track.kind === 'gpu') return true;
  const perServer = track.gpusPerServer;
  return perServer !== undefined && perServer > 0 && gpus % perServer === 0;
}

/** The first track (in program order) that accepts this many concurrent GPUs. */
export function findTrack(tracks: readonly Track[], gpus: number): Track | undefined {
  return tracks.find((track) => trackAccepts(track, gpus));
}

/** "1–4 GPUs" or "8–64 GPUs in whole 8-GPU servers", for messages. */
export function describeTrack(track: Track): string {
  const range = track.minGpus === track.maxGpus ? `${track.minGpus}` : `${track.minGpus}–${track.maxGpus}`;
  const servers = track.kind === 'server' ? ` in whole ${track.gpusPerServer ?? '?'}-GPU servers` : '';
  return `${track.code}: ${range} GPUs${servers}`;
}

function trackProblems(tracks: readonly Track[]): RuleViolation[] {
  const problems: RuleViolation[] = [];
  if (tracks.length === 0) {
    problems.push({
      rule: 'NO_TRACKS',
      field: 'tracks',
      message: 'Define at least one track, e.g. 1–4 GPUs.',
    });
  }
  const seen = new Set<string>();
  tracks.forEach((track, index) => {
    const at = `tracks[${index}]`;
    if (track.code.trim() === '') {
      problems.push({
        rule: 'TRACK_CODE_EMPTY',
        field: `${at}.code`,
        message: `Track ${index + 1} needs a code.`,
      });
    } else if (seen.has(track.code)) {
      problems.push({
        rule: 'DUPLICATE_TRACK_CODE',
        field: `${at}.code`,
        message: `Track code "${track.code}" is used twice; give each track its own code.`,
      });
    }
    seen.add(track.code);
    const minOk = isPositiveInteger(track.minGpus);
    const maxOk = isPositiveInteger(track.maxGpus);
    if (!minOk) {
      problems.push({
        rule: 'TRACK_MIN_GPUS_INVALID',
        field: `${at}.minGpus`,
        message: `Track "${track.code}" minimum must be a whole number of GPUs of at least 1.`,
      });
    }
    if (!maxOk) {
      problems.push({
        rule: 'TRACK_MAX_GPUS_INVALID',
        field: `${at}.maxGpus`,
        message: `Track "${track.code}" maximum must be a whole number of GPUs of at least 1.`,
      });
    }
    if (minOk && maxOk && track.minGpus > track.maxGpus) {
      problems.push({
        rule: 'TRACK_MIN_ABOVE_MAX',
        field: `${at}.minGpus`,
        message: `Track "${track.code}" minimum (${track.minGpus} GPUs) is above its maximum (${track.maxGpus}).`,
      });
    }
    if (track.kind === 'gpu' && track.gpusPerServer !== undefined) {
      problems.push({
        rule: 'TRACK_GPUS_PER_SERVER_UNEXPECTED',
        field: `${at}.gpusPerServer`,
        message: `Track "${track.code}" is a GPU track; only server tracks set GPUs per server.`,
      });
    }
    if (track.kind === 'server') {
      const perServer = track.gpusPerServer;
      if (perServer === undefined || !isPositiveInteger(perServer)) {
        problems.push({
          rule: 'TRACK_GPUS_PER_SERVER_INVALID',
          field: `${at}.gpusPerServer`,
          message: `Server track "${track.code}" needs GPUs per server as a whole number of at least 1 (e.g. 8).`,
        });
      } else if (minOk && maxOk && (track.minGpus % perServer !== 0 || track.maxGpus % perServer !== 0)) {
        problems.push({
          rule: 'TRACK_NOT_WHOLE_SERVERS',
          field: at,
          message:
            `Server track "${track.code}" limits (${track.minGpus}–${track.maxGpus} GPUs) must be whole ` +
            `multiples of ${perServer} GPUs per server.`,
        });
      }
    }
  });
  return problems;
}

function rubricProblems(rubric: readonly RubricCriterion[]): RuleViolation[] {
  const problems: RuleViolation[] = [];
  if (rubric.length === 0) {
    problems.push({ rule: 'NO_RUBRIC', field: 'rubric', message: 'Define at least one review criterion.' });
  }
  const seen = new Set<string>();
  rubric.forEach((criterion, index) => {
    const at = `rubric[${index}]`;
    if (criterion.key.trim() === '') {
      problems.push({
        rule: 'RUBRIC_KEY_EMPTY',
        field: `${at}.key`,
        message: `Review criterion ${index + 1} needs a key.`,
      });
    } else if (seen.has(criterion.key)) {
      problems.push({
        rule: 'DUPLICATE_RUBRIC_KEY',
        field: `${at}.key`,
        message: `Review criterion key "${criterion.key}" is used twice; keys must be unique.`,
      });
    }
    seen.add(criterion.key);
    if (criterion.label.trim() === '') {
      problems.push({
        rule: 'RUBRIC_LABEL_EMPTY',
        field: `${at}.label`,
        message: `Review criterion "${criterion.key}" needs a label reviewers can read.`,
      });
    }
    if (!isPositiveInteger(criterion.weight)) {
      problems.push({
        rule: 'RUBRIC_WEIGHT_INVALID',
        field: `${at}.weight`,
        message: `Review criterion "${criterion.key}" weight must be a whole number of at least 1, got ${criterion.weight}.`,
      });
    }
    if (!isPositiveInteger(criterion.maxScore)) {
      problems.push({
        rule: 'RUBRIC_MAX_SCORE_INVALID',
        field: `${at}.maxScore`,
        message: `Review criterion "${criterion.key}" maximum score must be a whole number of at least 1, got ${criterion.maxScore}.`,
      });
    }
  });
  return problems;
}

function sectorProblems(targets: SectorTargets): RuleViolation[] {
  const problems: RuleViolation[] = [];
  const entries = [
    ['national', targets.national],
    ['industry', targets.industry],
    ['academia', targets.academia],
  ] as const;
  let allValid = true;
  for (const [sector, percent] of entries) {
    if (!Number.isSafeInteger(percent) || percent < 0 || percent > 100) {
      allValid = false;
      problems.push({
        rule: 'SECTOR_TARGET_INVALID',
        field: `sectorTargets.${sector}`,
        message: `The ${sector} sector target must be a whole percent between 0 and 100, got ${percent}.`,
      });
    }
  }
  const total = targets.national + targets.industry + targets.academia;
  if (allValid && total !== 100) {
    problems.push({
      rule: 'SECTOR_TARGETS_NOT_100',
      field: 'sectorTargets',
      message: `Sector targets must add up to 100%, but national ${targets.national}% + industry ${targets.industry}% + academia ${targets.academia}% = ${total}%.`,
    });
  }
  return problems;
}

/** Every problem with a program's rules; empty when the rules are usable. */
export function programRulesProblems(rules: ProgramRules): RuleViolation[] {
  const problems: RuleViolation[] = [];
  if (rules.code.trim() === '') {
    problems.push({ rule: 'PROGRAM_CODE_EMPTY', field: 'code', message: 'The program needs a code.' });
  }
  if (!Number.isSafeInteger(rules.fiscalYear) || rules.fiscalYear < 2000 || rules.fiscalYear > 9999) {
    problems.push({
      rule: 'FISCAL_YEAR_INVALID',
      field: 'fiscalYear',
      message: `Fiscal year must be a four-digit year such as 2026, got ${rules.fiscalYear}.`,
    });
  }
  if (!isValidInstant(rules.startsAt) || !isValidInstant(rules.endsAt)) {
    problems.push({
      rule: 'PROGRAM_WINDOW_INVALID',
      field: isValidInstant(rules.startsAt) ? 'endsAt' : 'startsAt',
      message: 'The program window needs a valid start and end date.',
    });
  } else if (rules.endsAt.getTime() <= rules.startsAt.getTime()) {
    problems.push({
      rule: 'PROGRAM_WINDOW_INVALID',
      field: 'endsAt',
      message: `The program must end after it starts; it starts ${formatInstant(rules.startsAt)} and ends ${formatInstant(rules.endsAt)}.`,
    });
  }

  if (rules.eligibleOrganizationTypes.length === 0) {
    problems.push({
      rule: 'NO_ELIGIBLE_ORGANIZATION_TYPES',
      field: 'eligibleOrganizationTypes',
      message: 'Name at least one organization type that may apply.',
    });
  }
  const seenTypes = new Set<string>();
  rules.eligibleOrganizationTypes.forEach((type, index) => {
    if (!isOrganizationType(type)) {
      problems.push({
        rule: 'UNKNOWN_ORGANIZATION_TYPE',
        field: `eligibleOrganizationTypes[${index}]`,
        message: `"${String(type)}" is not an organization type.`,
      });
    } else if (seenTypes.has(type)) {
      problems.push({
        rule: 'DUPLICATE_ORGANIZATION_TYPE',
        field: `eligibleOrganizationTypes[${index}]`,
        message: `Organization type "${type}" is listed twice.`,
      });
    }
    seenTypes.add(type);
  });

  problems.push(
    ...trackProblems(rules.tracks),
    ...rubricProblems(rules.rubric),
    ...sectorProblems(rules.sectorTargets),
  );

  for (const [type, rate] of Object.entries(rules.subsidyRates)) {
    if (!isOrganizationType(type)) {
      problems.push({
        rule: 'UNKNOWN_ORGANIZATION_TYPE',
        field: `subsidyRates.${type}`,
        message: `Subsidy rate given for "${type}", which is not an organization type.`,
      });
    }
    if (typeof rate !== 'number' || !Number.isSafeInteger(rate) || rate < 0 || rate > BASIS_POINTS_MAX) {
      problems.push({
        rule: 'SUBSIDY_RATE_INVALID',
        field: `subsidyRates.${type}`,
        message: `Subsidy rate for ${type} must be whole basis points from 0 to 10000 (70% = 7000), got ${String(rate)}.`,
      });
    }
  }

  const models = Object.keys(rules.budgetsGpuSeconds);
  if (models.length === 0) {
    problems.push({
      rule: 'NO_BUDGET',
      field: 'budgetsGpuSeconds',
      message: 'Give the program a GPU budget for at least one GPU model.',
    });
  }
  for (const model of models) {
    const budget = rules.budgetsGpuSeconds[model];
    if (model.trim() === '') {
      problems.push({
        rule: 'GPU_MODEL_EMPTY',
        field: 'budgetsGpuSeconds',
        message: 'A budget has an empty GPU model name.',
      });
    }
    if (typeof budget !== 'bigint' || budget < 0n) {
      problems.push({
        rule: 'BUDGET_INVALID',
        field: `budgetsGpuSeconds.${model}`,
        message: `The ${model} budget must be zero or more whole GPU-seconds.`,
      });
    }
  }
  return problems;
}

/** Returns the rules unchanged when usable; otherwise throws INVALID_PROGRAM_RULES listing every problem. */
export function validateProgramRules(rules: ProgramRules): ProgramRules {
  const problems = programRulesProblems(rules);
  if (problems.length > 0) {
    throw invalid(
      'INVALID_PROGRAM_RULES',
      `The program rules have ${problems.length} problem${problems.length === 1 ? '' : 's'}: ${summarizeViolations(problems)}`,
      { problems },
    );
  }
  return rules;
}
