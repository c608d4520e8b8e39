import { Column, CreateDateColumn, Entity, Index, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';

/** Append-only: a trigger in the migrations refuses UPDATE and DELETE. */
@Entity('audit_events')
@Index('ix_audit_events_subject', ['subjectType', 'subjectId', 'id'])
export class AuditEventEntity {
  @PrimaryGeneratedColumn('increment', { type: 'bigint' }) id!: string;
  @Column('uuid', { nullable: true }) actorId!: string | null;
  /** `user`, `api_token` or `system`. */
  @Column('text') actorKind!: string;
  @Column('text') action!: string;
  @Column('text') subjectType!: string;
  @Column('text') subjectId!: string;
  @Column('jsonb', { nullable: true }) before!: object | null;
  @Column('jsonb', { nullable: true }) after!: object | null;
  @Column('text', { nullable: true }) requestId!: string | null;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) createdAt!: Date;
}

/** First answer to a write sent with an Idempotency-Key, replayed for the same key. */
@Entity('idempotency_keys')
export class IdempotencyKeyEntity {
  @PrimaryColumn('text') principal!: string;
  @PrimaryColumn('text') key!: string;
  @Column('text') method!: string;
  @Column('text') path!: string;
  @Column('text') requestHash!: string;
  /** Null while the request that reserved the key has not stored its answer yet. */
  @Column('integer', { nullable: true }) statusCode!: number | null;
  @Column('jsonb', { nullable: true }) responseBody!: unknown;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) createdAt!: Date;
}
