import type { JobItem, JobProducer } from '#queues';

/**
 * Sends the `webhook.deliver` jobs of deliveries just recorded (recordNotification's `deliveryIds`).
 * Call it after the transaction commits: a job that runs before the commit finds no row. If this
 * never happens (a crash between commit and enqueue, Redis down), the `reconcile.webhooks` sweep
 * sends the job anyway, since every pending delivery is due from the moment it is written.
 */
export async function enqueueDeliveries(
  producer: JobProducer,
  deliveryIds: readonly string[],
): Promise<void> {
  if (deliveryIds.length === 0) return;
  await producer.enqueueMany(
    deliveryIds.map((deliveryId): JobItem => ({ name: 'webhook.deliver', data: { deliveryId } })),
  );
}
