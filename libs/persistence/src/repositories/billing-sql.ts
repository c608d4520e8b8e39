import type { EntityManager } from 'typeorm';

/** TypeORM answers an UPDATE on PostgreSQL with [rows, affected]; the RETURNING rows are the first. */
export async function updateReturning<T>(
  manager: EntityManager,
  sql: string,
  parameters: unknown[],
): Promise<T[]> {
  const [rows] = await manager.query<[T[], number]>(sql, parameters);
  return rows;
}
