// The application layer: use cases shared by every transport (HTTP controllers, job processors,
// the CLI). See docs/ARCHITECTURE.md.
export * from './access/project-access.js';
export * from './access/access.module.js';
export * from './requests/index.js';
