export * from './billing-close.use-cases.js';
export * from './billing.module.js';
