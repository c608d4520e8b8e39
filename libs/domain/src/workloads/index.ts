export * from './workload-state.js';
export * from './event-fencing.js';
export * from './attempt-hold.js';
export * from './placement-limits.js';
export * from './submission-rules.js';
export * from './infrastructure-requeue.js';
