import { Injectable } from '@nestjs/common';
import { actorOf, type Principal } from '#domain';
import { AuditEventEntity } from '../entities/audit.entities.js';
import { auditJson } from '../mappers/audit-json.js';
import type { Tx } from '../transaction.js';

export interface AuditInput {
  principal?: Principal;
  action: string;
  subjectType: string;
  subjectId: string;
  before?: unknown;
  after?: unknown;
  requestId?: string | null;
}

/** The append-only audit trail, written inside the transaction of the change it records. */
@Injectable()
export class AuditRepository {
  async record(tx: Tx, input: AuditInput): Promise<void> {
    const { actorId, actorKind } = actorOf(input.principal);
    await tx.getRepository(AuditEventEntity).insert({
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
}
