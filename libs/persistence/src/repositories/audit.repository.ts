import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
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

/** The append-only audit trail; always written inside the transaction of the change it records. */
export abstract class AuditRepository {
  abstract record(tx: Tx, input: AuditInput): Promise<void>;
  abstract history(subjectType: string, subjectId: string, tx?: Tx): Promise<AuditEventEntity[]>;
}

@Injectable()
export class TypeormAuditRepository extends AuditRepository {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  override async record(tx: Tx, input: AuditInput): Promise<void> {
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

  override history(subjectType: string, subjectId: string, tx?: Tx): Promise<AuditEventEntity[]> {
    return (tx ?? this.dataSource.manager)
      .getRepository(AuditEventEntity)
      .find({ where: { subjectType, subjectId }, order: { id: 'ASC' } });
  }
}
