// The principal is a domain value (libs/domain/src/access): use cases in libs/application take it too.
export {
  ROLES,
  API_TOKEN_SCOPES,
  hasRole,
  actorOf,
  type Role,
  type ApiTokenScope,
  type Principal,
} from '#domain';
