/**
 * What went wrong, in terms the transport layer maps to a status (apps/api/src/http/domain-error.filter.ts).
 * The domain never knows about HTTP.
 */
export const DOMAIN_ERROR_KINDS = [
  'invalid',
  'unauthenticated',
  'forbidden',
  'not_found',
  'conflict',
  'rule_violated',
] as const;
export type DomainErrorKind = (typeof DOMAIN_ERROR_KINDS)[number];

const ERROR_CODE_PATTERN = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$/;

/**
 * An expected failure of a business rule. `code` is stable (clients and dashboards key on it);
 * `message` is for a person and says what to do; `details` carries structured data such as the
 * list of every failed rule.
 */
export class DomainError extends Error {
  override readonly name = 'DomainError';

  constructor(
    readonly kind: DomainErrorKind,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    // A malformed code is a programming mistake; failing loudly keeps codes greppable and stable.
    if (!ERROR_CODE_PATTERN.test(code)) {
      throw new TypeError(`DomainError code must be SNAKE_CASE, got "${code}"`);
    }
  }
}

export function isDomainError(value: unknown): value is DomainError {
  return value instanceof DomainError;
}

export function invalid(code: string, message: string, details?: unknown): DomainError {
  return new DomainError('invalid', code, message, details);
}

export function forbidden(code: string, message: string, details?: unknown): DomainError {
  return new DomainError('forbidden', code, message, details);
}

export function conflict(code: string, message: string, details?: unknown): DomainError {
  return new DomainError('conflict', code, message, details);
}

export function ruleViolated(code: string, message: string, details?: unknown): DomainError {
  return new DomainError('rule_violated', code, message, details);
}

/** `notFound('Program', id)` → "Program 42 was not found." with code NOT_FOUND. */
export function notFound(subject: string, id?: string): DomainError {
  const what = id === undefined ? subject : `${subject} ${id}`;
  return new DomainError(
    'not_found',
    'NOT_FOUND',
    `${what} was not found. Check the identifier, or that you have access to it.`,
    { subject, id },
  );
}
