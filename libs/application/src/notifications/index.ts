export * from './notification.queries.js';
export * from './notifications.module.js';
export * from './webhook-subscriptions.use-case.js';
export * from './webhook-sender.js';
export * from './deliver-webhook.use-case.js';
export * from './sweep-webhooks.use-case.js';
export * from './webhook-target-check.js';
