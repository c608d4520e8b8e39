import { ruleViolated, type DomainError } from '../errors/domain-error.js';
import type { RuleViolation } from '../errors/rule-violation.js';
import { validateGang } from '../scheduling/placement.js';
import { formatGpuHoursForPeople } from '../units/gpu-seconds.js';
import { maxPlaceableGpusOf, type DomainCapacity } from './placement-limits.js';

export const SUBMISSION_RULES = [
  'ALLOCATION_NOT_ACTIVE',
  'GPU_MODEL_NOT_IN_ALLOCATION',
  'EXCEEDS_CONCURRENCY_CAP',
  'NO_PLACEMENT_POSSIBLE',
  'WALLTIME_BEYOND_WINDOW',
  'INSUFFICIENT_QUOTA',
] as const;
export type SubmissionRule = (typeof SUBMISSION_RULES)[number];

export interface SubmissionFacts {
  now: Date;
  request: { gpuModel: string; gpus: number; walltimeSeconds: number };
  allocation: {
    id: string;
    gpuModel: string;
    maxConcurrentGpus: number;
    startsAt: Date;
    endsAt: Date;
    status: string;
  };
  /** Balance of the allocation's ledger account (may be negative after an overrun). */
  remainingGpuSeconds: bigint;
  /** Node pools of the requested model; null gpusPerNode when the pool has none. */
  pool: { gpusPerNode: number | null; domains: readonly DomainCapacity[] };
}

const DAY_SECONDS = 86_400;

function duration(seconds: number): string {
  if (seconds % DAY_SECONDS === 0) return `${seconds / DAY_SECONDS} day${seconds === DAY_SECONDS ? '' : 's'}`;
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  return `${seconds} s`;
}

/**
 * Every rule a submission breaks, in a fixed order (the first is the error's code). Admission checks
 * quota and concurrency again when it runs; this only refuses what could never run now.
 */
export function submissionViolations(facts: SubmissionFacts): RuleViolation[] {
  const { now, request, allocation, pool } = facts;
  const violations: RuleViolation[] = [];

  if (allocation.status !== 'active') {
    violations.push({
      rule: 'ALLOCATION_NOT_ACTIVE',
      field: 'allocationId',
      message: `Allocation ${allocation.id} is ${allocation.status}; only active allocations run workloads — ask the program's administrators why.`,
    });
  } else if (now.getTime() < allocation.startsAt.getTime()) {
    violations.push({
      rule: 'ALLOCATION_NOT_ACTIVE',
      field: 'allocationId',
      message: `Allocation ${allocation.id} starts at ${allocation.startsAt.toISOString()}; submit from then on.`,
    });
  }

  if (request.gpuModel !== allocation.gpuModel) {
    violations.push({
      rule: 'GPU_MODEL_NOT_IN_ALLOCATION',
      field: 'gpuModel',
      message: `Allocation ${allocation.id} grants ${allocation.gpuModel} GPUs, not ${request.gpuModel}: ask for ${allocation.gpuModel}, or submit against an allocation for ${request.gpuModel}.`,
    });
  }

  if (request.gpus > allocation.maxConcurrentGpus) {
    violations.push({
      rule: 'EXCEEDS_CONCURRENCY_CAP',
      field: 'gpus',
      message: `${request.gpus} GPUs is more than the allocation's cap of ${allocation.maxConcurrentGpus} GPUs at once; ask for at most ${allocation.maxConcurrentGpus}.`,
    });
  }

  const placement = placementViolation(request, pool);
  if (placement) violations.push(placement);

  const secondsLeft = Math.floor((allocation.endsAt.getTime() - now.getTime()) / 1000);
  if (request.walltimeSeconds > secondsLeft) {
    violations.push({
      rule: 'WALLTIME_BEYOND_WINDOW',
      field: 'walltimeSeconds',
      message:
        secondsLeft > 0
          ? `A walltime of ${duration(request.walltimeSeconds)} runs past the allocation's end (${allocation.endsAt.toISOString()}); ask for at most ${secondsLeft} seconds.`
          : `The allocation ended at ${allocation.endsAt.toISOString()}; nothing more can run on it.`,
    });
  }

  const needed = BigInt(request.gpus) * BigInt(request.walltimeSeconds);
  if (facts.remainingGpuSeconds < needed) {
    const left = facts.remainingGpuSeconds > 0n ? facts.remainingGpuSeconds : 0n;
    violations.push({
      rule: 'INSUFFICIENT_QUOTA',
      field: 'walltimeSeconds',
      message: `The workload may use ${formatGpuHoursForPeople(needed)} GPU-hours (${request.gpus} GPUs × ${duration(request.walltimeSeconds)}) but the allocation has ${formatGpuHoursForPeople(left)} GPU-hours left; ask for fewer GPUs or a shorter walltime.`,
    });
  }
  return violations;
}

function placementViolation(
  request: SubmissionFacts['request'],
  pool: SubmissionFacts['pool'],
): RuleViolation | null {
  const field = 'gpus';
  if (pool.gpusPerNode === null || pool.domains.length === 0) {
    return {
      rule: 'NO_PLACEMENT_POSSIBLE',
      field: 'gpuModel',
      message: `The pool has no ${request.gpuModel} servers in service, so nothing of that model can be placed.`,
    };
  }
  const gang = validateGang(request.gpus, pool.gpusPerNode);
  if (gang) return { rule: 'NO_PLACEMENT_POSSIBLE', field, message: gang };
  const most = maxPlaceableGpusOf(pool.domains, pool.gpusPerNode);
  if (request.gpus > most) {
    return {
      rule: 'NO_PLACEMENT_POSSIBLE',
      field,
      message: `No placement can give ${request.gpus} ${request.gpuModel} GPUs: the largest is ${most} GPUs (multi-server workloads stay inside one interconnect domain); ask for at most ${most}.`,
    };
  }
  return null;
}

/** The one error a refused submission answers with: the first rule as its code, every rule listed. */
export function submissionRefusal(violations: readonly RuleViolation[]): DomainError | null {
  const [first] = violations;
  if (!first) return null;
  const summary = violations.map((violation) => violation.message).join(' ');
  return ruleViolated(
    first.rule,
    violations.length === 1
      ? summary
      : `The workload breaks ${violations.length} rules and was not queued: ${summary}`,
    violations,
  );
}
