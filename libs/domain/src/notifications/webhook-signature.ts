import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures, Stripe style: `Gpupool-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` where
 * the HMAC key is the subscription's secret (the whole `whsec_…` string, as UTF-8) and the message is
 * `<t>.<raw request body>`. The timestamp is signed too, so a captured request cannot be replayed
 * after the tolerance. Receivers verify with the same computation (README: "Notifications and
 * webhooks"); several `v1=` entries are accepted, for secret rotation.
 */
export const SIGNATURE_HEADER = 'Gpupool-Signature';
export const EVENT_HEADER = 'Gpupool-Event';
export const DELIVERY_HEADER = 'Gpupool-Delivery';

/** How old (or how far in the future) a signature's timestamp may be. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

export function webhookSignature(secret: string, timestampSeconds: number, rawBody: string | Buffer): string {
  return createHmac('sha256', secret).update(`${timestampSeconds}.`).update(rawBody).digest('hex');
}

/** The header value for a body sent at `timestampSeconds`. */
export function signWebhook(secret: string, rawBody: string | Buffer, timestampSeconds: number): string {
  return `t=${timestampSeconds},v1=${webhookSignature(secret, timestampSeconds, rawBody)}`;
}

export type SignatureCheck =
  | { ok: true; timestampSeconds: number }
  | { ok: false; reason: 'malformed' | 'timestamp_out_of_tolerance' | 'signature_mismatch' };

/**
 * Checks a `Gpupool-Signature` header against the raw body (the bytes received, before any JSON
 * parsing). Constant-time comparison; a timestamp further than `toleranceSeconds` from now fails.
 */
export function verifyWebhook(
  secret: string,
  rawBody: string | Buffer,
  header: string | undefined,
  options: { toleranceSeconds?: number; nowSeconds?: number } = {},
): SignatureCheck {
  const parsed = parseSignatureHeader(header);
  if (!parsed) return { ok: false, reason: 'malformed' };
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - parsed.timestampSeconds) > (options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS)) {
    return { ok: false, reason: 'timestamp_out_of_tolerance' };
  }
  const expected = Buffer.from(webhookSignature(secret, parsed.timestampSeconds, rawBody), 'hex');
  const matches = parsed.signatures.some((candidate) => {
    const given = Buffer.from(candidate, 'hex');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  return matches
    ? { ok: true, timestampSeconds: parsed.timestampSeconds }
    : { ok: false, reason: 'signature_mismatch' };
}

function parseSignatureHeader(
  header: string | undefined,
): { timestampSeconds: number; signatures: string[] } | undefined {
  if (header === undefined) return undefined;
  let timestampSeconds: number | undefined;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const [key, value, ...rest] = part.trim().split('=');
    if (key === undefined || value === undefined || rest.length > 0) return undefined;
    if (key === 't') {
      if (!/^\d{1,12}$/.test(value) || timestampSeconds !== undefined) return undefined;
      timestampSeconds = Number(value);
    } else if (key === 'v1') {
      if (!/^[0-9a-f]{64}$/i.test(value)) return undefined;
      signatures.push(value.toLowerCase());
    }
    // Unknown schemes (a future v2) are ignored, as Stripe's receivers do.
  }
  if (timestampSeconds === undefined || signatures.length === 0) return undefined;
  return { timestampSeconds, signatures };
}
