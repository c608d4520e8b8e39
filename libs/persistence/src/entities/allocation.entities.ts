import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
} from 'typeorm';
import { ProjectEntity } from './directory.entities.js';
import { ProgramEntity } from './program.entities.js';
import { AllocationRequestEntity, AllocationRequestLineEntity } from './request.entities.js';

@Entity('allocations')
export class AllocationEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column('uuid') requestId!: string;
  @ManyToOne(() => AllocationRequestEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'request_id' })
  request?: AllocationRequestEntity;
  /** One allocation per approved request line: the unique key that makes a grant happen once. */
  @Index('uq_allocations_request_line', { unique: true })
  @Column('uuid')
  requestLineId!: string;
  @ManyToOne(() => AllocationRequestLineEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'request_line_id' })
  requestLine?: AllocationRequestLineEntity;
  @Index('ix_allocations_project')
  @Column('uuid')
  projectId!: string;
  @ManyToOne(() => ProjectEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'project_id' })
  project?: ProjectEntity;
  @Column('uuid') programId!: string;
  @ManyToOne(() => ProgramEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'program_id' })
  program?: ProgramEntity;
  @Column('text') gpuModel!: string;
  @Column('text') kind!: string;
  @Column('integer') maxConcurrentGpus!: number;
  @Column('timestamptz') startsAt!: Date;
  @Column('timestamptz') endsAt!: Date;
  /** active → exhausted | expired | suspended */
  @Column('text') status!: string;
  /** Why and when it last left `active` (exhausted, expired, suspended), for people reading it. */
  @Column('text', { nullable: true }) statusReason!: string | null;
  @Column({ type: 'timestamptz', precision: 3, nullable: true }) statusChangedAt!: Date | null;
  @Column('integer', { default: 0 }) priorityTier!: number;
  /** Reserved allocations: whole servers held on the capacity calendar (null for budget ones). */
  @Column('integer', { nullable: true }) servers!: number | null;
  /** Reserved allocations: all servers in one interconnect domain. */
  @Column('boolean', { default: false }) sameInterconnectDomain!: boolean;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) createdAt!: Date;
}
