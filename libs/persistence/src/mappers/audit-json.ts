/**
 * What an audit event's before/after column stores: JSON, with bigint amounts as decimal strings
 * (JSON.stringify cannot carry bigint). Scalars are wrapped as `{ value }`.
 */
export function auditJson(value: unknown): object | null {
  if (value === undefined || value === null) return null;
  const json = JSON.stringify(value, (_key, inner: unknown) =>
    typeof inner === 'bigint' ? inner.toString() : inner,
  );
  const parsed: unknown = JSON.parse(json);
  return typeof parsed === 'object' && parsed !== null ? parsed : { value: parsed };
}
