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
import { UserEntity } from './directory.entities.js';
import { ProgramEntity } from './program.entities.js';

/**
 * A GPU model's list price from an instant on. Append-only (a trigger refuses UPDATE and DELETE): a
 * price change is a new card, so a closed period's lines keep the price they were computed with.
 */
@Entity('rate_cards')
@Index('uq_rate_cards_model_effective_from', ['gpuModel', 'effectiveFrom'], { unique: true })
@Check('ck_rate_cards_price_positive', '"krw_per_gpu_hour" > 0')
export class RateCardEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column('text') gpuModel!: string;
  @Column('bigint', { transformer: bigintTransformer }) krwPerGpuHour!: bigint;
  @Column({ type: 'timestamptz', precision: 3 }) effectiveFrom!: Date;
  @Column('uuid') createdBy!: string;
  @ManyToOne(() => UserEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'created_by' })
  creator?: UserEntity;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) createdAt!: Date;
}

/**
 * A program's pricing policy (PricingPolicy in libs/domain without the subsidy rates, which are the
 * program's own `subsidy_rates`). No row: KOREAN_VOUCHER_POLICY.
 */
@Entity('program_pricing')
export class ProgramPricingEntity {
  @PrimaryColumn('uuid') programId!: string;
  @ManyToOne(() => ProgramEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'program_id' })
  program?: ProgramEntity;
  @Column('jsonb') policy!: unknown;
  @Column('uuid') updatedBy!: string;
  @Column({ type: 'timestamptz', precision: 3 }) updatedAt!: Date;
}

/**
 * A billing period: an Asia/Seoul calendar month, open → closing → closed. A period without a row is
 * open. A closed row never changes (a trigger refuses it), nor do its lines.
 */
@Entity('billing_periods')
@Check('ck_billing_periods_status', `"status" IN ('open', 'closing', 'closed')`)
export class BillingPeriodEntity {
  /** 'YYYY-MM'. */
  @PrimaryColumn('text') period!: string;
  @Column('text') status!: string;
  @Column({ type: 'timestamptz', precision: 3 }) startsAt!: Date;
  @Column({ type: 'timestamptz', precision: 3 }) endsAt!: Date;
  @Column({ type: 'timestamptz', precision: 3, nullable: true }) closingStartedAt!: Date | null;
  @Column({ type: 'timestamptz', precision: 3, nullable: true }) closedAt!: Date | null;
  @Column('uuid', { nullable: true }) closedBy!: string | null;
  @Column('integer', { nullable: true }) lineCount!: number | null;
  /** The period's totals when it closed (amounts as decimal strings). */
  @Column('jsonb', { nullable: true }) totals!: unknown;
}

/**
 * One priced line of a closed period: an allocation's usage under one price (or a correction of an
 * earlier period). Everything a statement or an export shows is copied here when the period closes
 * (names, tax identity, price, policy outcome), so a closed period reads the same forever.
 * Append-only: a trigger refuses UPDATE and DELETE, and INSERT unless the period is closing.
 */
@Entity('billing_lines')
@Index('ix_billing_lines_agency', ['period', 'agencyCode', 'lineNo'])
@Index('ix_billing_lines_program', ['period', 'programId', 'lineNo'])
export class BillingLineEntity {
  @PrimaryColumn('text') period!: string;
  /** 1..n within the period, in a stable order: exports read lines in this order. */
  @PrimaryColumn('integer') lineNo!: number;
  /** '' for usage of the period itself, 'Correction' (FOCUS ChargeClass) for an earlier period's. */
  @Column('text', { default: '' }) chargeClass!: string;
  /** Why a correction: 'late_usage' (arrived after its period closed) or 'refund' (a credit). */
  @Column('text', { nullable: true }) correctionReason!: string | null;
  /** The period the corrected usage ran in. */
  @Column('text', { nullable: true }) originalPeriod!: string | null;
  @Column('uuid') allocationId!: string;
  @Column('uuid') projectId!: string;
  @Column('text') projectTitle!: string;
  @Column('uuid') organizationId!: string;
  @Column('text') organizationName!: string;
  @Column('text') orgType!: string;
  /** 사업자등록번호 or a non-profit's 고유번호 (10 digits), when the organization has one. */
  @Column('text', { nullable: true }) businessRegistrationNumber!: string | null;
  @Column('text', { nullable: true }) taxIdKind!: string | null;
  @Column('uuid') programId!: string;
  @Column('text') programCode!: string;
  @Column('text') programName!: string;
  @Column('text') agencyCode!: string;
  @Column('text') gpuModel!: string;
  @Column('bigint', { transformer: bigintTransformer }) krwPerGpuHour!: bigint;
  /** The rate card the price came from. */
  @Column({ type: 'timestamptz', precision: 3 }) rateEffectiveFrom!: Date;
  @Column({ type: 'timestamptz', precision: 3 }) chargeStart!: Date;
  @Column({ type: 'timestamptz', precision: 3 }) chargeEnd!: Date;
  /** Negative for a credit (refunded usage already billed). */
  @Column('bigint', { transformer: bigintTransformer }) gpuSeconds!: bigint;
  @Column('bigint', { transformer: bigintTransformer }) listValue!: bigint;
  @Column('bigint', { transformer: bigintTransformer }) discount!: bigint;
  @Column('bigint', { transformer: bigintTransformer }) supplyPrice!: bigint;
  @Column('bigint', { transformer: bigintTransformer }) subsidy!: bigint;
  @Column('bigint', { transformer: bigintTransformer }) coPay!: bigint;
  @Column('bigint', { transformer: bigintTransformer }) vat!: bigint;
  @Column('text') vatPayer!: string;
  @Column('bigint', { transformer: bigintTransformer }) vatFromOrganization!: bigint;
  @Column('bigint', { transformer: bigintTransformer }) vatFromProgram!: bigint;
  @Column('bigint', { transformer: bigintTransformer }) totalDueOrg!: bigint;
  @Column('bigint', { transformer: bigintTransformer }) totalProgram!: bigint;
  /** Number of usage-record pieces the line sums. */
  @Column('integer') usagePieces!: number;
}

