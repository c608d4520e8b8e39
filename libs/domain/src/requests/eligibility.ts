import type { RuleViolation } from '../errors/rule-violation.js';
import type { OrganizationType } from '../organizations/organization-type.js';
import { describeTrack, findTrack, type ProgramRules } from '../programs/program.js';
import { formatGpuHoursForPeople } from '../units/gpu-seconds.js';
import {
  formatInstant,
  isValidInstant,
  isWellFormedWindow,
  windowContainsInstant,
  windowContainsWindow,
  type TimeWindow,
} from '../units/time-window.js';
import type { RequestLine } from './request-line.js';

export interface EligibilityInput {
  program: ProgramRules;
  organizationType: OrganizationType;
  /** When the applicant wants to compute. */
  window: TimeWindow;
  lines: readonly RequestLine[];
  /** What the program can still grant per GPU model; a model missing here has nothing left. */
  budgetLeftGpuSeconds: Readonly<Record<string, bigint>>;
  now: Date;
}

const ORGANIZATION_TYPE_LABELS: Readonly<Record<OrganizationType, string>> = {
  university: 'universities',
  research_institute: 'research institutes',
  public: 'public bodies',
  startup: 'startups',
  youth_startup: 'youth startups',
  sme: 'SMEs',
  enterprise: 'enterprises',
};

function gpuHours(seconds: bigint): string {
  return `${formatGpuHoursForPeople(seconds)} GPU-hour${seconds === 3600n ? '' : 's'}`;
}

function hasModel(program: ProgramRules, gpuModel: string): boolean {
  return Object.hasOwn(program.budgetsGpuSeconds, gpuModel);
}

/**
 * Every rule the request breaks, in a stable order (request-level rules first, then per line,
 * then budgets). An empty list means the request may be submitted.
 */
export function checkEligibility(input: EligibilityInput): RuleViolation[] {
  const { program, organizationType, window, lines, budgetLeftGpuSeconds, now } = input;
  const violations: RuleViolation[] = [];

  if (!program.eligibleOrganizationTypes.includes(organizationType)) {
    const open = program.eligibleOrganizationTypes.map((type) => ORGANIZATION_TYPE_LABELS[type]).join(', ');
    violations.push({
      rule: 'ORGANIZATION_TYPE_NOT_ELIGIBLE',
      field: 'organizationType',
      message: `Program ${program.code} is open to ${open}, not to ${ORGANIZATION_TYPE_LABELS[organizationType]}.`,
    });
  }

  if (!windowContainsInstant(program, now)) {
    const when = now.getTime() < program.startsAt.getTime() ? 'opens' : 'closed';
    const at = when === 'opens' ? program.startsAt : program.endsAt;
    violations.push({
      rule: 'OUTSIDE_APPLICATION_WINDOW',
      message: `Program ${program.code} accepts requests from ${formatInstant(program.startsAt)} until ${formatInstant(program.endsAt)}; it ${when} at ${formatInstant(at)}.`,
    });
  }

  const windowUsable = isValidInstant(window.startsAt) && isValidInstant(window.endsAt);
  if (!isWellFormedWindow(window)) {
    violations.push({
      rule: 'REQUEST_WINDOW_INVALID',
      field: 'window.endsAt',
      message: windowUsable
        ? `The requested window must end after it starts; it starts ${formatInstant(window.startsAt)} and ends ${formatInstant(window.endsAt)}.`
        : 'The requested window needs a valid start and end date.',
    });
  }
  if (windowUsable && !windowContainsWindow(program, window)) {
    violations.push({
      rule: 'REQUEST_WINDOW_OUTSIDE_PROGRAM',
      field: 'window',
      message: `The requested window ${formatInstant(window.startsAt)} – ${formatInstant(window.endsAt)} must lie within program ${program.code}'s window ${formatInstant(program.startsAt)} – ${formatInstant(program.endsAt)}.`,
    });
  }

  if (lines.length === 0) {
    violations.push({
      rule: 'NO_LINES',
      field: 'lines',
      message:
        'Add at least one line: a GPU model, the GPU-hours you need and the most GPUs you will use at once.',
    });
  }

  const offeredModels = Object.keys(program.budgetsGpuSeconds).join(', ');
  const trackList = program.tracks.map(describeTrack).join('; ');
  const firstLineOfModel = new Map<string, number>();
  const requestedPerModel = new Map<string, bigint>();

  lines.forEach((line, index) => {
    const at = `lines[${index}]`;
    const firstIndex = firstLineOfModel.get(line.gpuModel);
    if (firstIndex !== undefined) {
      violations.push({
        rule: 'DUPLICATE_GPU_MODEL',
        field: `${at}.gpuModel`,
        message: `Line ${index + 1} asks for ${line.gpuModel} again (already on line ${firstIndex + 1}); combine them into one line.`,
      });
    } else {
      firstLineOfModel.set(line.gpuModel, index);
    }

    if (!hasModel(program, line.gpuModel)) {
      violations.push({
        rule: 'GPU_MODEL_NOT_IN_PROGRAM',
        field: `${at}.gpuModel`,
        message: `Program ${program.code} does not offer ${line.gpuModel}; choose one of: ${offeredModels}.`,
      });
    }

    if (line.gpuSeconds <= 0n) {
      violations.push({
        rule: 'GPU_SECONDS_NOT_POSITIVE',
        field: `${at}.gpuSeconds`,
        message: `Line ${index + 1} must ask for more than 0 GPU-hours of ${line.gpuModel}.`,
      });
    }

    if (findTrack(program.tracks, line.maxConcurrentGpus) === undefined) {
      violations.push({
        rule: 'NO_TRACK_FITS',
        field: `${at}.maxConcurrentGpus`,
        message: `${line.maxConcurrentGpus} concurrent GPUs of ${line.gpuModel} fits no track of program ${program.code}; its tracks are ${trackList}.`,
      });
    }

    if (line.gpuSeconds > 0n) {
      requestedPerModel.set(line.gpuModel, (requestedPerModel.get(line.gpuModel) ?? 0n) + line.gpuSeconds);
    }
  });

  for (const [gpuModel, requested] of requestedPerModel) {
    if (!hasModel(program, gpuModel)) continue;
    const left = Object.hasOwn(budgetLeftGpuSeconds, gpuModel) ? (budgetLeftGpuSeconds[gpuModel] ?? 0n) : 0n;
    if (requested > left) {
      violations.push({
        rule: 'EXCEEDS_PROGRAM_BUDGET',
        field: `lines[${firstLineOfModel.get(gpuModel) ?? 0}].gpuSeconds`,
        message: `Requested ${gpuHours(requested)} of ${gpuModel} but program ${program.code} has ${gpuHours(left > 0n ? left : 0n)} left; ask for at most that.`,
      });
    }
  }

  return violations;
}
