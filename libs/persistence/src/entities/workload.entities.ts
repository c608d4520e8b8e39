import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryColumn,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
} from 'typeorm';
import { bigintTransformer } from '../mappers/bigint.transformer.js';
import { AllocationEntity } from './allocation.entities.js';
import { UserEntity } from './directory.entities.js';
import { NodeEntity } from './pool.entities.js';

/**
 * A request to run `gpus` GPUs of a model for up to `walltimeSeconds` against an allocation.
 * queued → admitted → running → succeeded | failed | cancelled | preempted (preempted work is
 * requeued as a new attempt of the same row, keeping its original `queuedAt` age).
 */
@Entity('workloads')
@Index('ix_workloads_model_state', ['gpuModel', 'state'])
@Index('ix_workloads_allocation_state', ['allocationId', 'state'])
export class WorkloadEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column('uuid') allocationId!: string;
  @ManyToOne(() => AllocationEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'allocation_id' })
  allocation?: AllocationEntity;
  @Index('ix_workloads_project')
  @Column('uuid')
  projectId!: string;
  @Column('uuid') programId!: string;
  @Column('text') gpuModel!: string;
  @Column('integer') gpus!: number;
  @Column('integer') walltimeSeconds!: number;
  @Column('text') name!: string;
  @Column('integer', { default: 0 }) priorityTier!: number;
  @Column('text') state!: string;
  @Column('uuid', { nullable: true }) batchId!: string | null;
  @Column('uuid', { nullable: true }) submittedBy!: string | null;
  @ManyToOne(() => UserEntity, { onDelete: 'RESTRICT', nullable: true })
  @JoinColumn({ name: 'submitted_by' })
  submitter?: UserEntity;
  /** For simulation: how long the simulated cluster runs it (defaults to the walltime). */
  @Column('integer', { nullable: true }) simulatedRuntimeSeconds!: number | null;
  /** Age used for ordering; kept when a preempted workload is requeued. */
  @Column({ type: 'timestamptz', precision: 3 }) queuedAt!: Date;
  @Column({ type: 'timestamptz', precision: 3, nullable: true }) admittedAt!: Date | null;
  @Column({ type: 'timestamptz', precision: 3, nullable: true }) dispatchedAt!: Date | null;
  @Column({ type: 'timestamptz', precision: 3, nullable: true }) startedAt!: Date | null;
  @Column({ type: 'timestamptz', precision: 3, nullable: true }) endedAt!: Date | null;
  @Column('text', { nullable: true }) endReason!: string | null;
  /** Borrowed capacity beyond its program's entitlement: preemptible when the owner needs it. */
  @Column('boolean', { default: false }) borrowed!: boolean;
  @Column('integer', { default: 0 }) attempt!: number;
  /** Attempts the infrastructure failed and gpupool requeued (bounded by the program's limit). */
  @Column('integer', { default: 0 }) infrastructureRequeues!: number;
  @Column('bigint', { transformer: bigintTransformer, default: 0 }) heldGpuSeconds!: bigint;
  @Column('bigint', { transformer: bigintTransformer, default: 0 }) consumedGpuSeconds!: bigint;
  /** Why a queued workload waits (quota, concurrency_cap, capacity, behind_others, reserved_for_head). */
  @Column('text', { nullable: true }) waitReason!: string | null;
  @Column('text', { nullable: true }) waitDetail!: string | null;
  @Column('integer', { nullable: true }) queuePosition!: number | null;
  @Column({ type: 'timestamptz', precision: 3, nullable: true }) estimatedStartAt!: Date | null;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) createdAt!: Date;
  @UpdateDateColumn({ type: 'timestamptz', precision: 3 }) updatedAt!: Date;
}

/** Which GPUs of which nodes a workload holds while admitted or running. */
@Entity('workload_placements')
@Index('ix_workload_placements_node', ['nodeId'])
export class WorkloadPlacementEntity {
  @PrimaryColumn('uuid') workloadId!: string;
  @PrimaryColumn('uuid') nodeId!: string;
  @ManyToOne(() => WorkloadEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'workload_id' })
  workload?: WorkloadEntity;
  @ManyToOne(() => NodeEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'node_id' })
  node?: NodeEntity;
  @Column('integer') gpus!: number;
}

/**
 * The last time a cluster agent confirmed that it runs an attempt (its heartbeat listed it). One row
 * per workload: a newer attempt replaces the older one's. Kept apart from `workloads` so heartbeats
 * never wait on (or lock) the rows the scheduling cycle and the ends write.
 */
@Entity('run_confirmations')
export class RunConfirmationEntity {
  @PrimaryColumn('uuid') workloadId!: string;
  @ManyToOne(() => WorkloadEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'workload_id' })
  workload?: WorkloadEntity;
  @Column('integer') attempt!: number;
  @Column({ type: 'timestamptz', precision: 3 }) confirmedAt!: Date;
}
