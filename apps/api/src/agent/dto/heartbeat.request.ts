import { z } from 'zod';
import { integerIn } from '#application';
import { instantField } from '../../allocation-requests/dto/request-line.request.js';

/** Runs one heartbeat may list: a large cluster's running attempts fit in the 2 MB body limit. */
export const MAX_HEARTBEAT_RUNS = 20_000;

const runRef = z.strictObject({
  workloadId: z.uuid({ message: 'must be a workload id (UUID)' }),
  /** The attempt of the dispatch, as in the workload events. */
  attempt: integerIn(0, 1_000_000),
});

export const heartbeatBody = z
  .strictObject({
    /** Every cluster of this adapter kind (the simulator serves all `simulator` clusters). */
    adapter: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,39}$/, { message: 'must be an adapter kind such as "simulator" or "slurm"' })
      .optional(),
    /** Or the clusters this agent serves. */
    clusterIds: z
      .array(z.uuid({ message: 'must be a cluster id (UUID)' }))
      .min(1, { message: 'must name at least one cluster' })
      .max(1000, { message: 'must name at most 1000 clusters' })
      .optional(),
    /** Every attempt the agent runs now; what it does not list, it does not have. */
    runs: z
      .array(runRef)
      .max(MAX_HEARTBEAT_RUNS, { message: `must list at most ${MAX_HEARTBEAT_RUNS} runs` }),
    /** True on the first heartbeat after the agent started: its started runs it does not list are lost. */
    resync: z.boolean({ message: 'must be true or false' }).default(false),
    /** When the agent process started (its clock). */
    agentStartedAt: instantField.optional(),
    /** The agent's name and version, shown to operators. */
    agent: z.string().trim().min(1).max(200).optional(),
  })
  .refine((body) => (body.adapter === undefined) !== (body.clusterIds === undefined), {
    message: 'name the clusters this agent serves: either "adapter" or "clusterIds", not both',
    path: ['clusterIds'],
  });
export type HeartbeatBody = z.infer<typeof heartbeatBody>;

const runRefResponse = z.object({ workloadId: z.uuid(), attempt: z.int() });

export const heartbeatResponse = z.object({
  /** The clusters this heartbeat covered. */
  clusters: z.int(),
  /** Listed runs confirmed as running. */
  confirmed: z.int(),
  /** Listed runs gpupool no longer wants (ended, cancelled, another attempt): stop them. */
  stop: z.array(runRefResponse),
  /** On a resync: started runs the agent no longer has, ended as lost (usage refunded). */
  lost: z.array(runRefResponse),
  /** A run not confirmed for this long is declared lost: send heartbeats well within it. */
  timeoutSeconds: z.int(),
});
export type HeartbeatResponse = z.infer<typeof heartbeatResponse>;
