// The application layer: use cases shared by every transport (HTTP controllers, job processors,
// the CLI). See docs/ARCHITECTURE.md.
export * from './access/project-access.js';
export * from './access/access.module.js';
export * from './directory/index.js';
export * from './usage/index.js';
export * from './allocations/index.js';
export * from './workloads/index.js';
export * from './planning/index.js';
export * from './requests/index.js';
export * from './identity/index.js';
export * from './pool/index.js';
export * from './billing/index.js';
export * from './notifications/index.js';
