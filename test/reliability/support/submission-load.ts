/**
 * A steady, open-loop submission load: one POST /v1/workloads every 1/rate seconds, whatever the
 * earlier ones are still waiting for (up to `maxInFlight` at once, then a tick is skipped and
 * counted), so a fault meets the load a real sweep would put on the API. Every attempt is kept
 * with its send time and outcome, for the per-fault counts.
 */
export interface Attempt {
  index: number;
  sentAt: number;
  answeredAt?: number;
  /** HTTP status, when answered. */
  status?: number;
  /** Connection error or timeout, when not answered. */
  error?: string;
  /** The accepted workload's id (2xx). */
  workloadId?: string;
  /** A 5xx answer's errorId (the API logs it with the cause). */
  errorId?: string;
  code?: string;
}

export interface LoadOptions {
  baseUrl: string;
  token: string;
  allocationId: string;
  gpuModel: string;
  ratePerSecond: number;
  maxInFlight: number;
  timeoutMs: number;
}

const GPU_CHOICES = [1, 1, 2, 4];

export class SubmissionLoad {
  readonly attempts: Attempt[] = [];
  skippedTicks = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly pending = new Set<Promise<void>>();
  private next = 0;

  constructor(private readonly options: LoadOptions) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), 1000 / this.options.ratePerSecond);
  }

  /** Stops sending and waits for every attempt in flight to be answered or to time out. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.all([...this.pending]);
  }

  /** Attempts sent in [from, to). */
  sentBetween(from: number, to = Number.POSITIVE_INFINITY): Attempt[] {
    return this.attempts.filter((attempt) => attempt.sentAt >= from && attempt.sentAt < to);
  }

  private tick(): void {
    if (this.pending.size >= this.options.maxInFlight) {
      this.skippedTicks += 1;
      return;
    }
    const index = this.next;
    this.next += 1;
    const attempt: Attempt = { index, sentAt: Date.now() };
    this.attempts.push(attempt);
    const sent = this.send(attempt).finally(() => this.pending.delete(sent));
    this.pending.add(sent);
  }

  private async send(attempt: Attempt): Promise<void> {
    const body = {
      allocationId: this.options.allocationId,
      gpuModel: this.options.gpuModel,
      gpus: GPU_CHOICES[attempt.index % GPU_CHOICES.length],
      walltimeSeconds: 120,
      // Short runs (1–2 s on the agent's real-time clock), so the pool keeps turning over.
      simulatedRuntimeSeconds: 1 + (attempt.index % 2),
      name: `chaos-${attempt.index}`,
    };
    try {
      const response = await fetch(`${this.options.baseUrl}/v1/workloads`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.options.token}` },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      const text = await response.text();
      attempt.status = response.status;
      let json: { id?: string; error?: { errorId?: string; code?: string } } | undefined;
      try {
        json = JSON.parse(text) as typeof json;
      } catch {
        json = undefined;
      }
      if (response.status >= 200 && response.status < 300) attempt.workloadId = json?.id;
      attempt.errorId = json?.error?.errorId;
      attempt.code = json?.error?.code;
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      attempt.error = cause?.code ?? cause?.message ?? (error as Error).name ?? String(error);
    } finally {
      attempt.answeredAt = Date.now();
    }
  }
}

export function isAccepted(attempt: Attempt): boolean {
  return attempt.status !== undefined && attempt.status >= 200 && attempt.status < 300;
}

export function isRefused(attempt: Attempt): boolean {
  return attempt.status !== undefined && attempt.status >= 400 && attempt.status < 500;
}

/** A 5xx answer, a connection error or a timeout. */
export function isFailed(attempt: Attempt): boolean {
  return attempt.status === undefined || attempt.status >= 500;
}

export function describeFailure(attempt: Attempt): string {
  return attempt.status === undefined
    ? (attempt.error ?? 'no answer')
    : `HTTP ${attempt.status}${attempt.code ? ` ${attempt.code}` : ''}`;
}
