export * from './grant-allocation.use-case.js';
export * from './requests.module.js';
export * from './request-visibility.js';
export * from './review-request.use-case.js';
export * from './request-queries.js';
