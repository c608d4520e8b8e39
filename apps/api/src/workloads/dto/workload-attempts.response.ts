import { z } from 'zod';

const amount = z.object({
  /** Exact integer GPU-seconds as a decimal string. */
  gpuSeconds: z.string(),
  /** The same amount in GPU-hours, for people. */
  gpuHours: z.string(),
});
const instant = z.iso.datetime();

export const workloadAttemptResponse = z.object({
  attempt: z.int(),
  /** `requeued` for an earlier attempt (preempted, or failed by the infrastructure); else the workload's state. */
  outcome: z.string(),
  /** Why the attempt was requeued or refunded (preempted: …, node_down: …, lost: …); null otherwise. */
  reason: z.string().nullable(),
  /** True when the attempt's usage was refunded: the project was not charged for it. */
  refunded: z.boolean(),
  admittedAt: instant,
  startedAt: instant.nullable(),
  endedAt: instant.nullable(),
  /** Held at admission (gpus × walltime). */
  held: amount,
  /** Still held for usage records not yet metered. */
  stillHeld: amount,
  metered: amount,
  refundedAmount: amount,
});

export const workloadAttemptsResponse = z.object({
  workloadId: z.uuid(),
  /** The current attempt. */
  attempt: z.int(),
  /** Attempts the infrastructure failed and gpupool requeued (at most the program's limit). */
  infrastructureRequeues: z.int(),
  /** Oldest first. */
  items: z.array(workloadAttemptResponse),
});
export type WorkloadAttemptsResponse = z.infer<typeof workloadAttemptsResponse>;
