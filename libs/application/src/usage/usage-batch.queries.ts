import { Injectable } from '@nestjs/common';
import { notFound } from '#domain';
import { UsageBatchRepository, type UsageBatchView } from '#persistence';

/** Batches of usage records, as their senders look them up. */
@Injectable()
export class UsageBatchQueries {
  constructor(private readonly batches: UsageBatchRepository) {}

  /** A batch and whether it has been posted; 404 for an unknown id. */
  async batch(batchId: string): Promise<UsageBatchView> {
    const batch = await this.batches.findBatch(batchId);
    if (!batch) throw notFound('Usage batch', batchId);
    return batch;
  }
}
