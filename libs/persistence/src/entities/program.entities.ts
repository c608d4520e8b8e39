import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryColumn,
  PrimaryGeneratedColumn,
} from 'typeorm';
import { bigintTransformer } from '../mappers/bigint.transformer.js';
import { UserEntity } from './directory.entities.js';

@Entity('agencies')
export class AgencyEntity {
  @PrimaryColumn('text') code!: string;
  @Column('text') name!: string;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) createdAt!: Date;
}

@Entity('programs')
export class ProgramEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Index('uq_programs_code', { unique: true })
  @Column('text')
  code!: string;
  @Column('text') name!: string;
  @Column('text') agencyCode!: string;
  @ManyToOne(() => AgencyEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'agency_code' })
  agency?: AgencyEntity;
  @Column('integer') fiscalYear!: number;
  /** The application window: requests may be submitted between these instants. */
  @Column('timestamptz') startsAt!: Date;
  @Column('timestamptz') endsAt!: Date;
  @Column('text', { array: true }) eligibleOrganizationTypes!: string[];
  @Column('jsonb') tracks!: unknown;
  @Column('jsonb') sectorTargets!: unknown;
  @Column('jsonb') rubric!: unknown;
  /** Basis points (0..10000) per organization type. */
  @Column('jsonb') subsidyRates!: unknown;
  /** What happens to running workloads of an exhausted, expired or suspended allocation: finish | stop. */
  @Column('text', { default: 'finish' }) onExhaustion!: string;
  /**
   * How many times a workload of this program is requeued when the infrastructure fails it (node
   * down, a lost run) before it ends failed; 0 never requeues.
   */
  @Column('integer', { default: 3 }) infrastructureRequeueLimit!: number;
  /** Use-it-or-lose-it rules (RecallRule[] in libs/domain). */
  @Column('jsonb', { default: () => "'[]'" }) recallRules!: unknown;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) createdAt!: Date;
}

@Entity('program_budgets')
export class ProgramBudgetEntity {
  @PrimaryColumn('uuid') programId!: string;
  @PrimaryColumn('text') gpuModel!: string;
  @ManyToOne(() => ProgramEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'program_id' })
  program?: ProgramEntity;
  @Column('bigint', { transformer: bigintTransformer }) budgetGpuSeconds!: bigint;
}

@Entity('program_reviewers')
export class ProgramReviewerEntity {
  @PrimaryColumn('uuid') programId!: string;
  @PrimaryColumn('uuid') userId!: string;
  @ManyToOne(() => ProgramEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'program_id' })
  program?: ProgramEntity;
  @ManyToOne(() => UserEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'user_id' })
  user?: UserEntity;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) createdAt!: Date;
}
