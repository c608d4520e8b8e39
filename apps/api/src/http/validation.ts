import { StandardSchemaValidationPipe, type ArgumentMetadata } from '@nestjs/common';
import { DomainError, findUnstorableText } from '#domain';

interface Issue {
  readonly message: string;
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
}

interface Detail {
  field: string;
  message: string;
}

function pathOf(issue: Issue): string {
  return (issue.path ?? [])
    .map((segment) => (typeof segment === 'object' ? segment.key : segment))
    .map((key) => (typeof key === 'number' ? `[${key}]` : `.${String(key)}`))
    .join('')
    .replace(/^\./, '');
}

/**
 * One detail per (field, message): a value can fail several checks with the same sentence (1e30 is
 * neither a safe integer nor within the maximum of integerIn), and a person should read it once.
 */
function invalidRequest(all: Detail[]): DomainError {
  const seen = new Set<string>();
  const details = all.filter((detail) => {
    const key = `${detail.field}\u0000${detail.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  const summary = details
    .slice(0, 5)
    .map((detail) => `${detail.field}: ${detail.message}`)
    .join('; ');
  return new DomainError('invalid', 'VALIDATION_FAILED', `The request is invalid — ${summary}`, details);
}

// Schemas whose items (paths as findUnstorableText spells them, e.g. `records[]`) are checked for
// unstorable text by their use case, one item at a time, so that one bad item does not refuse the rest.
const TEXT_CHECKED_PER_ITEM = new WeakMap<object, ReadonlySet<string>>();

/**
 * Marks a request schema whose listed items are checked for NUL and lone surrogates by the use case
 * (and rejected one by one) instead of refusing the whole request here. Returns the schema.
 */
export function textCheckedPerItem<T extends object>(schema: T, ...itemPaths: string[]): T {
  TEXT_CHECKED_PER_ITEM.set(schema, new Set(itemPaths));
  return schema;
}

/**
 * The one place every route argument from the request (body, query, path parameters) passes
 * through: Zod (Standard Schema) validation whose failures are the API.md error body, one detail per
 * problem — after a check that no string in it holds U+0000 or a lone UTF-16 surrogate, which
 * PostgreSQL cannot store (a 500 otherwise, or text silently changed to U+FFFD).
 */
export class RequestValidationPipe extends StandardSchemaValidationPipe {
  constructor() {
    super({
      exceptionFactory: (issues: readonly Issue[]) =>
        invalidRequest(issues.map((issue) => ({ field: pathOf(issue) || '(body)', message: issue.message }))),
    });
  }

  override async transform<T = unknown>(value: T, metadata: ArgumentMetadata): Promise<T> {
    if (metadata.type !== 'custom') {
      const skip = metadata.schema ? TEXT_CHECKED_PER_ITEM.get(metadata.schema) : undefined;
      const problems = findUnstorableText(value, { skip });
      if (problems.length > 0) {
        throw invalidRequest(
          problems.map((problem) => ({
            field: fieldName(problem.field, metadata),
            message: problem.message,
          })),
        );
      }
    }
    return super.transform(value, metadata);
  }
}

/** A path inside one argument, named as the client knows it: `records[3].externalId`, `id`. */
function fieldName(path: string, metadata: ArgumentMetadata): string {
  const prefix = metadata.data ?? '';
  if (path === '') return prefix || (metadata.type === 'body' ? '(body)' : `(${metadata.type})`);
  if (prefix === '') return path;
  return path.startsWith('[') ? `${prefix}${path}` : `${prefix}.${path}`;
}

export function createValidationPipe(): StandardSchemaValidationPipe {
  return new RequestValidationPipe();
}
