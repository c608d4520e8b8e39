import type { RuleViolation } from '../errors/rule-violation.js';
import {
  formatInstant,
  isValidInstant,
  windowContainsWindow,
  type TimeWindow,
} from '../units/time-window.js';

/**
 * A reserved request line: N whole servers of one GPU model held for a window on the capacity
 * calendar. It also carries the budget figures of any line, so the budget rules, the ledger grant and
 * the allocation treat it like a budget line:
 *
 *   gpuSeconds        = servers × GPUs per node × window seconds
 *   maxConcurrentGpus = servers × GPUs per node
 */
export interface ReservedLineInput {
  gpuModel: string;
  servers: number;
  /** The line's window: its own, or the request's when the line gives none. */
  window: TimeWindow;
  sameInterconnectDomain: boolean;
}

/** What the pool has of one GPU model, as a reserved line is judged against it. */
export interface PoolShape {
  gpuModel: string;
  /** 0 when the pool has no node of the model. */
  nodes: number;
  gpusPerNode: number;
  /** A line's servers share one cluster: the most nodes of the model in one cluster. */
  largestCluster: number;
  /** With sameInterconnectDomain: the most nodes of the model in one interconnect domain. */
  largestDomain: number;
}

export interface ReservedLineAmounts {
  gpuSeconds: bigint;
  maxConcurrentGpus: number;
  windowSeconds: bigint;
}

const MS_PER_SECOND = 1000;

/** Whole seconds of a window (the caller has checked it is whole seconds and well formed). */
export function windowSeconds(window: TimeWindow): bigint {
  return BigInt((window.endsAt.getTime() - window.startsAt.getTime()) / MS_PER_SECOND);
}

export function reservedLineAmounts(
  servers: number,
  gpusPerNode: number,
  window: TimeWindow,
): ReservedLineAmounts {
  const seconds = windowSeconds(window);
  return {
    gpuSeconds: BigInt(servers) * BigInt(gpusPerNode) * seconds,
    maxConcurrentGpus: servers * gpusPerNode,
    windowSeconds: seconds,
  };
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

/**
 * Every problem with a reserved line against the pool and the request's window, in a stable order,
 * each naming what would be accepted. Empty: the line can be drafted (the calendar decides later
 * when it can run). `field` is the line's path, e.g. `lines[0]`.
 */
export function reservedLineProblems(
  line: ReservedLineInput,
  pool: PoolShape,
  requestWindow: TimeWindow,
  field: string,
): RuleViolation[] {
  const problems: RuleViolation[] = [];
  const { window } = line;
  if (pool.nodes === 0) {
    problems.push({
      rule: 'GPU_MODEL_NOT_IN_POOL',
      field: `${field}.gpuModel`,
      message: `The pool has no ${line.gpuModel} servers, so none can be reserved; ask for a model the pool has (GET /v1/pool/capacity lists them).`,
    });
  } else {
    if (line.servers > pool.nodes) {
      problems.push({
        rule: 'MORE_SERVERS_THAN_POOL',
        field: `${field}.servers`,
        message: `The pool has ${plural(pool.nodes, `${line.gpuModel} server`)}; ask for at most ${pool.nodes}.`,
      });
    } else if (line.servers > pool.largestCluster) {
      problems.push({
        rule: 'MORE_SERVERS_THAN_CLUSTER',
        field: `${field}.servers`,
        message: `A line's servers share one cluster and the largest ${line.gpuModel} cluster has ${plural(pool.largestCluster, 'server')}; ask for at most ${pool.largestCluster} or split the request.`,
      });
    }
    if (
      line.sameInterconnectDomain &&
      line.servers > pool.largestDomain &&
      line.servers <= pool.largestCluster
    ) {
      problems.push({
        rule: 'MORE_SERVERS_THAN_DOMAIN',
        field: `${field}.servers`,
        message: `All ${plural(line.servers, 'server')} in one interconnect domain is impossible: the largest ${line.gpuModel} domain has ${plural(pool.largestDomain, 'server')}. Ask for at most ${pool.largestDomain}, or set sameInterconnectDomain to false.`,
      });
    }
  }
  if (!isValidInstant(window.startsAt) || !isValidInstant(window.endsAt)) {
    problems.push({
      rule: 'RESERVED_WINDOW_INVALID',
      field,
      message: 'The reserved window needs a valid start and end.',
    });
    return problems;
  }
  if (window.startsAt.getTime() % MS_PER_SECOND !== 0 || window.endsAt.getTime() % MS_PER_SECOND !== 0) {
    problems.push({
      rule: 'RESERVED_WINDOW_NOT_WHOLE_SECONDS',
      field,
      message: `The reserved window ${formatInstant(window.startsAt)} – ${formatInstant(window.endsAt)} must start and end on whole seconds.`,
    });
  }
  if (window.endsAt.getTime() <= window.startsAt.getTime()) {
    problems.push({
      rule: 'RESERVED_WINDOW_EMPTY',
      field: `${field}.endsAt`,
      message: `The reserved window must end after it starts; it starts ${formatInstant(window.startsAt)} and ends ${formatInstant(window.endsAt)}.`,
    });
  } else if (!windowContainsWindow(requestWindow, window)) {
    problems.push({
      rule: 'RESERVED_WINDOW_OUTSIDE_REQUEST',
      field,
      message: `The reserved window ${formatInstant(window.startsAt)} – ${formatInstant(window.endsAt)} must lie within the request's window ${formatInstant(requestWindow.startsAt)} – ${formatInstant(requestWindow.endsAt)}; leave startsAt and endsAt out to reserve for the whole request window.`,
    });
  }
  return problems;
}

/**
 * A grant of a reserved line: whole servers, at least one and never more than asked. Returns the
 * problems (empty when the grant is fine).
 */
export function reservedGrantProblems(
  gpuModel: string,
  askedServers: number,
  grantedServers: number,
  field: string,
): RuleViolation[] {
  if (!Number.isSafeInteger(grantedServers) || grantedServers < 1) {
    return [
      {
        rule: 'GRANT_NOT_POSITIVE',
        field: `${field}.servers`,
        message: `Grant at least 1 ${gpuModel} server as a whole number; to refuse the line, leave it out of the grant.`,
      },
    ];
  }
  if (grantedServers > askedServers) {
    return [
      {
        rule: 'GRANT_EXCEEDS_REQUEST',
        field: `${field}.servers`,
        message: `${plural(grantedServers, `${gpuModel} server`)} is more than the ${askedServers} requested; grant at most ${askedServers}.`,
      },
    ];
  }
  return [];
}
