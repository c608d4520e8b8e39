import { invalid, ruleViolated } from '../errors/domain-error.js';
import type { RuleViolation } from '../errors/rule-violation.js';
import { formatGpuHoursForPeople } from '../units/gpu-seconds.js';
import type { RequestLine, RequestLineKind } from './request-line.js';

export type RequestedLine = RequestLine;

/** What a reviewer or admin grants for one requested GPU model. */
export interface GrantedLine {
  gpuModel: string;
  gpuSeconds: bigint;
  maxConcurrentGpus: number;
}

/** `full`: as asked · `reduced`: less GPU-time or concurrency · `refused`: nothing (left out of the grant). */
export type ApprovedLineStatus = 'full' | 'reduced' | 'refused';

export interface ApprovedLine {
  gpuModel: string;
  kind: RequestLineKind;
  requestedGpuSeconds: bigint;
  requestedMaxConcurrentGpus: number;
  /** 0n when refused. */
  grantedGpuSeconds: bigint;
  /** 0 when refused. */
  grantedMaxConcurrentGpus: number;
  status: ApprovedLineStatus;
}

export interface ApprovalDecision {
  outcome: 'approved' | 'partially_approved';
  /** One per requested line, in request order; allocations are created for lines not `refused`. */
  lines: ApprovedLine[];
}

function hours(seconds: bigint): string {
  return `${formatGpuHoursForPeople(seconds)} GPU-hours`;
}

/**
 * Turns a grant into per-line results. Omitting `granted` grants everything as asked. A granted line
 * may lower GPU-seconds and concurrency but never raise them; to refuse a line, leave it out.
 * Throws INVALID_GRANT (invalid) for malformed grants, GRANT_EXCEEDS_REQUEST (rule_violated) when a
 * grant is larger than the request, NOTHING_GRANTED (rule_violated) when every line is refused.
 */
export function decideApproval(
  requested: readonly RequestedLine[],
  granted?: readonly GrantedLine[],
): ApprovalDecision {
  const requestedByModel = new Map<string, RequestedLine>();
  for (const line of requested) {
    if (requestedByModel.has(line.gpuModel)) {
      throw invalid(
        'DUPLICATE_GPU_MODEL',
        `The request lists ${line.gpuModel} more than once, so a grant cannot tell the lines apart. The applicant must combine them.`,
        { gpuModel: line.gpuModel },
      );
    }
    requestedByModel.set(line.gpuModel, line);
  }

  const grants = granted ?? requested;
  const problems: RuleViolation[] = [];
  const grantByModel = new Map<string, GrantedLine>();
  grants.forEach((grant, index) => {
    const at = `granted[${index}]`;
    if (!requestedByModel.has(grant.gpuModel)) {
      problems.push({
        rule: 'UNKNOWN_GPU_MODEL',
        field: `${at}.gpuModel`,
        message: `The request does not ask for ${grant.gpuModel}; grant only models it lists (${[...requestedByModel.keys()].join(', ')}).`,
      });
    }
    if (grantByModel.has(grant.gpuModel)) {
      problems.push({
        rule: 'DUPLICATE_GRANT_LINE',
        field: `${at}.gpuModel`,
        message: `${grant.gpuModel} is granted twice; give one line per GPU model.`,
      });
    }
    grantByModel.set(grant.gpuModel, grant);
    if (grant.gpuSeconds <= 0n) {
      problems.push({
        rule: 'GRANT_NOT_POSITIVE',
        field: `${at}.gpuSeconds`,
        message: `Grant more than 0 GPU-hours of ${grant.gpuModel}; to refuse the line, leave it out of the grant.`,
      });
    }
    if (!Number.isSafeInteger(grant.maxConcurrentGpus) || grant.maxConcurrentGpus <= 0) {
      problems.push({
        rule: 'GRANT_NOT_POSITIVE',
        field: `${at}.maxConcurrentGpus`,
        message: `Grant at least 1 concurrent GPU of ${grant.gpuModel} as a whole number; to refuse the line, leave it out of the grant.`,
      });
    }
  });
  if (problems.length > 0) {
    throw invalid(
      'INVALID_GRANT',
      `The grant cannot be applied: ${problems.map((p) => p.message).join(' ')}`,
      {
        problems,
      },
    );
  }

  const excesses: RuleViolation[] = [];
  grants.forEach((grant, index) => {
    const asked = requestedByModel.get(grant.gpuModel);
    if (asked === undefined) return;
    if (grant.gpuSeconds > asked.gpuSeconds) {
      excesses.push({
        rule: 'GRANT_EXCEEDS_REQUEST',
        field: `granted[${index}].gpuSeconds`,
        message: `${hours(grant.gpuSeconds)} of ${grant.gpuModel} is more than the ${hours(asked.gpuSeconds)} requested.`,
      });
    }
    if (grant.maxConcurrentGpus > asked.maxConcurrentGpus) {
      excesses.push({
        rule: 'GRANT_EXCEEDS_REQUEST',
        field: `granted[${index}].maxConcurrentGpus`,
        message: `${grant.maxConcurrentGpus} concurrent ${grant.gpuModel} GPUs is more than the ${asked.maxConcurrentGpus} requested.`,
      });
    }
  });
  if (excesses.length > 0) {
    throw ruleViolated(
      'GRANT_EXCEEDS_REQUEST',
      `A grant can lower a request but never raise it: ${excesses.map((e) => e.message).join(' ')}`,
      { problems: excesses },
    );
  }

  if (grants.length === 0) {
    throw ruleViolated(
      'NOTHING_GRANTED',
      'The grant leaves out every line, so nothing would be granted; reject the request instead.',
    );
  }

  const lines = requested.map((asked): ApprovedLine => {
    const grant = grantByModel.get(asked.gpuModel);
    const grantedGpuSeconds = grant?.gpuSeconds ?? 0n;
    const grantedMaxConcurrentGpus = grant?.maxConcurrentGpus ?? 0;
    const status: ApprovedLineStatus =
      grant === undefined
        ? 'refused'
        : grantedGpuSeconds === asked.gpuSeconds && grantedMaxConcurrentGpus === asked.maxConcurrentGpus
          ? 'full'
          : 'reduced';
    return {
      gpuModel: asked.gpuModel,
      kind: asked.kind,
      requestedGpuSeconds: asked.gpuSeconds,
      requestedMaxConcurrentGpus: asked.maxConcurrentGpus,
      grantedGpuSeconds,
      grantedMaxConcurrentGpus,
      status,
    };
  });
  return {
    outcome: lines.every((line) => line.status === 'full') ? 'approved' : 'partially_approved',
    lines,
  };
}
