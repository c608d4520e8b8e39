import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { WebhookSender, type WebhookRequest, type WebhookResponse } from '#application';
import { addressRefusal, webhookUrlRefusal, type WebhookTargetRules } from '#domain';

/** How much of a receiver's answer is kept in the attempt log. */
export const RESPONSE_SNIPPET_CHARS = 500;

/** The error a refused target fails the connection with (its message is what the attempt log shows). */
class RefusedTarget extends Error {
  override readonly name = 'RefusedTarget';
}

/**
 * The WebhookSender of the scheduler: node:http(s) with a lookup that refuses what
 * libs/domain's webhook-target refuses, on the address the connection is really made to — so a
 * name that resolved to a public address at registration and to 169.254.169.254 now (DNS
 * rebinding) is refused at delivery. Redirects are not followed (an answer, not a success), and a
 * refused target is never connected to, so nothing of it can be echoed into /deliveries.
 */
export class FetchWebhookSender extends WebhookSender {
  constructor(private readonly rules: WebhookTargetRules = { allowLoopbackHttp: false }) {
    super();
  }

  override async post(request: WebhookRequest): Promise<WebhookResponse> {
    const refusal = webhookUrlRefusal(request.url, this.rules);
    if (refusal) return { statusCode: null, error: `refused: url ${refusal}` };
    try {
      return await this.send(request);
    } catch (caught) {
      if (caught instanceof RefusedTarget) return { statusCode: null, error: `refused: ${caught.message}` };
      return { statusCode: null, error: describeError(caught, request.timeoutMs) };
    }
  }

  private send(request: WebhookRequest): Promise<WebhookResponse> {
    const url = new URL(request.url);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<WebhookResponse>((resolve, reject) => {
      const outgoing = send(
        url,
        {
          method: 'POST',
          headers: { ...request.headers, 'content-length': Buffer.byteLength(request.body).toString() },
          lookup: this.guardedLookup(),
          signal: AbortSignal.timeout(request.timeoutMs),
        },
        (response) => {
          readSnippet(response, RESPONSE_SNIPPET_CHARS).then(
            (responseSnippet) => resolve({ statusCode: response.statusCode ?? 0, responseSnippet }),
            reject,
          );
        },
      );
      outgoing.on('error', reject);
      outgoing.end(request.body);
    });
  }

  /** dns.lookup, then every answer must be allowed (node calls this only for names, not literals). */
  private guardedLookup(): LookupFunction {
    return (hostname, options, callback) => {
      dnsLookup(hostname, { ...options, all: true }, (error, answers: LookupAddress[]) => {
        if (error) return callback(error, '', 0);
        for (const answer of answers) {
          const refused = addressRefusal(answer.address, this.rules);
          if (refused) {
            return callback(new RefusedTarget(`${hostname} resolves to ${refused}`), '', 0);
          }
        }
        const first = answers[0];
        if (!first) return callback(new RefusedTarget(`${hostname} does not resolve`), '', 0);
        if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, answers);
        return callback(null, first.address, first.family);
      });
    };
  }
}

/** The first `maxChars` characters of the answer, without reading a large body to its end. */
async function readSnippet(response: IncomingMessage, maxChars: number): Promise<string | null> {
  const decoder = new TextDecoder();
  let text = '';
  try {
    for await (const chunk of response) {
      text += decoder.decode(chunk as Uint8Array, { stream: true });
      if (text.length >= maxChars) break;
    }
  } catch {
    // A body cut short (timeout, reset) still leaves the status code to judge by.
  } finally {
    response.destroy();
  }
  // PostgreSQL text refuses NUL.
  const snippet = text.replaceAll('\u0000', '').slice(0, maxChars);
  return snippet.length > 0 ? snippet : null;
}

function describeError(error: unknown, timeoutMs: number): string {
  // Duck-typed, not instanceof: errors may come from another realm (test VMs).
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
