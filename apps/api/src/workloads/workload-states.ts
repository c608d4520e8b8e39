import { TERMINAL_WORKLOAD_STATES } from '#persistence';

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

export function isTerminal(state: string): boolean {
  return (TERMINAL_WORKLOAD_STATES as readonly string[]).includes(state);
}

/** What a person may still do with a workload in this state. */
export function allowedWorkloadActions(state: string): 'cancel'[] {
  return isTerminal(state) ? [] : ['cancel'];
}
