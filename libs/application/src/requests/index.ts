export * from './grant-allocation.use-case.js';
export * from './requests.module.js';
export * from './request-visibility.js';
export * from './review-request.use-case.js';
export * from './request-queries.js';
export * from './decide-request.use-cases.js';
export * from './draft-request.use-cases.js';
export * from './request-lines.js';
