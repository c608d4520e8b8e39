import { invalid } from '../errors/domain-error.js';

/**
 * Korean tax identities share one 10-digit layout, XXX-YY-ZZZZZ:
 *   XXX   office / serial code,
 *   YY    the type code (개인·법인 구분코드),
 *   ZZZZ  serial, and the last digit a check digit.
 * A business gets a 사업자등록번호; a body without business income (a non-profit, a public body, a
 * religious body) gets a 고유번호 in the same layout with the same check digit.
 *
 * Source of truth for the type codes: the National Tax Service numbering scheme (국세청
 * 「사업자등록번호 부여 체계」, in its 사업자등록 사무처리규정):
 *   01–79 individual, taxable · 90–99 individual, VAT-exempt
 *   80 bodies under 소득세법 §2③ other than religious ones (e.g. apartment management offices)
 *      and multi-level sales agents
 *   81, 86, 87, 88 head office of a for-profit corporation · 85 its branch
 *   82 non-profit corporation, head office or branch (incl. unincorporated associations and
 *      foundations treated as corporations)
 *   83 the State, local governments and their associations
 *   84 foreign corporation
 *   89 religious body that is not a corporation (소득세법 §2③)
 * Codes 80, 82, 83 and 89 are the non-profit / public ranges; 00 is never issued.
 */
export const NONPROFIT_TYPE_CODES: readonly string[] = ['80', '82', '83', '89'];

export type TaxIdentityKind = 'business_registration_number' | 'nonprofit_unique_number';

export interface TaxIdentity {
  kind: TaxIdentityKind;
  /** Ten ASCII digits, no separators. */
  normalized: string;
}

/** Weights of the NTS check digit over the first nine digits. */
const CHECK_WEIGHTS = [1, 3, 7, 1, 3, 7, 1, 3, 5] as const;
const ACCEPTED_FORMAT = /^(\d{3})-?(\d{2})-?(\d{5})$/;

/**
 * The check digit for the first nine digits: Σ dᵢ·wᵢ + ⌊d₉·5/10⌋, then (10 − sum mod 10) mod 10.
 * The extra term carries the tens digit of d₉·5, which the weighted sum would otherwise drop.
 */
export function taxIdentityCheckDigit(firstNineDigits: string): number {
  if (!/^\d{9}$/.test(firstNineDigits)) {
    throw new TypeError(`taxIdentityCheckDigit expects nine digits, got "${firstNineDigits}"`);
  }
  const digits = [...firstNineDigits].map((digit) => digit.charCodeAt(0) - 48);
  let sum = 0;
  CHECK_WEIGHTS.forEach((weight, index) => {
    sum += (digits[index] ?? 0) * weight;
  });
  sum += Math.floor(((digits[8] ?? 0) * 5) / 10);
  return (10 - (sum % 10)) % 10;
}

/** "1234567890" → "123-45-67890", the way the number is printed on a registration certificate. */
export function formatTaxIdentity(normalized: string): string {
  return `${normalized.slice(0, 3)}-${normalized.slice(3, 5)}-${normalized.slice(5)}`;
}

/**
 * Accepts "1234567890" or "123-45-67890" (surrounding spaces ignored) and returns the kind and the
 * bare ten digits; throws INVALID_TAX_IDENTITY saying what is wrong otherwise.
 */
export function validateTaxIdentity(raw: string): TaxIdentity {
  const text = raw.trim();
  const match = ACCEPTED_FORMAT.exec(text);
  // Mixed forms such as "123-4567890" pass the optional-hyphen regex, so also require all-or-none.
  const hyphens = (text.match(/-/g) ?? []).length;
  if (match === null || (hyphens !== 0 && hyphens !== 2)) {
    throw invalid(
      'INVALID_TAX_IDENTITY',
      `"${raw}" is not a business registration number or 고유번호: enter 10 digits, either as ` +
        `1234567890 or as 123-45-67890.`,
      { reason: 'format' },
    );
  }
  const normalized = `${match[1] ?? ''}${match[2] ?? ''}${match[3] ?? ''}`;
  const typeCode = normalized.slice(3, 5);
  if (typeCode === '00') {
    throw invalid(
      'INVALID_TAX_IDENTITY',
      `${formatTaxIdentity(normalized)} cannot be a tax identity: the middle two digits are never 00. ` +
        `Copy the number again from the registration certificate.`,
      { reason: 'type_code' },
    );
  }
  const expected = taxIdentityCheckDigit(normalized.slice(0, 9));
  if (normalized.charCodeAt(9) - 48 !== expected) {
    throw invalid(
      'INVALID_TAX_IDENTITY',
      `${formatTaxIdentity(normalized)} fails the National Tax Service check digit, so at least one ` +
        `digit is mistyped. Copy the number again from the registration certificate.`,
      { reason: 'check_digit' },
    );
  }
  return {
    kind: NONPROFIT_TYPE_CODES.includes(typeCode)
      ? 'nonprofit_unique_number'
      : 'business_registration_number',
    normalized,
  };
}
