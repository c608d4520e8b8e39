import { Global, Module, type DynamicModule } from '@nestjs/common';
import { Credentials } from '#application';
import type { GpupoolConfig } from '#config';
import { AuditService } from '../audit/audit.service.js';
import { CredentialsService } from '../auth/credentials.service.js';
import { GPUPOOL_CONFIG } from './config.provider.js';

/** Config, credentials and audit: what every feature module may inject. */
@Global()
@Module({})
export class CoreModule {
  static forRoot(config: GpupoolConfig): DynamicModule {
    return {
      module: CoreModule,
      providers: [
        { provide: GPUPOOL_CONFIG, useValue: config },
        CredentialsService,
        // The identity use cases' port, bound to the same instance.
        { provide: Credentials, useExisting: CredentialsService },
        AuditService,
      ],
      exports: [GPUPOOL_CONFIG, CredentialsService, Credentials, AuditService],
    };
  }
}
