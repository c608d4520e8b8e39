import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
} from 'typeorm';
import { bigintTransformer } from '../mappers/bigint.transformer.js';
import { ProjectEntity, UserEntity } from './directory.entities.js';
import { ProgramEntity } from './program.entities.js';

@Entity('allocation_requests')
@Index('ix_allocation_requests_program_status', ['programId', 'status'])
@Check('ck_allocation_requests_sector', `"sector" IN ('national', 'industry', 'academia')`)
export class AllocationRequestEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Index('ix_allocation_requests_project')
  @Column('uuid')
  projectId!: string;
  @ManyToOne(() => ProjectEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'project_id' })
  project?: ProjectEntity;
  @Column('uuid') programId!: string;
  @ManyToOne(() => ProgramEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'program_id' })
  program?: ProgramEntity;
  @Column('text') status!: string;
  @Column('timestamptz') startsAt!: Date;
  @Column('timestamptz') endsAt!: Date;
  @Column('text') justification!: string;
  @Column('uuid') createdBy!: string;
  @ManyToOne(() => UserEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'created_by' })
  creator?: UserEntity;
  @Column('timestamptz', { nullable: true }) submittedAt!: Date | null;
  @Column('timestamptz', { nullable: true }) decidedAt!: Date | null;
  @Column('uuid', { nullable: true }) decidedBy!: string | null;
  @Column('text', { nullable: true }) decisionNote!: string | null;
  /**
   * Which part of the government plan the request counts toward for sector targets; null means
   * derived from the organization type (libs/domain sectorForOrganizationType).
   */
  @Column('text', { nullable: true }) sector!: string | null;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) createdAt!: Date;
  @UpdateDateColumn({ type: 'timestamptz', precision: 3 }) updatedAt!: Date;
}

@Entity('allocation_request_lines')
@Index('uq_allocation_request_lines_model', ['requestId', 'gpuModel'], { unique: true })
export class AllocationRequestLineEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column('uuid') requestId!: string;
  @ManyToOne(() => AllocationRequestEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'request_id' })
  request?: AllocationRequestEntity;
  @Column('integer') lineNo!: number;
  @Column('text') gpuModel!: string;
  /** `budget` (GPU-hours through the shared queue) or `reserved` (whole servers). */
  @Column('text') kind!: string;
  @Column('bigint', { transformer: bigintTransformer }) gpuSeconds!: bigint;
  @Column('integer') maxConcurrentGpus!: number;
  @Column('bigint', { transformer: bigintTransformer, nullable: true }) grantedGpuSeconds!: bigint | null;
  @Column('integer', { nullable: true }) grantedMaxConcurrentGpus!: number | null;
  /** Reserved lines: whole servers asked for (gpuSeconds = servers × GPUs per node × window seconds). */
  @Column('integer', { nullable: true }) servers!: number | null;
  /** Reserved lines: their own window; null means the request's window. */
  @Column('timestamptz', { nullable: true }) startsAt!: Date | null;
  @Column('timestamptz', { nullable: true }) endsAt!: Date | null;
  /** Reserved lines: all servers in one interconnect domain (multi-node training). */
  @Column('boolean', { default: false }) sameInterconnectDomain!: boolean;
  /** Reserved lines: servers granted (never more than asked); null until decided. */
  @Column('integer', { nullable: true }) grantedServers!: number | null;
}

@Entity('reviews')
@Index('uq_reviews_request_reviewer', ['requestId', 'reviewerId'], { unique: true })
export class ReviewEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column('uuid') requestId!: string;
  @ManyToOne(() => AllocationRequestEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'request_id' })
  request?: AllocationRequestEntity;
  @Column('uuid') reviewerId!: string;
  @ManyToOne(() => UserEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'reviewer_id' })
  reviewer?: UserEntity;
  @Column('jsonb') scores!: Record<string, number>;
  /** Weighted score × 1000, floored (87.5 → 87500); computed in libs/domain. */
  @Column('integer') weightedScoreMilli!: number;
  @Column('text') comment!: string;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) createdAt!: Date;
}

@Entity('conflict_declarations')
@Index('uq_conflict_declarations_request_reviewer', ['requestId', 'reviewerId'], { unique: true })
export class ConflictDeclarationEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column('uuid') requestId!: string;
  @ManyToOne(() => AllocationRequestEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'request_id' })
  request?: AllocationRequestEntity;
  @Column('uuid') reviewerId!: string;
  @ManyToOne(() => UserEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'reviewer_id' })
  reviewer?: UserEntity;
  @Column('text') reason!: string;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) createdAt!: Date;
}

/**
 * Transactional outbox for grants: written in the approval's transaction, completed in the grant's.
 * The reconciler re-enqueues every pending row, so a job Redis loses still ends in one grant.
 */
@Entity('grant_intents')
export class GrantIntentEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Index('uq_grant_intents_request', { unique: true })
  @Column('uuid')
  requestId!: string;
  @ManyToOne(() => AllocationRequestEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'request_id' })
  request?: AllocationRequestEntity;
  /** `pending` until the scheduler has created the allocations and posted the grant; then `done`. */
  @Index('ix_grant_intents_status')
  @Column('text')
  status!: string;
  @Column('integer', { default: 0 }) attempts!: number;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) createdAt!: Date;
  @Column('timestamptz', { nullable: true }) enqueuedAt!: Date | null;
  @Column('timestamptz', { nullable: true }) completedAt!: Date | null;
}
