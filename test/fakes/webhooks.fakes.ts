import type { WebhookPayload } from '#domain';
import {
  WebhookDeliveryRepository,
  type Tx,
  type WebhookAttemptRecord,
  type WebhookDeliverySettlement,
} from '#persistence';
import { WebhookSender, type WebhookRequest, type WebhookResponse } from '#application';

export interface FakeDelivery {
  id: string;
  status: string;
  attempts: number;
  /** On the fake's clock (`now`), in ms. */
  nextAttemptAt: number;
  active: boolean;
  url: string;
  secret: string;
  payload: WebhookPayload;
  lastStatusCode: number | null;
  lastError: string | null;
  delivered: boolean;
}

export function makePayload(values: Partial<WebhookPayload> = {}): WebhookPayload {
  return {
    id: 'n-1',
    kind: 'usage_threshold',
    createdAt: '2026-01-05T10:00:00.000Z',
    projectId: 'p-1',
    allocationId: 'a-1',
    title: '80% of the allocation used',
    body: 'Allocation H200 has used 80% of its granted GPU-hours.',
    data: { thresholdPercent: 80 },
    ...values,
  };
}

/**
 * The webhook outbox in memory, on a clock the test moves (`now`): rows another worker holds are
 * in `lockedByOthers` (SKIP LOCKED skips them); the lease and retries move `nextAttemptAt`. Records
 * every attempt logged.
 */
export class FakeWebhookDeliveryRepository extends WebhookDeliveryRepository {
  readonly rows = new Map<string, FakeDelivery>();
  readonly attemptLog: WebhookAttemptRecord[] = [];
  readonly lockedByOthers = new Set<string>();
  now = 1_000_000;

  add(values: Partial<FakeDelivery> = {}): FakeDelivery {
    const row: FakeDelivery = {
      id: 'd-1',
      status: 'pending',
      attempts: 0,
      nextAttemptAt: this.now,
      active: true,
      url: 'https://receiver.example/hooks',
      secret: 'whsec_unit-secret',
      payload: makePayload(),
      lastStatusCode: null,
      lastError: null,
      delivered: false,
      ...values,
    };
    this.rows.set(row.id, row);
    return row;
  }

  isDue(id: string): boolean {
    const row = this.rows.get(id);
    return row !== undefined && row.nextAttemptAt <= this.now;
  }

  override lockForSend(_tx: Tx, deliveryId: string) {
    const row = this.rows.get(deliveryId);
    if (!row || this.lockedByOthers.has(deliveryId)) return Promise.resolve(null);
    return Promise.resolve({
      status: row.status,
      due: row.nextAttemptAt <= this.now,
      active: row.active,
      url: row.url,
      secret: row.secret,
      payload: row.payload,
    });
  }

  override cancel(_tx: Tx, deliveryId: string): Promise<void> {
    const row = this.mustGet(deliveryId);
    row.status = 'failed';
    row.lastError = 'subscription disabled';
    return Promise.resolve();
  }

  override lease(_tx: Tx, deliveryId: string, leaseMs: number): Promise<void> {
    this.mustGet(deliveryId).nextAttemptAt = this.now + leaseMs;
    return Promise.resolve();
  }

  override lockForRecord(_tx: Tx, deliveryId: string) {
    const row = this.rows.get(deliveryId);
    return Promise.resolve(row ? { status: row.status, attempts: row.attempts } : null);
  }

  override insertAttempt(_tx: Tx, attempt: WebhookAttemptRecord): Promise<void> {
    this.attemptLog.push(attempt);
    return Promise.resolve();
  }

  override settle(_tx: Tx, deliveryId: string, settlement: WebhookDeliverySettlement): Promise<void> {
    const row = this.mustGet(deliveryId);
    row.attempts = settlement.attempts;
    row.status = settlement.status;
    if (settlement.status === 'pending') row.nextAttemptAt = this.now + settlement.retryInMs;
    row.lastStatusCode = settlement.statusCode;
    row.lastError = settlement.error;
    if (settlement.status === 'delivered') row.delivered = true;
    return Promise.resolve();
  }

  override dueIds(limit: number): Promise<string[]> {
    return Promise.resolve(
      [...this.rows.values()]
        .filter((row) => row.status === 'pending' && row.nextAttemptAt <= this.now)
        .sort((a, b) => a.nextAttemptAt - b.nextAttemptAt)
        .slice(0, limit)
        .map((row) => row.id),
    );
  }

  private mustGet(id: string): FakeDelivery {
    const row = this.rows.get(id);
    if (!row) throw new Error(`no delivery ${id}`);
    return row;
  }
}

/** Answers each POST with the next scripted response (the last one repeats); keeps every request. */
export class FakeWebhookSender extends WebhookSender {
  readonly requests: WebhookRequest[] = [];
  /** Runs during the POST, e.g. to look at the outbox while the receiver is "waiting". */
  onPost: (request: WebhookRequest) => void = () => undefined;

  constructor(private readonly answers: WebhookResponse[] = [{ statusCode: 204, responseSnippet: null }]) {
    super();
  }

  override post(request: WebhookRequest): Promise<WebhookResponse> {
    this.requests.push(request);
    this.onPost(request);
    const answer = this.answers[Math.min(this.requests.length, this.answers.length) - 1];
    if (!answer) throw new Error('FakeWebhookSender has no answers');
    return Promise.resolve(answer);
  }
}

/** Keeps log lines as [level, message, details]. */
export class RecordingLogger {
  readonly lines: [string, string, object][] = [];
  info(details: object, message: string): void {
    this.lines.push(['info', message, details]);
  }
  debug(details: object, message: string): void {
    this.lines.push(['debug', message, details]);
  }
}
