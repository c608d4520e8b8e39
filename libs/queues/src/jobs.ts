import { z } from 'zod';

/** Queue names: one per kind of work, so a slow kind never starves another. */
export const QUEUE_NAMES = [
  'intake',
  'scheduling',
  'dispatch',
  'maintenance',
  'usage',
  'notifications',
  'cluster-simulator',
  'exports',
  'planning',
] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

/**
 * The typed job contract shared by producer (api) and consumer (scheduler). Payloads carry ids,
 * never rows: the worker re-reads PostgreSQL, the source of truth.
 */
export const jobSchemas = {
  /** Create the allocations of an approved request and post the grant, exactly once. */
  'grant.allocation': z.strictObject({ requestId: z.uuid() }),
  /** Sweep PostgreSQL for approved requests whose grant job Redis may have lost. */
  'reconcile.grants': z.strictObject({}),
  /** Run the admission cycle of one GPU-model partition (coalesced: see jobOptionsFor). */
  'schedule.cycle': z.strictObject({ gpuModel: z.string().min(1).max(64) }),
  /** Hand an admitted workload (one admission attempt) to its cluster's adapter. */
  'dispatch.workload': z.strictObject({ workloadId: z.uuid(), attempt: z.number().int().min(0) }),
  /** Tell a cluster's adapter to stop an admission attempt (cancel, preemption, node failure). */
  'dispatch.cancel': z.strictObject({
    workloadId: z.uuid(),
    attempt: z.number().int().min(0),
    reason: z.string().max(200),
  }),
  /** Sweep: dirty partitions without a cycle, admitted workloads never dispatched. */
  'reconcile.workloads': z.strictObject({}),
  /** Post the ledger and rollups of one ingested batch of usage records (idempotent). */
  'usage.post': z.strictObject({ batchId: z.uuid() }),
  /** Sweep: usage batches not yet posted (Redis lost the job), expiries, recalls, balance drift. */
  'reconcile.usage': z.strictObject({}),
  /** Send one webhook delivery (one attempt; failures are rescheduled in PostgreSQL). */
  'webhook.deliver': z.strictObject({ deliveryId: z.uuid() }),
  /** Sweep: webhook deliveries that are due and have no job. */
  'reconcile.webhooks': z.strictObject({}),
  /** Write one settlement export of a closed billing period (streamed into chunks; restartable). */
  'billing.export': z.strictObject({ exportId: z.uuid() }),
  /** Sweep: billing exports queued or running whose job Redis may have lost. */
  'reconcile.exports': z.strictObject({}),
  /** Run one recorded close of a billing period (billing_period_closes), exactly once. */
  'billing.close': z.strictObject({ closeId: z.uuid() }),
  /** Sweep: billing closes queued or running whose job Redis may have lost. */
  'reconcile.closes': z.strictObject({}),
  /**
   * Place one reserved allocation on the capacity calendar (with the rest of its GPU model's queue);
   * a no-op once its plan is placed or waitlisted.
   */
  'planning.plan': z.strictObject({ allocationId: z.uuid() }),
  /** Re-plan one GPU model's waitlist (a release, new capacity, changed sector targets, the periodic sweep). */
  'planning.replan': z.strictObject({ gpuModel: z.string().min(1).max(64) }),
  /**
   * Sweep: pending plans whose job Redis lost; with `waitlists`, a re-plan of every GPU model that has
   * a waitlist.
   */
  'reconcile.planning': z.strictObject({ waitlists: z.boolean().optional() }),
  /** The simulated cluster: run one attempt for `runtimeSeconds` (scaled) and report it. */
  'cluster.run': z.strictObject({
    workloadId: z.uuid(),
    attempt: z.number().int().min(0),
    /** What the agent's usage records name (jobs queued before these fields existed lack them). */
    allocationId: z.uuid().optional(),
    gpuModel: z.string().min(1).max(64).optional(),
    gpus: z.number().int().positive(),
    runtimeSeconds: z.number().int().min(0),
  }),
  /** The simulated cluster: stop an attempt if it is still running. */
  'cluster.cancel': z.strictObject({ workloadId: z.uuid(), attempt: z.number().int().min(0) }),
} as const;

export type JobName = keyof typeof jobSchemas;
export type JobData<N extends JobName> = z.infer<(typeof jobSchemas)[N]>;
export type JobItem = { [N in JobName]: { name: N; data: JobData<N> } }[JobName];

export const JOB_NAMES = Object.keys(jobSchemas) as JobName[];

const queueOfJob: Record<JobName, QueueName> = {
  'grant.allocation': 'intake',
  'reconcile.grants': 'maintenance',
  'schedule.cycle': 'scheduling',
  'dispatch.workload': 'dispatch',
  'dispatch.cancel': 'dispatch',
  'reconcile.workloads': 'maintenance',
  'usage.post': 'usage',
  'reconcile.usage': 'maintenance',
  'webhook.deliver': 'notifications',
  'reconcile.webhooks': 'maintenance',
  'billing.export': 'exports',
  'reconcile.exports': 'maintenance',
  'billing.close': 'exports',
  'reconcile.closes': 'maintenance',
  'planning.plan': 'planning',
  'planning.replan': 'planning',
  'reconcile.planning': 'maintenance',
  'cluster.run': 'cluster-simulator',
  'cluster.cancel': 'cluster-simulator',
};

