import { z } from 'zod';
import { integerIn } from '#application';
import { instantField } from '../../allocation-requests/dto/request-line.request.js';

/** A year: far above any walltime, low enough that gpus × runtime stays an exact bigint of sane size. */
export const MAX_REPORTED_RUNTIME_SECONDS = 365 * 24 * 3600;

const common = {
  /** The admission attempt the cluster runs (from the dispatch); events of other attempts change nothing. */
  attempt: integerIn(0, 1_000_000),
  /** When it happened on the cluster. */
  at: instantField,
  message: z.string().trim().min(1).max(1000).optional(),
};

export const workloadEventBody = z.discriminatedUnion('type', [
  z.strictObject({ ...common, type: z.literal('started') }),
  z.strictObject({
    ...common,
    type: z.literal('ended'),
    outcome: z.enum(['succeeded', 'failed']),
    /** GPU-seconds consumed = gpus × runtimeSeconds; without it, the time since the start report. */
    runtimeSeconds: integerIn(0, MAX_REPORTED_RUNTIME_SECONDS, 'seconds').optional(),
  }),
]);
export type WorkloadEventBody = z.infer<typeof workloadEventBody>;

export const workloadEventResponse = z.object({
  /** False when the event was already applied, or is for another attempt or a state already left. */
  applied: z.boolean(),
  /** Why nothing changed: stale_attempt, unknown_attempt, not_admitted, already_running, already_ended. */
  reason: z.string().optional(),
  workloadId: z.uuid(),
  state: z.string(),
  attempt: z.int(),
  /**
   * True when gpupool no longer wants this attempt to run (it was cancelled, preempted or ended,
   * or a newer attempt exists): the agent must stop it. This is how a stop that was lost in
   * transit still reaches the cluster.
   */
  stop: z.boolean(),
});
export type WorkloadEventResponse = z.infer<typeof workloadEventResponse>;
