import { isTerminalWorkloadState } from './workload-state.js';

/** What a cluster agent reports about an attempt (the fields the fence looks at). */
export interface AgentEventFacts {
  type: 'started' | 'ended';
  attempt: number;
}

export type EventIgnoredReason =
  'stale_attempt' | 'unknown_attempt' | 'not_admitted' | 'already_running' | 'already_ended';

export type EventDecision = { apply: true } | { apply: false; reason: EventIgnoredReason };

/**
 * Whether a cluster agent's event moves the workload on. Events are fenced by attempt (a preempted
 * and requeued workload ignores reports of its earlier run) and only move forward, so redelivered,
 * late or reordered reports are harmless no-ops.
 */
export function decideEvent(
  workload: { state: string; attempt: number },
  event: AgentEventFacts,
): EventDecision {
  if (event.attempt < workload.attempt) return { apply: false, reason: 'stale_attempt' };
  if (event.attempt > workload.attempt) return { apply: false, reason: 'unknown_attempt' };
  if (isTerminalWorkloadState(workload.state)) return { apply: false, reason: 'already_ended' };
  if (workload.state === 'queued') return { apply: false, reason: 'not_admitted' };
  if (event.type === 'started' && workload.state === 'running')
    return { apply: false, reason: 'already_running' };
  return { apply: true };
}

/** An ignored event tells the agent to stop its run when gpupool no longer wants that attempt. */
export function agentMustStop(reason: EventIgnoredReason): boolean {
  return reason === 'stale_attempt' || reason === 'already_ended';
}
