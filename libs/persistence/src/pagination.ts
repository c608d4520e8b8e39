import { QueryFailedError, type ObjectLiteral, type SelectQueryBuilder } from 'typeorm';
import { DomainError } from '#domain';

/** One page of a list: its items and the opaque cursor of the next page (null on the last). */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface PageQuery {
  limit: number;
  cursor?: string | undefined;
}

/** Keyset cursor over (createdAt, id): stable under concurrent inserts, opaque to clients. */
export interface CursorPosition {
  createdAt: Date;
  id: string;
}

/** The page of a list the principal may see nothing of. */
export function emptyPage<T>(): Page<T> {
  return { items: [], nextCursor: null };
}

export function encodeCursor(position: CursorPosition): string {
  return Buffer.from(`${position.createdAt.toISOString()}|${position.id}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string | undefined): CursorPosition | undefined {
  if (cursor === undefined) return undefined;
  const [iso, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(iso ?? '');
  if (!id || Number.isNaN(createdAt.getTime()) || !/^[0-9a-f-]{36}$/i.test(id)) {
    throw new DomainError(
      'invalid',
      'INVALID_CURSOR',
      'The cursor is not one this API issued; start again without it.',
    );
  }
  return { createdAt, id };
}

export function pageOf<T extends { createdAt: Date; id: string }, R>(
  rows: T[],
  limit: number,
  map: (row: T) => R,
): Page<R> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items: items.map(map), nextCursor: rows.length > limit && last ? encodeCursor(last) : null };
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
