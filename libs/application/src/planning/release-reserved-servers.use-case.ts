import { Injectable, Logger } from '@nestjs/common';
import {
  actorOf,
  conflict,
  invalid,
  notFound,
  ruleViolated,
  serversToRelease,
  type Principal,
} from '#domain';
import { ReservationRepository, TransactionRunner, type ReservationStanding, type Tx } from '#persistence';
import { enqueueAfterCommit, JobProducer } from '#queues';

/** A release may name an instant this far back (clock skew between an admin's machine and ours). */
const RELEASE_SKEW_MS = 60_000;

export interface ReleaseOutcome {
  allocationId: string;
  gpuModel: string;
  releasedNodeIds: string[];
  /** True when every server of the reservation is released. */
  fullyReleased: boolean;
}

/** Who releases and why, for the audit event. */
export interface ReleaseActor {
  actorId: string | null;
  actorKind: string;
  requestId: string | null;
  reason: string;
}

export interface ReleaseCommand {
  principal: Principal;
  requestId: string | null;
  allocationId: string;
  /** The nodes to give back; absent: every server of the reservation. */
  nodeIds?: string[];
  /** ISO-8601 instant they stop being held; absent: now. */
  at?: string;
  reason: string;
}

/**
 * Early release (an admin's, or a confirmed recall's): the named servers (all when none are named)
 * stop being held at `at` — their span ends there, or disappears when the release is before it
 * starts. The reservation becomes `released` once no node is held after `at`. The model's waitlist
 * is re-planned and the shared queue's cycle runs after commit.
 */
@Injectable()
export class ReleaseReservedServersUseCase {
  private readonly logger = new Logger(ReleaseReservedServersUseCase.name);

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly reservations: ReservationRepository,
    private readonly producer: JobProducer,
  ) {}

  async execute(command: ReleaseCommand, now: Date = new Date()): Promise<ReservationStanding> {
    const releaseAt = releaseInstantOf(command.at, now);
    const { actorId, actorKind } = actorOf(command.principal);
    const outcome = await this.transactions.run(async (tx) => {
      if (!(await this.reservations.allocationExists(tx, command.allocationId))) {
        throw notFound('Allocation', command.allocationId);
      }
      return this.releaseWithin(tx, command.allocationId, command.nodeIds ?? null, releaseAt, {
        actorId,
        actorKind,
        requestId: command.requestId,
        reason: command.reason,
      });
    });
    // Committed; the scheduler's periodic waitlist re-plan and cycle tick pick the change up.
    await enqueueAfterCommit(
      this.producer,
      [
        { name: 'planning.replan', data: { gpuModel: outcome.gpuModel } },
        { name: 'schedule.cycle', data: { gpuModel: outcome.gpuModel } },
      ],
      { logger: this.logger, recoveredBy: 'the periodic waitlist re-plan and cycle tick' },
    );
    const standing = (await this.reservations.standings([command.allocationId])).get(command.allocationId);
    if (!standing) throw conflict('NOT_RESERVED', `Allocation ${command.allocationId} has no reservation.`);
    return standing;
  }

  /** The release itself, in the caller's transaction (a confirmed recall releases through it too). */
  async releaseWithin(
    tx: Tx,
    allocationId: string,
    nodeIds: readonly string[] | null,
    at: Date,
    actor: ReleaseActor,
  ): Promise<ReleaseOutcome> {
    const reservation = await this.reservations.lockOf(tx, allocationId);
    if (!reservation) throw notFound('Reservation of allocation', allocationId);
    const held = await this.reservations.heldAfter(tx, reservation.id, at);
    const heldIds = held.map((node) => node.nodeId);
    const releasing = serversToRelease(heldIds, nodeIds, at);
    const left = await this.reservations.endSpansAt(tx, reservation.id, releasing, at);
    const fullyReleased = left === 0;
    const status = fullyReleased ? 'released' : 'placed';
    await this.reservations.setStatus(tx, reservation.id, status);
    await this.reservations.auditRelease(tx, allocationId, actor, {
      before: { status: reservation.status, nodeIds: heldIds },
      after: { status, releasedNodeIds: releasing, at, reason: actor.reason },
    });
    return { allocationId, gpuModel: reservation.gpuModel, releasedNodeIds: releasing, fullyReleased };
  }
}

/** The instant an admin's release takes effect: now, or a whole second not in the past. */
export function releaseInstantOf(at: string | undefined, now: Date): Date {
  const instant = at === undefined ? now : new Date(at);
  if (instant.getTime() < now.getTime() - RELEASE_SKEW_MS) {
    throw ruleViolated(
      'RELEASE_IN_THE_PAST',
      `Servers cannot be released in the past (${instant.toISOString()}): what ran on them stays theirs. Release from now on.`,
    );
  }
  if (instant.getTime() % 1000 !== 0 && at !== undefined) {
    throw invalid('RELEASE_TIME_INVALID', 'Release on a whole second, e.g. 2026-05-01T00:00:00Z.');
  }
  return new Date(Math.ceil(instant.getTime() / 1000) * 1000);
}
