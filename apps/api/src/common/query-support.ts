// Moved to libs/persistence/src/pagination.ts (repositories page their queries); these names stay
// importable from here until every feature's lists live in repositories.
export { isUniqueViolation, keysetPage, newestFirst, type PageQuery } from '#persistence';
