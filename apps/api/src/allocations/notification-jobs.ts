import type { JobItem } from '#queues';

/**
 * `webhook.deliver` jobs for the deliveries recordNotification created, to enqueue after commit. If
 * they are lost (Redis down, a crash after commit), the scheduler's `reconcile.webhooks` sweep sends
 * every pending delivery anyway: each is due from the moment it is written.
 */
export function deliveryJobs(deliveryIds: readonly string[]): JobItem[] {
  return deliveryIds.map((deliveryId): JobItem => ({ name: 'webhook.deliver', data: { deliveryId } }));
}
