import { QueryFailedError, type ObjectLiteral, type SelectQueryBuilder } from 'typeorm';
import { decodeCursor, pageOf, type Page } from './pagination.js';

export interface PageQuery {
  limit: number;
  cursor?: string | undefined;
}

/**
 * Newest first, keyset over (created_at, id): stable while rows are inserted. Timestamps are stored
 * at millisecond precision (the migrations say timestamptz(3)), the precision a cursor's Date
 * carries, so the comparison is exact. Fetches limit + 1 rows so pageOf() can tell if more follow.
 */
export function newestFirst<T extends ObjectLiteral>(
  query: SelectQueryBuilder<T>,
  page: PageQuery,
  idColumn = 'id',
): SelectQueryBuilder<T> {
  const createdAt = `"${query.alias}"."created_at"`;
  const id = `"${query.alias}"."${idColumn}"`;
  const position = decodeCursor(page.cursor);
  if (position) {
    query.andWhere(
      `(${createdAt}, ${id}) < (CAST(:cursorCreatedAt AS timestamptz), CAST(:cursorId AS uuid))`,
      {
        cursorCreatedAt: position.createdAt.toISOString(),
        cursorId: position.id,
      },
    );
  }
  return query
    .orderBy(createdAt, 'DESC')
    .addOrderBy(id, 'DESC')
    .limit(page.limit + 1);
}

/** One page of entities, newest first, mapped to their responses. */
export async function keysetPage<T extends ObjectLiteral & { createdAt: Date; id: string }, R>(
  query: SelectQueryBuilder<T>,
  page: PageQuery,
  map: (row: T) => R,
): Promise<Page<R>> {
  const rows = await newestFirst(query, page).getMany();
  return pageOf(rows, page.limit, map);
}

/** True when `error` is PostgreSQL's unique_violation on the named constraint or index. */
export function isUniqueViolation(error: unknown, constraint: string): boolean {
  if (!(error instanceof QueryFailedError)) return false;
  const driverError = error.driverError as { code?: unknown; constraint?: unknown };
  return driverError.code === '23505' && driverError.constraint === constraint;
}
