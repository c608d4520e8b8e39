import {
  Check,
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
import { AllocationEntity } from './allocation.entities.js';
import { WorkloadEntity } from './workload.entities.js';

/**
 * One `POST /v1/usage/records` call: its records were stored (deduplicated) with the batch in one
 * transaction; `postedAt` is set in the transaction that posts their ledger entries and rollups, so
 * a batch is posted exactly once whatever the queue redelivers, and a batch Redis lost is found here.
 */
@Entity('usage_batches')
@Index('ix_usage_batches_unposted', ['receivedAt'], { where: 'posted_at IS NULL' })
export class UsageBatchEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  /** The API token (cluster agent) that sent it. */
  @Column('uuid', { nullable: true }) tokenId!: string | null;
  @Column('integer') recordCount!: number;
  @Column('integer') acceptedCount!: number;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) receivedAt!: Date;
  @Column({ type: 'timestamptz', precision: 3, nullable: true }) postedAt!: Date | null;
}

/** Metered GPU time from a cluster; (source, externalId) is the record's identity: it counts once. */
@Entity('usage_records')
@Index('uq_usage_records_source_external_id', ['source', 'externalId'], { unique: true })
@Index('ix_usage_records_allocation_started', ['allocationId', 'startedAt'])
export class UsageRecordEntity {
  @PrimaryGeneratedColumn('increment', { type: 'bigint' }) id!: string;
  @Index('ix_usage_records_batch')
  @Column('uuid')
  batchId!: string;
  @ManyToOne(() => UsageBatchEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'batch_id' })
  batch?: UsageBatchEntity;
  @Column('text') source!: string;
  @Column('text') externalId!: string;
  @Column('uuid') allocationId!: string;
  @ManyToOne(() => AllocationEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'allocation_id' })
  allocation?: AllocationEntity;
  @Column('uuid', { nullable: true }) workloadId!: string | null;
  /** The admission attempt it metered, when the agent knows it; else found by time. */
  @Column('integer', { nullable: true }) attempt!: number | null;
  @Column('text') gpuModel!: string;
  @Column('integer') gpus!: number;
  @Column({ type: 'timestamptz', precision: 3 }) startedAt!: Date;
  @Column({ type: 'timestamptz', precision: 3 }) endedAt!: Date;
  /** gpus × started seconds (meteredGpuSeconds in libs/domain). */
  @Column('bigint', { transformer: bigintTransformer }) gpuSeconds!: bigint;
  /** Ran past the allocation window's end, or arrived after it closed. */
  @Column('boolean', { default: false }) late!: boolean;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) receivedAt!: Date;
}

/**
 * The hold of one admission attempt. At admission `remaining` = `held` = gpus × walltime. Usage
 * records of the attempt are taken from `remaining` first; at the attempt's end what its runtime
 * does not explain goes back to the allocation and the rest stays held until metered (or until
 * `releaseAfter`, when a reconciler releases it). Failures of the infrastructure set `refundReason`:
 * everything metered for the attempt is refunded.
 */
@Entity('workload_holds')
@Index('ix_workload_holds_release_after', ['releaseAfter'], { where: 'remaining_gpu_seconds > 0' })
export class WorkloadHoldEntity {
  @PrimaryColumn('uuid') workloadId!: string;
  @PrimaryColumn('integer') attempt!: number;
  @ManyToOne(() => WorkloadEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'workload_id' })
  workload?: WorkloadEntity;
  @Index('ix_workload_holds_allocation')
  @Column('uuid')
  allocationId!: string;
  @Column('bigint', { transformer: bigintTransformer }) heldGpuSeconds!: bigint;
  @Column('bigint', { transformer: bigintTransformer }) remainingGpuSeconds!: bigint;
  @Column('bigint', { transformer: bigintTransformer, default: 0 }) meteredGpuSeconds!: bigint;
  @Column('bigint', { transformer: bigintTransformer, default: 0 }) refundedGpuSeconds!: bigint;
  @Column({ type: 'timestamptz', precision: 3 }) admittedAt!: Date;
  @Column({ type: 'timestamptz', precision: 3, nullable: true }) startedAt!: Date | null;
  @Column({ type: 'timestamptz', precision: 3, nullable: true }) endedAt!: Date | null;
  @Column({ type: 'timestamptz', precision: 3, nullable: true }) releaseAfter!: Date | null;
  @Column('text', { nullable: true }) refundReason!: string | null;
}

