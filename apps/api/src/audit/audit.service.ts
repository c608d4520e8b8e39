import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { AuditRepository, type AuditEventEntity, type AuditInput } from '#persistence';

export type { AuditInput } from '#persistence';

/**
 * The audit trail for API services not yet moved to use cases; use cases inject AuditRepository
 * (libs/persistence) directly, and this class goes once nothing calls it.
 */
@Injectable()
export class AuditService {
  constructor(private readonly audit: AuditRepository) {}

  record(manager: EntityManager, input: AuditInput): Promise<void> {
    return this.audit.record(manager, input);
  }

  history(manager: EntityManager, subjectType: string, subjectId: string): Promise<AuditEventEntity[]> {
    return this.audit.history(subjectType, subjectId, manager);
  }
}
