import { conflict, type DomainError } from '../errors/domain-error.js';

/**
 * A workload's life: queued → admitted → running → succeeded | failed | cancelled | preempted.
 * A preempted workload is requeued as a new attempt of the same row.
 */
export const WORKLOAD_STATES = [
  'queued',
  'admitted',
  'running',
  'succeeded',
  'failed',
  'cancelled',
  'preempted',
] as const;
export type WorkloadState = (typeof WORKLOAD_STATES)[number];

export const TERMINAL_WORKLOAD_STATES = ['succeeded', 'failed', 'cancelled', 'preempted'] as const;
export type TerminalWorkloadState = (typeof TERMINAL_WORKLOAD_STATES)[number];
/** States in which a workload holds GPUs (placements) and an attempt hold. */
export const ACTIVE_WORKLOAD_STATES = ['admitted', 'running'] as const;

export function isTerminalWorkloadState(state: string): boolean {
  return (TERMINAL_WORKLOAD_STATES as readonly string[]).includes(state);
}

export function isActiveWorkloadState(state: string): boolean {
  return (ACTIVE_WORKLOAD_STATES as readonly string[]).includes(state);
}

/**
 * Who may act on a project's workloads (submit, cancel): its members and admins. Operators, who
 * watch every queue, read them without acting on them.
 */
export function mayActOnProjectWorkloads(facts: { admin: boolean; projectMember: boolean }): boolean {
  return facts.admin || facts.projectMember;
}

/** What the caller may still do with a workload in this state (`mayAct`: mayActOnProjectWorkloads). */
export function allowedWorkloadActions(state: string, mayAct: boolean): 'cancel'[] {
  return mayAct && !isTerminalWorkloadState(state) ? ['cancel'] : [];
}

/** Why a workload in `state` cannot be cancelled, or null when it can (queued, admitted, running). */
export function cancelRefusal(workload: { id: string; state: string }): DomainError | null {
  if (!isTerminalWorkloadState(workload.state)) return null;
  return conflict(
    'ILLEGAL_TRANSITION',
    `Workload ${workload.id} is already ${workload.state}; only queued, admitted or running workloads can be cancelled.`,
    { state: workload.state, action: 'cancel' },
  );
}

/**
 * GPU-seconds an attempt's runtime explains: the runtime the cluster reported, else the time since
 * it started (nothing when it never started).
 */
export function usedGpuSeconds(
  workload: { gpus: number; startedAt: Date | null },
  runtimeSeconds: number | null,
  at: Date,
): bigint {
  if (runtimeSeconds !== null) return BigInt(workload.gpus) * BigInt(runtimeSeconds);
  if (!workload.startedAt) return 0n;
  const seconds = Math.max(0, Math.floor((at.getTime() - workload.startedAt.getTime()) / 1000));
  return BigInt(workload.gpus) * BigInt(seconds);
}

/**
 * A dispatched attempt still admitted or running whose walltime, counted from its start (or its
 * dispatch when no start was reported), ended more than `graceMs` before `at`: its run is lost.
 */
export function isLostRun(
  workload: { state: string; startedAt: Date | null; dispatchedAt: Date | null; walltimeSeconds: number },
  at: Date,
  graceMs: number,
): boolean {
  const since = workload.startedAt ?? workload.dispatchedAt;
  return (
    isActiveWorkloadState(workload.state) &&
    since !== null &&
    since.getTime() + workload.walltimeSeconds * 1000 < at.getTime() - graceMs
  );
}

/** The seconds a lost run may have run: since its start, never beyond its walltime (0 if it never started). */
export function lostRunSeconds(
  workload: { startedAt: Date | null; walltimeSeconds: number },
  at: Date,
): number {
  if (!workload.startedAt) return 0;
  return Math.min(
    workload.walltimeSeconds,
    Math.max(0, Math.floor((at.getTime() - workload.startedAt.getTime()) / 1000)),
  );
}

/**
 * A dispatched attempt, still admitted or running on a cluster whose agent sends heartbeats, that
 * nothing has vouched for within `timeoutMs` before `at`: no heartbeat listed it (`confirmedAt`, of
 * this attempt only), and it was neither started nor dispatched in that time. Its run is lost.
 */
export function isUnconfirmedRun(
  workload: { state: string; attempt: number; startedAt: Date | null; dispatchedAt: Date | null },
  confirmation: { attempt: number; confirmedAt: Date } | undefined,
  at: Date,
  timeoutMs: number,
): boolean {
  if (!isActiveWorkloadState(workload.state) || workload.dispatchedAt === null) return false;
  const vouched = [
    workload.dispatchedAt,
    workload.startedAt,
    confirmation?.attempt === workload.attempt ? confirmation.confirmedAt : null,
  ].reduce<number>((latest, time) => (time && time.getTime() > latest ? time.getTime() : latest), 0);
  return vouched < at.getTime() - timeoutMs;
}
