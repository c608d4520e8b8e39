export * from './notification.queries.js';
export * from './notifications.module.js';
export * from './webhook-subscriptions.use-case.js';