/**
 * Which piece of a usage record (its part inside one period) has been billed, and where: a charge
 * in its own period or a later one (late usage), or a credit (its attempt was refunded after it was
 * billed). Written in the closing transaction, so a piece is billed once whatever is retried.
 */
@Entity('billed_usage')
@Check('ck_billed_usage_kind', `"kind" IN ('charge', 'credit')`)
export class BilledUsageEntity {
  @PrimaryColumn('bigint') usageRecordId!: string;
  /** The period the piece ran in. */
  @PrimaryColumn('text') period!: string;
  @PrimaryColumn('text') kind!: string;
  /** The period whose lines include it. */
  @Column('text') billedInPeriod!: string;
}

/** Refunded admission attempts whose billed usage has been credited (in `processedInPeriod`). */
@Entity('billing_refunds')
export class BillingRefundEntity {
  @PrimaryColumn('uuid') workloadId!: string;
  @PrimaryColumn('integer') attempt!: number;
  @Column('text') processedInPeriod!: string;
  @Column('bigint', { transformer: bigintTransformer }) creditedGpuSeconds!: bigint;
}

/** The pricing policy each program's lines of a period were priced with (corrections reuse it). */
@Entity('billing_period_policies')
export class BillingPeriodPolicyEntity {
  @PrimaryColumn('text') period!: string;
  @PrimaryColumn('uuid') programId!: string;
  @Column('jsonb') policy!: unknown;
}

/**
 * A settlement export of a closed period: queued → running → done | failed. The file lives in
 * `billing_export_chunks`, written while streaming the period's lines; its SHA-256, size, row count
 * and totals are recorded when done.
 */
@Entity('billing_exports')
@Index('ix_billing_exports_requested', ['requestedAt', 'id'])
@Check('ck_billing_exports_status', `"status" IN ('queued', 'running', 'done', 'failed')`)
@Check('ck_billing_exports_progress', '"progress" BETWEEN 0 AND 100')
export class BillingExportEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column('text') period!: string;
  @Column('text', { nullable: true }) agencyCode!: string | null;
  @Column('uuid', { nullable: true }) programId!: string | null;
  /** csv | json (xlsx when a streaming writer is available). */
  @Column('text') format!: string;
  @Column('text') status!: string;
  @Column('integer', { default: 0 }) progress!: number;
  @Column('integer', { nullable: true }) rowCount!: number | null;
  @Column('jsonb', { nullable: true }) totals!: unknown;
  @Column('text', { nullable: true }) sha256!: string | null;
  @Column('bigint', { transformer: bigintTransformer, nullable: true }) bytes!: bigint | null;
  @Column('uuid') createdBy!: string;
  @ManyToOne(() => UserEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'created_by' })
  creator?: UserEntity;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) requestedAt!: Date;
  @Column({ type: 'timestamptz', precision: 3, nullable: true }) startedAt!: Date | null;
  @Column({ type: 'timestamptz', precision: 3, nullable: true }) finishedAt!: Date | null;
  @Column('integer', { default: 0 }) attempts!: number;
  @Column('text', { nullable: true }) error!: string | null;
}

/** The bytes of an export, in order of `seq`; rewritten from scratch when a run restarts. */
@Entity('billing_export_chunks')
export class BillingExportChunkEntity {
  @PrimaryColumn('uuid') exportId!: string;
  @ManyToOne(() => BillingExportEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'export_id' })
  export?: BillingExportEntity;
  @PrimaryColumn('integer') seq!: number;
  @Column('bytea') data!: Buffer;
}
