import type { RequestDetail } from '#application';
import { allowedActions, toAmount, type GpuAmount, type RequestAction, type RequestState } from '#domain';
import type { AllocationRequestEntity, AllocationRequestLineEntity } from '#persistence';
import type { RequestViewer } from '#domain';

export interface RequestLineView {
  gpuModel: string;
  kind: string;
  requested: GpuAmount;
  maxConcurrentGpus: number;
  /** Null until decided; zero for a line the decision refused. */
  granted: GpuAmount | null;
  grantedMaxConcurrentGpus: number | null;
  /** Reserved lines (whole servers on the capacity calendar); null for budget lines. */
  reserved: ReservedLineView | null;
}

export interface ReservedLineView {
  servers: number;
  /** The line's window: its own, or the request's. */
  startsAt: string;
  endsAt: string;
  /** False when the window is the request's (it follows the request's window while a draft). */
  ownWindow: boolean;
  sameInterconnectDomain: boolean;
  /** Servers granted; null until decided, 0 when refused. */
  grantedServers: number | null;
}

export interface ScoreView {
  reviews: number;
  /** Mean of the reviewers' weighted scores × 1000, floored; null before any review. */
  averageMilli: number | null;
  /** "87.50"; null before any review. */
  average: string | null;
}

export interface RequestSummaryView {
  id: string;
  projectId: string;
  programId: string;
  status: RequestState;
  allowedActions: RequestAction[];
  startsAt: string;
  endsAt: string;
  /** The sector the request declared for the program's sector targets; null: its organization type's. */
  sector: string | null;
  lines: RequestLineView[];
  /** Null when the caller may not see scores yet (applicants see them once decided). */
  score: ScoreView | null;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  submittedAt: string | null;
  decidedAt: string | null;
  decidedBy: string | null;
  rank?: number;
}

const DECIDED: readonly string[] = ['approved', 'partially_approved', 'rejected'];

/** Admins and the program's reviewers see reviews as they come; applicants once the request is decided. */
export function maySeeReviews(viewer: RequestViewer, request: AllocationRequestEntity): boolean {
  return viewer !== 'member' || DECIDED.includes(request.status);
}

/** "87.50" from 87500: the display rule of libs/domain's weightedScore (truncated to two decimals). */
export function displayMilli(milli: number): string {
  const centi = Math.floor(milli / 10);
  return `${Math.floor(centi / 100)}.${String(centi % 100).padStart(2, '0')}`;
}

export function scoreView(millis: readonly number[]): ScoreView {
  if (millis.length === 0) return { reviews: 0, averageMilli: null, average: null };
  const sum = millis.reduce((total, milli) => total + BigInt(milli), 0n);
  const averageMilli = Number(sum / BigInt(millis.length));
  return { reviews: millis.length, averageMilli, average: displayMilli(averageMilli) };
}

export function lineView(
  line: AllocationRequestLineEntity,
  request: AllocationRequestEntity,
): RequestLineView {
  return {
    gpuModel: line.gpuModel,
    kind: line.kind,
    requested: toAmount(line.gpuSeconds),
    maxConcurrentGpus: line.maxConcurrentGpus,
    granted: line.grantedGpuSeconds === null ? null : toAmount(line.grantedGpuSeconds),
    grantedMaxConcurrentGpus: line.grantedMaxConcurrentGpus,
    reserved:
      line.kind === 'reserved' && line.servers !== null
        ? {
            servers: line.servers,
            startsAt: (line.startsAt ?? request.startsAt).toISOString(),
            endsAt: (line.endsAt ?? request.endsAt).toISOString(),
            ownWindow: line.startsAt !== null || line.endsAt !== null,
            sameInterconnectDomain: line.sameInterconnectDomain,
            grantedServers: line.grantedServers,
          }
        : null,
  };
}

export function summaryView(
  request: AllocationRequestEntity,
  lines: readonly AllocationRequestLineEntity[],
  reviewMillis: readonly number[],
  viewer: RequestViewer,
): RequestSummaryView {
  const status = request.status as RequestState;
  return {
    id: request.id,
    projectId: request.projectId,
    programId: request.programId,
    status,
    allowedActions: allowedActions(status, viewer),
    startsAt: request.startsAt.toISOString(),
    endsAt: request.endsAt.toISOString(),
    sector: request.sector,
    lines: [...lines].sort((a, b) => a.lineNo - b.lineNo).map((line) => lineView(line, request)),
    score: maySeeReviews(viewer, request) ? scoreView(reviewMillis) : null,
    createdBy: request.createdBy,
    createdAt: request.createdAt.toISOString(),
    updatedAt: request.updatedAt.toISOString(),
    submittedAt: request.submittedAt?.toISOString() ?? null,
    decidedAt: request.decidedAt?.toISOString() ?? null,
    decidedBy: request.decidedBy,
  };
}

export type DetailParts = RequestDetail;

export function detailView(parts: DetailParts) {
  const { request, lines, reviews, allocations, grantIntent, history, actorNames, viewer, viewerUserId } =
    parts;
  const showReviews = maySeeReviews(viewer, request);
  const lineById = new Map(lines.map((line) => [line.id, line]));
  return {
    ...summaryView(
      request,
      lines,
      reviews.map((review) => review.weightedScoreMilli),
      viewer,
    ),
    justification: request.justification,
    decisionNote: request.decisionNote,
    reviews: showReviews
      ? reviews.map((review) => ({
          id: review.id,
          // Applicants read the reviews of a decided request without learning who wrote them.
          reviewerId: viewer === 'member' && review.reviewerId !== viewerUserId ? null : review.reviewerId,
          scores: review.scores,
          weightedScore: {
            milli: review.weightedScoreMilli,
            display: displayMilli(review.weightedScoreMilli),
          },
          comment: review.comment,
          createdAt: review.createdAt.toISOString(),
        }))
      : [],
    allocations: allocations.map((allocation) => {
      const line = lineById.get(allocation.requestLineId);
      return {
        id: allocation.id,
        gpuModel: allocation.gpuModel,
        kind: allocation.kind,
        status: allocation.status,
        granted: line?.grantedGpuSeconds == null ? null : toAmount(line.grantedGpuSeconds),
        maxConcurrentGpus: allocation.maxConcurrentGpus,
        servers: allocation.servers,
        startsAt: allocation.startsAt.toISOString(),
        endsAt: allocation.endsAt.toISOString(),
      };
    }),
    grant: grantIntent
      ? {
          status: grantIntent.status,
          createdAt: grantIntent.createdAt.toISOString(),
          completedAt: grantIntent.completedAt?.toISOString() ?? null,
        }
      : null,
    history: history.map((event) => ({
      action: event.action,
      actor: {
        kind: event.actorKind,
        id: event.actorId,
        name: event.actorId ? (actorNames.get(event.actorId) ?? null) : null,
      },
      at: event.createdAt.toISOString(),
      before: event.before,
      after: event.after,
      requestId: event.requestId,
    })),
  };
}

export type RequestDetailView = ReturnType<typeof detailView>;
