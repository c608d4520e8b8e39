import type { ProjectScope } from '#domain';

/**
 * The one SQL form of "which projects may this principal see" (invariant 7): a condition on a
 * project id column, with its named parameters, for TypeORM query builders and raw SQL alike.
 * Every repository that lists project-owned rows filters through it.
 *
 *   const scope = projectScopeCondition(projectScopeOf(principal), 'w.project_id');
 *   qb.andWhere(scope.sql, scope.params);
 */
export function projectScopeCondition(
  scope: ProjectScope,
  projectIdColumn: string,
  parameterName = 'scopeUserId',
): { sql: string; params: Record<string, string> } {
  switch (scope.kind) {
    case 'all':
      return { sql: 'TRUE', params: {} };
    case 'none':
      return { sql: 'FALSE', params: {} };
    case 'member':
      return {
        sql:
          `${projectIdColumn} IN (SELECT scope_m.project_id FROM project_members scope_m ` +
          `WHERE scope_m.user_id = :${parameterName}` +
          (scope.piOnly ? " AND scope_m.role = 'pi')" : ')'),
        params: { [parameterName]: scope.userId },
      };
  }
}

/**
 * The same condition for positional SQL (`$n`): `nextParameter` receives the value and returns
 * its placeholder, e.g. `(value) => { params.push(value); return \`$${params.length}\`; }`.
 */
export function projectScopeSql(
  scope: ProjectScope,
  projectIdColumn: string,
  nextParameter: (value: string) => string,
): string {
  switch (scope.kind) {
    case 'all':
      return 'TRUE';
    case 'none':
      return 'FALSE';
    case 'member':
      return (
        `${projectIdColumn} IN (SELECT scope_m.project_id FROM project_members scope_m ` +
        `WHERE scope_m.user_id = ${nextParameter(scope.userId)}::uuid` +
        (scope.piOnly ? " AND scope_m.role = 'pi')" : ')')
      );
  }
}
