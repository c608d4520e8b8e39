import pino, { type Logger } from 'pino';
import type { GpupoolConfig } from '#config';

/**
 * The simulated cluster agent (digital twin). In this first version it only keeps watch on the API
 * it will report to; receiving dispatched workloads and reporting their start, end and usage come
 * with the scheduler (its ClusterAdapter port) and usage metering.
 */
export class SimulatedClusterAgent {
  private readonly logger: Logger;
  private timer?: NodeJS.Timeout;
  private apiUp: boolean | undefined;

  constructor(
    private readonly config: GpupoolConfig,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {
    this.logger = pino({
      name: 'gpupool-simulator',
      level: config.LOG_LEVEL,
      base: { service: 'gpupool-simulator', pid: process.pid },
    });
  }

  async start(intervalMs = 15_000): Promise<void> {
    await this.checkApi();
    this.timer = setInterval(() => void this.checkApi(), intervalMs);
    this.logger.info({ api: this.config.SIMULATOR_API_URL }, 'simulated cluster agent started');
  }

  /** Logs only when the API's reachability changes, so an idle agent stays quiet. */
  async checkApi(): Promise<boolean> {
    let up: boolean;
    try {
      const response = await this.fetchImpl(new URL('/health/live', this.config.SIMULATOR_API_URL), {
        signal: AbortSignal.timeout(2000),
      });
      up = response.ok;
    } catch {
      up = false;
    }
    if (up !== this.apiUp) {
      this.logger[up ? 'info' : 'warn'](
        { api: this.config.SIMULATOR_API_URL, up },
        up ? 'API reachable' : 'API unreachable',
      );
      this.apiUp = up;
    }
    return up;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.logger.info('simulated cluster agent stopped');
  }
}