/** Jobs the scheduler process handles; the rest belong to other processes (the simulator). */
export const SCHEDULER_JOB_NAMES: JobName[] = [
  'grant.allocation',
  'reconcile.grants',
  'schedule.cycle',
  'dispatch.workload',
  'dispatch.cancel',
  'reconcile.workloads',
  'usage.post',
  'reconcile.usage',
  'webhook.deliver',
  'reconcile.webhooks',
  'billing.export',
  'reconcile.exports',
  'billing.close',
  'reconcile.closes',
  'planning.plan',
  'planning.replan',
  'reconcile.planning',
];
export const SIMULATOR_JOB_NAMES: JobName[] = ['cluster.run', 'cluster.cancel'];

export function queueFor(name: JobName): QueueName {
  return queueOfJob[name];
}

export function parseJob(name: string, data: unknown): JobItem {
  if (!(name in jobSchemas)) throw new Error(`Unknown job name "${name}"`);
  const schema = jobSchemas[name as JobName];
  return { name, data: schema.parse(data) } as JobItem;
}

export interface JobOptions {
  jobId?: string;
  deduplication?: { id: string; ttl?: number };
  attempts: number;
  backoff: { type: 'exponential'; delay: number };
  removeOnComplete: { count: number } | boolean;
  removeOnFail: { count: number } | boolean;
}

/**
 * Job ids and retries decided in one place. A job id only blocks a duplicate while the earlier job
 * still exists in the queue; exactly-once comes from PostgreSQL (unique keys), never from the id.
 */
export function jobOptionsFor(job: JobItem): JobOptions {
  const base = {
    attempts: 8,
    backoff: { type: 'exponential' as const, delay: 500 },
    removeOnComplete: { count: 1000 },
    removeOnFail: { count: 5000 },
  };
  switch (job.name) {
    case 'grant.allocation':
      // Every job below whose id a reconciler re-uses is removed when it fails: a failed job kept
      // under its id would make each later enqueue a silent duplicate, and the work never happen.
      return { ...base, jobId: `grant-${job.data.requestId}`, removeOnFail: true };
    case 'reconcile.grants':
    case 'reconcile.workloads':
    case 'reconcile.usage':
    case 'reconcile.webhooks':
    case 'reconcile.exports':
    case 'reconcile.closes':
    case 'reconcile.planning':
      return { ...base, attempts: 1 };
    case 'schedule.cycle':
      // Coalescing: while a cycle job of this partition waits, more triggers add nothing. A trigger
      // that lands while the cycle runs is not lost: it marks the partition dirty in PostgreSQL and
      // the running cycle loops until the partition is clean.
      return {
        ...base,
        attempts: 3,
        deduplication: { id: `cycle-${job.data.gpuModel}` },
        removeOnComplete: true,
        removeOnFail: { count: 100 },
      };
    // Dispatch and cluster jobs are removed once done (or failed): a reconciler that re-sends one
    // (because PostgreSQL says it never took effect) must not be blocked by a job with the same id.
    case 'dispatch.workload':
      return {
        ...base,
        jobId: `dispatch-${job.data.workloadId}-${job.data.attempt}`,
        removeOnComplete: true,
        removeOnFail: true,
      };
    case 'dispatch.cancel':
      return {
        ...base,
        jobId: `cancel-${job.data.workloadId}-${job.data.attempt}`,
        removeOnComplete: true,
        removeOnFail: true,
      };
    case 'usage.post':
      // Coalesced per batch while waiting; posting is exactly-once in PostgreSQL (posted_at).
      return { ...base, jobId: `usage-${job.data.batchId}`, removeOnComplete: true, removeOnFail: true };
    case 'webhook.deliver':
      // One attempt per job: retries and backoff are PostgreSQL's (next_attempt_at), not BullMQ's.
      return {
        ...base,
        attempts: 1,
        jobId: `webhook-${job.data.deliveryId}`,
        removeOnComplete: true,
        removeOnFail: true,
      };
    case 'billing.export':
      // A redelivered or re-enqueued export restarts its run in PostgreSQL (run number, chunks
      // rewritten); the id only coalesces enqueues while the job exists. The last failure marks it failed.
      return {
        ...base,
        attempts: 3,
        jobId: `export-${job.data.exportId}`,
        removeOnComplete: true,
        removeOnFail: true,
      };
    case 'billing.close':
      // One job per close record while it exists; closing is exactly-once in PostgreSQL (the record
      // turns succeeded in the closing transaction), so a redelivery or a sweep's re-enqueue is a no-op.
      return {
        ...base,
        attempts: 5,
        jobId: `close-${job.data.closeId}`,
        removeOnComplete: true,
        removeOnFail: true,
      };
    case 'planning.plan':
      // The job id is the allocation id: one job per reserved allocation while it exists. Planning
      // is idempotent in PostgreSQL (a plan no longer pending is left alone), so a redelivery or a
      // reconciler's re-enqueue changes nothing once the allocation is placed or waitlisted.
      return {
        ...base,
        jobId: job.data.allocationId,
        removeOnComplete: true,
        removeOnFail: true,
      };
    case 'planning.replan':
      // Coalesced per GPU model while one waits; runs of a model are serialized by an advisory lock.
      return {
        ...base,
        attempts: 3,
        deduplication: { id: `replan-${job.data.gpuModel}` },
        removeOnComplete: true,
        removeOnFail: true,
      };
    case 'cluster.run':
      return { ...base, jobId: `run-${job.data.workloadId}-${job.data.attempt}`, removeOnComplete: true };
    case 'cluster.cancel':
      return { ...base, jobId: `stop-${job.data.workloadId}-${job.data.attempt}`, removeOnComplete: true };
  }
}