/** Metered usage per allocation and Asia/Seoul day (before refunds), kept with the ledger postings. */
@Entity('usage_daily')
@Index('ix_usage_daily_project_day', ['projectId', 'day'])
@Index('ix_usage_daily_program_day', ['programId', 'day'])
export class UsageDailyEntity {
  @PrimaryColumn('uuid') allocationId!: string;
  @PrimaryColumn('date') day!: string;
  @ManyToOne(() => AllocationEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'allocation_id' })
  allocation?: AllocationEntity;
  @Column('uuid') projectId!: string;
  @Column('uuid') programId!: string;
  @Column('text') gpuModel!: string;
  @Column('bigint', { transformer: bigintTransformer }) gpuSeconds!: bigint;
  @Column('integer') records!: number;
}

/**
 * Every ledger account's balance, kept by a trigger on `ledger_entries` in the inserting
 * transaction. The reconciler recomputes it from the entries and reports any drift.
 */
@Entity('account_balances')
export class AccountBalanceEntity {
  @PrimaryColumn('text') account!: string;
  @Column('bigint', { transformer: bigintTransformer }) balance!: bigint;
  @Column({ type: 'timestamptz', precision: 3, default: () => 'now()' }) updatedAt!: Date;
}

/**
 * A use-it-or-lose-it rule's proposal to return part of an allocation; an admin confirms it. For a
 * reserved allocation it releases `servers` whole servers early (and `gpuSeconds` is their remaining
 * server time); for a budget one the server columns are null.
 */
@Entity('recall_proposals')
@Index('uq_recall_proposals_allocation_rule', ['allocationId', 'ruleId'], { unique: true })
@Check('ck_recall_proposals_servers', `"servers" IS NULL OR ("servers" > 0 AND "servers_held" >= "servers")`)
export class RecallProposalEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column('uuid') allocationId!: string;
  @ManyToOne(() => AllocationEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'allocation_id' })
  allocation?: AllocationEntity;
  @Index('ix_recall_proposals_program_status')
  @Column('uuid')
  programId!: string;
  @Column('text') ruleId!: string;
  @Column('bigint', { transformer: bigintTransformer }) gpuSeconds!: bigint;
  @Column('integer') usedBasisPoints!: number;
  @Column('text') reason!: string;
  /** proposed → confirmed | dismissed */
  @Column('text') status!: string;
  @Column({ type: 'timestamptz', precision: 3 }) dueAt!: Date;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) createdAt!: Date;
  @Column('uuid', { nullable: true }) decidedBy!: string | null;
  @Column({ type: 'timestamptz', precision: 3, nullable: true }) decidedAt!: Date | null;
  /** What the confirmation returned (capped at what was left then). */
  @Column('bigint', { transformer: bigintTransformer, nullable: true }) recalledGpuSeconds!: bigint | null;
  /** Reserved allocations: K, the servers the rule releases early; null for budget proposals. */
  @Column('integer', { nullable: true }) servers!: number | null;
  /** Reserved allocations: servers the reservation held when proposed (servers = serversHeld: all). */
  @Column('integer', { nullable: true }) serversHeld!: number | null;
  /** Reserved allocations: servers the confirmation released (at most `servers`); null until then. */
  @Column('integer', { nullable: true }) releasedServers!: number | null;
}

/** One run of the ledger and rollup reconciler: what it checked and what drifted. */
@Entity('reconciliation_reports')
export class ReconciliationReportEntity {
  @PrimaryGeneratedColumn('increment', { type: 'bigint' }) id!: string;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) createdAt!: Date;
  @Column('integer') durationMs!: number;
  @Column('integer') accountsChecked!: number;
  @Column('integer') accountDrifts!: number;
  @Column('integer') rollupsChecked!: number;
  @Column('integer') rollupDrifts!: number;
  @Column('integer') usageDrifts!: number;
  @Column('jsonb') drifts!: unknown;
}
