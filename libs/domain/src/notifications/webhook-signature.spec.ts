import { createHmac } from 'node:crypto';
import { signWebhook, verifyWebhook, webhookSignature } from './webhook-signature.js';

const SECRET = 'whsec_test-secret-0123456789';
const BODY = JSON.stringify({ id: 'n1', kind: 'usage_threshold', title: '80% used', data: { percent: 80 } });
const NOW = 1_764_270_000;

describe('webhook signatures', () => {
  it('signs "<t>.<raw body>" with HMAC-SHA256 of the secret, as a receiver recomputes it', () => {
    const header = signWebhook(SECRET, BODY, NOW);
    const expected = createHmac('sha256', SECRET).update(`${NOW}.${BODY}`).digest('hex');
    expect(header).toBe(`t=${NOW},v1=${expected}`);
    expect(webhookSignature(SECRET, NOW, Buffer.from(BODY))).toBe(expected);
  });

  it('verifies its own signature, from a string or the raw bytes', () => {
    const header = signWebhook(SECRET, BODY, NOW);
    expect(verifyWebhook(SECRET, BODY, header, { nowSeconds: NOW })).toEqual({
      ok: true,
      timestampSeconds: NOW,
    });
    expect(verifyWebhook(SECRET, Buffer.from(BODY), header, { nowSeconds: NOW + 60 }).ok).toBe(true);
  });

  it('refuses a tampered body', () => {
    const header = signWebhook(SECRET, BODY, NOW);
    const tampered = BODY.replace('80', '20');
    expect(verifyWebhook(SECRET, tampered, header, { nowSeconds: NOW })).toEqual({
      ok: false,
      reason: 'signature_mismatch',
    });
    // Re-serialised JSON with other spacing is another byte string: receivers must verify the raw body.
    expect(
      verifyWebhook(SECRET, JSON.stringify(JSON.parse(BODY), null, 2), header, { nowSeconds: NOW }).ok,
    ).toBe(false);
  });

  it('refuses the wrong secret', () => {
    const header = signWebhook('whsec_another-secret', BODY, NOW);
    expect(verifyWebhook(SECRET, BODY, header, { nowSeconds: NOW })).toEqual({
      ok: false,
      reason: 'signature_mismatch',
    });
  });

  it('refuses a timestamp outside the tolerance (replay), old or in the future', () => {
    const header = signWebhook(SECRET, BODY, NOW);
    expect(verifyWebhook(SECRET, BODY, header, { nowSeconds: NOW + 301 })).toEqual({
      ok: false,
      reason: 'timestamp_out_of_tolerance',
    });
    expect(verifyWebhook(SECRET, BODY, header, { nowSeconds: NOW - 301 }).ok).toBe(false);
    expect(verifyWebhook(SECRET, BODY, header, { nowSeconds: NOW + 300 }).ok).toBe(true);
    expect(verifyWebhook(SECRET, BODY, header, { nowSeconds: NOW + 3600, toleranceSeconds: 7200 }).ok).toBe(
      true,
    );
  });

  it('refuses a re-dated header: the timestamp is part of what is signed', () => {
    const signature = webhookSignature(SECRET, NOW, BODY);
    expect(
      verifyWebhook(SECRET, BODY, `t=${NOW + 1000},v1=${signature}`, { nowSeconds: NOW + 1000 }),
    ).toEqual({
      ok: false,
      reason: 'signature_mismatch',
    });
  });

  it('accepts any of several v1 signatures (secret rotation) and ignores unknown schemes', () => {
    const good = webhookSignature(SECRET, NOW, BODY);
    const other = webhookSignature('whsec_old', NOW, BODY);
    expect(
      verifyWebhook(SECRET, BODY, `t=${NOW},v1=${other},v1=${good},v2=abc`, { nowSeconds: NOW }).ok,
    ).toBe(true);
  });

  it.each([
    undefined,
    '',
    'v1=abc',
    `t=${NOW}`,
    `t=soon,v1=${'a'.repeat(64)}`,
    `t=${NOW},v1=nothex`,
    `t=${NOW},t=${NOW},v1=${'a'.repeat(64)}`,
    `t=${NOW},v1=${'a'.repeat(64)}=`,
  ])('calls the header %p malformed', (header) => {
    expect(verifyWebhook(SECRET, BODY, header, { nowSeconds: NOW })).toEqual({
      ok: false,
      reason: 'malformed',
    });
  });
});
