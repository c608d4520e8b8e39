import type { DispatchOutcome, DispatchWorkloadUseCase } from '#application';
import type { Logger } from '../logger.js';

/** The `dispatch.workload` and `dispatch.cancel` jobs: DispatchWorkloadUseCase decides and sends. */
export class DispatchService {
  constructor(
    private readonly dispatcher: DispatchWorkloadUseCase,
    private readonly logger: Logger,
  ) {}

  dispatch(workloadId: string, attempt: number): Promise<DispatchOutcome> {
    return this.dispatcher.dispatch(workloadId, attempt);
  }

  async cancel(workloadId: string, attempt: number, reason: string): Promise<{ outcome: 'cancel_sent' }> {
    const adapter = await this.dispatcher.cancel(workloadId, attempt, reason);
    this.logger.debug({ workloadId, attempt, reason, adapter }, 'cancel sent');
    return { outcome: 'cancel_sent' };
  }
}
