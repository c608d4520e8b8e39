import {
  gpuHoursToSeconds,
  reservedLineAmounts,
  reservedLineProblems,
  ruleViolated,
  summarizeViolations,
  type PoolShape,
  type RuleViolation,
  type TimeWindow,
} from '#domain';
import type { AllocationRequestLineEntity, NewRequestLine } from '#persistence';

/** A line as sent: GPU-hours through the shared queue, or whole servers on the capacity calendar. */
export type RequestLineInput =
  | { kind?: 'budget' | undefined; gpuModel: string; gpuHours: number; maxConcurrentGpus: number }
  | {
      kind: 'reserved';
      gpuModel: string;
      servers: number;
      startsAt?: string | undefined;
      endsAt?: string | undefined;
      sameInterconnectDomain?: boolean | undefined;
    };

/** The pool's shape per GPU model (AllocationRequestRepository.poolShapes within the caller's transaction). */
export type PoolShapes = (gpuModels: readonly string[]) => Promise<Map<string, PoolShape>>;
type LineRow = NewRequestLine;

/** A reserved line as stored or as sent: its own window, or null for the request's. */
interface ReservedDraft {
  index: number;
  gpuModel: string;
  servers: number;
  startsAt: Date | null;
  endsAt: Date | null;
  sameInterconnectDomain: boolean;
}

/**
 * Budget figures of reserved lines from the pool: gpuSeconds = servers × GPUs per node × window
 * seconds, maxConcurrentGpus = servers × GPUs per node. Every problem of every line (model not in the
 * pool, more servers than a cluster or domain has, a window that is empty or outside the request's)
 * comes back at once as 422 RESERVED_LINE_INVALID, each naming what would be accepted.
 */
async function reservedAmounts(
  shapesOf: PoolShapes,
  requestWindow: TimeWindow,
  drafts: readonly ReservedDraft[],
): Promise<Map<number, { gpuSeconds: bigint; maxConcurrentGpus: number }>> {
  const amounts = new Map<number, { gpuSeconds: bigint; maxConcurrentGpus: number }>();
  if (drafts.length === 0) return amounts;
  const shapes = await shapesOf(drafts.map((draft) => draft.gpuModel));
  const problems: RuleViolation[] = [];
  for (const draft of drafts) {
    const shape = shapes.get(draft.gpuModel) ?? {
      gpuModel: draft.gpuModel,
      nodes: 0,
      gpusPerNode: 0,
      largestCluster: 0,
      largestDomain: 0,
    };
    const window = {
      startsAt: draft.startsAt ?? requestWindow.startsAt,
      endsAt: draft.endsAt ?? requestWindow.endsAt,
    };
    const found = reservedLineProblems(
      {
        gpuModel: draft.gpuModel,
        servers: draft.servers,
        window,
        sameInterconnectDomain: draft.sameInterconnectDomain,
      },
      shape,
      requestWindow,
      `lines[${draft.index}]`,
    );
    problems.push(...found);
    if (found.length === 0) {
      const { gpuSeconds, maxConcurrentGpus } = reservedLineAmounts(draft.servers, shape.gpusPerNode, window);
      amounts.set(draft.index, { gpuSeconds, maxConcurrentGpus });
    }
  }
  if (problems.length > 0) {
    throw ruleViolated(
      'RESERVED_LINE_INVALID',
      `The reserved line${drafts.length === 1 ? '' : 's'} cannot be drafted: ${summarizeViolations(problems)}`,
      problems,
    );
  }
  return amounts;
}

/** The rows of a request's lines as sent (create, or a PATCH replacing the lines). */
export async function lineRows(
  shapesOf: PoolShapes,
  requestId: string,
  requestWindow: TimeWindow,
  lines: readonly RequestLineInput[],
): Promise<LineRow[]> {
  const drafts: ReservedDraft[] = [];
  lines.forEach((line, index) => {
    if (line.kind !== 'reserved') return;
    drafts.push({
      index,
      gpuModel: line.gpuModel,
      servers: line.servers,
      startsAt: line.startsAt === undefined ? null : new Date(line.startsAt),
      endsAt: line.endsAt === undefined ? null : new Date(line.endsAt),
      sameInterconnectDomain: line.sameInterconnectDomain ?? false,
    });
  });
  const amounts = await reservedAmounts(shapesOf, requestWindow, drafts);
  const draftOf = new Map(drafts.map((draft) => [draft.index, draft]));
  return lines.map((line, index): LineRow => {
    const common = { requestId, lineNo: index + 1, gpuModel: line.gpuModel };
    if (line.kind !== 'reserved') {
      return {
        ...common,
        kind: 'budget',
        gpuSeconds: gpuHoursToSeconds(BigInt(line.gpuHours)),
        maxConcurrentGpus: line.maxConcurrentGpus,
        grantedGpuSeconds: null,
        grantedMaxConcurrentGpus: null,
        servers: null,
        startsAt: null,
        endsAt: null,
        sameInterconnectDomain: false,
        grantedServers: null,
      };
    }
    const draft = draftOf.get(index) as ReservedDraft;
    const amount = amounts.get(index) as { gpuSeconds: bigint; maxConcurrentGpus: number };
    return {
      ...common,
      kind: 'reserved',
      gpuSeconds: amount.gpuSeconds,
      maxConcurrentGpus: amount.maxConcurrentGpus,
      grantedGpuSeconds: null,
      grantedMaxConcurrentGpus: null,
      servers: draft.servers,
      startsAt: draft.startsAt,
      endsAt: draft.endsAt,
      sameInterconnectDomain: draft.sameInterconnectDomain,
      grantedServers: null,
    };
  });
}

/**
 * After a draft's window changed: the reserved lines' figures again (a line without its own window
 * follows the request's), or 422 when a line's own window no longer fits inside the new one.
 * Returns the lines whose figures changed, updated in place.
 */
export async function refreshReservedLines(
  shapesOf: PoolShapes,
  requestWindow: TimeWindow,
  lines: readonly AllocationRequestLineEntity[],
): Promise<AllocationRequestLineEntity[]> {
  const drafts: ReservedDraft[] = [];
  lines.forEach((line, index) => {
    if (line.kind !== 'reserved' || line.servers === null) return;
    drafts.push({
      index,
      gpuModel: line.gpuModel,
      servers: line.servers,
      startsAt: line.startsAt,
      endsAt: line.endsAt,
      sameInterconnectDomain: line.sameInterconnectDomain,
    });
  });
  const amounts = await reservedAmounts(shapesOf, requestWindow, drafts);
  const changed: AllocationRequestLineEntity[] = [];
  for (const [index, amount] of amounts) {
    const line = lines[index];
    if (line.gpuSeconds === amount.gpuSeconds && line.maxConcurrentGpus === amount.maxConcurrentGpus)
      continue;
    line.gpuSeconds = amount.gpuSeconds;
    line.maxConcurrentGpus = amount.maxConcurrentGpus;
    changed.push(line);
  }
  return changed;
}
