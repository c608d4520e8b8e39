/** One signed POST to a receiver, as the use case built it. */
export interface WebhookRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  /** For the request and its response body together. */
  timeoutMs: number;
}

/** What the receiver answered, or why there was no answer (`error`, with a null status). */
export type WebhookResponse =
  { statusCode: number; responseSnippet: string | null } | { statusCode: null; error: string };

/**
 * The HTTP port webhook deliveries go out through (a DI token: the scheduler binds fetch, unit
 * specs a fake). Never throws: a refused connection or a timeout is an answer to record and retry.
 */
export abstract class WebhookSender {
  abstract post(request: WebhookRequest): Promise<WebhookResponse>;
}
