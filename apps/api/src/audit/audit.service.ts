import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { AuditEventEntity, auditJson } from '#persistence';
import { actorOf, type Principal } from '../auth/principal.js';

export interface AuditInput {
  principal?: Principal;
  action: string;
  subjectType: string;
  subjectId: string;
  before?: unknown;
  after?: unknown;
  requestId?: string | null;
}

/** Append-only audit trail; always written inside the transaction of the change it records. */
@Injectable()
export class AuditService {
  async record(manager: EntityManager, input: AuditInput): Promise<void> {
    const { actorId, actorKind } = actorOf(input.principal);
    await manager.getRepository(AuditEventEntity).insert({
      actorId,
      actorKind,
      action: input.action,
      subjectType: input.subjectType,
      subjectId: input.subjectId,
      before: auditJson(input.before),
      after: auditJson(input.after),
      requestId: input.requestId ?? null,
    });
  }

  async history(manager: EntityManager, subjectType: string, subjectId: string): Promise<AuditEventEntity[]> {
    return manager
      .getRepository(AuditEventEntity)
      .find({ where: { subjectType, subjectId }, order: { id: 'ASC' } });
  }
}
