import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { JobProducer, QueueTransport } from '#queues';
import { GPUPOOL_CONFIG, type GpupoolConfig } from './config.provider.js';

/** The API's side of the queues: one JobProducer over the configured transport. */
@Global()
@Module({
  providers: [
    {
      provide: QueueTransport,
      inject: [GPUPOOL_CONFIG],
      useFactory: (config: GpupoolConfig) =>
        new QueueTransport({
          backend: config.QUEUE_BACKEND,
          redisUrl: config.REDIS_URL,
          databaseUrl: config.DATABASE_URL,
          prefix: config.QUEUE_PREFIX,
        }),
    },
    {
      provide: JobProducer,
      inject: [QueueTransport],
      useFactory: (transport: QueueTransport) => new JobProducer(transport),
    },
  ],
  exports: [JobProducer],
})
export class QueueModule implements OnApplicationShutdown {
  constructor(
    @Inject(JobProducer) private readonly producer: JobProducer,
    @Inject(QueueTransport) private readonly transport: QueueTransport,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await this.producer.close();
    await this.transport.close();
  }
}
