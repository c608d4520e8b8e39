export * from './jobs.js';
export { JobProducer } from './job-producer.js';
export {
  QueueTransport,
  queueSchemaFor,
  type QueueTransportSettings,
  type WorkerSettings,
} from './queue-transport.js';
export * from './after-commit.js';
