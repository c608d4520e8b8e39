export * from './directory.module.js';
export * from './create-project.use-case.js';
export * from './change-project-members.use-case.js';
export * from './project.queries.js';
export * from './project.views.js';
