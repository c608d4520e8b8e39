import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
} from 'typeorm';
import { AllocationEntity } from './allocation.entities.js';
import { ProjectEntity, UserEntity } from './directory.entities.js';

/** The kinds of notification gpupool sends (webhook subscriptions filter on these). */
export const NOTIFICATION_KINDS = [
  'usage_threshold',
  'burn_rate',
  'allocation_exhausted',
  'recall_proposed',
  'recall_confirmed',
  'refund',
  'allocation_expired',
  'allocation_suspended',
  'allocation_resumed',
  'reservation_moved',
  'reservation_unplaceable',
] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

/**
 * An alert for people (usage thresholds, burn rate, recalls, refunds, expiries). `dedupeKey` is
 * unique: whoever records the same alert again — a redelivered job, a concurrent sweep — inserts
 * nothing, so each alert fires once.
 */
@Entity('notifications')
@Index('ix_notifications_project_created', ['projectId', 'createdAt'])
export class NotificationEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  /** Null for platform-wide notices (admins only). */
  @Column('uuid', { nullable: true }) projectId!: string | null;
  @ManyToOne(() => ProjectEntity, { onDelete: 'RESTRICT', nullable: true })
  @JoinColumn({ name: 'project_id' })
  project?: ProjectEntity;
  @Column('uuid', { nullable: true }) allocationId!: string | null;
  @ManyToOne(() => AllocationEntity, { onDelete: 'RESTRICT', nullable: true })
  @JoinColumn({ name: 'allocation_id' })
  allocation?: AllocationEntity;
  /** Addressed to one person (besides the project's members), or null. */
  @Index('ix_notifications_user')
  @Column('uuid', { nullable: true })
  userId!: string | null;
  @ManyToOne(() => UserEntity, { onDelete: 'RESTRICT', nullable: true })
  @JoinColumn({ name: 'user_id' })
  user?: UserEntity;
  /** One of NOTIFICATION_KINDS. */
  @Column('text') kind!: string;
  @Index('uq_notifications_dedupe_key', { unique: true })
  @Column('text')
  dedupeKey!: string;
  @Column('text') title!: string;
  @Column('text') body!: string;
  @Column('jsonb', { default: () => "'{}'" }) data!: Record<string, unknown>;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) createdAt!: Date;
  @Column({ type: 'timestamptz', precision: 3, nullable: true }) readAt!: Date | null;
}

/**
 * Where notifications are POSTed, signed with `secret` (shown once, when the subscription is made).
 * `projectId` null is platform-wide (every project's notifications; admins only). `events` empty
 * means every kind.
 */
@Entity('webhook_subscriptions')
export class WebhookSubscriptionEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Index('ix_webhook_subscriptions_project')
  @Column('uuid', { nullable: true })
  projectId!: string | null;
  @ManyToOne(() => ProjectEntity, { onDelete: 'RESTRICT', nullable: true })
  @JoinColumn({ name: 'project_id' })
  project?: ProjectEntity;
  @Column('text') url!: string;
  @Column('text') secret!: string;
  @Column('text', { array: true, default: () => "'{}'" }) events!: string[];
  @Column('boolean', { default: true }) active!: boolean;
  @Column('uuid') createdBy!: string;
  @ManyToOne(() => UserEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'created_by' })
  creator?: UserEntity;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) createdAt!: Date;
  @Column({ type: 'timestamptz', precision: 3, nullable: true }) disabledAt!: Date | null;
}

export const WEBHOOK_DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const;
export type WebhookDeliveryStatus = (typeof WEBHOOK_DELIVERY_STATUSES)[number];

/**
 * One notification to one subscription: the outbox row. Retries and backoff live here
 * (`nextAttemptAt`), not in the queue, so Redis losing a job loses nothing.
 */
@Entity('webhook_deliveries')
@Index('uq_webhook_deliveries_subscription_notification', ['subscriptionId', 'notificationId'], {
  unique: true,
})
@Index('ix_webhook_deliveries_status_due', ['status', 'nextAttemptAt'])
@Check('ck_webhook_deliveries_status', `"status" IN ('pending', 'delivered', 'failed')`)
export class WebhookDeliveryEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column('uuid') subscriptionId!: string;
  @ManyToOne(() => WebhookSubscriptionEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'subscription_id' })
  subscription?: WebhookSubscriptionEntity;
  @Index('ix_webhook_deliveries_notification')
  @Column('uuid')
  notificationId!: string;
  @ManyToOne(() => NotificationEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'notification_id' })
  notification?: NotificationEntity;
  @Column('text') status!: WebhookDeliveryStatus;
  @Column('integer', { default: 0 }) attempts!: number;
  @Column({ type: 'timestamptz', precision: 3 }) nextAttemptAt!: Date;
  @Column('integer', { nullable: true }) lastStatusCode!: number | null;
  @Column('text', { nullable: true }) lastError!: string | null;
  @Column({ type: 'timestamptz', precision: 3, nullable: true }) deliveredAt!: Date | null;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) createdAt!: Date;
}

/** The delivery log: one row per HTTP attempt, whatever its outcome. */
@Entity('webhook_delivery_attempts')
@Index('uq_webhook_delivery_attempts_attempt', ['deliveryId', 'attempt'], { unique: true })
export class WebhookDeliveryAttemptEntity {
  @PrimaryGeneratedColumn('increment', { type: 'bigint' }) id!: string;
  @Column('uuid') deliveryId!: string;
  @ManyToOne(() => WebhookDeliveryEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'delivery_id' })
  delivery?: WebhookDeliveryEntity;
  /** 1-based. */
  @Column('integer') attempt!: number;
  @Column({ type: 'timestamptz', precision: 3 }) startedAt!: Date;
  @Column('integer') durationMs!: number;
  @Column('integer', { nullable: true }) statusCode!: number | null;
  @Column('text', { nullable: true }) error!: string | null;
  /** The first 500 characters of the receiver's answer. */
  @Column('text', { nullable: true }) responseSnippet!: string | null;
}
