export * from './grant-allocation.use-case.js';
export * from './requests.module.js';
