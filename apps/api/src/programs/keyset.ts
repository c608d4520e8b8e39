import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import { decodeCursor } from '../common/pagination.js';

/**
 * Newest-first keyset paging over (created_at, id) for cursors from common/pagination.ts.
 * Those cursors carry a JS Date (milliseconds) while PostgreSQL keeps microseconds, so ordering and
 * comparing on the truncated instant is what keeps rows of the same millisecond from being skipped.
 * Fetches limit + 1 rows so pageOf() can tell whether there is a next page.
 */
export function newestFirstPage<T extends ObjectLiteral>(
  query: SelectQueryBuilder<T>,
  alias: string,
  page: { limit: number; cursor?: string | undefined },
  idColumn = 'id',
): SelectQueryBuilder<T> {
  const instant = `date_trunc('milliseconds', ${alias}.created_at)`;
  const id = `${alias}.${idColumn}`;
  const position = decodeCursor(page.cursor);
  if (position) {
    query.andWhere(`(${instant}, ${id}) < (:cursorAt, :cursorId)`, {
      cursorAt: position.createdAt,
      cursorId: position.id,
    });
  }
  return query
    .orderBy(instant, 'DESC')
    .addOrderBy(id, 'DESC')
    .limit(page.limit + 1);
}
