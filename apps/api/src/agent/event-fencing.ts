import type { WorkloadEventBody } from './dto/workload-event.request.js';

export type EventDecision =
  | { apply: true }
  | {
      apply: false;
      reason: 'stale_attempt' | 'unknown_attempt' | 'not_admitted' | 'already_running' | 'already_ended';
    };

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'preempted']);

/**
 * Whether a cluster agent's event moves the workload on. Events are fenced by attempt (a preempted
 * and requeued workload ignores reports of its earlier run) and only move forward, so redelivered,
 * late or reordered reports are harmless no-ops.
 */
export function decideEvent(
  workload: { state: string; attempt: number },
  event: WorkloadEventBody,
): EventDecision {
  if (event.attempt < workload.attempt) return { apply: false, reason: 'stale_attempt' };
  if (event.attempt > workload.attempt) return { apply: false, reason: 'unknown_attempt' };
  if (TERMINAL.has(workload.state)) return { apply: false, reason: 'already_ended' };
  if (workload.state === 'queued') return { apply: false, reason: 'not_admitted' };
  if (event.type === 'started' && workload.state === 'running')
    return { apply: false, reason: 'already_running' };
  return { apply: true };
}
