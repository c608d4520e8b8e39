import { StandardSchemaValidationPipe } from '@nestjs/common';
import { DomainError } from '#domain';

interface Issue {
  readonly message: string;
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
}

function pathOf(issue: Issue): string {
  return (issue.path ?? [])
    .map((segment) => (typeof segment === 'object' ? segment.key : segment))
    .map((key) => (typeof key === 'number' ? `[${key}]` : `.${String(key)}`))
    .join('')
    .replace(/^\./, '');
}

/** Zod (Standard Schema) validation whose failures are the API.md error body, one detail per problem. */
export function createValidationPipe(): StandardSchemaValidationPipe {
  return new StandardSchemaValidationPipe({
    exceptionFactory: (issues: readonly Issue[]) => {
      const details = issues.map((issue) => ({ field: pathOf(issue) || '(body)', message: issue.message }));
      const summary = details
        .slice(0, 5)
        .map((detail) => `${detail.field}: ${detail.message}`)
        .join('; ');
      return new DomainError('invalid', 'VALIDATION_FAILED', `The request is invalid — ${summary}`, details);
    },
  });
}
