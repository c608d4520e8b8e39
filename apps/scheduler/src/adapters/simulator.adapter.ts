import type { JobProducer } from '#queues';
import { ClusterAdapter, type DispatchRequest } from '#application';

/**
 * The simulated cluster: hands attempts to apps/simulator through the `cluster-simulator` queue.
 * The job ids (`run-<id>-<attempt>`, `stop-<id>-<attempt>`) make a repeated dispatch of the same
 * attempt collapse into one run while the first job is still waiting or running (they are removed
 * once done); the simulator reports through the agent API, which ignores reports of an attempt
 * that is no longer current or already ended.
 */
export class SimulatorAdapter extends ClusterAdapter {
  readonly kind = 'simulator';

  constructor(private readonly producer: JobProducer) {
    super();
  }

  async dispatch(workload: DispatchRequest): Promise<void> {
    await this.producer.enqueue({
      name: 'cluster.run',
      data: {
        workloadId: workload.id,
        attempt: workload.attempt,
        allocationId: workload.allocationId,
        gpuModel: workload.gpuModel,
        gpus: workload.gpus,
        runtimeSeconds: workload.simulatedRuntimeSeconds ?? workload.walltimeSeconds,
      },
    });
  }

  async cancel(workloadId: string, attempt: number, _reason: string): Promise<void> {
    await this.producer.enqueue({ name: 'cluster.cancel', data: { workloadId, attempt } });
  }
}
