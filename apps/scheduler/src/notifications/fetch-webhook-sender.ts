import { WebhookSender, type WebhookRequest, type WebhookResponse } from '#application';

/** How much of a receiver's answer is kept in the attempt log. */
export const RESPONSE_SNIPPET_CHARS = 500;

/** The WebhookSender of the scheduler: Node's fetch. */
export class FetchWebhookSender extends WebhookSender {
  override async post(request: WebhookRequest): Promise<WebhookResponse> {
    try {
      const response = await fetch(request.url, {
        method: 'POST',
        headers: request.headers,
        body: request.body,
        // A redirect is an answer, not a success: following it would send the payload somewhere unconfirmed.
        redirect: 'manual',
        signal: AbortSignal.timeout(request.timeoutMs),
      });
      const responseSnippet = await readSnippet(response, RESPONSE_SNIPPET_CHARS);
      return { statusCode: response.status, responseSnippet };
    } catch (caught) {
      return { statusCode: null, error: describeFetchError(caught, request.timeoutMs) };
    }
  }
}

/** The first `maxChars` characters of the answer, without reading a large body to its end. */
async function readSnippet(response: Response, maxChars: number): Promise<string | null> {
  if (!response.body) return null;
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  try {
    while (text.length < maxChars) {
      const chunk = await reader.read();
      if (chunk.done) break;
      text += decoder.decode(chunk.value as Uint8Array, { stream: true });
    }
  } catch {
    // A body cut short (timeout, reset) still leaves the status code to judge by.
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  // PostgreSQL text refuses NUL.
  const snippet = text.replaceAll('\u0000', '').slice(0, maxChars);
  return snippet.length > 0 ? snippet : null;
}

function describeFetchError(error: unknown, timeoutMs: number): string {
  // Duck-typed, not instanceof: fetch's errors may come from another realm (undici, test VMs).
  const { name, message, cause } = (typeof error === 'object' && error !== null ? error : {}) as {
    name?: unknown;
    message?: unknown;
    cause?: unknown;
  };
  if (name === 'TimeoutError' || name === 'AbortError') return `timed out after ${timeoutMs} ms`;
  if (typeof message !== 'string') return String(error).slice(0, 500);
  const causeMessage = (typeof cause === 'object' && cause !== null ? cause : {}) as { message?: unknown };
  const detail = typeof causeMessage.message === 'string' ? `: ${causeMessage.message}` : '';
  return `${message}${detail}`.slice(0, 500);
}
