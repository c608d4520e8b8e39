import type { Logger } from 'pino';
import type { GpupoolConfig } from '#config';

/**
 * The live demo: Philly-like workloads submitted through the public API as a real user would, so a
 * newcomer running `npm start` watches the scheduler admit, place, run and settle work.
 *
 * The distributions are generated, not read from a trace (no file needed): GPU counts follow the
 * Philly trace's shares (1 GPU 93.2 %, 2: 2.2 %, 4: 2.3 %, 8: 2.0 %, 16: 0.24 %, 32: 0.08 %) and
 * durations a log-normal with Philly's median 1,144 s and p90 11,266 s (σ = ln(11266/1144)/1.2816).
 */
export interface SyntheticWorkload {
  gpus: number;
  durationSeconds: number;
  walltimeSeconds: number;
}

const GPU_SHARES: readonly [number, number][] = [
  [1, 0.932],
  [2, 0.022],
  [4, 0.023],
  [8, 0.02],
  [16, 0.0024],
  [32, 0.0008],
];
const MEDIAN_SECONDS = 1144;
const SIGMA = Math.log(11266 / 1144) / 1.2816;
const MAX_WALLTIME = 7 * 24 * 3600;

/** mulberry32: a tiny seeded PRNG, so the demo's sequence is the same on every machine. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function syntheticWorkload(random: () => number): SyntheticWorkload {
  let pick = random() * GPU_SHARES.reduce((sum, [, share]) => sum + share, 0);
  let gpus = 1;
  for (const [count, share] of GPU_SHARES) {
    gpus = count;
    if (pick < share) break;
    pick -= share;
  }
  // Box–Muller: a standard normal from two uniforms.
  const normal = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const durationSeconds = Math.max(1, Math.round(MEDIAN_SECONDS * Math.exp(SIGMA * normal)));
  const walltimeSeconds = Math.min(MAX_WALLTIME, Math.max(60, Math.ceil(durationSeconds * 1.5)));
  return { gpus, durationSeconds: Math.min(durationSeconds, walltimeSeconds), walltimeSeconds };
}

export class SyntheticLoad {
  private timer?: NodeJS.Timeout;
  private readonly random = seededRandom(2017);
  private token?: string;
  private allocationId?: string;
  private submitted = 0;

  constructor(
    private readonly config: GpupoolConfig,
    private readonly logger: Logger,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  get count(): number {
    return this.submitted;
  }

  /** Starts submitting at SIMULATOR_DEMO_RATE_PER_MINUTE; a rate of 0 leaves the demo off. */
  start(): void {
    const rate = this.config.SIMULATOR_DEMO_RATE_PER_MINUTE;
    if (rate === 0) return;
    this.timer = setInterval(() => void this.tick(), Math.max(10, Math.round(60_000 / rate)));
    this.logger.info({ ratePerMinute: rate, as: this.config.SIMULATOR_DEMO_EMAIL }, 'live demo load started');
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** One submission; failures are logged and the next tick tries again (signing in anew if needed). */
  async tick(): Promise<void> {
    try {
      if (!this.token || !this.allocationId) await this.connect();
      const workload = syntheticWorkload(this.random);
      const response = await this.call('POST', '/v1/workloads', {
        allocationId: this.allocationId,
        gpuModel: 'H200',
        gpus: workload.gpus,
        walltimeSeconds: workload.walltimeSeconds,
        simulatedRuntimeSeconds: workload.durationSeconds,
        name: `demo-sweep-${this.submitted + 1}`,
      });
      if (response.status === 401) this.token = undefined;
      if (response.status !== 202) {
        this.logger.warn({ status: response.status, body: response.body }, 'demo submission refused');
        return;
      }
      this.submitted += 1;
    } catch (error) {
      this.logger.warn(
        { err: error instanceof Error ? error.message : String(error) },
        'demo submission failed',
      );
    }
  }

  private async connect(): Promise<void> {
    const login = await this.call('POST', '/v1/auth/login', {
      email: this.config.SIMULATOR_DEMO_EMAIL,
      password: this.config.SIMULATOR_DEMO_PASSWORD,
    });
    if (login.status !== 200) throw new Error(`demo user cannot sign in (${login.status})`);
    this.token = login.body.accessToken as string;
    const allocations = await this.call('GET', '/v1/allocations?status=active');
    const items = (allocations.body.items ?? []) as { id: string; gpuModel: string }[];
    const allocation = items.find((item) => item.gpuModel === 'H200');
    if (!allocation) throw new Error('the demo user has no active H200 allocation');
    this.allocationId = allocation.id;
  }

  private async call(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await this.fetchImpl(new URL(path, this.config.SIMULATOR_API_URL), {
      method,
      headers: {
        'content-type': 'application/json',
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(5000),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  }
}
