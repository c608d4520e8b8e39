import fc from 'fast-check';
import { ORGANIZATION_TYPES, isOrganizationType } from './organization-type.js';
import { formatTaxIdentity, taxIdentityCheckDigit, validateTaxIdentity } from './tax-identity.js';

describe('validateTaxIdentity', () => {
  // Public registration numbers of listed companies, checked by hand against the NTS algorithm.
  it.each([
    ['220-81-62517', '2208162517'], // NAVER Corp.
    ['124-81-00998', '1248100998'], // Samsung Electronics
    ['120-81-47521', '1208147521'], // Kakao Corp.
    ['1234567891', '1234567891'],
  ])('accepts the business registration number %p', (raw, normalized) => {
    expect(validateTaxIdentity(raw)).toEqual({ kind: 'business_registration_number', normalized });
  });

  it.each([
    ['101-82-00008', '82'], // non-profit corporation
    ['138-83-00012', '83'], // State / local government
    ['105-89-00014', '89'], // unincorporated religious body
    ['214-80-00014', '80'], // other 소득세법 §2③ bodies
  ])('classifies %p (type code %s) as a non-profit 고유번호', (raw) => {
    expect(validateTaxIdentity(raw).kind).toBe('nonprofit_unique_number');
  });

  it('ignores surrounding whitespace', () => {
    expect(validateTaxIdentity('  220-81-62517\n').normalized).toBe('2208162517');
  });

  it.each([
    '',
    '220816251',
    '22081625170',
    '220-8162517',
    '2208-16-2517',
    '220 81 62517',
    'abc-de-fghij',
    '２２０-８１-６２５１７',
  ])('rejects the malformed %p and explains the accepted formats', (raw) => {
    expect(() => validateTaxIdentity(raw)).toThrow(
      expect.objectContaining({
        kind: 'invalid',
        code: 'INVALID_TAX_IDENTITY',
        details: { reason: 'format' },
      }),
    );
    expect(() => validateTaxIdentity(raw)).toThrow(/123-45-67890/);
  });

  it('rejects a wrong check digit, naming the reason', () => {
    expect(() => validateTaxIdentity('220-81-62518')).toThrow(
      expect.objectContaining({ code: 'INVALID_TAX_IDENTITY', details: { reason: 'check_digit' } }),
    );
    expect(() => validateTaxIdentity('1234567890')).toThrow(/check digit/);
  });

  it('rejects the never-issued type code 00 even when the check digit fits', () => {
    const firstNine = '123000000';
    const raw = `${firstNine}${taxIdentityCheckDigit(firstNine)}`;
    expect(() => validateTaxIdentity(raw)).toThrow(
      expect.objectContaining({ details: { reason: 'type_code' } }),
    );
  });

  const firstNineDigits = fc
    .string({ unit: fc.constantFrom(...'0123456789'), minLength: 9, maxLength: 9 })
    .filter((digits) => digits.slice(3, 5) !== '00');

  it('accepts exactly one of the ten possible last digits', () => {
    fc.assert(
      fc.property(firstNineDigits, (nine) => {
        const accepted = [...'0123456789'].filter((last) => {
          try {
            validateTaxIdentity(nine + last);
            return true;
          } catch {
            return false;
          }
        });
        expect(accepted).toHaveLength(1);
      }),
    );
  });

  it('detects every single-digit typo of a valid number', () => {
    fc.assert(
      fc.property(
        firstNineDigits,
        fc.integer({ min: 0, max: 9 }),
        fc.integer({ min: 1, max: 9 }),
        (nine, position, shift) => {
          const valid = nine + String(taxIdentityCheckDigit(nine));
          const digit = (Number(valid[position]) + shift) % 10;
          const typo = valid.slice(0, position) + String(digit) + valid.slice(position + 1);
          fc.pre(typo.slice(3, 5) !== '00');
          expect(() => validateTaxIdentity(typo)).toThrow(
            expect.objectContaining({ code: 'INVALID_TAX_IDENTITY' }),
          );
        },
      ),
    );
  });

  it('accepts both spellings of the same number identically', () => {
    fc.assert(
      fc.property(firstNineDigits, (nine) => {
        const normalized = nine + String(taxIdentityCheckDigit(nine));
        expect(validateTaxIdentity(formatTaxIdentity(normalized))).toEqual(validateTaxIdentity(normalized));
      }),
    );
  });
});

describe('organization types', () => {
  it('lists the seven types of the design', () => {
    expect(ORGANIZATION_TYPES).toEqual([
      'university',
      'research_institute',
      'public',
      'startup',
      'youth_startup',
      'sme',
      'enterprise',
    ]);
    expect(isOrganizationType('sme')).toBe(true);
    expect(isOrganizationType('SME')).toBe(false);
    expect(isOrganizationType(3)).toBe(false);
  });
});
