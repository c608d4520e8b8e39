import { QueryFailedError, type ObjectLiteral, type SelectQueryBuilder } from 'typeorm';
import { decodeCursor, pageOf, type Page } from '../common/pagination.js';

// Shared by the directory features (organizations, users, api-tokens, projects); a candidate for common/.

export interface PageQuery {
  limit: number;
  cursor?: string | undefined;
}

/**
 * Newest first, keyset over (createdAt, id). PostgreSQL keeps microseconds but the cursor carries a
 * JavaScript Date (milliseconds), so both sides compare at millisecond precision; otherwise rows
 * created within the same millisecond as a page's last row would be skipped or repeated.
 */
export async function keysetPage<T extends ObjectLiteral & { createdAt: Date; id: string }, R>(
  query: SelectQueryBuilder<T>,
  page: PageQuery,
  map: (row: T) => R,
): Promise<Page<R>> {
  const alias = query.alias;
  const createdAt = `date_trunc('milliseconds', "${alias}"."created_at")`;
  const position = decodeCursor(page.cursor);
  if (position) {
    query.andWhere(
      `(${createdAt}, "${alias}"."id") < (CAST(:cursorCreatedAt AS timestamptz), CAST(:cursorId AS uuid))`,
      {
        cursorCreatedAt: position.createdAt.toISOString(),
        cursorId: position.id,
      },
    );
  }
  const rows = await query
    .orderBy(createdAt, 'DESC')
    .addOrderBy(`"${alias}"."id"`, 'DESC')
    .limit(page.limit + 1)
    .getMany();
  return pageOf(rows, page.limit, map);
}

/** True when `error` is PostgreSQL's unique_violation on the named constraint or index. */
export function isUniqueViolation(error: unknown, constraint: string): boolean {
  if (!(error instanceof QueryFailedError)) return false;
  const driverError = error.driverError as { code?: unknown; constraint?: unknown };
  return driverError.code === '23505' && driverError.constraint === constraint;
}
