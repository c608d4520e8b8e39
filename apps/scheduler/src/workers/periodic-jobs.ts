import type { GpupoolConfig } from '#config';
import type { JobItem } from '#queues';
import { WAITLIST_REPLAN_INTERVAL_MS } from '../planning/planning-reconciler.service.js';

/** One job scheduler the scheduler process keeps in the maintenance queue. */
export type PeriodicJob = { id: string; every: number; comment: string } & Extract<
  JobItem,
  { name: `reconcile.${string}` }
>;

export function periodicJobs(config: Pick<GpupoolConfig, 'RECONCILE_INTERVAL_MS'>): PeriodicJob[] {
  const every = config.RECONCILE_INTERVAL_MS;
  return [
    { id: 'reconcile-grants', name: 'reconcile.grants', data: {}, every, comment: 'grants Redis lost' },
    {
      id: 'reconcile-workloads',
      name: 'reconcile.workloads',
      data: {},
      every,
      comment: 'the workload sweep is also the scheduler’s periodic tick (see WorkloadReconciler)',
    },
    {
      id: 'reconcile-usage',
      name: 'reconcile.usage',
      data: {},
      every,
      comment: 'usage: batches Redis lost, holds never metered, ended windows, recalls, alerts, drift',
    },
    {
      id: 'reconcile-webhooks',
      name: 'reconcile.webhooks',
      data: {},
      every,
      comment: 'webhook retries are due in PostgreSQL; this sweep sends them (and anything Redis lost)',
    },
    {
      id: 'reconcile-exports',
      name: 'reconcile.exports',
      data: {},
      every,
      comment: 'billing exports are an outbox too: one whose job Redis lost is enqueued again',
    },
    {
      id: 'reconcile-closes',
      name: 'reconcile.closes',
      data: {},
      every,
      comment: 'billing closes too: a close whose job Redis lost is enqueued again',
    },
    {
      id: 'reconcile-planning',
      name: 'reconcile.planning',
      data: {},
      every,
      comment: 'planning is an outbox too: pending plans whose job Redis lost are enqueued again',
    },
    {
      id: 'replan-waitlists',
      name: 'reconcile.planning',
      data: { waitlists: true },
      every: Math.max(every, WAITLIST_REPLAN_INTERVAL_MS),
      comment: 'every waitlist is re-planned now and then (offers move with time; capacity may come back)',
    },
  ];
}
