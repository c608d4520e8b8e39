import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { AuditEventEntity } from '#persistence';
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
      before: toJson(input.before),
      after: toJson(input.after),
      requestId: input.requestId ?? null,
    });
  }

  async history(manager: EntityManager, subjectType: string, subjectId: string): Promise<AuditEventEntity[]> {
    return manager
      .getRepository(AuditEventEntity)
      .find({ where: { subjectType, subjectId }, order: { id: 'ASC' } });
  }
}

/** bigint cannot go through JSON.stringify: store it as a decimal string. */
function toJson(value: unknown): object | null {
  if (value === undefined || value === null) return null;
  const json = JSON.stringify(value, (_key, inner: unknown) =>
    typeof inner === 'bigint' ? inner.toString() : inner,
  );
  const parsed: unknown = JSON.parse(json);
  return typeof parsed === 'object' && parsed !== null ? parsed : { value: parsed };
}
